"""Cloud-Optimized GeoTIFF output: stream, build overviews, validate, place atomically.

`COGWriter` takes a product's rows top to bottom. Each block of rows goes into a tiled
GeoTIFF that GDAL compresses in worker threads while the next rows are computed, and
through the overview pyramid (`overviews`), whose levels are made from rows already in
memory and go to GeoTIFFs of their own. At the end `tiff.write_cog` copies the compressed
tiles of all levels into COG order (IFDs first, smallest overview next, full resolution
last) under a temporary name: nothing is compressed twice and the product is never read
back. Only a file that passes rio-cogeo's validation is renamed into place. For a finished
GeoTIFF, `translate_to_cog` lets GDAL's COG driver do all of it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.windows import Window
from rio_cogeo.cogeo import cog_validate

from raw2ready import tiff
from raw2ready.atomic import atomic_path
from raw2ready.errors import ProcessingError, ProductValidationError
from raw2ready.overviews import (
    Pyramid,
    Reducer,
    average_2x2,
    mode_2x2,
    nearest_2x2,
    overview_shapes,
)
from raw2ready.products import ProductSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class COGOptions:
    """Encoding choices for product COGs (docs/performance.md has the measured trade-offs)."""

    compression: str = "ZSTD"
    level: int = 1
    blocksize: int = 512
    overview_resampling: str = "average"
    threads: int = 2

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> COGOptions:
        """Build from the `cog` section of a validated configuration."""
        return cls(**section)


def _predictor(spec: ProductSpec) -> bool:
    """Horizontal differencing pays off on continuous values, not on class codes."""
    return spec.name != "mask"


def _level(options: COGOptions) -> str | None:
    """The codec level GDAL accepts (DEFLATE stops at 9; LZW has none)."""
    if options.compression == "ZSTD":
        return str(options.level)
    if options.compression == "DEFLATE":
        return str(min(options.level, 9))
    return None


def creation_options(spec: ProductSpec, options: COGOptions) -> dict[str, str]:
    """GDAL COG driver creation options for one product (`translate_to_cog`)."""
    result = {
        "COMPRESS": options.compression,
        "BLOCKSIZE": str(options.blocksize),
        "OVERVIEW_RESAMPLING": "MODE" if spec.name == "mask" else options.overview_resampling,
        "NUM_THREADS": str(options.threads),
        "BIGTIFF": "IF_SAFER",
        "PREDICTOR": "YES" if _predictor(spec) else "NO",
    }
    if _level(options):
        result["LEVEL"] = _level(options)
    return result


def level_profile(spec: ProductSpec, options: COGOptions) -> dict[str, Any]:
    """GTiff creation options of a level file: the product COG's tiling and encoding."""
    result: dict[str, Any] = {
        "driver": "GTiff", "count": 1, "dtype": spec.dtype, "nodata": spec.nodata,
        "tiled": True, "blockxsize": options.blocksize, "blockysize": options.blocksize,
        "compress": options.compression, "predictor": 2 if _predictor(spec) else 1,
        "num_threads": str(options.threads), "bigtiff": "IF_SAFER",
    }  # fmt: skip
    level = _level(options)
    if level:
        result["zstd_level" if options.compression == "ZSTD" else "zlevel"] = level
    return result


def validate_cog(path: Path) -> None:
    """Raise ProductValidationError unless `path` is a valid COG (rio-cogeo's rules)."""
    valid, errors, _warnings = cog_validate(str(path), quiet=True)
    if not valid:
        raise ProductValidationError(f"{path} is not a valid COG: {'; '.join(errors)}")


def translate_to_cog(source: Path, final: Path, spec: ProductSpec, options: COGOptions) -> Path:
    """Write `source` (a tiled GeoTIFF) as a validated COG at `final`, atomically."""
    with atomic_path(final) as temporary:
        with rasterio.Env(GDAL_NUM_THREADS=str(options.threads)):
            rasterio.shutil.copy(
                str(source), str(temporary), driver="COG", **creation_options(spec, options)
            )
        validate_cog(temporary)
    log.info("wrote %s", final)
    return final


def scratch_profile(
    spec: ProductSpec, width: int, height: int, crs: Any, transform: Any
) -> dict[str, Any]:
    """Profile of the uncompressed tiled scratch GeoTIFF a product is streamed into."""
    return {
        "driver": "GTiff",
        "dtype": spec.dtype,
        "count": 1,
        "width": width,
        "height": height,
        "crs": crs,
        "transform": transform,
        "nodata": spec.nodata,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "NONE",
        "BIGTIFF": "IF_SAFER",
    }


