"""Per-scene processing: read bands once in strips, mask, compute indices, write COGs.

The stages are named after the modules that own them: reading (here), `masking`,
`indices`, `cog`. Strips follow the input's internal tiling so every compressed block is
decoded exactly once, and memory stays bounded by one strip whatever the tile size.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numexpr as ne
import numpy as np
import rasterio
from rasterio.windows import Window

from raw2ready import indices, masking
from raw2ready.cog import COGOptions, scratch_profile, translate_to_cog
from raw2ready.errors import ProcessingError
from raw2ready.products import PRODUCTS, ProductSpec
from raw2ready.scene import BOA_QUANTIFICATION, SceneRecord

log = logging.getLogger(__name__)

#: Rows per strip: a multiple of the archives' 1024-px internal tiles keeps reads aligned.
STRIP_ROWS = 1024


@dataclass(frozen=True)
class ProcessingOptions:
    """What to make of a scene and how to encode it."""

    products: tuple[str, ...]
    masked_classes: frozenset[int] = masking.DEFAULT_MASKED_CLASSES
    lai_model: str = "savi_metric"
    cog: COGOptions = field(default_factory=COGOptions)


@dataclass
class RunningStatistics:
    """Statistics of a product accumulated strip by strip (for STAC raster:statistics)."""

    pixels: int = 0
    count: int = 0
    total: float = 0.0
    total_squares: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf

    def add(self, values: np.ndarray, pixels: int) -> None:
        """Add the valid (already decoded) values of one strip of `pixels` pixels."""
        self.pixels += pixels
        if values.size == 0:
            return
        as64 = values.astype(np.float64)
        self.count += int(values.size)
        self.total += float(as64.sum())
        self.total_squares += float(np.square(as64).sum())
        self.minimum = min(self.minimum, float(values.min()))
        self.maximum = max(self.maximum, float(values.max()))

    def as_stac(self) -> dict[str, float]:
        """The STAC raster extension's `statistics` object."""
        if self.count == 0:
            return {"valid_percent": 0.0}
        mean = self.total / self.count
        variance = max(0.0, self.total_squares / self.count - mean * mean)
        return {
            "minimum": round(self.minimum, 6),
            "maximum": round(self.maximum, 6),
            "mean": round(mean, 6),
            "stddev": round(math.sqrt(variance), 6),
            "valid_percent": round(100.0 * self.count / max(self.pixels, 1), 4),
        }


@dataclass(frozen=True)
class ProductResult:
    """One written product and its statistics."""

    name: str
    path: Path
    statistics: dict[str, float]
    shape: tuple[int, int]
    transform: tuple[float, ...]
    epsg: int | None


