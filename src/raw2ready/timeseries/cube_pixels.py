"""A field's pixels over many dates from a tile's datacube, instead of one COG per date.

The cube (raw2ready.cube.datacube) holds every date of a tile in (time, y, x) chunks, so the
field's window of all its dates comes from a few chunks (a 1 km2 field over 12 time steps:
one to four 256 x 256 chunks) rather than from one COG open and read per date. The stored
integers are read with zarr's orthogonal selection (the dates' time indices, the window's
rows and columns), then decoded with the variable's CF attributes (scale_factor,
add_offset, _FillValue): the same values, pixels and mask as the COG path.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from itertools import groupby
from pathlib import Path

import numpy as np
import shapely
import zarr
from rasterio.transform import Affine

from raw2ready.cube.datacube import CHUNKS, cube_group, time_value
from raw2ready.timeseries.windows import pixels_inside, read_filled, window_of

log = logging.getLogger(__name__)

#: Most stored bytes read at once: all dates of a field in one read unless their windows
#: exceed this (a field far larger than a chunk), then a few time chunks at a time.
READ_BYTES = 256 * 2**20


def cube_gap(path: Path, product: str, moments: Sequence[datetime]) -> str | None:
    """Why the cube at `path` cannot give `product` at every one of `moments` (each a time
    step of its own), or None when it can."""
    if not path.exists():
        return f"{path} does not exist"
    root = cube_group(path)
    if product not in root:
        return f"{path} holds no {product}"
    steps = list(np.asarray(root["time"][:]))
    stored = {value for value in steps if steps.count(value) == 1}
    missing = [moment for moment in moments if time_value(moment) not in stored]
    if missing:
        return f"{path} lacks {len(missing)} of the dates (first {missing[0].isoformat()})"
    return None


def _grid(root: zarr.Group) -> Affine:
    """The cube's pixel grid, from its grid mapping's GDAL GeoTransform."""
    values = [float(value) for value in root["spatial_ref"].attrs["GeoTransform"].split()]
    return Affine.from_gdal(*values)


def _batches(steps: list[tuple[int, int]], per_step: int) -> list[list[tuple[int, int]]]:
    """Sorted (time index, request) pairs cut into reads of at most `per_step` steps, only
    between time chunks unless a chunk alone is more (a chunk split over reads is decoded
    once per read); zarr fetches and decodes a read's chunks concurrently."""
    batches: list[list[tuple[int, int]]] = []
    current: list[tuple[int, int]] = []
    for _chunk, pairs in groupby(steps, key=lambda pair: pair[0] // CHUNKS[0]):
        group = list(pairs)
        if current and len(current) + len(group) > per_step:
            batches.append(current)
            current = []
        while len(group) > per_step:
            batches.append(group[:per_step])
            group = group[per_step:]
        current += group
    return [*batches, current] if current else batches


def cube_part_values(
    path: Path, product: str, requests: Sequence[tuple[datetime, shapely.Geometry]]
) -> list[tuple[np.ndarray, int]]:
    """For each (time step, AOI part in the cube's CRS): the decoded clear values of
    `product` under the part, and the number of pixel centres inside it."""
    root = cube_group(path)
    array = root[product]
    attrs = array.attrs
    scale, offset = attrs.get("scale_factor", 1.0), attrs.get("add_offset", 0.0)
    fill = attrs["_FillValue"]
    transform = _grid(root)
    index_of = {int(value): i for i, value in enumerate(np.asarray(root["time"][:]))}
    by_part: dict[shapely.Geometry, list[int]] = defaultdict(list)
    for number, (_moment, part) in enumerate(requests):
        by_part[part].append(number)
    results: list[tuple[np.ndarray, int]] = [(np.empty(0), 0)] * len(requests)
    for part, numbers in by_part.items():
        window = window_of(part.bounds, transform)
        if window.width <= 0 or window.height <= 0:
            continue
        shape = (int(window.height), int(window.width))
        corner = Affine.translation(window.col_off, window.row_off)
        inside = pixels_inside(part, transform @ corner, shape)
        per_step = max(1, READ_BYTES // (shape[0] * shape[1] * array.dtype.itemsize))
        steps = sorted((index_of[time_value(requests[n][0])], n) for n in numbers)
        for batch in _batches(steps, per_step):
            times = np.array([step for step, _number in batch])
            stored = read_filled(
                window,
                (len(batch), *array.shape[1:]),
                fill,
                array.dtype,
                lambda w, times=times: array.get_orthogonal_selection((times, *w.toslices())),
            )
            for (_step, number), values in zip(batch, stored, strict=True):
                clear = inside & (values != fill)
                decoded = offset + scale * values[clear].astype(np.float64)
                results[number] = (decoded, int(inside.sum()))
    log.debug("%s: %d time steps of %s read", path, len(requests), product)
    return results
