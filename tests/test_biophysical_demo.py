"""A demo scene with `processors.lai: biophysical`: LAI, FAPAR and FCOVER COGs equal to an
independent evaluation of ESA's networks on the archive's bands, and a valid STAC item that
says where the coefficients came from."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate
from scipy import ndimage

from raw2ready.scene import SceneRecord
from raw2ready.stac.validation import validate_stac_object

from .conftest import process_demo_scene

PACKAGE = importlib.util.find_spec("satellitetools")
pytestmark = pytest.mark.skipif(
    PACKAGE is None, reason="pip extra 'biophysical' (satellitetools) not installed"
)
#: ESA's coefficient files, read here without raw2ready's loader.
NETWORKS = Path(PACKAGE.origin if PACKAGE and PACKAGE.origin else ".").parent.joinpath(
    "biophys", "snap-auxdata", "biophysical", "2_1"
)
BANDS = ("B03", "B04", "B05", "B06", "B07", "B8A", "B11", "B12")
PRODUCTS = {"lai": "LAI", "fapar": "FAPAR", "fcover": "FCOVER"}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SceneRecord]:
    root = tmp_path_factory.mktemp("biophysical-demo")
    changes = {
        "products": ["ndvi", "lai", "fapar", "fcover", "mask"],
        "processors": {"lai": "biophysical"},
    }
    return root, process_demo_scene(root, changes)


def _table(variable: str, name: str) -> np.ndarray:
    return np.loadtxt(NETWORKS / variable / f"{variable}_{name}", delimiter=",", ndmin=2)


def _network(variable: str, inputs: np.ndarray) -> np.ndarray:
    """ESA's network written out step by step (ATBD): normalise, tansig, linear, denormalise,
    clamp below the minimum within tolerance, no value beyond."""
    norm = _table(variable, "Normalisation")
    x = 2 * (inputs - norm[:, :1]) / (norm[:, 1:] - norm[:, :1]) - 1
    hidden = np.tanh(_table(variable, "Weights_Layer1_Neurons") @ x
                     + _table(variable, "Weights_Layer1_Bias").reshape(-1, 1))  # fmt: skip
    out = _table(variable, "Weights_Layer2_Neurons") @ hidden + _table(
        variable, "Weights_Layer2_Bias"
    )
    low, high = _table(variable, "Denormalisation")[0]
    value = (0.5 * (out[0] + 1) * (high - low) + low).astype(np.float64)
    tolerance, minimum, maximum = _table(variable, "ExtremeCases")[0]
    value[(value < minimum) & (value >= minimum - abs(tolerance))] = minimum
    value[(value < minimum - abs(tolerance)) | (value > maximum)] = np.nan
    return value


def _read(href: str) -> np.ndarray:
    with rasterio.open(href) as dataset:
        return dataset.read(1).astype(np.float64)


def test_products_equal_an_independent_evaluation(run: tuple[Path, SceneRecord]) -> None:
    root, record = run
    scl = _read(record.bands["SCL"].href)
    bands = {}
    for band in BANDS:
        dn = _read(record.bands[band].href)
        if dn.shape != scl.shape:  # 10 m: the mean of each 2 x 2 block, on the 20 m grid
            dn = dn.reshape(dn.shape[0] // 2, 2, dn.shape[1] // 2, 2).mean(axis=(1, 3))
        bands[band] = (dn + record.boa_add_offset) / 10000
    angles = record.angles
    assert angles is not None
    geometry = np.cos(np.radians([angles.view_zenith, angles.sun_zenith,
                                  angles.sun_azimuth - angles.view_azimuth]))  # fmt: skip
    inputs = np.vstack([*(bands[b].ravel() for b in BANDS),
                        *(np.full(scl.size, g) for g in geometry)])  # fmt: skip
    # Clear: an unmasked SCL class farther than the default buffers (300 m from cloud 8, 9;
    # 90 m from shadow 3) from the masked classes, by the exact distance transform.
    near = np.zeros(scl.shape, bool)
    for classes, metres in (([8, 9], 300), ([3], 90)):
        present = np.isin(scl, classes)
        if present.any():
            near |= ndimage.distance_transform_edt(~present, sampling=20) <= metres
    clear = (np.isin(scl, [2, 4, 5, 6, 7, 11]) & ~near).ravel()
    for name, variable in PRODUCTS.items():
        cog = next((root / "results").rglob(f"{record.id}_{name}.tif"))
        assert cog_validate(str(cog))[0]
        with rasterio.open(cog) as dataset:
            stored = dataset.read(1).ravel()
            assert dataset.width == scl.shape[1]
            scale, nodata = dataset.scales[0], dataset.nodata
        expected = _network(variable, inputs)
        valid = clear & ~np.isnan(expected)
        assert valid.sum() > 0.5 * clear.sum()
        np.testing.assert_array_equal(stored[~clear], nodata)
        np.testing.assert_array_equal(stored[clear & np.isnan(expected)], nodata)
        # GDAL's 2 x 2 average rounds to whole DNs, and the COG stores steps of 1e-3.
        error = np.abs(stored[valid] * scale - expected[valid])
        assert error.max() < 2e-3  # measured: 8e-4 (int16 steps of 1e-3, DNs rounded)


def test_item_is_valid_stac_and_records_the_coefficients(run: tuple[Path, SceneRecord]) -> None:
    root, record = run
    item_path = next((root / "results").rglob(f"{record.id}.json"))
    item = json.loads(item_path.read_text())
    validate_stac_object(item, item_path)
    assert {"lai", "fapar", "fcover", "ndvi", "mask"} <= set(item["assets"])
    software = item["properties"]["processing:software"]["ESA S2 Toolbox biophysical networks"]
    assert software.startswith("satellitetools 2.1.6")
    digest = software.rsplit("sha256 ", 1)[1]
    assert len(digest) == 64
    flags = item["properties"]["raw2ready:biophysical_flags"]
    assert set(flags) == set(PRODUCTS)
    assert "input_out_of_domain" in flags["lai"]
