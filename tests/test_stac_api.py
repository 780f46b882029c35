"""STAC API search with pystac-client against a real STAC API server on 127.0.0.1.

`rustac serve` (PyPI package rustac, memory backend) is loaded with real provider items: the
single items of the fixtures, Planetary Computer's 13-item 35MNM collection, and the recorded
Earth Search v1 and Planetary Computer search pages (neighbouring tiles, other collections).
Their band hrefs are rewritten to a local HTTP server that serves small generated COGs.
rustac's memory backend declares neither `query` nor `filter`, so these searches exercise
the footprint (`intersects`) path with client-side exact filtering, and paging with a small
page size; the filter/query paths are checked against the conformance classes of the real
providers' landing pages.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import pystac_client
import pytest
import rasterio
from rasterio.io import MemoryFile
from rasterio.transform import from_origin

from raw2ready.archives.footprint import tile_geometry
from raw2ready.archives.provider import SearchQuery
from raw2ready.archives.search import search_archive
from raw2ready.archives.stac_api import open_api, search_parameters, stac_api_items
from raw2ready.archives.stac_items import normalize_all
from raw2ready.archives.transfer import DownloadOptions, download_scene
from raw2ready.config import ArchiveSection
from raw2ready.errors import SearchError
from raw2ready.grid import parse_tile
from raw2ready.sentinel2.normalize import canonical_band

from .conftest import REAL_S2, requires_real_s2
from .servers import FaultyFileServer, free_port, rustac_server

PAGES = REAL_S2 / "stac_search_pages"
PC_35MNM = PAGES / "pc__sentinel-2-l2a__itemcollection_2020_jun_jul_35MNM.geojson"
ES1_PAGE = PAGES / "es1__sentinel-2-l2a__search_page_containing_S2B_20EPT_20250731_0_L2A.json"
PC_PAGE = (
    PAGES / "pc__sentinel-2-l2a__search_page_containing_"
    "S2A_MSIL2A_20190101T000001_R116_T58UFE_20201007T214651.json"
)
BANDS = frozenset({"B02", "B04", "B08", "SCL"})
PX = 64  # 10 m pixels per side of the generated COGs


def cog_bytes(band: str, tile: str) -> bytes:
    """A small COG on the tile's grid (SCL at 20 m, the other bands at 10 m)."""
    grid = parse_tile(tile)
    west, north = grid.upper_left
    resolution, size = (20, PX // 2) if band == "SCL" else (10, PX)
    value = {"B02": 1200, "B04": 1500, "B08": 3000, "SCL": 4}.get(band, 1000)
    dtype = "uint8" if band == "SCL" else "uint16"
    with MemoryFile() as memory:
        with memory.open(
            driver="COG", width=size, height=size, count=1, dtype=dtype, nodata=0,
            crs=f"EPSG:{grid.epsg}", transform=from_origin(west, north, resolution, resolution),
        ) as dataset:  # fmt: skip
            dataset.write(np.full((1, size, size), value, dtype=dtype))
        return bytes(memory.read())


def features() -> list[dict[str, Any]]:
    """Every real item of the fixtures, once per (collection, id)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    sources = [json.loads(p.read_text()) for p in sorted((REAL_S2 / "stac_items").glob("*.json"))]
    for page in (PC_35MNM, ES1_PAGE, PC_PAGE):
        sources += json.loads(page.read_text())["features"]
    for feature in sources:
        found.setdefault((str(feature.get("collection")), feature["id"]), feature)
    return list(found.values())


def rewrite_bands(feature: dict[str, Any], cogs: FaultyFileServer) -> None:
    """Point the band assets at the local COG server (same path, local host)."""
    tile = (feature["properties"].get("grid:code") or "").removeprefix("MGRS-") or (
        feature["properties"].get("s2:mgrs_tile")
    )
    for key, asset in feature["assets"].items():
        mapped = canonical_band(key)
        if mapped is None or mapped[0] not in BANDS or not tile:
            continue
        path = "/" + asset["href"].split("://", 1)[1].split("/", 1)[1]
        cogs.files[path] = cog_bytes(mapped[0], tile)
        asset["href"] = f"{cogs.url}{path}"


@dataclass
class Api:
    """The running servers."""

    url: str
    cogs: FaultyFileServer


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    if not REAL_S2.is_dir():
        pytest.skip(f"real provider fixtures not found at {REAL_S2}")
    folder = tmp_path_factory.mktemp("stac-api")
    with FaultyFileServer() as cogs:
        loaded = features()
        for feature in loaded:
            rewrite_bands(feature, cogs)
        items = folder / "items.json"
        items.write_text(json.dumps({"type": "FeatureCollection", "features": loaded}))
        with rustac_server(items, folder / "rustac.log") as url:
            yield Api(url, cogs)


def query(tile: str, start: str, end: str, collection: str = "sentinel-2-l2a", cloud: float = 100):
    return SearchQuery(
        tile, date.fromisoformat(start), date.fromisoformat(end), cloud, collection, BANDS
    )


def archive(api: Api, page_size: int = 2) -> ArchiveSection:
    return ArchiveSection("stac_api", api.url, page_size=page_size, tile_filter="auto")


@requires_real_s2
def test_paging_with_a_small_page_size_returns_every_scene_once(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    expected = sorted(f["id"] for f in json.loads(PC_35MNM.read_text())["features"])
    with caplog.at_level(logging.DEBUG, logger="raw2ready.archives.stac_api"):
        result = search_archive(archive(api), query("35MNM", "2020-06-01", "2020-07-31"))
    assert sorted(r.id for r in result.records) == expected
    assert len(expected) == 13
    pages = [line for line in caplog.messages if ": page " in line]
    assert len(pages) >= math.ceil(13 / 2)
    assert [r.datetime for r in result.records] == sorted(r.datetime for r in result.records)
    assert all(r.tile == "35MNM" and r.processing_baseline == "02.12" for r in result.records)
    assert all(not r.apply_boa_offset for r in result.records)
    assert all(r.bands["B04"].href.startswith(api.cogs.url) for r in result.records)


@requires_real_s2
def test_cloud_limit_and_date_range_are_applied(api: Api) -> None:
    cloudy = {f["id"] for f in json.loads(PC_35MNM.read_text())["features"]
              if f["properties"]["eo:cloud_cover"] > 10}  # fmt: skip
    result = search_archive(archive(api, 5), query("35MNM", "2020-06-01", "2020-07-31", cloud=10))
    assert len(cloudy) == 2
    assert len(result.records) == 11
    assert not cloudy & {r.id for r in result.records}
    june = search_archive(archive(api, 5), query("35MNM", "2020-06-01", "2020-06-30"))
    assert june.records and all(r.datetime.startswith("2020-06") for r in june.records)


@requires_real_s2
def test_only_the_configured_collection_is_kept(api: Api) -> None:
    """Earth Search v1 has 20EPT on 2025-07-31 in three collections (recorded page)."""
    day = ("2025-07-31", "2025-07-31")
    l2a = search_archive(archive(api), query("20EPT", *day, "sentinel-2-l2a"))
    assert [r.id for r in l2a.records] == ["S2B_20EPT_20250731_0_L2A"]
    assert l2a.records[0].apply_boa_offset is False
    c1 = search_archive(archive(api), query("20EPT", *day, "sentinel-2-c1-l2a"))
    assert [r.id for r in c1.records] == ["S2B_T20EPT_20250731T131905_L2A"]
    assert c1.records[0].apply_boa_offset is True
    l1c = search_archive(archive(api), query("20EPT", *day, "sentinel-2-l1c"))
    assert l1c.records == []
    assert [item for item, _reason in l1c.rejected] == ["S2B_20EPT_20250731_0_L1C"]
    assert "Level-1C" in l1c.rejected[0][1]


@requires_real_s2
def test_neighbouring_tiles_are_dropped(api: Api) -> None:
    """The footprint search returns overlapping neighbours; the exact tile check drops them."""
    search = query("59VND", "2019-01-01", "2019-01-01")
    returned = {item.id for item in stac_api_items(api.url, search, 50)}
    result = normalize_all((i for i in stac_api_items(api.url, search, 50)), search)
    assert len(returned) > 1
    assert [r.tile for r in result.records] == ["59VND"]


@requires_real_s2
def test_found_scenes_download_from_their_hrefs(api: Api, tmp_path: Path) -> None:
    result = search_archive(archive(api), query("47XML", "2024-04-19", "2024-04-19"))
    (record,) = result.records
    assert record.apply_boa_offset is True  # Planetary Computer, baseline 05.10, no flag
    paths = download_scene(record, tmp_path, DownloadOptions(attempts=2, backoff_seconds=0))
    with rasterio.open(paths["B04"]) as red, rasterio.open(paths["SCL"]) as scl:
        assert (red.width, scl.width) == (PX, PX // 2)
        assert int(red.read(1)[0, 0]) == 1500


def test_unreachable_api_is_one_clear_search_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(SearchError, match="cannot be opened") as error:
        search_archive(ArchiveSection("stac_api", url), query("47PPR", "2023-01-01", "2023-01-02"))
    assert "\n" not in str(error.value)


def test_a_landing_page_that_fails_once_is_retried() -> None:
    landing = {
        "type": "Catalog", "id": "flaky", "description": "flaky", "stac_version": "1.0.0",
        "conformsTo": ["https://api.stacspec.org/v1.0.0/core"], "links": [],
    }  # fmt: skip
    with FaultyFileServer({"/": json.dumps(landing).encode()}) as server:
        server.script("/", "503")
        assert open_api(server.url).id == "flaky"
        assert len(server.requests_for("/")) == 2


# ---- server-side filters per provider (conformance of the real landing pages) ---------------

ES_V1_CONFORMANCE = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/item-search#query",
    "https://api.stacspec.org/v1.0.0-rc.2/item-search#filter",
]
QUERY_ONLY_CONFORMANCE = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/item-search#query",
]


def client(url: str, conformance: list[str]) -> pystac_client.Client:
    landing = {
        "type": "Catalog", "id": "api", "description": "api", "stac_version": "1.0.0",
        "conformsTo": conformance,
        "links": [{"rel": "self", "href": url}, {"rel": "search", "href": f"{url}/search"}],
    }  # fmt: skip
    return pystac_client.Client.from_dict(landing)


def test_earth_search_gets_a_cql2_filter_on_grid_code() -> None:
    params = search_parameters(
        client("https://earth-search.aws.element84.com/v1", ES_V1_CONFORMANCE),
        query("47PPR", "2022-01-01", "2022-12-31", cloud=80), "grid_code", 200,
    )  # fmt: skip
    assert params["filter_lang"] == "cql2-json"
    assert params["filter"] == {"op": "and", "args": [
        {"op": "<=", "args": [{"property": "eo:cloud_cover"}, 80]},
        {"op": "=", "args": [{"property": "grid:code"}, "MGRS-47PPR"]},
    ]}  # fmt: skip
    assert "intersects" not in params
    assert params["collections"] == ["sentinel-2-l2a"]
    assert params["limit"] == 200


def test_planetary_computer_gets_s2_mgrs_tile_through_query() -> None:
    params = search_parameters(
        client("https://planetarycomputer.microsoft.com/api/stac/v1", QUERY_ONLY_CONFORMANCE),
        query("47PPR", "2022-01-01", "2022-12-31"), "s2_mgrs_tile", 100,
    )  # fmt: skip
    assert params["query"] == {"s2:mgrs_tile": {"eq": "47PPR"}}
    assert "filter" not in params and "intersects" not in params


def test_an_api_without_query_or_filter_gets_the_footprint() -> None:
    params = search_parameters(
        client("http://127.0.0.1:1", ["https://api.stacspec.org/v1.0.0/item-search"]),
        query("47PPR", "2022-01-01", "2022-12-31", cloud=50), "grid_code", 100,
    )  # fmt: skip
    assert "query" not in params and "filter" not in params
    assert params["intersects"]["type"] == "Polygon"


def test_antimeridian_tile_footprint_is_split_in_two() -> None:
    geometry = tile_geometry(parse_tile("01WCP"))
    assert geometry["type"] == "MultiPolygon"
    (east,), (west,) = geometry["coordinates"]
    assert max(p[0] for p in east) == 180.0 and min(p[0] for p in east) > 170
    assert min(p[0] for p in west) == -180.0 and max(p[0] for p in west) < -170
    inland = tile_geometry(parse_tile("47PPR"))
    lons = [p[0] for p in inland["coordinates"][0]]
    assert inland["type"] == "Polygon" and 99 < min(lons) < max(lons) < 102


def page(path: Path) -> list[dict[str, Any]]:
    return list(json.loads(path.read_text())["features"])


@requires_real_s2
def test_recorded_pages_filter_per_provider_without_a_server() -> None:
    """normalize_all on the recorded responses: the exact client-side filters alone."""
    es1 = [
        pystac.Item.from_dict(f, migrate=False)
        for f in json.loads(ES1_PAGE.read_text())["features"]
    ]
    result = normalize_all(es1, query("24MUV", "2025-07-31", "2025-07-31"))
    assert [r.id for r in result.records] == ["S2B_24MUV_20250731_0_L2A"]
    pc = [
        pystac.Item.from_dict(f, migrate=False) for f in json.loads(PC_PAGE.read_text())["features"]
    ]
    result = normalize_all(pc, query("58UFE", "2019-01-01", "2019-01-01"))
    assert [r.id for r in result.records] == [
        "S2A_MSIL2A_20190101T000001_R116_T58UFE_20201007T214651"
    ]
