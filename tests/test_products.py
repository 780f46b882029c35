"""The product registry: every product's encoding, kind and bands as published, the config's
check of product names against it, and each spectral index against its published formula."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from raw2ready.errors import ConfigError
from raw2ready.products.registry import LAI_MODELS, PRODUCTS, Kind, Maker, product, required_bands
from raw2ready.raster.tile_chain import encode, reflectance

from .conftest import make_settings

SNAP_BANDS = {"B03", "B04", "B05", "B06", "B07", "B8A", "B11", "B12"}
#: name: (kind, dtype, scale, offset, nodata, unit, bands with lai.model savi_metric, makers)
EXPECTED = {
    "ndvi": ("index", "int16", 1e-4, 0.0, -32768, None, {"B04", "B08"}, {"tile"}),
    "evi": ("index", "int16", 1e-4, 0.0, -32768, None, {"B02", "B04", "B08"}, {"tile"}),
    "savi": ("index", "int16", 1e-4, 0.0, -32768, None, {"B04", "B08"}, {"tile"}),
    "ndwi": ("index", "int16", 1e-4, 0.0, -32768, None, {"B03", "B08"}, {"tile"}),
    "ndmi": ("index", "int16", 1e-4, 0.0, -32768, None, {"B08", "B11"}, {"tile"}),
    "nbr": ("index", "int16", 1e-4, 0.0, -32768, None, {"B08", "B12"}, {"tile"}),
    "lai": ("index", "int16", 1e-3, 0.0, -32768, "m2/m2", {"B04", "B08"}, {"tile", "snap", "np"}),
    "mask": ("classes", "uint8", 1.0, 0.0, 255, None, {"SCL"}, {"tile"}),
    "fapar": ("index", "int16", 1e-3, 0.0, -32768, None, SNAP_BANDS, {"snap", "np"}),
    "fcover": ("index", "int16", 1e-3, 0.0, -32768, None, SNAP_BANDS, {"snap", "np"}),
    "gamma0_vv": ("index", "int16", 1e-3, 0.0, -32768, "dB", set(), {"s1"}),
    "gamma0_vh": ("index", "int16", 1e-3, 0.0, -32768, "dB", set(), {"s1"}),
    "clear_count": ("index", "uint8", 1.0, 0.0, 255, None, set(), {"composite"}),
}
MAKERS = {
    "tile": Maker.TILE_CHAIN,
    "snap": Maker.SNAP_BIOPHYSICAL,
    "np": Maker.BIOPHYSICAL,
    "s1": Maker.SNAP_SENTINEL1,
    "composite": Maker.COMPOSITE,
}


def test_the_registry_holds_exactly_the_documented_products() -> None:
    assert set(PRODUCTS) == set(EXPECTED)
    assert all(name == spec.name for name, spec in PRODUCTS.items())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_product_has_its_encoding_kind_bands_and_makers(name: str) -> None:
    kind, dtype, scale, offset, nodata, unit, bands, makers = EXPECTED[name]
    spec = product(name)
    assert spec.kind is Kind(kind)
    assert tuple(spec.encoding) == (dtype, scale, offset, nodata, unit)
    assert spec.bands("savi_metric") == bands
    assert set(spec.made_by) == {MAKERS[m] for m in makers}
    assert (spec.recipe("savi_metric") is not None) == (
        Maker.TILE_CHAIN in spec.made_by and kind == "index"
    )
    assert spec.citation and spec.title
    assert (spec.classes is not None) == (kind == "classes")


def test_lai_bands_and_function_follow_the_configured_model() -> None:
    assert set(LAI_MODELS) == {"savi_metric", "evi_boegh"}
    lai = PRODUCTS["lai"]
    assert lai.bands("evi_boegh") == {"B02", "B04", "B08"}
    assert lai.recipe("evi_boegh") is LAI_MODELS["evi_boegh"]
    assert "Boegh" in LAI_MODELS["evi_boegh"].citation
    assert "Allen" in LAI_MODELS["savi_metric"].citation
    assert required_bands(["ndvi", "lai", "mask"], "evi_boegh") == {"B02", "B04", "B08", "SCL"}
    assert required_bands(["ndvi"], "savi_metric") == {"B04", "B08", "SCL"}  # SCL: the mask


def test_an_unknown_lai_model_or_product_is_a_one_line_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^lai.model 'nope' is unknown; choose one of evi_boegh"):
        required_bands(["lai"], "nope")
    with pytest.raises(ConfigError) as error:
        product("evi2")
    message = str(error.value)
    assert "\n" not in message and "'evi2'" in message
    assert all(name in message for name in ("ndvi", "lai", "mask", "fapar", "fcover"))


#: The published formulas, in float64 on reflectances keyed by band.
FORMULAS = {
    # Huete et al. (2002), G = 2.5, C1 = 6, C2 = 7.5, L = 1; limited to [-1, 1].
    "evi": lambda r: np.clip(
        2.5 * (r["B08"] - r["B04"]) / (r["B08"] + 6 * r["B04"] - 7.5 * r["B02"] + 1), -1, 1
    ),
    # Huete (1988), L = 0.5.
    "savi": lambda r: 1.5 * (r["B08"] - r["B04"]) / (r["B08"] + r["B04"] + 0.5),
    # McFeeters (1996), (green - NIR) / (green + NIR); limited to [-1, 1] like NDVI.
    "ndwi": lambda r: np.clip((r["B03"] - r["B08"]) / (r["B03"] + r["B08"]), -1, 1),
    # Gao (1996), Wilson & Sader (2002): (NIR - SWIR1) / (NIR + SWIR1); limited to [-1, 1].
    "ndmi": lambda r: np.clip((r["B08"] - r["B11"]) / (r["B08"] + r["B11"]), -1, 1),
    # Key & Benson (2006): (NIR - SWIR2) / (NIR + SWIR2); limited to [-1, 1].
    "nbr": lambda r: np.clip((r["B08"] - r["B12"]) / (r["B08"] + r["B12"]), -1, 1),
}


def _digital_numbers(shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """L2A DNs (BOA offset 1000) of vegetation, soil, water and dark pixels, some at 0."""
    rng = np.random.default_rng(11)
    low = {"B02": 0.01, "B03": 0.02, "B04": 0.01, "B08": 0.005, "B11": 0.01, "B12": 0.005}
    high = {"B02": 0.15, "B03": 0.2, "B04": 0.35, "B08": 0.6, "B11": 0.45, "B12": 0.35}
    dn = {}
    for band in low:
        value = rng.uniform(low[band], high[band], shape)
        value[rng.random(shape) < 0.02] = -0.05  # dark pixels below the offset
        dn[band] = np.rint(value * 10000 + 1000).astype(np.uint16)
        dn[band][rng.random(shape) < 0.01] = 0  # no data
    return dn


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_index_matches_its_published_formula_to_one_step_of_its_encoding(name: str) -> None:
    spec = PRODUCTS[name]
    dn = _digital_numbers((300, 400))
    masked = np.random.default_rng(5).random((300, 400)) < 0.2  # e.g. cloudy SCL classes
    clear = ~masked & np.logical_and.reduce([dn[band] > 0 for band in dn])
    surface = {band: reflectance(values, -1000) for band, values in dn.items()}
    stored = encode(spec.recipe("savi_metric").compute(surface), clear, spec)

    exact = FORMULAS[name]({band: (values - 1000.0) / 10000.0 for band, values in dn.items()})
    expected = np.rint(exact / 1e-4)  # int16 steps of 1e-4, independent of the registry
    assert stored.dtype == np.int16
    assert np.abs(stored[clear] - expected[clear]).max() <= 1
    assert (stored[~clear] == -32768).all()
    assert np.ptp(stored[clear]) > 2000  # a real spread of values, not a constant


def test_config_rejects_an_unknown_product_in_one_line_naming_key_value_source_and_choices(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError) as error:
        make_settings(tmp_path, products=["ndvi", "evi2"])
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("test config: key 'products[1]': ")
    assert "'evi2'" in message
    assert all(name in message for name in ("ndvi", "lai", "mask", "fapar", "fcover"))


@pytest.mark.parametrize(
    ("products", "message"),
    [
        (["ndvi", "gamma0_vv"], "key 'products[1]': unknown product 'gamma0_vv'"),
        (["fapar"], "key 'products[0]': product 'fapar' needs ESA SNAP"),
    ],
)
def test_config_rejects_products_no_configured_processor_makes(
    tmp_path: Path, products: list[str], message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_settings(tmp_path, products=products)
    assert make_settings(tmp_path, products=["fapar"], processors={"lai": "snap"}).products


def test_the_config_module_and_registry_import_no_raster_or_stac_library() -> None:
    code = (
        "import sys, raw2ready.config, raw2ready.products.registry; "
        "print(sorted(m for m in ('rasterio', 'pystac', 'osgeo') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
