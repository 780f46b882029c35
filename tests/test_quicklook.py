"""Quicklooks: the thumbnail is the product's COG overview through matplotlib's own ramp of
the render hint's name, masked pixels transparent; the render hints are in stored values."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pystac
import pytest
import rasterio
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning

from raw2ready.products.registry import PRODUCTS
from raw2ready.raster.quicklook import QUICKLOOK_PIXELS, RAMPS, colour_table, write_thumbnail
from raw2ready.stac.render import add_render_hints

NDVI = PRODUCTS["ndvi"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_png(path: Path) -> np.ndarray:
    """A PNG as (rows, columns, bands), checking it is one."""
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path) as png:
            assert png.driver == "PNG"
            return np.moveaxis(png.read(), 0, 2)


def expected_colours(stored: np.ndarray) -> np.ndarray:
    """NDVI through matplotlib's RdYlGn over the hint's range; nodata transparent."""
    low, high = NDVI.render.range
    values = stored * NDVI.scale + NDVI.offset
    rgba = matplotlib.colormaps["RdYlGn"]((values - low) / (high - low), bytes=True)
    rgba[stored == NDVI.nodata] = 0
    return rgba


@pytest.fixture(scope="module")
def large_ndvi(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1500 x 1300 NDVI COG with GDAL's own overviews and a masked corner."""
    rng = np.random.default_rng(7)
    stored = rng.integers(-3000, 10000, size=(1300, 1500), dtype=np.int16)
    stored[:400, :500] = NDVI.nodata
    path = tmp_path_factory.mktemp("quicklook") / "ndvi.tif"
    profile = {
        "driver": "COG", "width": 1500, "height": 1300, "count": 1, "dtype": "int16",
        "nodata": NDVI.nodata, "crs": "EPSG:32647", "transform": Affine(10, 0, 6e5, 0, -10, 1.6e6),
        "blocksize": 256, "overview_resampling": "nearest",
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(stored, 1)
    return path


def test_thumbnail_is_the_first_small_overview_through_matplotlib_ramp(
    large_ndvi: Path, tmp_path: Path
) -> None:
    thumbnail = read_png(write_thumbnail(large_ndvi, NDVI, tmp_path / "thumbnail.png"))
    level = 0
    while True:  # GDAL's overviews: 750 x 650, 375 x 325, ...
        with rasterio.open(large_ndvi, overview_level=level) as overview:
            if max(overview.shape) <= QUICKLOOK_PIXELS:
                stored = overview.read(1)
                break
        level += 1
    assert thumbnail.shape == (*stored.shape, 4)
    assert max(thumbnail.shape[:2]) <= QUICKLOOK_PIXELS
    expected = expected_colours(stored)
    assert np.abs(thumbnail.astype(int) - expected.astype(int)).max() <= 1
    assert (thumbnail[..., 3] == 0).sum() == (stored == NDVI.nodata).sum() > 0


def test_every_ramp_matches_matplotlib() -> None:
    for name in RAMPS:
        known = next(known for known in matplotlib.colormaps if known.lower() == name)
        reference = matplotlib.colormaps[known](np.arange(256), bytes=True)  # its 256 colours
        assert np.abs(colour_table(name).astype(int) - reference.astype(int)).max() <= 1, name


def test_render_hints_rescale_in_stored_values_and_validate() -> None:
    item = pystac.Item("x", None, None, pystac.utils.str_to_datetime("2023-01-01T00:00:00Z"), {})
    for name in ("ndvi", "lai", "mask"):
        item.add_asset(name, pystac.Asset(f"{name}.tif"))
    add_render_hints(item, ["ndvi", "lai", "mask"])
    renders = item.properties["renders"]
    assert renders["ndvi"]["rescale"] == [[0, 10000]]  # NDVI 0..1 stored x 10,000
    assert renders["lai"]["rescale"] == [[0, 6000]]  # LAI 0..6 stored x 1,000
    assert renders["mask"]["colormap"]["1"] == [240, 240, 240, 255]  # cloud, opaque
    assert renders["mask"]["colormap"]["0"][3] == 0  # clear: transparent over any layer
