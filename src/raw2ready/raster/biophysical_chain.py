"""LAI, FAPAR and FCOVER of one scene from ESA's Biophysical Processor networks, at 20 m.

Like SNAP's BiophysicalOp (whose default resolution is 20 m), the networks run on the grid
of the 20 m red-edge bands: 10 m bands are averaged 2 x 2 on reading. Strips are read,
masked with the scene's SCL classes (and DN 0 as no data), evaluated in chunks of rows and
streamed through one COGWriter per product, so memory stays bounded whatever the tile size.
Pixels whose output is out of the networks' range get no value; the flags are counted and
reported with the item (see `BiophysicalResult`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.windows import Window

from raw2ready.errors import ProcessingError
from raw2ready.products import masking
from raw2ready.products.biophysical import FLAG_NAMES, INPUT_BANDS, Network, angle_inputs
from raw2ready.products.masking import BufferDistances
from raw2ready.products.registry import PRODUCTS
from raw2ready.raster.cog import COGOptions, COGWriter
from raw2ready.raster.tile_chain import (
    CHUNK_ROWS,
    GDAL_CACHE_BYTES,
    ProductResult,
    RunningStatistics,
    encode,
    product_results,
    reflectance,
)
from raw2ready.scene import SceneRecord

log = logging.getLogger(__name__)

#: Rows of the 20 m grid per strip (1024 rows of the 10 m bands).
STRIP_ROWS = 512
#: The band whose grid the networks run on (20 m).
GRID_BAND = "B05"


@dataclass(frozen=True)
class BiophysicalResult:
    """The written products and, per product, how many clear pixels carry each flag."""

    products: dict[str, ProductResult]
    flags: dict[str, dict[str, int]]


def _scale(dataset: rasterio.io.DatasetReader, reference: rasterio.io.DatasetReader) -> int:
    """How many of `dataset`'s pixels span one reference pixel along a row (1 or 2)."""
    factor = dataset.width // reference.width
    if factor < 1 or dataset.width != factor * reference.width:
        raise ProcessingError(
            f"a {dataset.width}-px band is not an integer multiple of the {reference.width}-px "
            f"{GRID_BAND} grid the biophysical networks run on"
        )
    return factor


def _read(
    dataset: rasterio.io.DatasetReader,
    factor: int,
    top: int,
    rows: int,
    width: int,
    how: Resampling,
) -> np.ndarray:
    """Rows [top, top + rows) of the reference grid from a band `factor` times finer."""
    window = Window(0, top * factor, dataset.width, rows * factor)
    return dataset.read(1, window=window, out_shape=(rows, width), resampling=how)


def _mask_codes(
    scl: rasterio.io.DatasetReader,
    factor: int,
    top: int,
    rows: int,
    width: int,
    lookup: np.ndarray,
    radii: dict[int, int],
) -> np.ndarray:
    """Mask codes of rows [top, top + rows) on the reference grid, with the buffers of
    `radii` drawn from a halo of SCL rows above and below (the tile chain's rule)."""
    halo = masking.halo_rows(radii)
    first, last = max(0, top - halo), min(scl.height // factor, top + rows + halo)
    block = np.take(lookup, _read(scl, factor, first, last - first, width, Resampling.nearest))
    core = slice(top - first, top - first + rows)
    return masking.buffer_codes(block, radii, core) if radii else block[core]


def biophysical_products(
    record: SceneRecord,
    band_paths: Mapping[str, Path],
    outputs: Mapping[str, Path],
    networks: Mapping[str, Network],
    masked_classes: frozenset[int],
    buffers: BufferDistances,
    cog: COGOptions,
    scratch: Path,
) -> BiophysicalResult:
    """Write the products of `outputs` (lai, fapar, fcover) of one scene with `networks`."""
    if record.angles is None:
        raise ProcessingError(
            f"scene {record.id}: its metadata gives no sun/view angles, which the biophysical "
            "networks need; use processors.lai: empirical for this archive"
        )
    missing = sorted(set((*INPUT_BANDS, "SCL")) - set(band_paths))
    if missing:
        raise ProcessingError(f"scene {record.id}: biophysical LAI needs band(s) {missing}")
    angles = record.angles
    geometry = angle_inputs(
        angles.sun_zenith, angles.view_zenith, angles.sun_azimuth, angles.view_azimuth
    ).astype(np.float32)
    lookup = masking.mask_lookup(masked_classes)
    used = [networks[name] for name in outputs]
    shared = all(used[0].same_domain(network) for network in used[1:])
    scratch.mkdir(parents=True, exist_ok=True)
    stats = {name: RunningStatistics() for name in outputs}
    flag_counts = {name: dict.fromkeys(FLAG_NAMES, 0) for name in outputs}
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES), ExitStack() as stack:
        datasets = {
            band: stack.enter_context(rasterio.open(band_paths[band]))
            for band in (*INPUT_BANDS, "SCL")
        }
        reference = datasets[GRID_BAND]
        width, height = reference.width, reference.height
        factors = {band: _scale(dataset, reference) for band, dataset in datasets.items()}
        radii = buffers.radii(abs(reference.transform.a))
        grid = {
            "width": width, "height": height, "crs": reference.crs,
            "transform": reference.transform,
        }  # fmt: skip
        writers = {}
        for name, path in outputs.items():
            writers[name] = COGWriter(path, PRODUCTS[name], grid, cog, scratch)
            stack.callback(writers[name].discard)
        for top in range(0, height, STRIP_ROWS):
            rows = min(STRIP_ROWS, height - top)
            dn = {
                band: _read(datasets[band], factors[band], top, rows, width, Resampling.average)
                for band in INPUT_BANDS
            }
            codes = _mask_codes(datasets["SCL"], factors["SCL"], top, rows, width, lookup, radii)
            encoded = {name: np.empty((rows, width), PRODUCTS[name].dtype) for name in outputs}
            for start in range(0, rows, CHUNK_ROWS):
                part = slice(start, start + CHUNK_ROWS)
                chunk = masking.classify(codes[part], 1, (d[part] for d in dn.values()))
                clear = chunk == masking.MASK_CLEAR
                inputs = np.empty((len(INPUT_BANDS) + 3, clear.size), np.float32)
                for index, band in enumerate(INPUT_BANDS):
                    inputs[index] = reflectance(dn[band][part], record.boa_add_offset).ravel()
                inputs[len(INPUT_BANDS) :] = geometry[:, None]
                first = networks[next(iter(outputs))]
                outside = first.outside_domain(inputs[: len(INPUT_BANDS)]) if shared else None
                for name in outputs:
                    values, flags = networks[name].evaluate(inputs, outside)
                    spec = PRODUCTS[name]
                    block = encode(values.reshape(clear.shape), clear, spec, encoded[name][part])
                    stats[name].add_encoded(block, spec)
                    counts = np.bincount(flags[clear.ravel()], minlength=256)
                    for bit in FLAG_NAMES:
                        flag_counts[name][bit] += int(counts[np.arange(256) & bit != 0].sum())
            for name, writer in writers.items():
                writer.write(encoded[name])
        for writer in writers.values():
            writer.close()
        products = product_results(dict(outputs), stats, reference)
    log.info("scene %s: biophysical %s", record.id, ", ".join(sorted(products)))
    flags = {
        name: {FLAG_NAMES[bit]: count for bit, count in counts.items()}
        for name, counts in flag_counts.items()
    }
    return BiophysicalResult(products, flags)
