"""NBAR: the MODIS kernels against their textbook formulas written here in vector form, the
c-factor's fixed points, the tile chain's NDVI with NBAR against numpy, and a demo scene
whose item records the normalisation."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import rasterio
from scipy import ndimage
from scipy.interpolate import RegularGridInterpolator

from raw2ready.errors import ProcessingError
from raw2ready.grid import parse_tile
from raw2ready.products.masking import MASK_CLEAR
from raw2ready.raster.cog import COGOptions
from raw2ready.raster.tile_chain import ProcessingOptions, process_scene
from raw2ready.scene import SceneRecord
from raw2ready.sentinel2 import nbar
from raw2ready.sentinel2.angles import AngleGrids, SunView
from raw2ready.sentinel2.safe import parse_metadata
from raw2ready.stac.validation import validate_stac_object

from .conftest import REAL_S2, process_demo_scene, requires_real_s2
from .test_processing import _record, _scene

#: Roy et al. 2016, Table 1 (f_iso, f_vol, f_geo), typed in from the paper's table.
ROY_2016 = {
    "B02": (0.0774, 0.0372, 0.0079), "B03": (0.1306, 0.0580, 0.0178),
    "B04": (0.1690, 0.0574, 0.0227), "B08": (0.3093, 0.1535, 0.0330),
    "B11": (0.3430, 0.1154, 0.0453), "B12": (0.2658, 0.0639, 0.0387),
}  # fmt: skip


def _direction(zenith: float, azimuth: float) -> np.ndarray:
    """Unit vector towards a zenith/azimuth (degrees), z up."""
    z, a = math.radians(zenith), math.radians(azimuth)
    return np.array([math.sin(z) * math.sin(a), math.sin(z) * math.cos(a), math.cos(z)])


def _kernels(sun: tuple[float, float], view: tuple[float, float]) -> tuple[float, float]:
    """RossThick and LiSparse-R (h/b 2, b/r 1) from the sun's and the sensor's directions:
    the phase angle from their dot product, the projected distance D and the cross term
    from their shadows on the ground plane (Lucht et al. 2000, eqs. 38-45)."""
    s, v = _direction(*sun), _direction(*view)
    phase = math.acos(min(1.0, float(s @ v)))
    vol = ((math.pi / 2 - phase) * math.cos(phase) + math.sin(phase)) / (s[2] + v[2])
    vol -= math.pi / 4
    ground_s, ground_v = s[:2] / s[2], v[:2] / v[2]  # tan(zenith) along the azimuth
    distance = float(np.linalg.norm(ground_s - ground_v))
    cross = float(ground_s[0] * ground_v[1] - ground_s[1] * ground_v[0])
    secants = 1 / s[2] + 1 / v[2]
    cos_t = min(1.0, 2.0 * math.sqrt(distance**2 + cross**2) / secants)
    t = math.acos(cos_t)
    overlap = (t - math.sin(t) * math.cos(t)) * secants / math.pi
    geo = overlap - secants + 0.5 * (1 + float(s @ v)) / (s[2] * v[2])
    return vol, geo


def test_kernels_match_the_textbook_formulas() -> None:
    rng = np.random.default_rng(3)
    for _ in range(300):
        sun = (rng.uniform(0, 70), rng.uniform(0, 360))
        view = (rng.uniform(0, 60), rng.uniform(0, 360))
        expected_vol, expected_geo = _kernels(sun, view)
        args = [math.radians(x) for x in (sun[0], view[0], sun[1] - view[1])]
        assert float(nbar.ross_thick(*args)) == pytest.approx(expected_vol, abs=1e-12)
        assert float(nbar.li_sparse_r(*args)) == pytest.approx(expected_geo, abs=1e-12)


def test_kernels_vanish_at_nadir_and_are_reciprocal() -> None:
    assert nbar.ross_thick(0.0, 0.0, 0.0) == pytest.approx(0.0, abs=1e-15)
    assert nbar.li_sparse_r(0.0, 0.0, 1.0) == pytest.approx(0.0, abs=1e-15)
    sun, view, azimuth = np.radians([35.0, 8.0, 120.0])
    for kernel in (nbar.ross_thick, nbar.li_sparse_r):
        assert kernel(sun, view, azimuth) == pytest.approx(kernel(view, sun, azimuth))
    # Backscatter (sensor on the sun's side) is brighter than forward scatter in both.
    for kernel in (nbar.ross_thick, nbar.li_sparse_r):
        assert kernel(sun, view, 0.0) > kernel(sun, view, math.pi)


def test_coefficients_are_roy_2016() -> None:
    for band, (iso, vol, geo) in ROY_2016.items():
        assert nbar.COEFFICIENTS[band] == nbar.BrdfCoefficients(iso, vol, geo)
    assert nbar.COEFFICIENTS["B8A"] == nbar.COEFFICIENTS["B08"]


def test_c_factor_is_one_at_the_target_geometry() -> None:
    for coefficients in nbar.COEFFICIENTS.values():
        at_target = SunView(sun_zenith=40.0, sun_azimuth=150.0, view_zenith=0.0, view_azimuth=7)
        assert nbar.c_factor(coefficients, at_target, 40.0) == pytest.approx(1.0, abs=1e-12)
        off_nadir = SunView(40.0, 150.0, 9.0, 290.0)
        assert nbar.c_factor(coefficients, off_nadir, 40.0) != pytest.approx(1.0, abs=1e-4)


def _c_factor(band: str, angles: SunView, target: float) -> float:
    """c-factor from the test's own kernels and Roy et al.'s table."""
    iso, vol, geo = ROY_2016[band]
    seen = _kernels(
        (angles.sun_zenith, angles.sun_azimuth), (angles.view_zenith, angles.view_azimuth)
    )
    nadir = _kernels((target, 0.0), (0.0, 0.0))
    return (iso + vol * nadir[0] + geo * nadir[1]) / (iso + vol * seen[0] + geo * seen[1])


def test_target_sun_zenith_follows_the_tile_centre_latitude() -> None:
    assert nbar.hls_sun_zenith(0.0) == pytest.approx(31.0076)
    # 47PPR: the centre's latitude against the mean latitude of its outline (ring not closed).
    outline = np.array(parse_tile("47PPR").footprint["coordinates"][0])
    assert nbar.tile_centre_latitude("47PPR") == pytest.approx(outline[:-1, 1].mean(), abs=0.01)
    # Sun zenith grows towards the poles (northern summer and winter averaged by the fit).
    assert nbar.hls_sun_zenith(10) < nbar.hls_sun_zenith(45) < nbar.hls_sun_zenith(60)


ANGLES = SunView(sun_zenith=38.0, sun_azimuth=140.0, view_zenith=9.5, view_azimuth=287.0)


def test_ndvi_with_nbar_equals_numpy(tmp_path: Path) -> None:
    paths = _scene(tmp_path / "in", 520, 400)
    record = SceneRecord(**{**_record().to_dict(), "bands": {}, "angles": ANGLES})
    options = ProcessingOptions(
        ("ndvi", "mask"), cog=COGOptions(blocksize=256), nbar=nbar.NbarOptions(True, 33.0)
    )
    outputs = {name: tmp_path / "out" / f"{name}.tif" for name in options.products}
    process_scene(record, paths, outputs, options, tmp_path / "scratch")

    red, nir = (
        (rasterio.open(paths[band]).read(1).astype(float) - 1000)
        / 10000
        * _c_factor(band, ANGLES, 33.0)
        for band in ("B04", "B08")
    )
    expected = (nir - red) / (nir + red)
    with rasterio.open(outputs["mask"]) as src:
        clear = src.read(1) == MASK_CLEAR
    with rasterio.open(outputs["ndvi"]) as src:
        stored = src.read(1) * 1e-4
    assert clear.mean() > 0.3
    np.testing.assert_allclose(stored[clear], expected[clear], atol=0.5e-4 + 2e-6)
    # NBAR moved the NDVI by more than the encoding's step.
    plain = (nir / _c_factor("B08", ANGLES, 33.0) - red / _c_factor("B04", ANGLES, 33.0)) / (
        nir / _c_factor("B08", ANGLES, 33.0) + red / _c_factor("B04", ANGLES, 33.0)
    )
    assert np.abs(plain - expected)[clear].mean() > 5e-4


def test_nbar_without_angles_stops_the_scene(tmp_path: Path) -> None:
    paths = _scene(tmp_path / "in", 300, 300)
    options = ProcessingOptions(("ndvi", "mask"), nbar=nbar.NbarOptions(enabled=True))
    outputs = {name: tmp_path / f"{name}.tif" for name in options.products}
    with pytest.raises(ProcessingError, match="no sun/view angles, which NBAR needs"):
        process_scene(_record(), paths, outputs, options, tmp_path / "scratch")
    assert not outputs["ndvi"].exists()
    # The mask alone needs no angles.
    mask_only = ProcessingOptions(("mask",), nbar=nbar.NbarOptions(enabled=True))
    process_scene(_record(), paths, {"mask": outputs["mask"]}, mask_only, tmp_path / "scratch")
    assert outputs["mask"].exists()


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SceneRecord]:
    root = tmp_path_factory.mktemp("nbar-demo")
    changes = {"products": ["ndvi", "mask"], "nbar": {"enabled": True}}
    return root, process_demo_scene(root, changes)


def test_demo_item_records_the_normalisation(demo_run: tuple[Path, SceneRecord]) -> None:
    root, record = demo_run
    angles = record.angles
    assert angles is not None
    item_path = next((root / "results").rglob(f"{record.id}.json"))
    item = json.loads(item_path.read_text())
    validate_stac_object(item, item_path)
    recorded = item["properties"]["raw2ready:nbar"]
    latitude = nbar.tile_centre_latitude("47PPR")
    assert recorded["target"]["sun_zenith"] == pytest.approx(
        nbar.hls_sun_zenith(latitude), abs=1e-4
    )
    assert "Roy et al. 2016" in recorded["coefficients"]
    target = recorded["target"]["sun_zenith"]
    for band in ("B04", "B08"):
        assert recorded["c_factors"][band] == pytest.approx(
            _c_factor(band, angles, target), abs=2e-6
        )
    assert "normalised to nadir view" in item["properties"]["processing:lineage"]

    # The NDVI COG against numpy on the archive's bands with the default buffers.
    scl = rasterio.open(record.bands["SCL"].href).read(1)
    near = np.zeros(scl.shape, bool)
    for classes, metres in (([8, 9], 300), ([3], 90)):
        present = np.isin(scl, classes)
        if present.any():
            near |= ndimage.distance_transform_edt(~present, sampling=20) <= metres
    clear = np.repeat(np.repeat(np.isin(scl, [2, 4, 5, 6, 7, 11]) & ~near, 2, 0), 2, 1)
    dn = {band: rasterio.open(record.bands[band].href).read(1) for band in ("B04", "B08")}
    clear &= (dn["B04"] != 0) & (dn["B08"] != 0)
    red, nir = (
        (dn[band].astype(float) + record.boa_add_offset) / 10000 * _c_factor(band, angles, target)
        for band in ("B04", "B08")
    )
    cog = next((root / "results").rglob(f"{record.id}_ndvi.tif"))
    with rasterio.open(cog) as src:
        stored = src.read(1) * 1e-4
    assert clear.mean() > 0.2
    np.testing.assert_allclose(stored[clear], ((nir - red) / (nir + red))[clear], atol=0.6e-4)


# ------------------------------------------------------------------ per-pixel angle grids


def _grids(step: float) -> AngleGrids:
    """Angle grids that vary across the scene: view zenith 2 to 11 deg from west to east,
    view azimuth across the 0/360 line, the sun a little higher to the north."""
    rows, cols = np.mgrid[0:23, 0:23].astype(float)
    sun = (40.0 - 0.2 * (22 - rows), 140.0 + 0.3 * cols)
    views = {
        band: (2.0 + 9.0 * cols / 22 + shift, (350.0 + 2.0 * rows + shift) % 360.0)
        for band, shift in (("B04", 0.0), ("B08", 0.3))
    }
    return AngleGrids(step, sun, views)


def _c_factor_field(band: str, grids: AngleGrids, target: float, shape: tuple[int, int]):
    """c-factors at every 10 m pixel centre: the test's kernels at each grid point, then
    scipy's bilinear interpolation (clamped at the grid's last point)."""
    sun_zenith, sun_azimuth = grids.sun
    view_zenith, view_azimuth = grids.views[band]
    iso, vol, geo = ROY_2016[band]
    factors = np.empty(sun_zenith.shape)
    nadir = _kernels((target, 0.0), (0.0, 0.0))
    for index in np.ndindex(factors.shape):
        seen = _kernels(
            (sun_zenith[index], sun_azimuth[index]), (view_zenith[index], view_azimuth[index])
        )
        factors[index] = (iso + vol * nadir[0] + geo * nadir[1]) / (
            iso + vol * seen[0] + geo * seen[1]
        )
    axis = np.arange(23) * grids.step
    interpolate = RegularGridInterpolator((axis, axis), factors)
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    points = np.stack([(rows.ravel() + 0.5) * 10, (cols.ravel() + 0.5) * 10], axis=1)
    return interpolate(np.clip(points, 0, axis[-1])).reshape(shape)


def test_ndvi_with_angle_grids_equals_numpy(tmp_path: Path) -> None:
    paths = _scene(tmp_path / "in", 520, 400)
    grids = _grids(step=250.0)  # 23 points over 5.5 km: the scene spans 20 x 16 cells
    record = SceneRecord(**{**_record().to_dict(), "bands": {}, "angles": ANGLES})
    options = ProcessingOptions(
        ("ndvi", "mask"), cog=COGOptions(blocksize=256), nbar=nbar.NbarOptions(True, 33.0)
    )
    outputs = {name: tmp_path / "out" / f"{name}.tif" for name in options.products}
    process_scene(record, paths, outputs, options, tmp_path / "scratch", grids)

    red, nir = (
        (rasterio.open(paths[band]).read(1).astype(float) - 1000)
        / 10000
        * _c_factor_field(band, grids, 33.0, (400, 520))
        for band in ("B04", "B08")
    )
    with rasterio.open(outputs["mask"]) as src:
        clear = src.read(1) == MASK_CLEAR
    with rasterio.open(outputs["ndvi"]) as src:
        stored = src.read(1) * 1e-4
    np.testing.assert_allclose(stored[clear], ((nir - red) / (nir + red))[clear], atol=0.6e-4)


@requires_real_s2
def test_real_angle_grids_merge_the_detectors() -> None:
    folder = REAL_S2 / "safe_metadata"
    checked = 0
    for tile_xml in sorted(folder.glob("*/MTD_TL.xml")):
        products = list(tile_xml.parent.glob("MTD_MSIL*.xml"))
        if not products:
            continue
        meta = parse_metadata(products[0].read_bytes(), tile_xml.read_bytes(), tile_xml.name)
        grids = meta.angle_grids
        assert grids is not None and grids.step == 5000
        assert meta.sun_angles is not None
        sun_zenith = grids.sun[0]
        assert sun_zenith.shape == (23, 23) and np.isfinite(sun_zenith).all()
        assert sun_zenith.mean() == pytest.approx(meta.sun_angles.zenith, abs=0.05)
        # Where one detector alone sees a point, the merged grid holds its value.
        root = ET.fromstring(tile_xml.read_bytes())
        detectors = [
            np.array(
                [row.text.split() for row in element.iter() if row.tag.endswith("VALUES")][:23],
                float,
            )
            for element in root.iter()
            if element.tag.endswith("Viewing_Incidence_Angles_Grids")
            and element.get("bandId") == "3"
        ]
        seen = np.stack([~np.isnan(detector) for detector in detectors])
        alone = seen.sum(axis=0) == 1
        expected = np.nansum(np.where(seen, np.stack(detectors), 0.0), axis=0)
        zenith = grids.views["B04"][0]
        np.testing.assert_allclose(zenith[alone], expected[alone], atol=1e-9)
        assert np.isfinite(zenith).all() and zenith.min() >= 0 and zenith.max() < 13
        checked += 1
    assert checked >= 5
