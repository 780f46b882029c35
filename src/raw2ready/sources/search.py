"""Search an archive for a tile's scenes and normalize them into scene records.

Two archive kinds: a static STAC catalog (walked with pystac, on disk or over HTTP) and a
STAC API (searched with pystac-client, paged). Both end in the same canonical records.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date

import pystac
import pystac_client
from pystac_client.exceptions import APIError

from raw2ready.errors import ItemError, SearchError
from raw2ready.scene import SceneRecord
from raw2ready.sources.normalize import normalize_item, tile_id

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchQuery:
    """What to look for: one tile, a date range, a cloud limit, the bands the products need."""

    tile: str
    start: date
    end: date
    max_cloud_cover: float
    collection: str
    bands: frozenset[str]

    @property
    def interval(self) -> str:
        """RFC 3339 interval covering whole days, inclusive of `end`."""
        return f"{self.start.isoformat()}T00:00:00Z/{self.end.isoformat()}T23:59:59.999Z"

    def accepts_date(self, day: date) -> bool:
        """True when `day` lies in the query's inclusive range."""
        return self.start <= day <= self.end


@dataclass(frozen=True)
class SearchResult:
    """Scene records found, and items rejected with the reason."""

    records: list[SceneRecord]
    rejected: list[tuple[str, str]]


def _matches(item: pystac.Item, query: SearchQuery) -> bool:
    """Collection, tile, date and cloud filters applied client-side (cheap, and exact)."""
    if item.collection_id and item.collection_id != query.collection:
        return False
    if item.datetime is None or not query.accepts_date(item.datetime.date()):
        return False
    cloud = item.properties.get("eo:cloud_cover")
    if cloud is not None and float(cloud) > query.max_cloud_cover:
        return False
    try:
        return tile_id(item) == query.tile
    except ItemError:
        return False


def normalize_all(items: Iterable[pystac.Item], query: SearchQuery) -> SearchResult:
    """Normalize the items that match the query; collect rejections instead of failing."""
    records: dict[str, SceneRecord] = {}
    rejected: list[tuple[str, str]] = []
    for item in items:
        if not _matches(item, query):
            continue
        try:
            record = normalize_item(item, query.bands)
        except ItemError as exc:
            log.warning("skipping %s: %s", item.id, exc)
            rejected.append((item.id, str(exc)))
            continue
        records[record.id] = record
    ordered = sorted(records.values(), key=lambda r: (r.datetime, r.id))
    return SearchResult(ordered, rejected)


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


def stac_api_items(url: str, query: SearchQuery, page_size: int) -> Iterator[pystac.Item]:
    """Items of a STAC API search for the query, page by page (server-side filters)."""
    try:
        client = pystac_client.Client.open(url)
        search = client.search(
            collections=[query.collection],
            datetime=query.interval,
            query={
                "eo:cloud_cover": {"lte": query.max_cloud_cover},
                "grid:code": {"eq": f"MGRS-{query.tile}"},
            },
            limit=page_size,
        )
        for page in search.pages_as_dicts():
            for feature in page.get("features", []):
                yield pystac.Item.from_dict(feature, preserve_dict=False)
    except APIError as exc:
        raise SearchError(f"STAC API {url} refused the search: {exc}") from exc
    except (OSError, ConnectionError) as exc:
        raise SearchError(f"STAC API {url} is unreachable: {exc}") from exc


def search(kind: str, url: str, query: SearchQuery, page_size: int = 200) -> SearchResult:
    """Search the configured archive for one tile and normalize what it finds."""
    if kind == "safe_folder":
        from raw2ready.sources.safe_folder import safe_folder_search  # it imports this module

        return safe_folder_search(url, query)
    items = (
        static_catalog_items(url) if kind == "static_catalog"
        else stac_api_items(url, query, page_size)
    )  # fmt: skip
    result = normalize_all(items, query)
    log.info(
        "tile %s: %d scene(s), %d rejected, %s..%s",
        query.tile, len(result.records), len(result.rejected), query.start, query.end,
    )  # fmt: skip
    return result
