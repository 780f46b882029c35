"""Tests of the Sentinel-2 band table (raw2ready.sentinel2.bands) against real Earth Search v1
items: every band's asset key, resolution, common name, wavelengths and title as published."""

from __future__ import annotations

import json

import pytest

from raw2ready.sentinel2 import bands

from .conftest import REAL_S2, requires_real_s2

ITEMS = REAL_S2 / "stac_items"
# Current Earth Search v1 items (L2A of both collections, and L1C for B10): eo:bands name the
# ESA band; items written before 2024 name the asset key instead and title bands differently.
CURRENT_ITEMS = (
    "es1__sentinel-2-l2a__S2B_20EPT_20250731_0_L2A.json",
    "es1__sentinel-2-c1-l2a__S2B_T20EPT_20250731T131905_L2A.json",
    "es1__sentinel-2-c1-l2a__S2A_T37WDS_20240419T090557_L2A.json",
    "es1__sentinel-2-l1c__S2B_20EPT_20250731_0_L1C.json",
)


def _band_assets(name: str) -> dict[str, dict]:
    """Asset key -> asset of every single-band spectral asset of a real item (COG or JP2)."""
    assets = json.loads((ITEMS / name).read_text())["assets"]
    return {key: a for key, a in assets.items() if len(a.get("eo:bands") or []) == 1}


@requires_real_s2
@pytest.mark.parametrize("name", CURRENT_ITEMS)
def test_table_matches_the_assets_of_real_items(name: str) -> None:
    assets = _band_assets(name)
    assert assets
    for key, asset in assets.items():
        row = bands.BY_ASSET_KEY[key.removesuffix("-jp2")]
        (eo_band,) = asset["eo:bands"]
        assert eo_band["name"] == row.band_id
        assert eo_band["common_name"] == row.common_name
        assert eo_band["center_wavelength"] == row.center_wavelength
        assert eo_band["full_width_half_max"] == row.full_width_half_max
        assert asset["title"] == row.title
        assert asset["gsd"] == row.resolution
        assert asset["raster:bands"][0]["spatial_resolution"] == row.resolution


@requires_real_s2
def test_every_band_of_a_real_l1c_item_is_in_the_table() -> None:
    published = {a["eo:bands"][0]["name"] for a in _band_assets(CURRENT_ITEMS[-1]).values()}
    assert published == set(bands.BY_ID)


@requires_real_s2
def test_scl_asset_matches_a_real_l2a_item() -> None:
    scl = json.loads((ITEMS / CURRENT_ITEMS[0]).read_text())["assets"][bands.SCL_ASSET_KEY]
    assert scl["title"] == bands.SCL_TITLE
    assert scl["raster:bands"][0]["spatial_resolution"] == bands.SCL_RESOLUTION


def test_table_is_in_esa_order_without_duplicates() -> None:
    # ESA numbers bands B01..B12 with B8A after B08 (SAFE metadata bandId order).
    esa_order = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10"]
    assert [band.band_id for band in bands.BANDS] == [*esa_order, "B11", "B12"]
    assert len(bands.BY_ASSET_KEY) == len(bands.BANDS)
