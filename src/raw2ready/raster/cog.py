"""Cloud-Optimized GeoTIFF output: stream, build overviews, validate, place atomically.

`COGWriter` takes a product's rows top to bottom. The rows pass through the overview
pyramid (`overviews`), so every level is made from rows already in memory; each level's
rows are cut into tiles, differenced and compressed by worker threads while the next rows
are computed, and the compressed tiles are appended to a scratch file. At the end
`tiff.write_cog` copies them into COG order (IFDs first, smallest overview next, full
resolution last) under a temporary name: every tile is compressed once and the product is
never read back. Only a file that passes rio-cogeo's validation is renamed into place.
Every product goes through this writer: the tile chain's, and those made from another
tool's raster (`band_product`).
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import zstandard
from rio_cogeo.cogeo import cog_validate

from raw2ready.atomic import atomic_path
from raw2ready.config import COGOptions
from raw2ready.errors import ProcessingError, ProductValidationError
from raw2ready.products.registry import Kind, ProductSpec
from raw2ready.raster import tiff
from raw2ready.raster.overviews import (
    Pyramid,
    Reducer,
    average_2x2,
    mode_2x2,
    nearest_2x2,
    overview_shapes,
)

log = logging.getLogger(__name__)


def _predictor(spec: ProductSpec) -> bool:
    """Horizontal differencing pays off on continuous values, not on class codes."""
    return spec.kind is Kind.INDEX


def _level(options: COGOptions) -> int:
    """The codec level (DEFLATE stops at 9, ZSTD at 22)."""
    return min(options.level, 9) if options.compression == "DEFLATE" else options.level


def creation_options(spec: ProductSpec, options: COGOptions) -> dict[str, str]:
    """GDAL COG driver creation options matching what `COGWriter` writes for a product."""
    result = {
        "COMPRESS": options.compression,
        "BLOCKSIZE": str(options.blocksize),
        "OVERVIEW_RESAMPLING": "MODE" if spec.kind is Kind.CLASSES else options.overview_resampling,
        "NUM_THREADS": str(options.threads),
        "BIGTIFF": "IF_SAFER",
        "PREDICTOR": "YES" if _predictor(spec) else "NO",
    }
    result["LEVEL"] = str(_level(options))
    return result


def validate_cog(path: Path) -> None:
    """Raise ProductValidationError unless `path` is a valid COG (rio-cogeo's rules)."""
    valid, errors, _warnings = cog_validate(str(path), quiet=True)
    if not valid:
        raise ProductValidationError(f"{path} is not a valid COG: {'; '.join(errors)}")


def pyramid_reducer(spec: ProductSpec, options: COGOptions) -> Reducer:
    """How a product's overviews are made while it streams (class codes always use mode)."""
    if spec.kind is Kind.CLASSES or options.overview_resampling == "mode":
        return mode_2x2
    if options.overview_resampling == "nearest":
        return nearest_2x2
    return average_2x2


def tile_compressor(options: COGOptions) -> Callable[[bytes], bytes]:
    """The codec of the product tiles; safe to call from several threads at once."""
    level = _level(options)
    if options.compression == "DEFLATE":
        return lambda data: zlib.compress(data, level)
    if options.compression != "ZSTD":
        raise ValueError(f"no tile codec for {options.compression}")
    local = threading.local()

    def zstd(data: bytes) -> bytes:
        if not hasattr(local, "compressor"):  # a ZstdCompressor serves one thread at a time
            local.compressor = zstandard.ZstdCompressor(level=level)
        return local.compressor.compress(data)

    return zstd


def gdal_tags(spec: ProductSpec, grid: dict[str, Any], scratch: Path) -> dict:
    """GeoTIFF keys, GDAL metadata tags and a class product's colour table (with its
    palette photometric), as GDAL writes them for the product's grid."""
    template = scratch / f".{spec.name}.template.tif"
    profile = {"driver": "GTiff", "width": 1, "height": 1, "count": 1, "dtype": spec.dtype}
    with rasterio.open(
        template, "w", crs=grid["crs"], transform=grid["transform"], nodata=spec.nodata, **profile
    ) as dst:
        dst.scales, dst.offsets = (spec.scale,), (spec.offset,)
        dst.set_band_description(1, spec.title)
        if spec.unit:
            dst.units = (spec.unit,)
        if spec.colours:
            dst.write_colormap(1, dict(spec.colours))
    try:
        tags = tiff.read_ifd(template)
    finally:
        template.unlink(missing_ok=True)
    kept = tiff.GEOREFERENCING_TAGS | (tiff.PALETTE_TAGS if spec.colours else frozenset())
    return {code: tag for code, tag in tags.items() if code in kept}


class COGWriter:
    """Streams one product, rows top to bottom, into a validated COG (see the module notes).

    Rows gather into one row of tiles per level; full rows of tiles are cut into tiles,
    differenced (predictor 2) and compressed by a pool of `threads` threads, and their bytes
    appended to one scratch file in the order they were cut. Memory stays bounded by one
    row of tiles per level and the tiles in flight, whatever the product's size.
    """

    def __init__(
        self,
        final: Path,
        spec: ProductSpec,
        grid: dict[str, Any],
        options: COGOptions,
        scratch: Path,
    ) -> None:
        self.final = final
        self.spec = spec
        self.options = options
        self.grid = grid
        self.size = options.blocksize
        width, height = grid["width"], grid["height"]
        self.shapes = [(width, height), *overview_shapes(width, height, self.size)]
        scratch.mkdir(parents=True, exist_ok=True)
        self.scratch = scratch
        self.data_path = scratch / f"{final.stem}.tiles"
        self.data = open(self.data_path, "wb", buffering=0)  # noqa: SIM115 (closed in close)
        self.tiles: list[list[tuple[int, int]]] = [[] for _ in self.shapes]
        self.tile_rows = [np.empty((self.size, w), spec.dtype) for w, _ in self.shapes]
        self.filled = [0] * len(self.shapes)
        self.rows = [0] * len(self.shapes)
        self.compress = tile_compressor(options)
        self.predictor = _predictor(spec)
        self.pool = ThreadPoolExecutor(max(1, options.threads), thread_name_prefix="compress")
        self.in_flight: deque[tuple[int, list[Future[bytes]]]] = deque()
        reducer = pyramid_reducer(spec, options)
        self.pyramid = Pyramid(len(self.shapes) - 1, reducer, spec.nodata, self._add)

    def write(self, rows: np.ndarray) -> None:
        """Append the next full-resolution rows (encoded, the product's dtype)."""
        self._add(0, rows)
        self.pyramid.add(rows)

    def _add(self, level: int, rows: np.ndarray) -> None:
        """Append rows to one level; cut and compress each row of tiles once it is full."""
        buffer = self.tile_rows[level]
        while rows.shape[0]:
            if self.filled[level] == 0 and rows.shape[0] >= self.size:
                self._cut(level, rows[: self.size])  # a whole row of tiles: no copy
                taken = self.size
            else:
                taken = min(self.size - self.filled[level], rows.shape[0])
                buffer[self.filled[level] : self.filled[level] + taken] = rows[:taken]
                self.filled[level] += taken
                if self.filled[level] == self.size:
                    self._cut(level, buffer)
                    self.filled[level] = 0
            self.rows[level] += taken
            rows = rows[taken:]

    def _cut(self, level: int, tile_row: np.ndarray) -> None:
        """Queue the compression of a row of tiles; edge tiles are padded with nodata."""
        futures = []
        for left in range(0, tile_row.shape[1], self.size):
            tile = tile_row[:, left : left + self.size]
            if tile.shape != (self.size, self.size):
                padded = np.full((self.size, self.size), self.spec.nodata, tile.dtype)
                padded[: tile.shape[0], : tile.shape[1]] = tile
                tile = padded
            encoded = np.empty(tile.shape, tile.dtype)
            if self.predictor:  # horizontal differencing, wrapping like TIFF's predictor 2
                encoded[:, 0] = tile[:, 0]
                np.subtract(tile[:, 1:], tile[:, :-1], out=encoded[:, 1:])
            else:
                encoded[...] = tile
            futures.append(self.pool.submit(self.compress, memoryview(encoded).cast("B")))
        self.in_flight.append((level, futures))
        while len(self.in_flight) > len(self.shapes):  # bound the tiles held in memory
            self._store_oldest()

    def _store_oldest(self) -> None:
        """Append the oldest compressed row of tiles to the scratch file, in cutting order."""
        level, futures = self.in_flight.popleft()
        for future in futures:
            data = future.result()
            self.tiles[level].append((self.data.tell(), len(data)))
            self.data.write(data)

    def close(self) -> Path:
        """Compress the last rows, lay the levels out as a COG, validate it, move it."""
        for level, filled in enumerate(self.filled):
            if filled:
                self._cut(level, self.tile_rows[level][:filled])
                self.filled[level] = 0
        while self.in_flight:
            self._store_oldest()
        self.pool.shutdown()
        self.data.close()
        expected = [height for _width, height in self.shapes]
        if self.rows != expected:
            raise ProcessingError(
                f"{self.final.name}: got {self.rows} rows per level, expected {expected}"
            )
        geo = gdal_tags(self.spec, self.grid, self.scratch)
        images = []
        for level, (width, height) in enumerate(self.shapes):
            tags = tiff.structural_tags(
                width, height, self.size, self.spec.dtype, self.options.compression,
                self.predictor,
            )  # fmt: skip
            if level == 0:
                tags.update(geo)
            else:
                tags.update({code: geo[code] for code in tiff.OVERVIEW_TAGS if code in geo})
            offsets, sizes = zip(*self.tiles[level], strict=True)
            images.append(tiff.Image(tags, self.data_path, offsets, sizes))
        with atomic_path(self.final) as temporary:
            tiff.write_cog(temporary, images)
            validate_cog(temporary)
        self.discard()
        log.info("wrote %s", self.final)
        return self.final

    def discard(self) -> None:
        """Remove the scratch file (after `close`, or instead of it on failure)."""
        self.pool.shutdown(cancel_futures=True)
        self.data.close()
        self.data_path.unlink(missing_ok=True)
