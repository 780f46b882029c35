"""A STAC API as an archive (`archive.kind: stac_api`): searched with pystac-client, page by
page, following the next links.

The tile is filtered server-side where the API can: by the property its provider uses
(`grid:code` on Earth Search v1 and CDSE, `s2:mgrs_tile` on Planetary Computer), through
CQL2 `filter` or the `query` extension, whichever the API conforms to; otherwise by the
tile's footprint (`intersects`). Never by sending an extension the API does not declare:
some servers then silently return nothing. The exact tile, date, cloud and collection
checks run client-side on every item in any case (stac_items.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pystac
import pystac_client
from pystac_client import ConformanceClasses
from pystac_client.exceptions import APIError
from pystac_client.stac_api_io import StacApiIO
from urllib3.util.retry import Retry

from raw2ready.archives.footprint import tile_geometry
from raw2ready.archives.provider import SearchQuery, SearchResult
from raw2ready.archives.stac_items import ITEM_READ_ERRORS, UnreadableItem, normalize_all
from raw2ready.archives.transfer.options import AssetSource, DownloadOptions
from raw2ready.config import ArchiveSection
from raw2ready.errors import ConfigError, SearchError
from raw2ready.grid import parse_tile

log = logging.getLogger(__name__)

#: Server-side tile filters: config name -> (item property, its value for a tile).
TILE_PROPERTIES: dict[str, tuple[str, str]] = {
    "grid_code": ("grid:code", "MGRS-{tile}"),
    "s2_mgrs_tile": ("s2:mgrs_tile", "{tile}"),
}
#: What `tile_filter: auto` picks for the public APIs (by URL prefix); others: intersects.
KNOWN_APIS: dict[str, str] = {
    "https://earth-search.aws.element84.com/v1": "grid_code",
    "https://planetarycomputer.microsoft.com/api/stac/v1": "s2_mgrs_tile",
    "https://stac.dataspace.copernicus.eu/v1": "grid_code",
}
#: Statuses a STAC API search is retried on (Retry-After honoured), POST included.
RETRY_STATUS = (429, 500, 502, 503, 504)
SEARCH_TIMEOUT_SECONDS = 120.0


def resolve_tile_filter(setting: str, url: str) -> str:
    """The tile filter to use: the configured one, or for `auto` the known provider's."""
    if setting != "auto":
        return setting
    for prefix, name in KNOWN_APIS.items():
        if url.rstrip("/").startswith(prefix):
            return name
    return "intersects"


def search_parameters(
    client: pystac_client.Client, query: SearchQuery, tile_filter: str, page_size: int
) -> dict[str, Any]:
    """pystac-client search arguments: server-side filters only where the API conforms."""
    tile = parse_tile(query.tile)
    params: dict[str, Any] = {
        "collections": [query.collection],
        "datetime": query.interval,
        "limit": page_size,
    }
    conditions: list[tuple[str, str, Any]] = []
    if query.max_cloud_cover < 100:
        conditions.append(("eo:cloud_cover", "lte", query.max_cloud_cover))
    if tile_filter in TILE_PROPERTIES:
        name, pattern = TILE_PROPERTIES[tile_filter]
        conditions.append((name, "eq", pattern.format(tile=tile.id)))
    elif tile_filter != "intersects":
        raise ConfigError(f"archive.tile_filter '{tile_filter}' is unknown")
    if client.conforms_to(ConformanceClasses.FILTER) and conditions:
        ops = {"lte": "<=", "eq": "="}
        args = [
            {"op": ops[op], "args": [{"property": name}, value]} for name, op, value in conditions
        ]
        params["filter"] = args[0] if len(args) == 1 else {"op": "and", "args": args}
        params["filter_lang"] = "cql2-json"
    elif client.conforms_to(ConformanceClasses.QUERY) and conditions:
        params["query"] = {name: {op: value} for name, op, value in conditions}
    elif conditions:
        log.info("%s declares neither filter nor query; searching by tile footprint", client.id)
        tile_filter = "intersects"
    if tile_filter == "intersects":
        params["intersects"] = tile_geometry(tile)
    return params


def open_api(url: str) -> pystac_client.Client:
    """A pystac-client Client whose requests retry 429/5xx (POST too), honouring Retry-After."""
    retry = Retry(
        total=4, backoff_factor=0.5, status_forcelist=RETRY_STATUS, allowed_methods=None,
        respect_retry_after_header=True, raise_on_status=False,
    )  # fmt: skip
    stac_io = StacApiIO(max_retries=retry, timeout=SEARCH_TIMEOUT_SECONDS)
    try:
        return pystac_client.Client.open(url, stac_io=stac_io)
    except (APIError, OSError, ConnectionError) as exc:
        raise SearchError(f"STAC API {url} cannot be opened: {exc}") from exc


def _item(feature: Any) -> pystac.Item | UnreadableItem:
    """A feature of a search page as an item, or why it is not one."""
    try:
        return pystac.Item.from_dict(feature, migrate=False, preserve_dict=False)
    except ITEM_READ_ERRORS as exc:
        name = feature.get("id", "an item without id") if isinstance(feature, dict) else "?"
        return UnreadableItem(str(name), f"unreadable: {type(exc).__name__}: {exc}")


def stac_api_items(
    url: str, query: SearchQuery, page_size: int, tile_filter: str = "auto"
) -> Iterator[pystac.Item | UnreadableItem]:
    """Items of a STAC API search for the query, page by page (the next links, no offsets)."""
    client = open_api(url)
    params = search_parameters(client, query, resolve_tile_filter(tile_filter, url), page_size)
    try:
        search = client.search(**params)
        for number, page in enumerate(search.pages_as_dicts(), start=1):
            features = page.get("features", [])
            log.debug("%s: page %d, %d item(s)", url, number, len(features))
            for feature in features:
                yield _item(feature)
    except APIError as exc:
        raise SearchError(f"STAC API {url} refused the search: {exc}") from exc
    except (OSError, ConnectionError) as exc:
        raise SearchError(f"STAC API {url} is unreachable: {exc}") from exc


class StacApi:
    """The `stac_api` provider: its assets are plain URLs (Planetary Computer blobs are signed
    by planetary_computer.py, s3:// objects read by the transport)."""

    def search(
        self, archive: ArchiveSection, query: SearchQuery, options: DownloadOptions
    ) -> SearchResult:
        """The matching items of one tile's search, normalized."""
        items = stac_api_items(archive.url, query, archive.page_size, archive.tile_filter)
        return normalize_all(items, query)

    def sources(self, archive: ArchiveSection) -> tuple[AssetSource, ...]:
        """None of its own."""
        return ()
