"""The archive registry: each `archive.kind` and the provider that serves it, registered once.

Adding an archive is one module implementing `Provider` (provider.py) and one entry here;
the config schema's `archive.kind` enum lists the same kinds (a test holds them equal; the
schema cannot read this module, which imports config). Shared sources serve hrefs any
archive may hand out. Importing this module installs `sources_for` into the transport, which
never imports an archive itself; the archives package imports it first thing.
"""

from __future__ import annotations

from collections.abc import Callable

from raw2ready.archives.cdse_auth import CdseDownloads
from raw2ready.archives.cdse_odata import CdseOdata
from raw2ready.archives.planetary_computer import PlanetaryComputerBlobs
from raw2ready.archives.provider import Provider
from raw2ready.archives.safe_folder import SafeFolder
from raw2ready.archives.sentinelhub import SentinelHub
from raw2ready.archives.stac_api import StacApi
from raw2ready.archives.static_catalog import StaticCatalog
from raw2ready.archives.transfer.options import AssetSource, install_source_resolver
from raw2ready.config import ArchiveSection
from raw2ready.errors import ConfigError

#: `archive.kind` -> its provider.
PROVIDERS: dict[str, Provider] = {
    "static_catalog": StaticCatalog(),
    "stac_api": StacApi(),
    "safe_folder": SafeFolder(),
    "sentinelhub": SentinelHub(),
    "cdse_odata": CdseOdata(),
}
#: Sources of hrefs any archive may hand out: Planetary Computer blobs (STAC items) and the
#: CDSE download service (Sentinel-2 and Sentinel-1 SAFE products).
SHARED_SOURCES: tuple[Callable[[ArchiveSection], AssetSource], ...] = (
    PlanetaryComputerBlobs.from_archive,
    CdseDownloads.from_archive,
)


def kinds() -> frozenset[str]:
    """Every registered archive kind."""
    return frozenset(PROVIDERS)


def provider_for(kind: str) -> Provider:
    """The provider of an archive kind; ConfigError naming the known kinds otherwise."""
    try:
        return PROVIDERS[kind]
    except KeyError:
        raise ConfigError(
            f"archive.kind '{kind}' is unknown; known kinds: {', '.join(sorted(PROVIDERS))}"
        ) from None


def sources_for(archive: ArchiveSection) -> tuple[AssetSource, ...]:
    """The sources a campaign's downloads need: its provider's, then the shared ones."""
    own = provider_for(archive.kind).sources(archive)
    return (*own, *(make(archive) for make in SHARED_SOURCES))


install_source_resolver(sources_for)
