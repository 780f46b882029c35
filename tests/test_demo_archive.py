"""Tests of the synthetic Earth Search v1 sample archive (raw2ready.demo.archive)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from pyproj import Transformer
from rio_cogeo import cog_validate

from raw2ready.demo.archive import write_demo_archive
from raw2ready.demo.observation import scl_statistics
from raw2ready.demo.scenes import DEMO_SCENES, DemoScene, item_id, scene_prefix
from raw2ready.demo.surfaces import BANDS, BANDS_10M, BANDS_20M, surface_reflectance
from raw2ready.errors import ConfigError, GridError
from raw2ready.grid import parse_tile
from raw2ready.sentinel2 import scl as scl_classes

SIZE = 128
SEED = 7
REAL_ITEM = (
    Path(__file__).resolve().parents[2]
    / "shared/fixtures/real-s2/stac_items/es1__sentinel-2-l2a__S2B_20EPT_20250731_0_L2A.json"
)
# Property names of a real Earth Search v1 sentinel-2-l2a item (S2B_20EPT_20250731_0_L2A).
REQUIRED_PROPERTIES = {
    "constellation", "created", "datetime", "earthsearch:boa_offset_applied",
    "earthsearch:payload_id", "earthsearch:s3_path", "eo:cloud_cover", "grid:code",
    "instruments", "mgrs:grid_square", "mgrs:latitude_band", "mgrs:utm_zone", "platform",
    "processing:software", "proj:centroid", "proj:epsg", "s2:cloud_shadow_percentage",
    "s2:datastrip_id", "s2:datatake_id", "s2:datatake_type", "s2:degraded_msi_data_percentage",
    "s2:generation_time", "s2:high_proba_clouds_percentage", "s2:medium_proba_clouds_percentage",
    "s2:nodata_pixel_percentage", "s2:not_vegetated_percentage", "s2:processing_baseline",
    "s2:product_type", "s2:product_uri", "s2:reflectance_conversion_factor",
    "s2:saturated_defective_pixel_percentage", "s2:sequence", "s2:snow_ice_percentage",
    "s2:thin_cirrus_percentage", "s2:tile_id", "s2:unclassified_percentage",
    "s2:vegetation_percentage", "s2:water_percentage", "updated", "view:azimuth",
    "view:incidence_angle", "view:sun_azimuth", "view:sun_elevation",
}  # fmt: skip
BAND_FILES = (*BANDS_10M, *BANDS_20M, "SCL")
ASSET_KEYS = {band.band_id: band.asset_key for band in BANDS} | {"SCL": "scl"}
OFFSET_SINCE = (4, 0)


def _baseline(scene_or_text: DemoScene | str) -> tuple[int, int]:
    text = scene_or_text if isinstance(scene_or_text, str) else scene_or_text.baseline
    major, minor = text.split(".")
    return int(major), int(minor)


def _read(archive: Path, scene: DemoScene, band: str) -> np.ndarray:
    with rasterio.open(archive / scene_prefix(scene) / f"{band}.tif") as src:
        return src.read(1)


def _item(archive: Path, scene: DemoScene) -> dict:
    path = archive / scene_prefix(scene) / f"{item_id(scene)}.json"
    return json.loads(path.read_text())


def _to_10m(array: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(array, 2, axis=0), 2, axis=1)


def _reflectance_from_item(dn: np.ndarray, item: dict) -> np.ndarray:
    """Canonical DN -> reflectance: decide the offset from the baseline, then the flag."""
    props = item["properties"]
    needs_offset = (
        _baseline(props["s2:processing_baseline"]) >= OFFSET_SINCE
        and not props["earthsearch:boa_offset_applied"]
    )
    return (dn.astype(np.float64) - (1000 if needs_offset else 0)) / 10000


def _file_digests(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    catalog = write_demo_archive(root, seed=SEED, size=SIZE)
    assert catalog == root.resolve() / "catalog.json"
    return root


@pytest.fixture(scope="module")
def truths() -> dict[DemoScene, dict[str, np.ndarray]]:
    return {s: surface_reflectance(s.tile, s.date, seed=SEED, size=SIZE) for s in DEMO_SCENES}


# ---------------------------------------------------------------------------- the scene table


def test_item_id_follows_earth_search_v1() -> None:
    scene = DemoScene("47PPR", "2023-01-05", "sentinel-2a", "05.09", True)
    assert item_id(scene) == "S2A_47PPR_20230105_0_L2A"
    assert str(scene_prefix(scene)) == (
        "sentinel-s2-l2a-cogs/47/P/PR/2023/1/S2A_47PPR_20230105_0_L2A"
    )


def test_scenes_cover_two_utm_zones_years_and_seasons() -> None:
    tiles = {scene.tile for scene in DEMO_SCENES}
    assert {"47PPR", "48PUB"} <= tiles
    assert len({parse_tile(tile).zone for tile in tiles}) >= 2
    for tile in tiles:
        scenes = [s for s in DEMO_SCENES if s.tile == tile]
        assert len({s.date for s in scenes}) >= 6
        assert {s.sensing_date.year for s in scenes} >= {2021, 2022, 2023, 2024}
        months = {s.sensing_date.month for s in scenes}
        assert months & {11, 12, 1, 2, 3, 4}, "no dry-season scene"
        assert months & {5, 6, 7, 8, 9, 10}, "no wet-season scene"


@pytest.mark.parametrize("tile", ["47PPR", "48PUB"])
def test_baselines_and_offset_flags_are_mixed(tile: str) -> None:
    scenes = [s for s in DEMO_SCENES if s.tile == tile]
    old = [s for s in scenes if _baseline(s) < OFFSET_SINCE]
    new = [s for s in scenes if _baseline(s) >= OFFSET_SINCE]
    assert old and all(s.sensing_date < date(2022, 1, 25) for s in old)
    assert all(not s.boa_offset_applied and s.dn_offset == 0 for s in old)
    assert any(s.boa_offset_applied for s in new)
    assert any(not s.boa_offset_applied for s in new)
    assert {s.baseline for s in new} & {"04.00", "05.09", "05.10"}
    assert all(s.dn_offset == (0 if s.boa_offset_applied else 1000) for s in new)
    assert any(s.nodata_swath for s in scenes)


# ------------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_files_other_seed_differs(tmp_path: Path) -> None:
    first = _file_digests(write_demo_archive(tmp_path / "a", seed=3, size=64).parent)
    second = _file_digests(write_demo_archive(tmp_path / "b", seed=3, size=64).parent)
    assert first == second
    assert sum(name.endswith(".tif") for name in first) == len(DEMO_SCENES) * len(BAND_FILES)
    other = _file_digests(write_demo_archive(tmp_path / "c", seed=4, size=64).parent)
    b04 = [name for name in first if name.endswith("B04.tif")]
    assert all(first[name] != other[name] for name in b04)


def test_bad_arguments_name_the_culprit(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="size"):
        write_demo_archive(tmp_path, size=63)
    with pytest.raises(ConfigError, match="seed"):
        write_demo_archive(tmp_path, seed=-1)
    with pytest.raises(ConfigError, match="2023-13-01"):
        surface_reflectance("47PPR", "2023-13-01")
    with pytest.raises(GridError):
        surface_reflectance("47PPI", "2023-01-05")


# ----------------------------------------------------------------------------------- rasters


def test_layout_and_every_band_is_a_valid_cog(archive: Path) -> None:
    for scene in DEMO_SCENES:
        folder = archive / scene_prefix(scene)
        assert sorted(p.name for p in folder.glob("*.tif")) == sorted(
            f"{band}.tif" for band in BAND_FILES
        )
        for band in BAND_FILES:
            path = folder / f"{band}.tif"
            assert cog_validate(str(path), quiet=True) == (True, [], [])
            with rasterio.open(path) as src:
                assert src.nodata == 0
                assert src.compression.name == "deflate"
                assert src.block_shapes == [(256, 256)]
                assert len(src.overviews(1)) >= 2
                assert src.crs.to_epsg() == parse_tile(scene.tile).epsg
                assert src.dtypes[0] == ("uint8" if band == "SCL" else "uint16")
                assert src.width == (SIZE if band in BANDS_10M else SIZE // 2)
                assert src.transform.a == (10 if band in BANDS_10M else 20)
                assert (src.transform.c, src.transform.f) == parse_tile(scene.tile).upper_left
        assert not list(folder.glob(".*")), "a partial file was left behind"


def test_overviews_average_reflectance_and_keep_scl_classes(archive: Path) -> None:
    scene = next(s for s in DEMO_SCENES if not s.nodata_swath)
    folder = archive / scene_prefix(scene)
    with rasterio.open(folder / "B04.tif") as src:
        full = src.read(1).astype(np.float64)
        half = src.read(1, out_shape=(SIZE // 2, SIZE // 2)).astype(np.float64)
    block_mean = full.reshape(SIZE // 2, 2, SIZE // 2, 2).mean(axis=(1, 3))
    assert np.abs(half - block_mean).max() <= 1.0
    with rasterio.open(folder / "SCL.tif") as src:
        classes = set(np.unique(src.read(1)).tolist())
        overview = src.read(1, out_shape=(SIZE // 8, SIZE // 8))
    assert set(np.unique(overview).tolist()) <= classes


def test_clear_pixels_store_exactly_the_true_reflectance(
    archive: Path, truths: dict[DemoScene, dict[str, np.ndarray]]
) -> None:
    for scene in DEMO_SCENES:
        item = _item(archive, scene)
        scl = _read(archive, scene, "SCL")
        clear20 = np.isin(scl, list(scl_classes.CLEAR))
        assert clear20.mean() > 0.05, item_id(scene)
        for band in ("B02", "B04", "B08", "B05", "B8A", "B11", "B12"):
            dn = _read(archive, scene, band)
            truth = truths[scene][band]
            clear = clear20 if band in BANDS_20M else _to_10m(clear20)
            expected = np.rint(truth * 10000) + scene.dn_offset
            np.testing.assert_array_equal(dn[clear], expected[clear].astype(np.uint16))
            reflectance = _reflectance_from_item(dn[clear], item)
            assert np.abs(reflectance - truth[clear]).max() <= 0.5e-4 + 1e-6


def test_baseline_and_flag_change_only_the_stored_offset(tmp_path: Path) -> None:
    """One (tile, date) written as a 02.14, a flag-true and a flag-false 05.09 product."""
    variants = {
        "old": DemoScene("47PPR", "2021-02-14", "sentinel-2a", "02.14", False, 0.3, 0.1, True),
        "applied": DemoScene("47PPR", "2021-02-14", "sentinel-2a", "05.09", True, 0.3, 0.1, True),
        "raw": DemoScene("47PPR", "2021-02-14", "sentinel-2a", "05.09", False, 0.3, 0.1, True),
    }
    stored = {}
    for name, scene in variants.items():
        root = write_demo_archive(tmp_path / name, seed=SEED, size=64, scenes=(scene,)).parent
        stored[name] = {band: _read(root, scene, band) for band in ("B04", "B8A", "SCL")}
    for band in ("B04", "B8A", "SCL"):
        np.testing.assert_array_equal(stored["old"][band], stored["applied"][band])
    for band in ("B04", "B8A"):
        valid = stored["raw"][band] > 0
        np.testing.assert_array_equal(stored["raw"][band] == 0, stored["applied"][band] == 0)
        np.testing.assert_array_equal(
            stored["raw"][band][valid].astype(int) - 1000, stored["applied"][band][valid]
        )


def test_dn_plausibility_reveals_the_stored_offset(archive: Path) -> None:
    """Dark water sits below DN 1000 unless the archive kept the +1000 offset."""
    for scene in DEMO_SCENES:
        scl = _read(archive, scene, "SCL")
        water = scl == 6
        if water.sum() < 5:
            continue
        dn = _read(archive, scene, "B8A")[water]
        if scene.dn_offset:
            assert dn.min() >= 1000, item_id(scene)
        else:
            assert np.median(dn) < 500, item_id(scene)


def test_clouds_cirrus_and_shadows_agree_between_scl_and_bands(
    archive: Path, truths: dict[DemoScene, dict[str, np.ndarray]]
) -> None:
    seen = set()
    for scene in DEMO_SCENES:
        scl = _read(archive, scene, "SCL")
        item = _item(archive, scene)
        for band in ("B02", "B8A"):
            dn = _read(archive, scene, band)
            mask_scl = scl if band in BANDS_20M else _to_10m(scl)
            observed = _reflectance_from_item(dn, item)
            excess = observed - truths[scene][band]
            cloud = np.isin(mask_scl, [8, 9])
            cirrus = mask_scl == 10
            shadow = mask_scl == 3
            if cloud.any():
                seen.add("cloud")
                assert excess[cloud].min() > (0.1 if band == "B02" else 0.02)
                if (mask_scl == 8).any() and (mask_scl == 9).any():
                    assert observed[mask_scl == 9].mean() > observed[mask_scl == 8].mean()
            if cirrus.any():
                seen.add("cirrus")
                assert excess[cirrus].min() > 0.005 and excess[cirrus].max() < 0.1
            if shadow.any():
                seen.add("shadow")
                ratio = observed[shadow] / truths[scene][band][shadow]
                assert ratio.max() < 0.6
    assert seen == {"cloud", "cirrus", "shadow"}


def _overlap_after_shift(cloud: np.ndarray, shadow: np.ndarray, azimuth: float, sign: int) -> int:
    """Shadow pixels hit by the cloud mask moved away from (+1) or towards (-1) the sun."""
    total = 0
    for step in range(1, 12):
        shift = (round(sign * step * np.cos(azimuth)), round(-sign * step * np.sin(azimuth)))
        total += int((np.roll(cloud, shift, axis=(0, 1)) & shadow).sum())
    return total


def test_shadows_lie_away_from_the_sun(archive: Path) -> None:
    for scene in DEMO_SCENES:
        scl = _read(archive, scene, "SCL")
        cloud, shadow = np.isin(scl, [8, 9]), scl == 3
        if shadow.sum() < 10 or cloud.mean() > 0.5:
            continue  # with most of the sky overcast the direction test is ambiguous
        azimuth = np.radians(_item(archive, scene)["properties"]["view:sun_azimuth"])
        away = _overlap_after_shift(cloud, shadow, azimuth, +1)
        towards = _overlap_after_shift(cloud, shadow, azimuth, -1)
        assert away > 2 * towards, item_id(scene)


def test_cloud_cover_varies_per_tile(archive: Path) -> None:
    for tile in {s.tile for s in DEMO_SCENES}:
        covers = [
            _item(archive, s)["properties"]["eo:cloud_cover"] for s in DEMO_SCENES if s.tile == tile
        ]
        assert min(covers) < 2
        assert max(covers) > 60
        assert sum(5 < c < 60 for c in covers) >= 3


def test_nodata_swath_is_zero_in_every_band_and_scl(archive: Path) -> None:
    for scene in DEMO_SCENES:
        scl = _read(archive, scene, "SCL")
        nodata20 = scl == 0
        if scene.nodata_swath:
            assert 0.1 < nodata20.mean() < 0.6
            nodata_per_row = nodata20.sum(axis=1)
            assert len(set(nodata_per_row.tolist())) > 5, "swath edge is not diagonal"
        else:
            assert not nodata20.any()
        for band in BAND_FILES[:-1]:
            dn = _read(archive, scene, band)
            nodata = nodata20 if band in BANDS_20M else _to_10m(nodata20)
            np.testing.assert_array_equal(dn == 0, nodata, err_msg=f"{item_id(scene)} {band}")


# ---------------------------------------------------------------------------------- metadata


def test_catalog_loads_and_items_carry_earth_search_metadata(archive: Path) -> None:
    catalog = pystac.Catalog.from_file(str(archive / "catalog.json"))
    assert catalog.catalog_type == pystac.CatalogType.SELF_CONTAINED
    collection = catalog.get_child("sentinel-2-l2a")
    assert isinstance(collection, pystac.Collection)
    items = {item.id: item for item in collection.get_items()}
    assert set(items) == {item_id(s) for s in DEMO_SCENES}
    required = set(REQUIRED_PROPERTIES)
    if REAL_ITEM.exists():
        required |= set(json.loads(REAL_ITEM.read_text())["properties"])
    required -= {"proj:epsg"}  # pystac turns it into proj:code on read; raw JSON checked below

    (west, south, east, north) = collection.extent.spatial.bboxes[0]
    start, end = collection.extent.temporal.intervals[0]
    for scene in DEMO_SCENES:
        item = items[item_id(scene)]
        props = item.properties
        assert required <= set(props), required - set(props)
        assert props["s2:processing_baseline"] == scene.baseline
        assert props["earthsearch:boa_offset_applied"] is scene.boa_offset_applied
        assert props["platform"] == scene.platform
        assert f"_N{scene.baseline.replace('.', '')}_" in props["s2:product_uri"]
        assert props["s2:product_uri"].startswith(f"{scene.platform_code}_MSIL2A_")
        assert props["earthsearch:s3_path"].endswith(str(scene_prefix(scene)))
        tile = parse_tile(scene.tile)
        assert props["proj:code"] == f"EPSG:{tile.epsg}"  # pystac migrates proj:epsg on read
        raw = _item(archive, scene)["properties"]
        assert raw["proj:epsg"] == tile.epsg and raw["proj:code"] == f"EPSG:{tile.epsg}"
        assert props["grid:code"] == tile.grid_code
        assert (props["mgrs:utm_zone"], props["mgrs:latitude_band"], props["mgrs:grid_square"]) == (
            tile.zone,
            tile.latitude_band,
            tile.grid_square,
        )
        assert props["created"] == props["updated"]
        generated = datetime.fromisoformat(props["s2:generation_time"])
        assert generated > datetime.fromisoformat(props["datetime"])
        assert datetime.fromisoformat(props["created"]) > generated
        assert item.datetime is not None and item.datetime.date() == scene.sensing_date
        assert west <= item.bbox[0] and item.bbox[2] <= east
        assert south <= item.bbox[1] and item.bbox[3] <= north
        assert start <= item.datetime <= end
        assert set(item.assets) == set(ASSET_KEYS.values())
        for extension in ("eo", "raster", "file", "projection", "view", "mgrs", "grid"):
            assert any(f"/{extension}/" in uri for uri in item.stac_extensions), extension


def test_assets_have_raster_file_and_proj_fields(archive: Path) -> None:
    for scene in DEMO_SCENES:
        item = _item(archive, scene)
        folder = archive / scene_prefix(scene)
        for band, key in ASSET_KEYS.items():
            asset = item["assets"][key]
            assert asset["href"] == f"./{band}.tif"
            data = (folder / f"{band}.tif").read_bytes()
            assert asset["file:size"] == len(data)
            assert asset["file:checksum"] == "1220" + hashlib.sha256(data).hexdigest()
            (raster_band,) = asset["raster:bands"]
            with rasterio.open(folder / f"{band}.tif") as src:
                assert asset["proj:shape"] == [src.height, src.width]
                assert asset["proj:transform"] == list(src.transform)[:6]
            if band == "SCL":
                assert raster_band == {"nodata": 0, "data_type": "uint8", "spatial_resolution": 20}
                continue
            assert asset["eo:bands"][0]["name"] == band
            expected_offset = -0.1 if _baseline(scene) >= OFFSET_SINCE else 0
            assert raster_band == {
                "nodata": 0,
                "data_type": "uint16",
                "spatial_resolution": 10 if band in BANDS_10M else 20,
                "scale": 0.0001,
                "offset": expected_offset,
            }


def test_percentages_are_computed_from_the_scl(archive: Path) -> None:
    for scene in DEMO_SCENES:
        props = _item(archive, scene)["properties"]
        scl = _read(archive, scene, "SCL")
        valid = scl[scl > 0]
        cloudy = np.isin(valid, [8, 9, 10]).mean() * 100
        assert props["eo:cloud_cover"] == pytest.approx(cloudy, abs=1e-4)
        assert props["s2:nodata_pixel_percentage"] == pytest.approx(
            (scl == 0).mean() * 100, abs=1e-4
        )
        assert props["s2:vegetation_percentage"] == pytest.approx(
            (valid == 4).mean() * 100, abs=1e-4
        )
        for key, value in scl_statistics(scl).items():
            assert props[key] == value


def test_geometry_is_the_valid_footprint_in_wgs84(archive: Path) -> None:
    for scene in DEMO_SCENES:
        item = _item(archive, scene)
        tile = parse_tile(scene.tile)
        east, north = tile.upper_left
        to_wgs84 = Transformer.from_crs(tile.epsg, 4326, always_xy=True)
        lons, lats = to_wgs84.transform(
            [east, east + SIZE * 10, east, east + SIZE * 10],
            [north, north, north - SIZE * 10, north - SIZE * 10],
        )
        west_, south_, east_, north_ = item["bbox"]
        assert min(lons) - 1e-6 <= west_ < east_ <= max(lons) + 1e-6
        assert min(lats) - 1e-6 <= south_ < north_ <= max(lats) + 1e-6
        ring = item["geometry"]["coordinates"][0]
        assert ring[0] == ring[-1] and len(ring) >= 4
        x, y = np.array(ring).T
        signed_area = np.sum(x[:-1] * y[1:] - x[1:] * y[:-1]) / 2
        assert signed_area > 0, "exterior ring must be counter-clockwise"
        full_area = (max(lons) - min(lons)) * (max(lats) - min(lats))
        valid_share = 1 - item["properties"]["s2:nodata_pixel_percentage"] / 100
        assert signed_area / full_area == pytest.approx(valid_share, abs=0.05)


def test_sun_angles_are_plausible_for_thailand(archive: Path) -> None:
    for scene in DEMO_SCENES:
        props = _item(archive, scene)["properties"]
        assert 35 < props["view:sun_elevation"] < 80
        assert 0 <= props["view:sun_azimuth"] < 360
        assert 0 <= props["view:incidence_angle"] < 12
        if scene.sensing_date.month in (11, 12, 1, 2):
            assert 120 < props["view:sun_azimuth"] < 170  # low winter sun in the south-east
        if scene.sensing_date.month in (6, 7):
            assert props["view:sun_azimuth"] < 90  # sun north of the zenith
    datetimes = [
        datetime.fromisoformat(_item(archive, s)["properties"]["datetime"]) for s in DEMO_SCENES
    ]
    assert all(dt.tzinfo is not None and dt.astimezone(UTC).hour == 3 for dt in datetimes)


def test_json_has_relative_links_only(archive: Path) -> None:
    for path in archive.rglob("*.json"):
        text = path.read_text()
        assert str(archive) not in text, path
        assert '"rel": "self"' not in text, path


# ----------------------------------------------------------------------- surface reflectance


def test_surface_reflectance_shapes_and_range() -> None:
    truth = surface_reflectance("47PPR", "2022-09-12", seed=SEED, size=SIZE)
    assert list(truth) == ["B02", "B03", "B04", "B08", "B05", "B06", "B07", "B8A", "B11", "B12"]
    for band, layer in truth.items():
        assert layer.dtype == np.float32
        assert layer.shape == ((SIZE, SIZE) if band in BANDS_10M else (SIZE // 2, SIZE // 2))
        assert layer.min() > 0 and layer.max() < 1
    again = surface_reflectance("47PPR", "2022-09-12", seed=SEED, size=SIZE)
    assert all(np.array_equal(truth[b], again[b]) for b in truth)


@pytest.mark.parametrize("scene", DEMO_SCENES, ids=item_id)
def test_surface_reflectance_is_physically_plausible(scene: DemoScene) -> None:
    truth = surface_reflectance(scene.tile, scene.date, seed=SEED, size=256)
    red, nir = truth["B04"].astype(np.float64), truth["B08"].astype(np.float64)
    ndvi = (nir - red) / (nir + red)
    dense = ndvi > 0.75
    if dense.any():
        assert red[dense].min() > 0.015 and red[dense].max() < 0.08
        assert nir[dense].min() > 0.22 and nir[dense].max() < 0.5
    water = nir < 0.03
    assert water.mean() > 0.01, "no river or lake"
    assert (red[water] > nir[water]).all()
    soil = (ndvi < 0.2) & (red > 0.15)
    assert soil.any()
    assert 0.18 < np.median(nir[soil]) < 0.35
    assert 0.15 < np.median(red[soil]) < 0.25


@pytest.mark.parametrize("tile", ["47PPR", "48PUB"])
def test_vegetation_follows_the_seasons(tile: str) -> None:
    def green_share(day: str) -> float:
        truth = surface_reflectance(tile, day, seed=SEED, size=SIZE)
        red, nir = truth["B04"], truth["B08"]
        return float(((nir - red) / (nir + red) > 0.6).mean())

    wet, dry = green_share("2022-09-15"), green_share("2022-03-15")
    assert wet - dry > 0.15
