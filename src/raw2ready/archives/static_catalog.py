"""A static STAC catalog as an archive (`archive.kind: static_catalog`): walked with pystac,
on disk or over HTTP, every item normalized and filtered client-side."""

from __future__ import annotations

from collections.abc import Iterator

import pystac

from raw2ready.archives.provider import SearchQuery, SearchResult
from raw2ready.archives.stac_items import ITEM_READ_ERRORS, UnreadableItem, normalize_all
from raw2ready.archives.transfer.options import AssetSource, DownloadOptions
from raw2ready.config import ArchiveSection
from raw2ready.errors import SearchError


def static_catalog_items(url: str) -> Iterator[pystac.Item | UnreadableItem]:
    """Every item of a static STAC catalog (file path or URL), recursively; an item or
    sub-catalog that cannot be read is yielded as UnreadableItem (the rest goes on)."""
    try:
        root = pystac.read_file(url)
    except FileNotFoundError as exc:
        raise SearchError(f"archive catalog {url} does not exist") from exc
    except Exception as exc:  # pystac raises many kinds for unreadable or non-STAC files
        raise SearchError(f"archive catalog {url} cannot be read: {exc}") from exc
    if not isinstance(root, pystac.Catalog):
        raise SearchError(f"archive catalog {url} is a {type(root).__name__}, not a catalog")
    yield from _catalog_items(root)


def _catalog_items(catalog: pystac.Catalog) -> Iterator[pystac.Item | UnreadableItem]:
    """The items of `catalog` and of its children, each link resolved on its own."""
    for link in [*catalog.get_item_links(), *catalog.get_child_links()]:
        href = link.get_absolute_href() or link.href
        try:
            target = link.resolve_stac_object(root=catalog.get_root()).target
        except ITEM_READ_ERRORS as exc:
            yield UnreadableItem(href, f"unreadable: {_cause(exc)}")
            continue
        if isinstance(target, pystac.Item):
            yield target
        elif isinstance(target, pystac.Catalog):
            yield from _catalog_items(target)


def _cause(error: BaseException) -> str:
    """What went wrong, on one line: the error pystac wrapped (bad JSON, missing field)."""
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"


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
