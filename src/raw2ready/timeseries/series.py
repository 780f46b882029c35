"""Per-date statistics of one product over an area of interest, from the campaign's COGs.

The items come from the search index (the AOI's bbox, the product, the dates); only the COG
window under the AOI is read, and a pixel belongs to the AOI when its centre lies inside
(rasterio's `geometry_mask`, all_touched=False). Clear pixels are those where the product
holds a value (not masked, not outside the swath); the statistics are over them.

An AOI across tiles is counted once per date: the tiles of a date are taken in id order and
each takes the part of the AOI inside its extent and outside the extents of the tiles before
it, so the parts partition the AOI and no ground is counted twice (each part is read on its
own tile's grid, never resampled). Two items of one tile on one date (a reprocessing kept
beside the original) count once: the first by id.

The AOI's parts and their pixel masks are made once per set of tiles and grid, not once per
date: a date then costs one COG open and one window read.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import shapely
from pyproj import CRS
from rasterio.features import geometry_mask
from rasterio.transform import Affine
from rasterio.windows import Window

from raw2ready.grid import Tile, parse_tile
from raw2ready.products.registry import PRODUCTS
from raw2ready.stac.index import SearchCriteria, search_index
from raw2ready.timeseries.aoi import CRS84, AreaOfInterest

log = logging.getLogger(__name__)

#: Percentiles reported besides the median (numpy's default, linear interpolation).
LOW_PERCENTILE = 10
HIGH_PERCENTILE = 90


@dataclass(frozen=True)
class DateStatistics:
    """One date of the series: statistics over the AOI's clear pixels (NaN when none)."""

    date: date
    items: tuple[str, ...]
    mean: float
    median: float
    p10: float
    p90: float
    clear_fraction: float
    clear_pixels: int
    aoi_pixels: int

    def as_record(self) -> dict[str, Any]:
        """The row as JSON-ready values (NaN as None)."""
        record: dict[str, Any] = {"date": self.date.isoformat(), "items": list(self.items)}
        for name in ("mean", "median", "p10", "p90", "clear_fraction"):
            value = getattr(self, name)
            record[name] = None if math.isnan(value) else value
        record["clear_pixels"] = self.clear_pixels
        record["aoi_pixels"] = self.aoi_pixels
        return record


def _tile_extent(tile: Tile, crs: CRS) -> shapely.Geometry:
    """A tile's exact extent (its UTM square), in `crs`."""
    square = shapely.box(*tile.bounds)
    return AreaOfInterest(square, CRS.from_epsg(tile.epsg)).in_crs(crs)


def _window_of(bounds: tuple[float, float, float, float], dataset: Any) -> Window:
    """The whole-pixel window of the dataset's grid covering `bounds` (may reach outside)."""
    west, south, east, north = bounds
    inverse = ~dataset.transform
    cols, rows = zip(*(inverse * corner for corner in ((west, north), (east, south))), strict=True)
    col_off, row_off = math.floor(min(cols)), math.floor(min(rows))
    return Window(col_off, row_off, math.ceil(max(cols)) - col_off, math.ceil(max(rows)) - row_off)


def _read_filled(dataset: Any, window: Window) -> np.ndarray:
    """Band 1 in `window`, nodata where the window lies outside the raster."""
    out = np.full((int(window.height), int(window.width)), dataset.nodata, dataset.dtypes[0])
    inside = window.intersection(Window(0, 0, dataset.width, dataset.height))
    if inside.width > 0 and inside.height > 0:
        row, col = int(inside.row_off - window.row_off), int(inside.col_off - window.col_off)
        out[row : row + int(inside.height), col : col + int(inside.width)] = dataset.read(
            1, window=inside
        )
    return out


@lru_cache(maxsize=64)
def _inside(part: shapely.Geometry, transform: Affine, shape: tuple[int, int]) -> np.ndarray:
    """Pixels of a window (its `transform` and `shape`) whose centres lie in `part`; the
    same for every date of a tile, so made once (callers only read it)."""
    return geometry_mask(
        [part], out_shape=shape, transform=transform, all_touched=False, invert=True
    )


