"""Sentinel Hub at the request/response level: sentinelhub-py talking to a local stand-in.

WHAT THIS IS: a local HTTP server on 127.0.0.1 that answers the three endpoints raw2ready
uses (OAuth2 client-credentials token, Catalog API 1.0.0 search, Process API) with responses
in the format Sentinel Hub returns: a FeatureCollection of STAC 1.0.0 features (ids are
product names, properties datetime/platform/instruments/constellation/gsd/eo:cloud_cover/
proj:*, an s3 `data` asset, self/parent/collection links) paged with `context.next` and a
`next` link whose body carries it; the Process API answers image/tiff. The feature values
are illustrative, the structure is the recorded one. WHAT THIS IS NOT: Sentinel Hub itself;
the evalscript is not executed, the server fills each requested tile piece with a pattern of
its global pixel position, so the test can check that raw2ready asks for the right pieces
and puts them back together on the tile grid. Every request is checked for what the real
service requires (bearer token, CRS, size <= the limit, time window, harmonizeValues).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import numpy as np
import pytest
import rasterio
from sentinelhub import SentinelHubDownloadClient

from raw2ready.archives.provider import SearchQuery
from raw2ready.archives.search import search_archive
from raw2ready.archives.sentinelhub import SentinelHubBands, SentinelHubSettings, parse_band_href
from raw2ready.archives.transfer import DownloadOptions, download_scene
from raw2ready.config import ArchiveSection, SentinelHubSection
from raw2ready.errors import ConfigError, DownloadError
from raw2ready.grid import parse_tile

from .servers import PostRouter, send_json, send_tiff

TILE = parse_tile("33TUL")
CLIENT_ID, CLIENT_SECRET = "raw2ready-client", "raw2ready-secret-DO-NOT-LOG"


def feature(product: str, when: str, cloud: float, epsg: int = 32633) -> dict[str, Any]:
    """A Catalog API feature in Sentinel Hub's format."""
    base = "https://services.sentinel-hub.com/api/v1/catalog/1.0.0"
    tile = re.search(r"_T(\d{2})(\w)(\w\w)_", product)
    assert tile is not None
    crs84 = {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC::CRS84"}}
    ring = [[12.43, 46.03], [12.46, 45.04], [13.85, 45.06], [13.83, 46.05], [12.43, 46.03]]
    return {
        "stac_version": "1.0.0",
        "stac_extensions": [
            "https://stac-extensions.github.io/eo/v1.0.0/schema.json",
            "https://stac-extensions.github.io/projection/v1.0.0/schema.json",
        ],
        "id": product,
        "type": "Feature",
        "geometry": {"type": "MultiPolygon", "crs": crs84, "coordinates": [[ring]]},
        "bbox": [12.43, 45.04, 13.85, 46.05],
        "properties": {
            "datetime": when, "platform": f"sentinel-2{product[2].lower()}",
            "instruments": ["msi"], "constellation": "sentinel-2", "gsd": 10,
            "eo:cloud_cover": cloud, "proj:epsg": epsg,
            "proj:bbox": [300000.0, 4990200.0, 409800.0, 5100000.0],
        },
        "assets": {"data": {
            "href": f"s3://sentinel-s2-l2a/tiles/{tile[1]}/{tile[2]}/{tile[3]}/2024/1/30/0/",
            "title": "s3", "type": "inode/directory",
        }},
        "collection": "sentinel-2-l2a",
        "links": [
            {"href": f"{base}/", "rel": "root", "type": "application/json"},
            {"href": f"{base}/collections/sentinel-2-l2a/items/{product}", "rel": "self",
             "type": "application/geo+json"},
            {"href": f"{base}/collections/sentinel-2-l2a", "rel": "parent",
             "type": "application/json"},
            {"href": f"{base}/collections/sentinel-2-l2a", "rel": "collection",
             "type": "application/json"},
        ],
    }  # fmt: skip


FEATURES = [
    feature("S2B_MSIL2A_20240130T100149_N0510_R122_T33TUL_20240130T112430",
            "2024-01-30T10:08:08Z", 0.06),
    feature("S2A_MSIL2A_20240128T101301_N0510_R022_T33TUM_20240128T121856",
            "2024-01-28T10:18:01Z", 8.79),  # a neighbour inside the search box
    feature("S2A_MSIL2A_20240125T100311_N0510_R122_T33TUL_20240125T123352",
            "2024-01-25T10:08:04Z", 31.66),
    feature("S2B_MSIL2A_20211220T100149_N0301_R122_T33TUL_20211220T112430",
            "2021-12-20T10:08:08Z", 2.5),
    feature("S2B_MSIL2A_20240120T100239_N0510_R122_T33TUL_20240120T113505",
            "2024-01-20T10:08:09Z", 0.19),
]  # fmt: skip


def pattern(band: str, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The value the stand-in serves at global tile pixel (row, col) of a band."""
    if band == "SCL":
        return ((rows // 8 + cols // 8) % 12).astype("uint8")
    return (1 + (cols + 7 * rows) % 60000 + {"B04": 0, "B08": 3}[band]).astype("uint16")


class SentinelHubStandIn(PostRouter):
    """Token, Catalog and Process endpoints on 127.0.0.1, with a request log."""

    def __init__(self) -> None:
        self.token = "token-1"
        self.requests: list[tuple[str, Any]] = []
        self.process_faults: list[int] = []
        super().__init__()

    def of(self, endpoint: str) -> list[Any]:
        return [body for path, body in self.requests if path == endpoint]

    def route(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        if handler.path == "/oauth/token":
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            self.requests.append((handler.path, form))
            if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
                return self.reply(handler, 401, {"error": "invalid_client"})
            token = {"access_token": self.token, "token_type": "Bearer", "expires_in": 3600}
            return self.reply(handler, 200, token)
        payload = json.loads(body)
        self.requests.append((handler.path, payload))
        if handler.headers.get("Authorization") != f"Bearer {self.token}":
            return self.reply(handler, 401, {"error": {"status": 401, "reason": "Unauthorized"}})
        if handler.path == "/api/v1/catalog/1.0.0/search":
            return self.search(handler, payload)
        if handler.path == "/api/v1/process":
            return self.process(handler, payload)
        return self.reply(handler, 404, {"error": "not found"})

    def search(self, handler: BaseHTTPRequestHandler, payload: dict[str, Any]) -> None:
        start = int(payload.get("next", 0))
        limit = int(payload["limit"])
        page = FEATURES[start : start + limit]
        following = start + limit if start + limit < len(FEATURES) else None
        links = [{"href": f"{self.url}/api/v1/catalog/1.0.0/search", "rel": "self",
                  "type": "application/geo+json"}]  # fmt: skip
        context: dict[str, Any] = {"limit": limit, "returned": len(page)}
        if following is not None:
            context["next"] = following
            links.append({
                "href": f"{self.url}/api/v1/catalog/1.0.0/search", "rel": "next",
                "type": "application/geo+json", "title": "Next set of results",
                "method": "POST", "body": {"next": following}, "merge": True,
            })  # fmt: skip
        self.reply(handler, 200, {"type": "FeatureCollection", "features": page,
                                  "links": links, "context": context})  # fmt: skip

    def process(self, handler: BaseHTTPRequestHandler, payload: dict[str, Any]) -> None:
        if self.process_faults:
            status = self.process_faults.pop(0)
            headers = {"Retry-After": "50"} if status == 429 else {}
            return self.reply(handler, status, {"error": {"status": status}}, headers)
        band = re.search(r'bands: \["(\w+)"\]', payload["evalscript"])
        assert band is not None
        west, _south, east, north = payload["input"]["bounds"]["bbox"]
        width, height = payload["output"]["width"], payload["output"]["height"]
        resolution = (east - west) / width
        tile_west, tile_north = TILE.upper_left
        col0 = round((west - tile_west) / resolution)
        row0 = round((tile_north - north) / resolution)
        rows, cols = np.mgrid[row0 : row0 + height, col0 : col0 + width]
        send_tiff(handler, pattern(band[1], rows, cols))

    reply = staticmethod(send_json)


@pytest.fixture
def sh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[SentinelHubStandIn]:
    server = SentinelHubStandIn()
    monkeypatch.setenv("SH_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SH_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the stand-in speaks plain http
    try:
        yield server
    finally:
        server.close()


def archive(sh: SentinelHubStandIn, **section: Any) -> ArchiveSection:
    return ArchiveSection(
        "sentinelhub", sh.url, collection="sentinel-2-l2a", page_size=2,
        sentinelhub=SentinelHubSection(
            **{"token_url": f"{sh.url}/oauth/token", "resolution": 100, "max_pixels": 500,
               **section}
        ),
    )  # fmt: skip


def query(cloud: float = 80) -> SearchQuery:
    start, end = datetime(2021, 12, 1).date(), datetime(2024, 1, 31).date()
    return SearchQuery(
        "33TUL", start, end, cloud, "sentinel-2-l2a", frozenset({"B04", "B08", "SCL"})
    )


def test_catalog_search_pages_and_keeps_the_tile(sh: SentinelHubStandIn) -> None:
    result = search_archive(archive(sh), query())
    assert [r.id for r in result.records] == [
        "S2B_MSIL2A_20211220T100149_N0301_R122_T33TUL_20211220T112430",
        "S2B_MSIL2A_20240120T100239_N0510_R122_T33TUL_20240120T113505",
        "S2A_MSIL2A_20240125T100311_N0510_R122_T33TUL_20240125T123352",
        "S2B_MSIL2A_20240130T100149_N0510_R122_T33TUL_20240130T112430",
    ]
    first, *_rest, last = result.records
    assert (first.processing_baseline, last.processing_baseline) == ("03.01", "05.10")
    assert not any(r.apply_boa_offset for r in result.records)  # harmonizeValues: true
    assert last.datetime == "2024-01-30T10:08:08Z" and last.cloud_cover == 0.06
    assert last.bands["B04"].href == ("sentinelhub://sentinel-2-l2a/33TUL/2024-01-30T10:08:08Z/B04")
    searches = sh.of("/api/v1/catalog/1.0.0/search")
    assert [s.get("next") for s in searches] == [None, 2, 4]
    request = searches[0]
    assert request["collections"] == ["sentinel-2-l2a"]
    assert request["filter"] == "eo:cloud_cover <= 80" and request["filter-lang"] == "cql2-text"
    assert (
        request["datetime"].startswith("2021-12-01T00:00:00")
        and "2024-01-31T23:59:59" in (request["datetime"])
    )
    west, south, east, north = request["bbox"]
    assert 12.3 < west < 12.5 and 13.8 < east < 14.0 and 45.0 < south < north < 46.1
    (token,) = sh.of("/oauth/token")
    assert token["grant_type"] == "client_credentials"


def test_process_api_bands_are_assembled_on_the_tile_grid(
    sh: SentinelHubStandIn, tmp_path: Path
) -> None:
    record = search_archive(archive(sh), query()).records[-1]
    options = DownloadOptions(
        attempts=3, backoff_seconds=0.01,
        sources=(SentinelHubBands(SentinelHubSettings.from_archive(archive(sh))),),
    )  # fmt: skip
    sh.process_faults = [500]  # one server error: sentinelhub-py retries it
    paths = download_scene(record, tmp_path, options)
    west, north = TILE.upper_left
    for band, (size, resolution) in {"B04": (1098, 100), "B08": (1098, 100),
                                     "SCL": (549, 200)}.items():  # fmt: skip
        with rasterio.open(paths[band]) as dataset:
            assert (dataset.width, dataset.height) == (size, size)
            assert dataset.crs.to_epsg() == 32633
            assert tuple(dataset.transform)[:6] == (resolution, 0, west, 0, -resolution, north)
            rows, cols = np.mgrid[0:size, 0:size]
            np.testing.assert_array_equal(dataset.read(1), pattern(band, rows, cols))
    requests = sh.of("/api/v1/process")
    assert len(requests) == 1 + 9 + 9 + 4  # the retried one, 3x3 pieces per 10 m band, 2x2 SCL
    when = datetime.fromisoformat("2024-01-30T10:08:08+00:00")
    for request in requests:
        (data,) = request["input"]["data"]
        assert data["type"] == "sentinel-2-l2a"
        assert data["processing"]["harmonizeValues"] is True
        assert data["processing"]["upsampling"] == data["processing"]["downsampling"] == "NEAREST"
        window = data["dataFilter"]["timeRange"]
        start = datetime.fromisoformat(window["from"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(window["to"].replace("Z", "+00:00"))
        assert start < when < end and (end - start).total_seconds() <= 3600
        bounds = request["input"]["bounds"]
        assert bounds["properties"]["crs"].endswith("/EPSG/0/32633")
        assert request["output"]["width"] <= 500 and request["output"]["height"] <= 500
        assert request["output"]["responses"][0]["format"]["type"] == "image/tiff"
    assert not list(tmp_path.glob(".*partial*"))


def test_missing_credentials_are_one_clear_error(
    sh: SentinelHubStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SH_CLIENT_SECRET")
    with pytest.raises(ConfigError, match="no Sentinel Hub credentials: set SH_CLIENT_ID"):
        search_archive(archive(sh), query())


def test_rejected_credentials_fail_without_leaking_the_secret(
    sh: SentinelHubStandIn, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    record = search_archive(archive(sh), query()).records[-1]
    monkeypatch.setenv("SH_CLIENT_SECRET", "wrong-secret")
    options = DownloadOptions(
        attempts=1, backoff_seconds=0,
        sources=(SentinelHubBands(SentinelHubSettings.from_archive(archive(sh, resolution=100))),),
    )  # fmt: skip
    SentinelHubDownloadClient.clear_cache()
    with pytest.raises(DownloadError) as error:
        download_scene(record, tmp_path, options)
    assert "\n" not in str(error.value)
    assert "wrong-secret" not in str(error.value) and CLIENT_SECRET not in str(error.value)
    assert not list(tmp_path.glob("*.tif"))


def test_token_url_is_known_for_the_public_deployments() -> None:
    cdse = SentinelHubSettings.from_archive(
        ArchiveSection("sentinelhub", "https://sh.dataspace.copernicus.eu")
    )
    assert cdse.token_url.startswith("https://identity.dataspace.copernicus.eu/")
    with pytest.raises(ConfigError, match="token_url"):
        SentinelHubSettings.from_archive(ArchiveSection("sentinelhub", "https://sh.example"))


def test_band_hrefs_round_trip() -> None:
    collection, tile, when, band = parse_band_href(
        "sentinelhub://sentinel-2-l2a/33TUL/2024-01-30T10:08:08Z/SCL"
    )
    assert (collection, tile, band) == ("sentinel-2-l2a", "33TUL", "SCL")
    assert when.isoformat() == "2024-01-30T10:08:08+00:00"
    with pytest.raises(DownloadError):
        parse_band_href("sentinelhub://sentinel-2-l2a/33TUL")
