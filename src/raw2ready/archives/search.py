"""Search an archive for a tile's scenes and normalize them into scene records.

Archive kinds: a static STAC catalog (walked with pystac, on disk or over HTTP), a STAC API
(searched with pystac-client, page by page), Sentinel Hub (`sources.sentinelhub`), a
folder of SAFE zips (`sources.safe_folder`) and the CDSE OData catalogue of SAFE products
(`sources.cdse_odata`). All end in the same canonical records.

On a STAC API the tile is filtered server-side where the API can: by the property its
provider uses (`grid:code` on Earth Search v1 and CDSE, `s2:mgrs_tile` on Planetary
Computer), through CQL2 `filter` or the `query` extension, whichever the API conforms to;
otherwise by the tile's footprint (`intersects`). Never by sending an extension the API
does not declare: some servers then silently return nothing. The exact tile, date, cloud and
collection checks run client-side on every item in any case.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import pystac
import pystac_client
import requests
from pyproj import Transformer
from pystac_client import ConformanceClasses
from pystac_client.exceptions import APIError
from pystac_client.stac_api_io import StacApiIO
from urllib3.util.retry import Retry

from raw2ready.config import ArchiveSection
from raw2ready.errors import ConfigError, ItemError, SearchError
from raw2ready.grid import TILE_EXTENT_M, Tile, parse_tile
from raw2ready.scene import SceneRecord
from raw2ready.sentinel2.normalize import normalize_item, tile_id

if TYPE_CHECKING:
    from raw2ready.archives.transfer import DownloadOptions

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


def read_bytes(href: str) -> bytes:
    """The bytes behind a local path or URL (SAFE metadata fallbacks of normalization)."""
    parsed = urlparse(href)
    if parsed.scheme in ("http", "https"):
        response = requests.get(href, timeout=60)
        response.raise_for_status()
        return response.content
    return Path(parsed.path if parsed.scheme == "file" else href).read_bytes()


def normalize_all(items: Iterable[pystac.Item], query: SearchQuery) -> SearchResult:
    """Normalize the items that match the query; collect rejections instead of failing."""
    records: dict[str, SceneRecord] = {}
    rejected: list[tuple[str, str]] = []
    for item in items:
        if not _matches(item, query):
            continue
        try:
            record = normalize_item(item, query.bands, read_metadata=read_bytes)
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


def tile_geometry(tile: Tile) -> dict[str, Any]:
    """GeoJSON (EPSG:4326) covering a tile, split in two at the antimeridian (RFC 7946)."""
    west, north = tile.upper_left
    steps = 8
    ring = [(west + TILE_EXTENT_M * i / steps, north) for i in range(steps)]
    ring += [(west + TILE_EXTENT_M, north - TILE_EXTENT_M * i / steps) for i in range(steps)]
    ring += [(west + TILE_EXTENT_M * (1 - i / steps), north - TILE_EXTENT_M) for i in range(steps)]
    ring += [(west, north - TILE_EXTENT_M * (1 - i / steps)) for i in range(steps)]
    to_lonlat = Transformer.from_crs(tile.epsg, 4326, always_xy=True)
    lons, lats = to_lonlat.transform([x for x, _ in ring], [y for _, y in ring])
    south, north_lat = min(lats), max(lats)

    def box(left: float, right: float) -> list[list[list[float]]]:
        return [[[left, south], [right, south], [right, north_lat], [left, north_lat],
                 [left, south]]]  # fmt: skip

    if max(lons) - min(lons) <= 180:
        return {"type": "Polygon", "coordinates": box(min(lons), max(lons))}
    east_part = min(lon for lon in lons if lon > 0)
    west_part = max(lon for lon in lons if lon < 0)
    return {"type": "MultiPolygon", "coordinates": [box(east_part, 180.0), box(-180.0, west_part)]}


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


def stac_api_items(
    url: str, query: SearchQuery, page_size: int, tile_filter: str = "auto"
) -> Iterator[pystac.Item]:
    """Items of a STAC API search for the query, page by page (the next links, no offsets)."""
    client = open_api(url)
    params = search_parameters(client, query, resolve_tile_filter(tile_filter, url), page_size)
    try:
        search = client.search(**params)
        for number, page in enumerate(search.pages_as_dicts(), start=1):
            features = page.get("features", [])
            log.debug("%s: page %d, %d item(s)", url, number, len(features))
            for feature in features:
                yield pystac.Item.from_dict(feature, migrate=False, preserve_dict=False)
    except APIError as exc:
        raise SearchError(f"STAC API {url} refused the search: {exc}") from exc
    except (OSError, ConnectionError) as exc:
        raise SearchError(f"STAC API {url} is unreachable: {exc}") from exc


def search_archive(
    archive: ArchiveSection, query: SearchQuery, options: DownloadOptions | None = None
) -> SearchResult:
    """Search the configured archive (the validated `archive` section) for one tile.

    `options` sets the retries of archives whose search requests use download.py's retry
    policy (CDSE OData); defaults otherwise.
    """
    kind, url, page_size = archive.kind, archive.url, archive.page_size
    if kind == "cdse_odata":
        from raw2ready.archives.cdse_odata import cdse_odata_search  # it imports this module
        from raw2ready.archives.transfer import DownloadOptions

        result = cdse_odata_search(archive, query, options or DownloadOptions())
    elif kind == "safe_folder":
        from raw2ready.archives.safe_folder import safe_folder_search  # it imports this module

        result = safe_folder_search(url, query)
    elif kind == "sentinelhub":
        from raw2ready.archives.sentinelhub import SentinelHubSettings, search_scenes

        result = search_scenes(SentinelHubSettings.from_archive(archive), query, page_size)
    elif kind == "stac_api":
        items = stac_api_items(url, query, page_size, archive.tile_filter)
        result = normalize_all(items, query)
    else:
        result = normalize_all(static_catalog_items(url), query)
    log.info(
        "tile %s: %d scene(s), %d rejected, %s..%s",
        query.tile, len(result.records), len(result.rejected), query.start, query.end,
    )  # fmt: skip
    return result


def search(kind: str, url: str, query: SearchQuery, page_size: int = 200) -> SearchResult:
    """Search an archive given by kind and URL alone (defaults for everything else)."""
    return search_archive(ArchiveSection(kind, url, page_size=page_size), query)