def pyramid_reducer(spec: ProductSpec, options: COGOptions) -> Reducer:
    """How a product's overviews are made while it streams (the mask always uses mode)."""
    if spec.name == "mask" or options.overview_resampling == "mode":
        return mode_2x2
    if options.overview_resampling == "nearest":
        return nearest_2x2
    return average_2x2


class COGWriter:
    """Streams one product, rows top to bottom, into a validated COG (see the module notes).

    Each level goes into its own tiled GeoTIFF, compressed by GDAL's worker threads as the
    rows arrive; `close` lays the levels out as one COG by copying their compressed tiles
    (`tiff.write_cog`). Memory stays bounded by the rows handed to `write` and GDAL's block
    cache, whatever the product's size.
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
        width, height, transform = grid["width"], grid["height"], grid["transform"]
        self.shapes = [(width, height), *overview_shapes(width, height, options.blocksize)]
        scratch.mkdir(parents=True, exist_ok=True)
        self.paths = [scratch / f"{final.stem}.{level}.tif" for level in range(len(self.shapes))]
        self.rows = [0] * len(self.shapes)
        profile = level_profile(spec, options)
        self.datasets = []
        for (level_width, level_height), path in zip(self.shapes, self.paths, strict=True):
            scale = Affine.scale(width / level_width, height / level_height)
            self.datasets.append(
                rasterio.open(
                    path,
                    "w",
                    width=level_width,
                    height=level_height,
                    crs=grid["crs"],
                    transform=transform @ scale,
                    **profile,
                )
            )
        full = self.datasets[0]
        full.scales, full.offsets = (spec.scale,), (spec.offset,)
        full.set_band_description(1, spec.title)
        if spec.unit:
            full.units = (spec.unit,)
        self.tile_rows = [
            np.empty((min(options.blocksize, h), w), spec.dtype) for w, h in self.shapes
        ]
        self.filled = [0] * len(self.shapes)
        reducer = pyramid_reducer(spec, options)
        self.pyramid = Pyramid(len(self.shapes) - 1, reducer, spec.nodata, self._write)

    def _write(self, level: int, rows: np.ndarray) -> None:
        """Append rows to one level, handing GDAL whole rows of tiles only.

        Each tile is then compressed exactly once, never read back to be completed, and
        the output does not depend on how the rows were split into blocks.
        """
        buffer, filled = self.tile_rows[level], self.filled[level]
        size = buffer.shape[0]
        while rows.shape[0]:
            if filled == 0 and rows.shape[0] >= size:
                whole = rows.shape[0] - rows.shape[0] % size
                self._flush(level, rows[:whole])
                rows = rows[whole:]
                continue
            taken = min(size - filled, rows.shape[0])
            buffer[filled : filled + taken] = rows[:taken]
            filled, rows = filled + taken, rows[taken:]
            if filled == size:
                self._flush(level, buffer)
                filled = 0
        self.filled[level] = filled

    def _flush(self, level: int, rows: np.ndarray) -> None:
        """Write rows (whole tile rows, or the last ones) to a level's file."""
        top = self.rows[level]
        window = Window(0, top, self.shapes[level][0], rows.shape[0])
        self.datasets[level].write(rows, 1, window=window)
        self.rows[level] = top + rows.shape[0]

    def write(self, rows: np.ndarray) -> None:
        """Append the next full-resolution rows (encoded, the product's dtype)."""
        self._write(0, rows)
        self.pyramid.add(rows)

    def close(self) -> Path:
        """Lay the levels out as a COG, validate it, move it into place."""
        for level, dataset in enumerate(self.datasets):
            if self.filled[level]:
                self._flush(level, self.tile_rows[level][: self.filled[level]])
                self.filled[level] = 0
            dataset.close()
        expected = [height for _width, height in self.shapes]
        if self.rows != expected:
            raise ProcessingError(
                f"{self.final.name}: got {self.rows} rows per level, expected {expected}"
            )
        images = [tiff.image_of(self.paths[0])]
        images += [tiff.image_of(path, tiff.OVERVIEW_TAGS) for path in self.paths[1:]]
        with atomic_path(self.final) as temporary:
            tiff.write_cog(temporary, images)
            validate_cog(temporary)
        self.discard()
        log.info("wrote %s", self.final)
        return self.final

    def discard(self) -> None:
        """Remove the level files (after `close`, or instead of it on failure)."""
        for dataset in self.datasets:
            if not dataset.closed:
                dataset.close()
        for path in self.paths:
            path.unlink(missing_ok=True)
