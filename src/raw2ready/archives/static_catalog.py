"""A static STAC catalog as an archive (`archive.kind: static_catalog`): walked with pystac,
on disk or over HTTP, every item normalized and filtered client-side."""

from __future__ import annotations

from collections.abc import Iterator

import pystac

from raw2ready.archives.provider import SearchQuery, SearchResult
from raw2ready.archives.stac_items import normalize_all
from raw2ready.archives.transfer.options import AssetSource, DownloadOptions
from raw2ready.config import ArchiveSection
from raw2ready.errors import SearchError


def static_catalog_items(url: str) -> Iterator[pystac.Item]:
    """Every item of a static STAC catalog (file path or URL), recursively."""
    try:
        root = pystac.read_file(url)
    except FileNotFoundError as exc:
        raise SearchError(f"archive catalog {url} does not exist") from exc
    except Exception as exc:  # pystac raises many kinds for unreadable or non-STAC files
        raise SearchError(f"archive catalog {url} cannot be read: {exc}") from exc
    if not isinstance(root, pystac.Catalog):
        raise SearchError(f"archive catalog {url} is a {type(root).__name__}, not a catalog")
    yield from root.get_items(recursive=True)


class StaticCatalog:
    """The `static_catalog` provider: its assets are files or plain URLs."""

    def search(
        self, archive: ArchiveSection, query: SearchQuery, options: DownloadOptions
    ) -> SearchResult:
        """Every matching item of the catalog at `archive.url`, normalized."""
        return normalize_all(static_catalog_items(archive.url), query)

    def sources(self, archive: ArchiveSection) -> tuple[AssetSource, ...]:
        """None: the shared transport reads local files and URLs alone."""
        return ()
