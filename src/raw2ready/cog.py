"""Cloud-Optimized GeoTIFF output: encode, build overviews, validate, place atomically.

Products are streamed block by block into a plain tiled GeoTIFF in scratch space, then
GDAL's COG driver writes the final layout (tiles, overviews, ghost header) under a
temporary name; only a file that passes rio-cogeo's validation is renamed into place.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rasterio
import rasterio.shutil
from rio_cogeo.cogeo import cog_validate

from raw2ready.atomic import atomic_path
from raw2ready.errors import ProductValidationError
from raw2ready.products import ProductSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class COGOptions:
    """Encoding choices for product COGs (see the README for the measured trade-offs)."""

    compression: str = "ZSTD"
    level: int = 1
    blocksize: int = 512
    overview_resampling: str = "average"
    threads: int = 2

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> COGOptions:
        """Build from the `cog` section of a validated configuration."""
        return cls(**section)


def creation_options(spec: ProductSpec, options: COGOptions) -> dict[str, str]:
    """GDAL COG driver creation options for one product."""
    level = options.level
    if options.compression == "DEFLATE":
        level = min(level, 9)
    result = {
        "COMPRESS": options.compression,
        "BLOCKSIZE": str(options.blocksize),
        "OVERVIEW_RESAMPLING": "MODE" if spec.name == "mask" else options.overview_resampling,
        "NUM_THREADS": str(options.threads),
        "BIGTIFF": "IF_SAFER",
        "PREDICTOR": "NO" if spec.name == "mask" else "YES",
    }
    if options.compression in ("ZSTD", "DEFLATE"):
        result["LEVEL"] = str(level)
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
