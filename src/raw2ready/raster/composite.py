"""Monthly composites: per pixel, the month's clear observations reduced to one value.

The scene products are already masked (nodata wherever the SCL mask is not clear), so a
scene's pixel is a clear observation when every composited product holds a value there.
`median` takes, per product, the median of the clear observations (the mean of the two
middle ones when their number is even, rounded to the product's encoding); `max_ndvi`
takes every product from the clear observation with the highest NDVI, so the products of
a pixel come from one date. `clear_count` counts the clear observations; where it is 0
the products are nodata.

The composite is made one input block (a COG tile of every scene) at a time: worker
threads, each with its own handles on the scene COGs, read a block of every scene straight
into a preallocated stack and reduce it on the stored integers (masked values set to the
dtype's maximum, a sort along time in place, the middle values picked per pixel); the
blocks of a strip are gathered into the strip's rows, which stream through `COGWriter`
while the workers go on with the next strip. Memory holds two strips of the outputs and a
block stack per thread, whatever the tile size and the number of scenes.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
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
    """Per product, the median of the clear observations (axis 0), in its encoding; the
    stacks are sorted in place."""
    has = count > 0
    cloudy = ~clear
    low = np.maximum(count.astype(np.intp) - 1, 0)[None] // 2
    high = count.astype(np.intp)[None] // 2
    high = np.minimum(high, clear.shape[0] - 1)
    result = {}
    for name, stack in stacks.items():
        np.putmask(stack, cloudy, np.iinfo(stack.dtype).max)  # masked values sort last
        stack.sort(axis=0)
        middle = np.take_along_axis(stack, low, axis=0)[0].astype(np.float32)
        middle += np.take_along_axis(stack, high, axis=0)[0]
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


def reduce_block(stacks: dict[str, np.ndarray], method: str) -> dict[str, np.ndarray]:
    """The composite of one block: `stacks` holds each product's (scenes, rows, columns)
    stored values (the median sorts them in place); returns each product's composite and
    `clear_count`."""
    clear = np.ones(next(iter(stacks.values())).shape, bool)
    for name, stack in stacks.items():
        clear &= stack != PRODUCTS[name].nodata
    count = clear.sum(axis=0, dtype=np.uint8)
    reduce = _reduce_median if method == "median" else _reduce_max_ndvi
    return {**reduce(stacks, clear, count), CLEAR_COUNT.name: count}


class _BlockReader:
    """Reads a window of every scene into stacks reused per window shape. It holds one set of
    handles on the scene COGs per worker thread, lent to one job at a time (a GDAL dataset
    must not be read by two threads at once); all are opened and closed by the caller's
    thread, inside its GDAL environment."""

    def __init__(self, paths: dict[str, list[Path]], copies: int, closing: ExitStack) -> None:
        self.free: queue.SimpleQueue[tuple[dict[str, list[Any]], dict]] = queue.SimpleQueue()
        for _ in range(copies):
            datasets = {
                name: [closing.enter_context(rasterio.open(path)) for path in scene_paths]
                for name, scene_paths in paths.items()
            }
            self.free.put((datasets, {}))

    @contextmanager
    def read(self, window: Window) -> Iterator[dict[str, np.ndarray]]:
        """Each product's (scenes, rows, columns) stored values of `window`, valid (and
        free to overwrite) until the context exits."""
        datasets, stacks_by_shape = self.free.get()
        try:
            shape = (int(window.height), int(window.width))
            if shape not in stacks_by_shape:
                stacks_by_shape[shape] = {
                    name: np.empty((len(scenes), *shape), scenes[0].dtypes[0])
                    for name, scenes in datasets.items()
                }
            stacks = stacks_by_shape[shape]
            for name, scenes in datasets.items():
                for index, dataset in enumerate(scenes):
                    dataset.read(1, window=window, out=stacks[name][index])
            yield stacks
        finally:
            self.free.put((datasets, stacks_by_shape))


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
        paths = {name: [scene[name] for scene in scenes] for name in products}
        with ExitStack() as checking:
            opened = [
                checking.enter_context(rasterio.open(path))
                for name in products
                for path in paths[name]
            ]
            reference = opened[0]
            width, height = reference.width, reference.height
            block_rows, block_columns = reference.block_shapes[0]
            grid = {
                "width": width, "height": height, "crs": reference.crs,
                "transform": reference.transform,
            }  # fmt: skip
            for dataset in opened[1:]:
                if (dataset.width, dataset.height, dataset.crs, dataset.transform) != (
                    width, height, reference.crs, reference.transform,
                ):  # fmt: skip
                    raise ProcessingError(f"{dataset.name} is not on the grid of {reference.name}")
            transform = tuple(reference.transform)[:6]
            epsg = reference.crs.to_epsg() if reference.crs else None
        specs = {name: PRODUCTS[name] for name in [*products, CLEAR_COUNT.name]}
        writers = {}
        for name, spec in specs.items():
            writers[name] = COGWriter(outputs[name], spec, grid, options, scratch)
            stack.callback(writers[name].discard)
        stats = {name: RunningStatistics() for name in specs}
        threads = max(1, options.threads)
        reader = _BlockReader(paths, threads, stack)

        def fill(strip: dict[str, np.ndarray], window: Window) -> None:
            """Composite one block into its columns of the strip."""
            columns = slice(window.col_off, window.col_off + window.width)
            with reader.read(window) as stacks:
                reduced = reduce_block(stacks, method)
            for name, values in reduced.items():
                strip[name][:, columns] = values

        def start(pool: ThreadPoolExecutor, top: int) -> tuple[dict, list[Future[None]]]:
            """A strip's rows and the jobs compositing its blocks into them."""
            rows = min(block_rows, height - top)
            strip = {name: np.empty((rows, width), spec.dtype) for name, spec in specs.items()}
            windows = [
                Window(left, top, min(block_columns, width - left), rows)
                for left in range(0, width, block_columns)
            ]
            return strip, [pool.submit(fill, strip, window) for window in windows]

        tops = range(0, height, block_rows)
        with ThreadPoolExecutor(threads, thread_name_prefix="composite") as pool:
            pending = start(pool, tops[0])
            for index in range(len(tops)):
                strip, jobs = pending
                if index + 1 < len(tops):  # the workers go on while this strip is written
                    pending = start(pool, tops[index + 1])
                for job in jobs:
                    job.result()
                for name, writer in writers.items():
                    stats[name].add_encoded(strip[name], specs[name])
                    writer.write(strip[name])
        for writer in writers.values():
            writer.close()
    log.info("composite of %d scenes (%s): %s", len(scenes), method, ", ".join(outputs))
    return {
        name: ProductResult(
            name, outputs[name], stats[name].as_stac(), (height, width), transform, epsg
        )
        for name in specs
    }