def _strips(height: int, block_rows: int) -> Iterator[tuple[int, int]]:
    """Row ranges covering `height`, each a whole number of input blocks (and even)."""
    step = max(block_rows, (STRIP_ROWS // block_rows) * block_rows)
    step += step % 2
    for start in range(0, height, step):
        yield start, min(height, start + step)


def _check_grids(datasets: dict[str, Any], reference: str) -> int:
    """Check all bands share one grid; return the SCL upsampling factor."""
    ref = datasets[reference]
    for band, dataset in datasets.items():
        if band == "SCL":
            continue
        if (dataset.width, dataset.height) != (ref.width, ref.height) or dataset.crs != ref.crs:
            raise ProcessingError(
                f"band {band} ({dataset.width}x{dataset.height}) does not share the grid of "
                f"{reference} ({ref.width}x{ref.height})"
            )
    scl = datasets["SCL"]
    factor = ref.width // scl.width
    if factor < 1 or scl.width * factor != ref.width or scl.height * factor != ref.height:
        raise ProcessingError(
            f"SCL ({scl.width}x{scl.height}) is not an integer fraction of the "
            f"{ref.width}x{ref.height} band grid"
        )
    return factor


def reflectance(dn: np.ndarray, add_offset: int) -> np.ndarray:
    """Surface reflectance from L2A DN: (DN + BOA_ADD_OFFSET) / 10000, as float32."""
    return ne.evaluate(
        "(dn + offset) / q",
        local_dict={
            "dn": dn,
            "offset": np.float32(add_offset),
            "q": np.float32(BOA_QUANTIFICATION),
        },
    ).astype(np.float32, copy=False)


def encode(values: np.ndarray, valid: np.ndarray, spec: ProductSpec) -> np.ndarray:
    """Quantize float values to the product's integer encoding; invalid pixels to nodata."""
    scaled = np.rint(values / spec.scale)
    info = np.iinfo(spec.dtype)
    np.clip(scaled, info.min + 1, info.max, out=scaled)
    out = np.full(values.shape, spec.nodata, dtype=spec.dtype)
    good = valid & np.isfinite(values)
    out[good] = scaled[good].astype(spec.dtype)
    return out


def compute_products(
    bands: dict[str, np.ndarray], codes: np.ndarray, options: ProcessingOptions
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The float values and validity of every requested product for one strip."""
    clear = codes == masking.MASK_CLEAR
    result: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if "ndvi" in options.products:
        value = np.clip(indices.ndvi(bands["B04"], bands["B08"]), -1.0, 1.0)
        result["ndvi"] = (value, clear)
    if "lai" in options.products:
        if options.lai_model == "evi_boegh":
            value = indices.lai_evi_boegh(bands["B02"], bands["B04"], bands["B08"])
        else:
            value = indices.lai_savi_metric(bands["B04"], bands["B08"])
        result["lai"] = (value, clear)
    return result


def process_scene(
    record: SceneRecord,
    band_paths: dict[str, Path],
    outputs: dict[str, Path],
    options: ProcessingOptions,
    scratch: Path,
) -> dict[str, ProductResult]:
    """Make every requested product of one scene; return where they are and their stats."""
    scratch.mkdir(parents=True, exist_ok=True)
    reflective = sorted(band for band in band_paths if band != "SCL")
    with ExitStack() as stack:
        try:
            datasets = {b: stack.enter_context(rasterio.open(p)) for b, p in band_paths.items()}
        except rasterio.errors.RasterioIOError as exc:
            raise ProcessingError(f"scene {record.id}: cannot read a band ({exc})") from exc
        reference = datasets[reflective[0]]
        factor = _check_grids(datasets, reflective[0])
        width, height = reference.width, reference.height
        specs = {name: PRODUCTS[name] for name in options.products}
        scratch_paths = {name: scratch / f"{record.id}_{name}.tif" for name in specs}
        writers = {
            name: stack.enter_context(
                rasterio.open(
                    scratch_paths[name],
                    "w",
                    **scratch_profile(spec, width, height, reference.crs, reference.transform),
                )
            )
            for name, spec in specs.items()
        }
        stats = {name: RunningStatistics() for name in specs}
        lookup = masking.mask_lookup(options.masked_classes)
        block_rows = reference.block_shapes[0][0]
        for top, bottom in _strips(height, block_rows):
            window = Window(0, top, width, bottom - top)
            raw = {band: datasets[band].read(1, window=window) for band in reflective}
            scl_window = Window(0, top // factor, width // factor, (bottom - top) // factor)
            scl = masking.upsample_scl(datasets["SCL"].read(1, window=scl_window), factor)
            band_nodata = np.zeros(scl.shape, dtype=bool)
            for values in raw.values():
                band_nodata |= values == 0
            codes = masking.classify(scl, band_nodata, lookup)
            surface = {b: reflectance(dn, record.boa_add_offset) for b, dn in raw.items()}
            for name, (value, valid) in compute_products(surface, codes, options).items():
                encoded = encode(value, valid, specs[name])
                writers[name].write(encoded, 1, window=window)
                decoded = encoded[encoded != specs[name].nodata] * specs[name].scale
                stats[name].add(decoded, encoded.size)
            if "mask" in writers:
                writers["mask"].write(codes, 1, window=window)
                stats["mask"].add(codes[codes != specs["mask"].nodata], codes.size)
        for name, writer in writers.items():
            writer.scales = (specs[name].scale,)
            writer.offsets = (specs[name].offset,)
            writer.set_band_description(1, specs[name].title)
            if specs[name].unit:
                writer.units = (specs[name].unit,)
        transform = tuple(reference.transform)[:6]
        epsg = reference.crs.to_epsg() if reference.crs else None
    results: dict[str, ProductResult] = {}
    for name, spec in specs.items():
        translate_to_cog(scratch_paths[name], outputs[name], spec, options.cog)
        scratch_paths[name].unlink(missing_ok=True)
        results[name] = ProductResult(
            name, outputs[name], stats[name].as_stac(), (height, width), transform, epsg
        )
    log.info("scene %s: %s", record.id, ", ".join(sorted(results)))
    return results
