"""Copernicus Data Space Ecosystem (CDSE) access: download settings and Keycloak tokens.

Product downloads (`.../odata/v1/Products(<Id>)/$value`) need a bearer access token from
CDSE's Keycloak (`grant_type=password`, `client_id=cdse-public`). Access tokens live about
ten minutes, so a token is renewed with its refresh token shortly before it expires, or
after the download server answered 401; a refused refresh falls back to a new login.

Credentials come only from the environment (CDSE_USERNAME, CDSE_PASSWORD) or from a netrc
file whose *path* the config gives (`archive.cdse.credentials_file`). Neither they nor any
token is ever logged, put in a message, an inventory or an output: tokens live in memory.
Token requests fail like downloads (429/5xx are TransientError), so the download's own retry
loop (transfer/retries.py) retries them too. `CdseDownloads` is the source of download-service
hrefs: the shared transport fetches them with the token in each request.
"""

from __future__ import annotations

import logging
import netrc
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlparse

import requests

from raw2ready.archives.transfer.fetcher import Fetcher
from raw2ready.archives.transfer.options import DownloadOptions
from raw2ready.archives.transfer.retries import TransientError, raise_if_transient
from raw2ready.config import ArchiveSection, CdseSection
from raw2ready.errors import DownloadError
from raw2ready.scene import BandAsset

log = logging.getLogger(__name__)

USERNAME_ENV = "CDSE_USERNAME"
PASSWORD_ENV = "CDSE_PASSWORD"
CATALOGUE_URL = "https://catalogue.dataspace.copernicus.eu/odata/v1"
DOWNLOAD_URL = "https://download.dataspace.copernicus.eu/odata/v1"
TOKEN_URL = (
    "https://identity.dataspace.copernicus.eu/auth/realms/CDSE/protocol/openid-connect/token"
)
CLIENT_ID = "cdse-public"
#: A token is renewed this many seconds before the expiry the server announced.
EXPIRY_MARGIN_SECONDS = 30.0


@dataclass(frozen=True)
class CdseSettings:
    """Where CDSE products are downloaded from and how to log in (`archive.cdse`)."""

    download_url: str = DOWNLOAD_URL
    token_url: str = TOKEN_URL
    client_id: str = CLIENT_ID
    credentials_file: str | None = None
    transfer: str = "odata"

    @classmethod
    def from_config(cls, section: CdseSection) -> CdseSettings:
        """Settings from the validated `archive.cdse` section (null keeps the default)."""
        return cls(**{key: value for key, value in asdict(section).items() if value is not None})

    def serves(self, href: str) -> bool:
        """True for hrefs on the download service, the only ones that get the token."""
        return href.startswith(self.download_url.rstrip("/") + "/")

    def product_href(self, product_id: str) -> str:
        """The download URL of a product's zip."""
        return f"{self.download_url.rstrip('/')}/Products({product_id})/$value"


def credentials(settings: CdseSettings) -> tuple[str, str]:
    """(username, password) from the environment, else from the configured netrc file."""
    username, password = os.environ.get(USERNAME_ENV), os.environ.get(PASSWORD_ENV)
    if username and password:
        return username, password
    if settings.credentials_file:
        path = Path(settings.credentials_file).expanduser()
        host = urlparse(settings.token_url).hostname or ""
        try:
            entry = netrc.netrc(path).authenticators(host)
        except FileNotFoundError as exc:
            raise DownloadError(f"archive.cdse.credentials_file {path} does not exist") from exc
        except (netrc.NetrcParseError, OSError) as exc:
            raise DownloadError(
                f"archive.cdse.credentials_file {path} is not a readable netrc file"
            ) from exc
        if entry is None or not entry[0] or not entry[2]:
            raise DownloadError(
                f"archive.cdse.credentials_file {path} has no 'machine {host}' entry with "
                "login and password"
            )
        return entry[0], entry[2]
    raise DownloadError(
        f"no CDSE credentials: set {USERNAME_ENV} and {PASSWORD_ENV}, or give "
        "archive.cdse.credentials_file (a netrc file: machine "
        f"{urlparse(settings.token_url).hostname} login USER password PASSWORD)"
    )


class _RefusedError(DownloadError):
    """The token endpoint refused a grant (bad credentials, expired refresh token)."""


