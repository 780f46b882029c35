"""Monthly composites: per pixel, the month's clear observations reduced to one value.

The scene products are already masked (nodata wherever the SCL mask is not clear), so a
scene's pixel is a clear observation when every composited product holds a value there.
`median` takes, per product, the median of the clear observations (the mean of the two
middle ones when their number is even, rounded to the product's encoding); `max_ndvi`
takes every product from the clear observation with the highest NDVI, so the products of
a pixel come from one date. `clear_count` counts the clear observations; where it is 0
the products are nodata.

The scenes are read in strips aligned to their COG tiles, and the reduction runs on the
stored integers (a sort along time of int16 values, no float NaN handling), in column
parts side by side; the next strip is read while this one is reduced, and the results
stream through `COGWriter`. Memory is bounded by two strips of every scene's products,
whatever the tile size.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.windows import Window

from raw2ready.config import COGOptions
from raw2ready.errors import ProcessingError
from raw2ready.products.registry import CLEAR_COUNT, PRODUCTS
from raw2ready.raster.cog import COGWriter
from raw2ready.raster.tile_chain import GDAL_CACHE_BYTES, ProductResult, RunningStatistics

log = logging.getLogger(__name__)

METHODS = ("median", "max_ndvi")


def _reduce_median(
    stacks: dict[str, np.ndarray], clear: np.ndarray, count: np.ndarray
) -> dict[str, np.ndarray]:
    """Per product, the median of the clear observations (axis 0), in its encoding."""
    has = count > 0
    low = np.maximum(count.astype(np.intp) - 1, 0)[None] // 2
    high = count.astype(np.intp)[None] // 2
    high = np.minimum(high, clear.shape[0] - 1)
    result = {}
    for name, stack in stacks.items():
        info = np.iinfo(stack.dtype)
        ordered = np.where(clear, stack, info.max)  # masked values sort last
        ordered.sort(axis=0)
        middle = np.take_along_axis(ordered, low, axis=0)[0].astype(np.float32)
        middle += np.take_along_axis(ordered, high, axis=0)[0]
        middle *= np.float32(0.5)
        out = np.full(count.shape, PRODUCTS[name].nodata, stack.dtype)
        np.copyto(out, np.rint(middle), casting="unsafe", where=has)
        result[name] = out
    return result


def _reduce_max_ndvi(
    stacks: dict[str, np.ndarray], clear: np.ndarray, count: np.ndarray
) -> dict[str, np.ndarray]:
    """Every product from the clear observation with the highest NDVI (ties: the first)."""
    ndvi = stacks["ndvi"]
    lowest = np.iinfo(ndvi.dtype).min
    greenest = np.where(clear, ndvi, lowest).argmax(axis=0)[None]
    has = count > 0
    result = {}
    for name, stack in stacks.items():
        picked = np.take_along_axis(stack, greenest, axis=0)[0]
        result[name] = np.where(has, picked, stack.dtype.type(PRODUCTS[name].nodata))
    return result


def reduce_strip(stacks: dict[str, np.ndarray], method: str) -> dict[str, np.ndarray]:
    """The composite of one strip: `stacks` holds each product's (scenes, rows, columns)
    stored values; returns each product's composite and `clear_count`."""
    clear = np.ones(next(iter(stacks.values())).shape, bool)
    for name, stack in stacks.items():
        clear &= stack != PRODUCTS[name].nodata
    count = clear.sum(axis=0, dtype=np.uint8)
    reduce = _reduce_median if method == "median" else _reduce_max_ndvi
    return {**reduce(stacks, clear, count), CLEAR_COUNT.name: count}


def _column_parts(width: int, parts: int) -> list[slice]:
    """Column ranges splitting a strip between `parts` threads."""
    size = -(-width // parts)
    return [slice(left, min(width, left + size)) for left in range(0, width, size)]


def _strips(
    datasets: dict[str, list[Any]], rows: int, height: int, width: int
) -> Iterator[dict[str, np.ndarray]]:
    """Each strip's (scenes, rows, columns) stacks; the next strip is read in the background."""

    def read(top: int) -> dict[str, np.ndarray]:
        window = Window(0, top, width, min(rows, height - top))
        return {
            name: np.stack([dataset.read(1, window=window) for dataset in scenes])
            for name, scenes in datasets.items()
        }

    tops = list(range(0, height, rows))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as pool:
        pending = pool.submit(read, tops[0])
        for index in range(len(tops)):
            stacks = pending.result()
            if index + 1 < len(tops):
                pending = pool.submit(read, tops[index + 1])
            yield stacks


def make_composite(
    scenes: list[dict[str, Path]],
    method: str,
    outputs: dict[str, Path],
    options: COGOptions,
    scratch: Path,
) -> dict[str, ProductResult]:
    """Composite the products of `scenes` (product -> COG, one dict per scene, all on one
    grid) with `method`; write each product and `clear_count` to `outputs` as COGs."""
    if method not in METHODS:
        raise ProcessingError(f"composite method '{method}' is unknown; choose {METHODS}")
    if not scenes:
        raise ProcessingError("a composite needs at least one scene")
    products = list(scenes[0])
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES), ExitStack() as stack:
        datasets = {
            name: [stack.enter_context(rasterio.open(scene[name])) for scene in scenes]
            for name in products
        }
        reference = datasets[products[0]][0]
        width, height = reference.width, reference.height
        for opened in datasets.values():
            for dataset in opened:
                if (dataset.width, dataset.height, dataset.crs, dataset.transform) != (
                    width, height, reference.crs, reference.transform,
                ):  # fmt: skip
                    raise ProcessingError(f"{dataset.name} is not on the grid of {reference.name}")
        grid = {
            "width": width, "height": height, "crs": reference.crs,
            "transform": reference.transform,
        }  # fmt: skip
        specs = {name: PRODUCTS[name] for name in [*products, CLEAR_COUNT.name]}
        writers = {}
        for name, spec in specs.items():
            writers[name] = COGWriter(outputs[name], spec, grid, options, scratch)
            stack.callback(writers[name].discard)
        stats = {name: RunningStatistics() for name in specs}
        parts = _column_parts(width, max(1, options.threads))
        rows = reference.block_shapes[0][0]
        with ThreadPoolExecutor(max(1, options.threads), thread_name_prefix="reduce") as pool:
            for stacks in _strips(datasets, rows, height, width):
                pieces = pool.map(
                    lambda part, stacks=stacks: reduce_strip(
                        {name: values[:, :, part] for name, values in stacks.items()}, method
                    ),
                    parts,
                )
                reduced = [*pieces]
                for name, writer in writers.items():
                    strip = np.concatenate([piece[name] for piece in reduced], axis=1)
                    stats[name].add_encoded(strip, specs[name])
                    writer.write(strip)
        for writer in writers.values():
            writer.close()
        transform = tuple(reference.transform)[:6]
        epsg = reference.crs.to_epsg() if reference.crs else None
    log.info("composite of %d scenes (%s): %s", len(scenes), method, ", ".join(outputs))
    return {
        name: ProductResult(
            name, outputs[name], stats[name].as_stac(), (height, width), transform, epsg
        )
        for name in specs
    }
