"""Where an AOI part lies on a raster grid: the whole-pixel window covering it and the
pixels of that window whose centres fall inside (rasterio's `geometry_mask`,
all_touched=False). Shared by the COG and the cube readers so both pick the same pixels."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import shapely
from rasterio.features import geometry_mask
from rasterio.transform import Affine
from rasterio.windows import Window


def window_of(bounds: tuple[float, float, float, float], transform: Affine) -> Window:
    """The whole-pixel window of the grid `transform` covering `bounds` (may reach outside)."""
    west, south, east, north = bounds
    inverse = ~transform
    cols, rows = zip(*(inverse * corner for corner in ((west, north), (east, south))), strict=True)
    col_off, row_off = math.floor(min(cols)), math.floor(min(rows))
    return Window(col_off, row_off, math.ceil(max(cols)) - col_off, math.ceil(max(rows)) - row_off)


def read_filled(
    window: Window,
    raster_shape: tuple[int, ...],
    fill: float,
    dtype: np.dtype,
    read: Callable[[Window], np.ndarray],
) -> np.ndarray:
    """`window` of a raster of `raster_shape` ((steps,) height, width), `fill` where the
    window lies outside it; `read(part)` reads a window that lies inside."""
    *steps, height, width = raster_shape
    out = np.full((*steps, int(window.height), int(window.width)), fill, dtype)
    inside = window.intersection(Window(0, 0, width, height))
    if inside.width > 0 and inside.height > 0:
        row, col = int(inside.row_off - window.row_off), int(inside.col_off - window.col_off)
        out[..., row : row + int(inside.height), col : col + int(inside.width)] = read(inside)
    return out


@lru_cache(maxsize=64)
def pixels_inside(part: shapely.Geometry, transform: Affine, shape: tuple[int, int]) -> np.ndarray:
    """Pixels of a window (its `transform` and `shape`) whose centres lie in `part`; the
    same for every date of a tile, so made once (callers only read it)."""
    return geometry_mask(
        [part], out_shape=shape, transform=transform, all_touched=False, invert=True
    )
