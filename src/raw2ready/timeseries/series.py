"""Per-date statistics of one product over an area of interest, from the campaign's COGs
or, when the campaign has one, from each tile's datacube.

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
date: a date then costs one COG open and one window read. From a tile's cube
(timeseries.cube_pixels) the same pixels of all dates come from a few (time, y, x) chunks;
the cube is matched to the items by time (each item's datetime is a cube time step), so the
dates, items, pixels and statistics are those of the COG path.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import shapely
from pyproj import CRS

from raw2ready.errors import ConfigError
from raw2ready.grid import Tile, parse_tile
from raw2ready.products.registry import PRODUCTS
from raw2ready.stac.index import SearchCriteria, search_index
from raw2ready.timeseries.aoi import CRS84, AreaOfInterest
from raw2ready.timeseries.cube_pixels import cube_gap, cube_part_values
from raw2ready.timeseries.windows import pixels_inside, read_filled, window_of

log = logging.getLogger(__name__)

#: Where the pixels come from: the tiles' cubes, the items' COGs, or the cubes when they
#: hold every date (AUTO).
CUBE, COGS, AUTO = "cube", "cogs", "auto"
SOURCES = (AUTO, CUBE, COGS)
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


def _part_values(href: str, part: shapely.Geometry, product: str) -> tuple[np.ndarray, int]:
    """The decoded clear values of the COG under `part` (in the COG's CRS), and the number
    of pixel centres inside it."""
    spec = PRODUCTS[product]
    with rasterio.open(href) as dataset:
        window = window_of(part.bounds, dataset.transform)
        if window.width <= 0 or window.height <= 0:
            return np.empty(0), 0
        nodata = dataset.nodata
        stored = read_filled(
            window,
            (dataset.height, dataset.width),
            nodata,
            dataset.dtypes[0],
            lambda inside: dataset.read(1, window=inside),
        )
        inside = pixels_inside(part, dataset.window_transform(window), stored.shape)
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


@dataclass(frozen=True)
class _DatePlan:
    """One date: the item each tile counts (by tile id) and the AOI part it takes."""

    day: date
    items: dict[str, dict[str, Any]]
    parts: dict[str, shapely.Geometry]


def _plan(day: date, items: list[dict[str, Any]], area: AreaOfInterest) -> _DatePlan:
    """Which item of each tile counts on `day` (the first by id) and the AOI part each
    takes, no tile taking what a tile before it took."""
    by_tile: dict[str, dict[str, Any]] = {}
    for item in sorted(items, key=lambda item: item["id"]):
        tile = parse_tile(item["properties"]["grid:code"].removeprefix("MGRS-"))
        if tile.id in by_tile:
            kept = by_tile[tile.id]["id"]
            log.warning("%s: %s already counts tile %s on this date", item["id"], kept, tile.id)
            continue
        by_tile[tile.id] = item
    return _DatePlan(day, by_tile, _parts(tuple(sorted(by_tile)), area))


def _statistics(plan: _DatePlan, pieces: list[tuple[np.ndarray, int]]) -> DateStatistics:
    """The date's statistics over its parts' clear values (`pieces`: values, AOI pixels)."""
    clear = np.concatenate([values for values, _ in pieces]) if pieces else np.empty(0)
    aoi_pixels = sum(pixels for _, pixels in pieces)
    if clear.size:
        mean = float(clear.mean())
        quantiles = np.percentile(clear, [LOW_PERCENTILE, 50, HIGH_PERCENTILE])  # one sort
        p10, median, p90 = (float(value) for value in quantiles)
    else:
        mean = median = p10 = p90 = math.nan
    return DateStatistics(
        date=plan.day,
        items=tuple(plan.items[tile]["id"] for tile in sorted(plan.items)),
        mean=mean,
        median=median,
        p10=p10,
        p90=p90,
        clear_fraction=clear.size / aoi_pixels if aoi_pixels else math.nan,
        clear_pixels=int(clear.size),
        aoi_pixels=aoi_pixels,
    )


def _moment(item: dict[str, Any]) -> datetime:
    """The item's datetime (aware, UTC): its time step in the tile's cube."""
    return datetime.fromisoformat(item["properties"]["datetime"].replace("Z", "+00:00"))


def _cog_pieces(plans: list[_DatePlan], product: str) -> list[list[tuple[np.ndarray, int]]]:
    """Per date, per part: its values from the item's COG window."""
    return [
        [
            _part_values(plan.items[tile]["assets"][product]["href"], part, product)
            for tile, part in plan.parts.items()
        ]
        for plan in plans
    ]


def _requests(plans: list[_DatePlan]) -> dict[str, list[tuple[datetime, shapely.Geometry]]]:
    """Per tile: the (time step, AOI part) of each date it counts, in date order."""
    requests: dict[str, list[tuple[datetime, shapely.Geometry]]] = defaultdict(list)
    for plan in plans:
        for tile, part in plan.parts.items():
            requests[tile].append((_moment(plan.items[tile]), part))
    return requests


def _cube_gap(plans: list[_DatePlan], product: str, cube_of: Callable[[str], Path]) -> str | None:
    """Why the tiles' cubes cannot give every date's parts (None when they can)."""
    for tile, requests in _requests(plans).items():
        gap = cube_gap(cube_of(tile), product, [moment for moment, _part in requests])
        if gap:
            return gap
    return None


def _cube_pieces(
    plans: list[_DatePlan], product: str, cube_of: Callable[[str], Path]
) -> list[list[tuple[np.ndarray, int]]]:
    """Per date, per part: its values from the tile's cube (each tile's dates read at once)."""
    values = {
        tile: iter(cube_part_values(cube_of(tile), product, requests))
        for tile, requests in _requests(plans).items()
    }
    return [[next(values[tile]) for tile in plan.parts] for plan in plans]


def _by_date(items: Iterable[dict[str, Any]]) -> dict[date, list[dict[str, Any]]]:
    """Items grouped by their UTC date."""
    groups: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        groups[date.fromisoformat(item["properties"]["datetime"][:10])].append(item)
    return groups


@dataclass(frozen=True)
class FieldSeries:
    """A field's per-date statistics, oldest first, and where the pixels came from."""

    rows: list[DateStatistics]
    source: str  # CUBE or COGS


def _usable_cubes(
    plans: list[_DatePlan], product: str, source: str, cube_of: Callable[[str], Path] | None
) -> tuple[Callable[[str], Path] | None, str]:
    """`cube_of` when the pixels are to come from the cubes (CUBE, or AUTO when they hold
    every date's pixels), None for the COGs; and why."""
    if source == COGS:
        return None, "asked"
    gap = _cube_gap(plans, product, cube_of) if cube_of else "the campaign has no such cube"
    if gap is None:
        return cube_of, "they hold every date"
    if source == CUBE:
        raise ConfigError(f"cannot read the series from the cube: {gap}; use --from cogs")
    return None, gap


def field_series(
    index: Path,
    area: AreaOfInterest,
    product: str,
    collection: str,
    datetime_range: tuple[Any, Any] | None = None,
    source: str = COGS,
    cube_of: Callable[[str], Path] | None = None,
) -> FieldSeries:
    """The product's per-date statistics over `area`, from the items of `collection` (the
    scenes' or the composites') that the index finds; dates whose items do not reach the
    AOI are left out. `source` is COGS, CUBE or AUTO; `cube_of(tile)` is the tile's cube
    when the campaign's cubes hold this collection's items."""
    west, south, east, north = area.in_crs(CRS84).bounds
    criteria = SearchCriteria(
        bbox=(west, south, east, north), datetime_range=datetime_range, products=(product,)
    )
    items = [item for item in search_index(index, criteria) if item["collection"] == collection]
    log.info("%d items of %s over the AOI", len(items), collection)
    plans = [_plan(day, group, area) for day, group in sorted(_by_date(items).items())]
    cubes, why = _usable_cubes(plans, product, source, cube_of)
    log.info("pixels from the %s (%s)", "tile cubes" if cubes else "COGs", why)
    pieces = _cube_pieces(plans, product, cubes) if cubes else _cog_pieces(plans, product)
    series = [_statistics(plan, parts) for plan, parts in zip(plans, pieces, strict=True)]
    return FieldSeries([row for row in series if row.aoi_pixels], CUBE if cubes else COGS)
