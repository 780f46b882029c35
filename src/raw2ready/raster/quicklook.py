"""Quicklooks of a scene: a `thumbnail` PNG of a product through its colour ramp, and an
`overview` PNG composite of the source bands, both at most QUICKLOOK_PIXELS on the long side.

The thumbnail is read from the product COG's own overviews (the first level small enough),
so it costs a few hundred kilobytes of reading however large the tile. Its ramp is the one
the product's render hint names (products/registry.py), so the thumbnail looks like what
TiTiler draws by default; masked (nodata) pixels are transparent. PNGs are written with
GDAL's PNG driver, atomically.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning

from raw2ready.atomic import atomic_path
from raw2ready.errors import ProcessingError
from raw2ready.layout import Layout
from raw2ready.products.registry import PRODUCTS, ProductSpec
from raw2ready.scene import BOA_QUANTIFICATION, SceneRecord

log = logging.getLogger(__name__)

#: Longest side of a quicklook, in pixels.
QUICKLOOK_PIXELS = 600

#: ColorBrewer ramps (Cynthia Brewer, colorbrewer2.org; Apache-2.0) under the lower-case
#: names rio-tiler and TiTiler give them; matplotlib interpolates the same stops linearly.
RAMPS: dict[str, tuple[str, ...]] = {
    "rdylgn": (
        "#a50026", "#d73027", "#f46d43", "#fdae61", "#fee08b", "#ffffbf",
        "#d9ef8b", "#a6d96a", "#66bd63", "#1a9850", "#006837",
    ),
    "ylgn": (
        "#ffffe5", "#f7fcb9", "#d9f0a3", "#addd8e", "#78c679", "#41ab5d",
        "#238443", "#006837", "#004529",
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Composite:
    """A three-band picture of the scene: bands as red, green, blue, and the reflectance
    drawn white (the stretch)."""

    title: str
    bands: tuple[str, str, str]
    white: float


#: Composites in order of preference: the first whose bands the scene fetched is drawn.
COMPOSITES = (
    Composite("True colour (B04, B03, B02)", ("B04", "B03", "B02"), 0.3),
    Composite("False colour (B08, B04, B03)", ("B08", "B04", "B03"), 0.5),
)


def colour_table(name: str) -> np.ndarray:
    """The 256 RGBA colours of a named ramp, linearly interpolated between its stops."""
    try:
        stops = RAMPS[name]
    except KeyError:
        raise ProcessingError(
            f"no colour ramp '{name}' for quicklooks; known: {', '.join(sorted(RAMPS))}"
        ) from None
    rgb = np.array([[int(stop[i : i + 2], 16) for i in (1, 3, 5)] for stop in stops], float)
    positions = np.linspace(0.0, 1.0, len(stops))
    steps = np.linspace(0.0, 1.0, 256)
    table = np.full((256, 4), 255, dtype=np.uint8)
    for channel in range(3):
        table[:, channel] = np.rint(np.interp(steps, positions, rgb[:, channel]))
    return table


def thumbnail_source(products: Iterable[str]) -> ProductSpec | None:
    """The first of `products` in registry order (NDVI first) whose render hint names a
    ramp drawn here."""
    names = set(products)
    for spec in PRODUCTS.values():
        render = spec.render
        if spec.name in names and render and render.range and render.colormap_name in RAMPS:
            return spec
    return None


def _small_read(path: Path, indexes: int | list[int] = 1) -> np.ndarray:
    """A raster's first overview level (or itself) with at most QUICKLOOK_PIXELS on its long
    side, read as stored; a raster without such a level is decimated (nearest) on reading."""
    with rasterio.open(path) as full:
        levels = len(full.overviews(1))
        shape = (full.height, full.width)
    for level in [None, *range(levels)]:
        options = {} if level is None else {"overview_level": level}
        with rasterio.open(path, **options) as dataset:
            if max(dataset.width, dataset.height) <= QUICKLOOK_PIXELS:
                return dataset.read(indexes)
    factor = QUICKLOOK_PIXELS / max(shape)
    out_shape = (max(1, math.floor(shape[0] * factor)), max(1, math.floor(shape[1] * factor)))
    with rasterio.open(path) as dataset:
        return dataset.read(indexes, out_shape=out_shape, resampling=Resampling.nearest)


def write_png(rgba: np.ndarray, path: Path) -> Path:
    """Write an (rows, columns, 4) uint8 array as an RGBA PNG, atomically."""
    height, width = rgba.shape[:2]
    profile = {"driver": "PNG", "width": width, "height": height, "count": 4, "dtype": "uint8"}
    with (
        rasterio.Env(GDAL_PAM_ENABLED="NO"),
        atomic_path(path) as temporary,
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a picture, not a map
        with rasterio.open(temporary, "w", **profile) as png:
            png.write(np.moveaxis(rgba, 2, 0))
    return path


def colourize(stored: np.ndarray, spec: ProductSpec) -> np.ndarray:
    """RGBA of stored product values through the product's ramp; nodata transparent."""
    render = spec.render
    if render is None or render.range is None or render.colormap_name is None:
        raise ProcessingError(f"product '{spec.name}' has no colour ramp to draw a thumbnail")
    low, high = render.range
    values = stored.astype(np.float64) * spec.scale + spec.offset
    position = np.clip((values - low) / (high - low), 0.0, 1.0)
    rgba = colour_table(render.colormap_name)[np.minimum((position * 256).astype(int), 255)]
    rgba[stored == spec.nodata] = 0
    return rgba


