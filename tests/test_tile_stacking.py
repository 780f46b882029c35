"""Products of one tile from any archive and any sensor stack pixel for pixel on the grid of
the real Sentinel-2 products of that tile.

The reference is third-party: the 10 m band grids (`proj:transform`, `proj:shape`, EPSG) of
real Earth Search and Planetary Computer items in ../shared/fixtures/real-s2/stac_items,
northern and southern, low and high latitude, zones 6 to 58. A Sentinel Hub band made
through the real Process API path (against a local stand-in) must have exactly that grid; a
Sentinel-1 gamma0 product made through the real SNAP path (the gpt double) covers part of
the tile, so its origin must sit on that pixel lattice, inside the tile, at the same 10 m.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import numpy as np
import pytest
import rasterio

from raw2ready.archives.sentinelhub import SentinelHubSettings, fetch_band
from raw2ready.archives.transfer import DownloadOptions
from raw2ready.campaign.reprocess import layout_of, reprocess_s1_scene
from raw2ready.sentinel1.search import search_sentinel1

from .conftest import make_settings
from .safe_factory import make_s1_grd_zip
from .servers import PostRouter, send_json, send_tiff
from .test_sen2cor_snap import doubles  # noqa: F401  (fixture)

ITEMS = Path(__file__).resolve().parents[2] / "shared/fixtures/real-s2/stac_items"
pytestmark = pytest.mark.skipif(not ITEMS.is_dir(), reason=f"real fixtures absent: {ITEMS}")

#: Real items whose 10 m red band carries its grid: north and south of the equator, a
#: northing of exactly 10,000 km, latitude bands E, M, T, U, V, W, X, zones 6 to 58.
REFERENCES = [
    "es1__sentinel-2-l2a__S2A_13TDE_20231008_0_L2A.json",
    "es1__sentinel-2-l2a__S2B_20EPT_20250731_0_L2A.json",
    "es1__sentinel-2-l2a__S2B_21MZV_20231110_0_L2A.json",
    "es1__sentinel-2-l2a__S2A_37WDS_20240419_0_L2A.json",
    "pc__sentinel-2-l2a__S2A_MSIL2A_20190101T000001_R116_T58UFE_20201007T214651.json",
    "pc__sentinel-2-l2a__S2B_MSIL2A_20190629T212529_R043_T06VVN_20201006T080531.json",
    "pc__sentinel-2-l2a__S2B_MSIL2A_20240419T095549_R122_T47XML_20240419T123458.json",
]


def reference_grid(name: str) -> tuple[str, int, rasterio.Affine, tuple[int, int]]:
    """(tile, EPSG, transform, (height, width)) of the item's 10 m red band, as published."""
    item = json.loads((ITEMS / name).read_text())
    tile = re.search(r"_T?(\d{2}[C-X][A-Z]{2})_", item["id"])
    assert tile is not None, item["id"]
    red = item["assets"].get("red") or item["assets"]["B04"]
    properties = item["properties"]
    epsg = properties.get("proj:epsg") or int(properties["proj:code"].split(":")[1])
    transform = rasterio.Affine(*(red.get("proj:transform") or properties["proj:transform"])[:6])
    height, width = red.get("proj:shape") or properties["proj:shape"]
    assert transform.a == 10 and transform.e == -10, name
    return tile[1], epsg, transform, (height, width)


class ProcessApiStandIn(PostRouter):
    """Token and Process API endpoints on 127.0.0.1: each piece answered as a uint16 TIFF
    of the requested size; the requested boxes are kept for the test."""

    def __init__(self) -> None:
        self.boxes: list[tuple[list[float], int, int]] = []
        super().__init__()

    def route(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        if handler.path == "/oauth/token":
            token = {"access_token": "t", "token_type": "Bearer", "expires_in": 3600}
            return send_json(handler, 200, token)
        payload = json.loads(body)
        width, height = payload["output"]["width"], payload["output"]["height"]
        self.boxes.append((payload["input"]["bounds"]["bbox"], width, height))
        send_tiff(handler, np.ones((height, width), "uint16"))


@pytest.fixture(scope="module")
def process_api() -> Iterator[ProcessApiStandIn]:
    server = ProcessApiStandIn()
    try:
        yield server
    finally:
        server.close()


@pytest.mark.parametrize("reference", REFERENCES[:3])
def test_sentinel_hub_band_has_the_real_products_grid(
    reference: str,
    process_api: ProcessApiStandIn,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tile, epsg, transform, shape = reference_grid(reference)
    monkeypatch.setenv("SH_CLIENT_ID", "id")
    monkeypatch.setenv("SH_CLIENT_SECRET", "secret")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    settings = SentinelHubSettings(process_api.url, f"{process_api.url}/oauth/token")
    process_api.boxes.clear()
    target = tmp_path / "B04.tif"
    href = f"sentinelhub://sentinel-2-l2a/{tile}/2024-01-30T10:08:08Z/B04"
    fetch_band(href, target, settings, DownloadOptions(attempts=1))
    with rasterio.open(target) as band:
        assert band.crs.to_epsg() == epsg
        assert band.transform == transform
        assert band.shape == shape
    # The pieces asked for tile exactly the published product's extent.
    west, north = transform.c, transform.f
    east, south = west + 10 * shape[1], north - 10 * shape[0]
    lefts, bottoms, rights, tops = zip(*(box for box, _w, _h in process_api.boxes), strict=True)
    assert (min(lefts), min(bottoms), max(rights), max(tops)) == (west, south, east, north)
    assert sum(w * h for _box, w, h in process_api.boxes) == shape[0] * shape[1]


@pytest.mark.parametrize("reference", REFERENCES)
def test_sentinel1_gamma0_sits_on_the_real_products_pixel_lattice(
    reference: str,
    tmp_path: Path,
    doubles: dict[str, Path],  # noqa: F811
) -> None:
    tile, epsg, transform, shape = reference_grid(reference)
    grd = tmp_path / "grd"
    grd.mkdir()
    make_s1_grd_zip(grd, tile=tile)
    settings = make_settings(
        tmp_path, tiles=[tile], start="2023-01-01", end="2023-12-31",
        sentinel1={"enabled": True, "polarisations": ["VV"],
                   "archive": {"kind": "safe_folder", "url": str(grd)}},
    )  # fmt: skip
    (record,) = search_sentinel1(settings, tile, DownloadOptions()).records
    reprocess_s1_scene(settings, record)
    item = json.loads(layout_of(settings).item(record).read_text())
    product = layout_of(settings).item(record).parent / item["assets"]["gamma0_vv"]["href"]
    with rasterio.open(product.resolve()) as gamma0:
        assert gamma0.crs.to_epsg() == epsg
        assert (gamma0.transform.a, gamma0.transform.e) == (10, -10)
        assert (gamma0.transform.b, gamma0.transform.d) == (0, 0)
        col = (gamma0.transform.c - transform.c) / 10
        row = (transform.f - gamma0.transform.f) / 10
        assert col == int(col) and row == int(row), (col, row)
        assert col >= 0 and col + gamma0.width <= shape[1]
        assert row >= 0 and row + gamma0.height <= shape[0]
        assert np.isfinite(gamma0.read(1, masked=True)).any()
