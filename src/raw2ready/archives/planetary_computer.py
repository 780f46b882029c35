"""Planetary Computer asset access: SAS-token signing of blob URLs, just in time.

Planetary Computer's search returns unsigned Azure Blob URLs; reading them needs a short-lived
SAS token from its token endpoint (the `planetary-computer` package fetches and caches one
per container). raw2ready signs at download time, never at search time, so inventories hold
no tokens and a rerun days later does not meet an expired one; a 403 on a signed URL drops
the cached token so the next attempt signs afresh. The optional subscription key comes from
the environment (PC_SDK_SUBSCRIPTION_KEY) or the package's settings file, never the config.
Planetary Computer is searched as a STAC API archive; this module is the source of its blob
hrefs, whatever the archive kind.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import ModuleType
from urllib.parse import urlparse

from raw2ready.archives.transfer.fetcher import Fetcher
from raw2ready.archives.transfer.options import DownloadOptions
from raw2ready.archives.transfer.retries import TransientError
from raw2ready.config import ArchiveSection
from raw2ready.errors import DownloadError
from raw2ready.scene import BandAsset

log = logging.getLogger(__name__)

BLOB_DOMAIN = ".blob.core.windows.net"


def _package() -> ModuleType:
    """The planetary_computer package, or a DownloadError naming the extra to install."""
    try:
        import planetary_computer
    except ImportError as exc:
        raise DownloadError(
            "Planetary Computer assets need the 'planetary-computer' package: "
            "pip install 'raw2ready[planetary-computer]'"
        ) from exc
    return planetary_computer


def sign(href: str) -> str:
    """The href with a valid SAS token appended (cached by the package until near expiry)."""
    package = _package()
    try:
        return str(package.sign_url(href))
    except Exception as exc:  # requests/pydantic errors of the token endpoint; no token in them
        raise TransientError(f"{href}: cannot get a Planetary Computer SAS token ({exc})") from exc


def forget_token(href: str) -> None:
    """Drop the cached token of the href's storage container (after a 403)."""
    from planetary_computer.sas import TOKEN_CACHE
    from planetary_computer.utils import parse_blob_url

    account, container = parse_blob_url(urlparse(href))
    for key in [key for key in TOKEN_CACHE if key.endswith(f"/{account}/{container}")]:
        del TOKEN_CACHE[key]
    log.info("dropped the cached SAS token of %s/%s", account, container)


class PlanetaryComputerBlobs:
    """The source of Planetary Computer blob hrefs: fetched by the shared transport with a
    freshly signed URL; a 403 on a signed URL drops the cached token and retries."""

    @classmethod
    def from_archive(cls, archive: ArchiveSection) -> PlanetaryComputerBlobs:
        """The source for any campaign (it needs no settings)."""
        return cls()

    def serves(self, href: str) -> bool:
        """True for Azure blob hrefs (Planetary Computer's storage)."""
        return urlparse(href).netloc.endswith(BLOB_DOMAIN)

    def fetch(self, asset: BandAsset, final: Path, options: DownloadOptions) -> Path:
        """Fetch a blob through the shared transport, signing each request."""
        return Fetcher(options, access=self).fetch(asset, final)

    def request(self, href: str) -> tuple[str, dict[str, str]]:
        """The signed URL, no extra headers."""
        return sign(href), {}

    def refused(self, href: str, status: int) -> str | None:
        """A 403 on a signed URL: the token expired; forget it so the retry signs afresh."""
        if status != 403:
            return None
        forget_token(href)
        return "signed URL refused; token expired?"