def write_thumbnail(product: Path, spec: ProductSpec, path: Path) -> Path:
    """Draw a product COG through its colour ramp from its overviews into a PNG."""
    return write_png(colourize(_small_read(product), spec), path)


def composite_of(bands: set[str]) -> Composite | None:
    """The preferred composite whose bands are all in `bands` (None: none is)."""
    return next((c for c in COMPOSITES if set(c.bands) <= bands), None)


def write_overview(
    composite: Composite, band_paths: Mapping[str, Path], add_offset: int, path: Path
) -> Path:
    """Draw a composite of the scene's L2A bands (DN, BOA offset `add_offset`) into a PNG:
    reflectance 0 to `composite.white` stretched to 0-255, no-data (DN 0) transparent."""
    layers = [_small_read(band_paths[band]) for band in composite.bands]
    if len({layer.shape for layer in layers}) != 1:
        raise ProcessingError(f"the bands of the {composite.title} overview differ in size")
    stack = np.stack(layers, axis=-1)
    reflectance = (stack.astype(np.float64) + add_offset) / BOA_QUANTIFICATION
    rgba = np.empty((*stack.shape[:2], 4), dtype=np.uint8)
    rgba[..., :3] = np.rint(np.clip(reflectance / composite.white, 0.0, 1.0) * 255)
    rgba[..., 3] = np.where((stack == 0).any(axis=-1), 0, 255)
    return write_png(rgba, path)


def write_quicklooks(
    record: SceneRecord, band_paths: Mapping[str, Path], products: Mapping[str, Path],
    layout: Layout,
) -> dict[str, tuple[Path, str]]:  # fmt: skip
    """Write a scene's thumbnail (of its first product with a ramp) and overview (of the
    first composite whose bands it fetched); return each look's file and what it shows."""
    looks: dict[str, tuple[Path, str]] = {}
    spec = thumbnail_source(products)
    if spec is not None:
        path = write_thumbnail(products[spec.name], spec, layout.quicklook(record, "thumbnail"))
        looks["thumbnail"] = (path, spec.title)
    composite = composite_of(set(band_paths))
    if composite is None:
        log.info("scene %s: no overview (it fetched none of the composites' bands)", record.id)
    else:
        path = layout.quicklook(record, "overview")
        write_overview(composite, band_paths, record.boa_add_offset, path)
        looks["overview"] = (path, composite.title)
    return looks