def _part_values(href: str, part: shapely.Geometry, product: str) -> tuple[np.ndarray, int]:
    """The decoded clear values of the COG under `part` (in the COG's CRS), and the number
    of pixel centres inside it."""
    spec = PRODUCTS[product]
    with rasterio.open(href) as dataset:
        window = _window_of(part.bounds, dataset)
        if window.width <= 0 or window.height <= 0:
            return np.empty(0), 0
        stored = _read_filled(dataset, window)
        inside = _inside(part, dataset.window_transform(window), stored.shape)
        nodata = dataset.nodata
    clear = inside & (stored != nodata)
    return spec.offset + spec.scale * stored[clear].astype(np.float64), int(inside.sum())


@lru_cache(maxsize=16)
def _parts(tile_ids: tuple[str, ...], area: AreaOfInterest) -> dict[str, shapely.Geometry]:
    """The AOI's part each tile of a date counts (in its CRS): inside its extent, outside
    those of the tiles before it; tiles with an empty part are left out."""
    parts = {}
    taken: list[Tile] = []
    for tile_id in tile_ids:
        tile = parse_tile(tile_id)
        crs = CRS.from_epsg(tile.epsg)
        part = shapely.intersection(area.in_crs(crs), shapely.box(*tile.bounds))
        for earlier in taken:
            part = shapely.difference(part, _tile_extent(earlier, crs))
        taken.append(tile)
        if not part.is_empty:
            parts[tile_id] = part
    return parts


def _date_statistics(
    day: date, items: list[dict[str, Any]], area: AreaOfInterest, product: str
) -> DateStatistics:
    """Statistics of one date, each tile taking the AOI part no tile before it took."""
    by_tile: dict[str, dict[str, Any]] = {}
    for item in sorted(items, key=lambda item: item["id"]):
        tile = parse_tile(item["properties"]["grid:code"].removeprefix("MGRS-"))
        if tile.id in by_tile:
            kept = by_tile[tile.id]["id"]
            log.warning("%s: %s already counts tile %s on this date", item["id"], kept, tile.id)
            continue
        by_tile[tile.id] = item
    values: list[np.ndarray] = []
    aoi_pixels = 0
    for tile_id, part in _parts(tuple(sorted(by_tile)), area).items():
        clear, pixels = _part_values(by_tile[tile_id]["assets"][product]["href"], part, product)
        values.append(clear)
        aoi_pixels += pixels
    clear = np.concatenate(values) if values else np.empty(0)
    if clear.size:
        mean = float(clear.mean())
        quantiles = np.percentile(clear, [LOW_PERCENTILE, 50, HIGH_PERCENTILE])  # one sort
        p10, median, p90 = (float(value) for value in quantiles)
    else:
        mean = median = p10 = p90 = math.nan
    return DateStatistics(
        date=day,
        items=tuple(by_tile[tile]["id"] for tile in sorted(by_tile)),
        mean=mean,
        median=median,
        p10=p10,
        p90=p90,
        clear_fraction=clear.size / aoi_pixels if aoi_pixels else math.nan,
        clear_pixels=int(clear.size),
        aoi_pixels=aoi_pixels,
    )


def _by_date(items: Iterable[dict[str, Any]]) -> dict[date, list[dict[str, Any]]]:
    """Items grouped by their UTC date."""
    groups: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        groups[date.fromisoformat(item["properties"]["datetime"][:10])].append(item)
    return groups


def field_series(
    index: Path,
    area: AreaOfInterest,
    product: str,
    collection: str,
    datetime_range: tuple[Any, Any] | None = None,
) -> list[DateStatistics]:
    """The product's per-date statistics over `area`, from the items of `collection` (the
    scenes' or the composites') that the index finds, oldest first; dates whose items do not
    reach the AOI are left out."""
    west, south, east, north = area.in_crs(CRS84).bounds
    criteria = SearchCriteria(
        bbox=(west, south, east, north), datetime_range=datetime_range, products=(product,)
    )
    items = [item for item in search_index(index, criteria) if item["collection"] == collection]
    log.info("%d items of %s over the AOI", len(items), collection)
    dates = sorted(_by_date(items).items())
    series = [_date_statistics(day, group, area, product) for day, group in dates]
    return [row for row in series if row.aoi_pixels]