class TokenSource:
    """Hands out a valid access token, logging in or refreshing only when needed."""

    def __init__(
        self,
        settings: CdseSettings,
        session: requests.Session,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.session = session
        self.timeout = timeout
        self.clock = clock
        self._access: str | None = None
        self._access_until = 0.0
        self._refresh: str | None = None
        self._refresh_until = 0.0

    def access_token(self) -> str:
        """A token valid for at least EXPIRY_MARGIN_SECONDS more."""
        now = self.clock()
        if self._access is not None and now < self._access_until:
            return self._access
        if self._refresh is not None and now < self._refresh_until:
            try:
                return self._grant({"grant_type": "refresh_token", "refresh_token": self._refresh})
            except _RefusedError as exc:
                log.info("CDSE refresh token refused (%s); logging in again", exc)
        username, password = credentials(self.settings)
        return self._grant({"grant_type": "password", "username": username, "password": password})

    def expire(self) -> None:
        """Forget the access token (the server said 401); the refresh token stays usable."""
        self._access = None

    def _grant(self, form: dict[str, str]) -> str:
        """POST one grant to the token endpoint; remember what it returns."""
        url = self.settings.token_url
        grant = form["grant_type"]
        try:
            response = self.session.post(
                url, data={"client_id": self.settings.client_id, **form}, timeout=self.timeout
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientError(f"CDSE token endpoint {url}: {type(exc).__name__}") from exc
        raise_if_transient(response, f"CDSE token endpoint {url}")
        if response.status_code >= 400:
            reason = _error_text(response)
            if grant == "password":
                raise DownloadError(
                    f"CDSE token endpoint {url} refused the login with the configured "
                    f"credentials: HTTP {response.status_code} {reason}"
                )
            raise _RefusedError(f"HTTP {response.status_code} {reason}")
        try:
            body = response.json()
            access = str(body["access_token"])
            lifetime = float(body.get("expires_in", 600))
        except (ValueError, KeyError, TypeError) as exc:
            raise DownloadError(
                f"CDSE token endpoint {url} answered without an access token"
            ) from exc
        now = self.clock()
        self._access = access
        self._access_until = now + lifetime - EXPIRY_MARGIN_SECONDS
        if body.get("refresh_token"):
            self._refresh = str(body["refresh_token"])
            refresh_lifetime = float(body.get("refresh_expires_in", lifetime))
            self._refresh_until = now + refresh_lifetime - EXPIRY_MARGIN_SECONDS
        log.info("CDSE access token obtained (%s grant, valid %.0f s)", grant, lifetime)
        return access


def _error_text(response: requests.Response) -> str:
    """The OAuth error and description of a refused grant (they never echo secrets)."""
    try:
        body = response.json()
    except ValueError:
        return response.reason or ""
    if not isinstance(body, dict):
        return response.reason or ""
    parts = [str(body.get(key)) for key in ("error", "error_description") if body.get(key)]
    return ": ".join(parts) or (response.reason or "")


@dataclass(frozen=True)
class _Bearer:
    """HTTP access with a CDSE access token; a 401 drops it so the retry gets a fresh one."""

    tokens: TokenSource

    def request(self, href: str) -> tuple[str, dict[str, str]]:
        """The href itself, with the bearer token."""
        return href, {"Authorization": f"Bearer {self.tokens.access_token()}"}

    def refused(self, href: str, status: int) -> str | None:
        """A 401 means the token expired or was revoked: renew it and retry."""
        if status != 401:
            return None
        self.tokens.expire()
        return "access token expired or revoked; renewing"


class CdseDownloads:
    """The source of CDSE download-service hrefs (SAFE zips of Sentinel-1 and Sentinel-2),
    whatever the archive kind: tokens are obtained once per campaign job and renewed."""

    def __init__(self, settings: CdseSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        self._tokens: TokenSource | None = None

    @classmethod
    def from_archive(cls, archive: ArchiveSection) -> CdseDownloads:
        """The source for a campaign's `archive.cdse` settings."""
        return cls(CdseSettings.from_config(archive.cdse))

    def serves(self, href: str) -> bool:
        """True for hrefs on the download service."""
        return self.settings.serves(href)

    def fetch(self, asset: BandAsset, final: Path, options: DownloadOptions) -> Path:
        """Fetch a product through the shared transport, with the bearer token."""
        if self._tokens is None:
            self._tokens = TokenSource(
                self.settings, requests.Session(), options.timeout_seconds, self.clock
            )
        return Fetcher(options, access=_Bearer(self._tokens)).fetch(asset, final)
