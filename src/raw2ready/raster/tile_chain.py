"""Per-scene processing: read bands once in strips, mask, compute indices, write COGs.

The stages are named after the modules that own them: reading (here), `masking`,
`indices`, `cog`. Strips follow the input's internal tiling so every compressed block is
decoded exactly once, and a background thread decodes the next strip while this one is
computed. Arithmetic runs on chunks of a few dozen rows, small enough to stay in the CPU
cache, and writes straight into the strip's integer-encoded output; each product's
`COGWriter` streams the strips to scratch and builds the overviews on the way. Memory is
bounded by two strips whatever the tile size (docs/performance.md has the measurements).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.windows import Window

from raw2ready.errors import ProcessingError
from raw2ready.products import csmask, masking, ml_mask
from raw2ready.products.registry import MASK, PRODUCTS, Kind, ProductSpec, Recipe
from raw2ready.raster.cog import COGOptions, COGWriter
from raw2ready.scene import BOA_QUANTIFICATION, SceneRecord
from raw2ready.sentinel2.angles import AngleGrids
from raw2ready.sentinel2.nbar import CFactors, NbarOptions, Normalisation, scene_normalisation

log = logging.getLogger(__name__)

#: Rows per strip: a multiple of the archives' 1024-px internal tiles keeps reads aligned.
STRIP_ROWS = 1024
#: Rows per arithmetic chunk: float32 temporaries of a 10980-px-wide chunk stay in cache.
CHUNK_ROWS = 64
#: GDAL block cache (bytes): reads decode whole strips straight into numpy arrays and
#: scratch writes are flushed as they come, so a small cache suffices and bounds memory.
GDAL_CACHE_BYTES = 64 * 2**20


@dataclass(frozen=True)
class ProcessingOptions:
    """What to make of a scene and how to encode it."""

    products: tuple[str, ...]
    masked_classes: frozenset[int] = masking.DEFAULT_MASKED_CLASSES
    buffers: masking.BufferDistances = field(default_factory=masking.BufferDistances)
    mask_method: str = "scl"
    lai_model: str = "savi_metric"
    cog: COGOptions = field(default_factory=COGOptions)
    nbar: NbarOptions = field(default_factory=NbarOptions)


@dataclass
class RunningStatistics:
    """Statistics of a product accumulated strip by strip (for STAC raster:statistics).

    `moments` (mean, stddev) are left out for class codes (Kind.CLASSES), where they
    mean nothing; minimum, maximum and valid_percent are always kept.
    """

    moments: bool = True
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

    def add_encoded(self, encoded: np.ndarray, spec: ProductSpec) -> None:
        """Add a block of encoded values (nodata skipped); decoded with the spec's scale.

        Sums of the stored integers are exact in float64 for any block that fits in memory.
        """
        self.pixels += encoded.size
        valid = encoded != spec.nodata
        count = int(np.count_nonzero(valid))
        if count == 0:
            return
        scale, offset = spec.scale, spec.offset
        self.count += count
        if self.moments:
            missing = encoded.size - count
            values = encoded.astype(np.float64).ravel()
            total = float(values.sum()) - missing * spec.nodata
            squares = float(np.einsum("i,i->", values, values)) - missing * spec.nodata**2
            self.total += scale * total + offset * count
            self.total_squares += scale * scale * squares + 2 * scale * offset * total
            self.total_squares += offset * offset * count
        low, high = _valid_range(encoded, valid, spec.nodata)
        decoded = sorted((offset + scale * low, offset + scale * high))
        self.minimum = min(self.minimum, decoded[0])
        self.maximum = max(self.maximum, decoded[1])

    def merge(self, other: RunningStatistics) -> None:
        """Add the statistics of another part of the same product."""
        self.pixels += other.pixels
        self.count += other.count
        self.total += other.total
        self.total_squares += other.total_squares
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)

    def as_stac(self) -> dict[str, float]:
        """The STAC raster extension's `statistics` object."""
        if self.count == 0:
            return {"valid_percent": 0.0}
        result = {"minimum": round(self.minimum, 6), "maximum": round(self.maximum, 6)}
        if self.moments:
            mean = self.total / self.count
            variance = max(0.0, self.total_squares / self.count - mean * mean)
            result |= {"mean": round(mean, 6), "stddev": round(math.sqrt(variance), 6)}
        return result | {"valid_percent": round(100.0 * self.count / max(self.pixels, 1), 4)}


def _valid_range(encoded: np.ndarray, valid: np.ndarray, nodata: int) -> tuple[int, int]:
    """Smallest and largest valid value; fast when nodata is the dtype's minimum (int16
    products) or maximum (the uint8 mask), using integer wrap-around instead of a mask."""
    info = np.iinfo(encoded.dtype)
    if nodata == info.min and info.min < 0:
        # Negation wraps the minimum onto itself, so nodata never wins either maximum.
        return -int(np.negative(encoded).max()), int(encoded.max())
    if nodata == info.max and info.min == 0:
        # Adding one wraps the maximum to zero, below every valid value.
        return int(encoded.min()), int(np.add(encoded, 1, dtype=encoded.dtype).max()) - 1
    low = int(np.min(encoded, where=valid, initial=info.max))
    return low, int(np.max(encoded, where=valid, initial=info.min))


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


def _check_grids(datasets: dict[str, Any], reference: str) -> dict[str, int]:
    """Check every input lies on the reference band's grid or an integer fraction of it
    (20 m bands and the SCL under 10 m bands); return each input's upsampling factor."""
    ref = datasets[reference]
    factors = {}
    for band, dataset in datasets.items():
        factor = ref.width // dataset.width
        aligned = (
            factor >= 1
            and (dataset.width * factor, dataset.height * factor) == (ref.width, ref.height)
            # the same origin, pixels factor x the reference's: not merely a smaller raster
            and dataset.transform.almost_equals(ref.transform * Affine.scale(factor))
        )
        if band == "SCL":
            if not aligned:
                raise ProcessingError(
                    f"SCL ({dataset.width}x{dataset.height}) is not an integer fraction of the "
                    f"{ref.width}x{ref.height} band grid"
                )
        elif not aligned or factor > 2 or dataset.crs != ref.crs:
            raise ProcessingError(
                f"band {band} ({dataset.width}x{dataset.height}) does not share the grid of "
                f"{reference} ({ref.width}x{ref.height}) nor its 20 m grid"
            )
        factors[band] = factor
    return factors


def reflectance(dn: np.ndarray, add_offset: int) -> np.ndarray:
    """Surface reflectance from L2A DN: (DN + BOA_ADD_OFFSET) / 10000, as float32."""
    value = np.add(dn, np.float32(add_offset), dtype=np.float32)
    value /= np.float32(BOA_QUANTIFICATION)
    return value


def encode(
    values: np.ndarray, valid: np.ndarray, spec: ProductSpec, out: np.ndarray | None = None
) -> np.ndarray:
    """Quantize float values to the product's integer encoding; invalid or non-finite
    pixels to nodata. Writes into `out` when given (e.g. a slice of a strip buffer)."""
    info = np.iinfo(spec.dtype)
    good = np.isfinite(values)
    good &= valid
    scaled = np.multiply(values, np.float32(1 / spec.scale), dtype=np.float32)
    np.rint(scaled, out=scaled)
    np.clip(scaled, info.min + 1, info.max, out=scaled)
    if out is None:
        out = np.empty(values.shape, dtype=spec.dtype)
    out.fill(spec.nodata)
    with np.errstate(invalid="ignore"):
        np.copyto(out, scaled, casting="unsafe", where=good)
    return out


def recipes(record: SceneRecord, options: ProcessingOptions, bands: set[str]) -> dict[str, Recipe]:
    """The registry's recipe of every requested product but the mask (always computed), with
    the configured LAI model; ProcessingError when one is not made here or lacks a band."""
    found = {}
    for name in options.products:
        spec = PRODUCTS[name]
        if spec is MASK:
            continue
        recipe = spec.recipe(options.lai_model)
        if recipe is None:
            raise ProcessingError(f"product '{name}' is not made from reflectance bands")
        missing = sorted(set(recipe.bands) - bands)
        if missing:
            raise ProcessingError(
                f"scene {record.id}: product '{name}' needs band(s) {', '.join(missing)}, "
                "which were not fetched"
            )
        found[name] = recipe
    return found


def normalisation(
    record: SceneRecord,
    options: ProcessingOptions,
    bands: list[str],
    angle_grids: AngleGrids | None = None,
) -> Normalisation | None:
    """The scene's NBAR normalisation of `bands` when the options ask for it and a product
    is computed from reflectance; None otherwise (the mask alone needs no angles)."""
    if not options.nbar.enabled or not recipes(record, options, set(bands)):
        return None
    return scene_normalisation(
        record.id, record.tile, record.angles, bands, options.nbar, angle_grids
    )


@dataclass(frozen=True)
class _SCLRows:
    """SCL rows of a strip and a halo of up to `halo` rows on each side (fewer at the scene's
    edges), so that buffers drawn strip by strip meet without seams; `top` is the scene row
    (on the SCL grid) of `rows[0]`."""

    rows: np.ndarray
    top: int

    def around(self, start: int, stop: int, halo: int) -> tuple[np.ndarray, slice]:
        """The held rows from scene rows start - halo to stop + halo, and where rows start to
        stop lie in them."""
        first = max(start - halo, self.top)
        last = min(stop + halo, self.top + self.rows.shape[0])
        return self.rows[first - self.top : last - self.top], slice(start - first, stop - first)


def _read_ahead(
    datasets: dict[str, Any], reflective: list[str], factors: dict[str, int], halo: int
) -> Iterator[tuple[int, dict[str, np.ndarray], _SCLRows]]:
    """Yield (top row, band DNs at their own resolution, SCL with its halo) per strip; the
    next strip decodes in the background.

    Strips alternate between two sets of buffers: strip i + 1 is decoded into one while
    strip i, in the other, is being computed.
    """
    reference = datasets[reflective[0]]
    width, height = reference.width, reference.height
    strips = list(_strips(height, reference.block_shapes[0][0]))
    rows = strips[0][1]
    scl, scl_factor = datasets["SCL"], factors["SCL"]
    inputs = {band: (datasets[band], factors[band]) for band in reflective}
    buffers = [
        (
            {
                band: np.empty((rows // factor, width // factor), dataset.dtypes[0])
                for band, (dataset, factor) in inputs.items()
            },
            np.empty((rows // scl_factor + 2 * halo, scl.width), scl.dtypes[0]),
        )
        for _ in range(2)
    ]

    def read(index: int) -> tuple[dict[str, np.ndarray], _SCLRows]:
        top, bottom = strips[index]
        bands, scl_buffer = buffers[index % 2]
        raw = {}
        for band, (dataset, factor) in inputs.items():
            out = bands[band][: (bottom - top) // factor]
            window = Window(0, top // factor, dataset.width, out.shape[0])
            raw[band] = dataset.read(1, window=window, out=out)
        first = max(0, top // scl_factor - halo)
        last = min(scl.height, bottom // scl_factor + halo)
        window = Window(0, first, scl.width, last - first)
        return raw, _SCLRows(scl.read(1, window=window, out=scl_buffer[: last - first]), first)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as pool:
        pending = pool.submit(read, 0)
        for index, (top, _bottom) in enumerate(strips):
            raw, scl_rows = pending.result()
            if index + 1 < len(strips):
                pending = pool.submit(read, index + 1)
            yield top, raw, scl_rows


@dataclass(frozen=True)
class _Chain:
    """What the computation of every strip of one scene needs."""

    record: SceneRecord
    options: ProcessingOptions
    factors: dict[str, int]  # an input's pixels are factor x factor band pixels
    lookup: np.ndarray  # SCL class -> mask code
    radii: dict[int, int]  # buffered mask code -> squared radius in SCL pixels
    recipes: dict[str, Recipe]  # the products computed from reflectance, by name
    network: np.ndarray | None = None  # csmask labels of the whole scene on the SCL grid
    c_factors: CFactors | None = None  # NBAR multipliers by band (None: NBAR off)

    @property
    def factor(self) -> int:
        """SCL pixels are factor x factor band pixels."""
        return self.factors["SCL"]

    @property
    def halo(self) -> int:
        """SCL rows each block of mask codes needs above and below for its buffers."""
        return masking.halo_rows(self.radii)

    @property
    def step(self) -> int:
        """Rows per chunk: CHUNK_ROWS, whole rows of every coarser input."""
        coarsest = math.lcm(*self.factors.values())
        return max(coarsest, CHUNK_ROWS - CHUNK_ROWS % coarsest)

    def mask_codes(self, scl: _SCLRows, top: int, rows: int) -> np.ndarray:
        """Mask codes on the SCL grid of band rows top to top + rows, buffers drawn."""
        start, stop = top // self.factor, (top + rows) // self.factor
        block, core = scl.around(start, stop, self.halo)
        codes = np.take(self.lookup, block)
        if self.network is not None:
            first = start - core.start
            labels = self.network[first : first + block.shape[0]]
            codes = ml_mask.combine(codes, labels, self.options.mask_method)
        return masking.buffer_codes(codes, self.radii, core) if self.radii else codes[core]


def _process_part(
    chain: _Chain,
    raw: dict[str, np.ndarray],
    scl: _SCLRows,
    part_top: int,
    encoded: dict[str, np.ndarray],
    stats: dict[str, RunningStatistics],
) -> None:
    """Fill a part of a strip (scene rows from `part_top`) with mask codes and encoded
    products, chunk by chunk; add stats."""
    codes, factor, step = encoded[MASK.name], chain.factor, chain.step
    coarse = chain.mask_codes(scl, part_top, codes.shape[0])
    for top in range(0, codes.shape[0], step):
        rows = slice(top, top + step)
        dn = {
            band: masking.replicate(
                values[top // chain.factors[band] : (top + step) // chain.factors[band]],
                chain.factors[band],
            )
            for band, values in raw.items()
        }
        coarse_rows = coarse[top // factor : (top + step) // factor]
        chunk_codes = masking.classify(coarse_rows, factor, dn.values(), codes[rows])
        if MASK.name in stats:
            stats[MASK.name].add_encoded(chunk_codes, MASK)
        if not chain.recipes:
            continue
        clear = chunk_codes == masking.MASK_CLEAR
        offset = chain.record.boa_add_offset
        surface = {band: reflectance(values, offset) for band, values in dn.items()}
        if chain.c_factors is not None:
            for band in chain.c_factors.scalars:
                count = surface[band].shape[0]
                surface[band] *= chain.c_factors.rows(band, part_top + top, count)
        for name, recipe in chain.recipes.items():
            spec = PRODUCTS[name]
            values = recipe.compute(surface)
            block = encode(values, clear, spec, out=encoded[name][rows])
            stats[name].add_encoded(block, spec)


def _parts(rows: int, parts: int, step: int) -> list[slice]:
    """Row ranges splitting a strip between `parts` threads, each a whole number of chunks."""
    size = -(-rows // parts)
    size = -(-size // step) * step
    return [slice(top, min(rows, top + size)) for top in range(0, rows, size)]


def _stream(
    chain: _Chain,
    datasets: dict[str, Any],
    reflective: list[str],
    writers: dict[str, COGWriter],
) -> dict[str, RunningStatistics]:
    """Read, compute and hand every strip to the writers; return the products' statistics.

    Three stages overlap: the next strip decodes (read-ahead thread), this strip is computed
    in `threads` parts side by side, and the previous one goes through the writers (one
    thread per product, each taking its strips in order). Strip i is encoded into buffer
    set i % 2 while strip i - 1 is being written.
    """
    reference = datasets[reflective[0]]
    width, height = reference.width, reference.height
    parts = max(1, chain.options.cog.threads)
    part_stats = [
        {name: RunningStatistics(moments=PRODUCTS[name].kind is Kind.INDEX) for name in writers}
        for _ in range(parts)
    ]
    strip_rows = next(_strips(height, reference.block_shapes[0][0]))[1]
    buffers = [
        {name: np.empty((strip_rows, width), PRODUCTS[name].dtype) for name in writers}
        for _ in range(2)
    ]
    with (
        ThreadPoolExecutor(max_workers=parts, thread_name_prefix="compute") as compute,
        ThreadPoolExecutor(max_workers=len(writers), thread_name_prefix="write") as write,
    ):
        written: list[Future[None]] = []
        strips = _read_ahead(datasets, reflective, chain.factors, chain.halo)
        for index, (top, raw, scl) in enumerate(strips):
            rows = raw[reflective[0]].shape[0]
            encoded = {name: buffer[:rows] for name, buffer in buffers[index % 2].items()}
            encoded.setdefault(MASK.name, np.empty((rows, width), MASK.dtype))
            computed = []
            for number, part in enumerate(_parts(rows, parts, chain.step)):
                part_raw = {
                    band: values[
                        part.start // chain.factors[band] : part.stop // chain.factors[band]
                    ]
                    for band, values in raw.items()
                }
                part_encoded = {name: values[part] for name, values in encoded.items()}
                computed.append(
                    compute.submit(
                        _process_part,
                        chain,
                        part_raw,
                        scl,
                        top + part.start,
                        part_encoded,
                        part_stats[number],
                    )
                )
            for future in (*computed, *written):
                future.result()
            written = [write.submit(writers[name].write, encoded[name]) for name in writers]
            log.debug("scene %s: rows %d-%d computed", chain.record.id, top, top + rows)
        for future in written:
            future.result()
    stats = part_stats[0]
    for other in part_stats[1:]:
        for name, statistics in other.items():
            stats[name].merge(statistics)
    return stats


def product_results(
    outputs: dict[str, Path], stats: dict[str, RunningStatistics], grid: Any
) -> dict[str, ProductResult]:
    """The result of every product written to `outputs` on the grid of the (open) dataset
    `grid`, with its statistics."""
    transform = tuple(grid.transform)[:6]
    epsg = grid.crs.to_epsg() if grid.crs else None
    shape = (grid.height, grid.width)
    return {
        name: ProductResult(name, path, stats[name].as_stac(), shape, transform, epsg)
        for name, path in outputs.items()
    }


def _network_labels(datasets: dict[str, Any], record: SceneRecord, threads: int) -> np.ndarray:
    """The csmask network's labels of the scene on the SCL grid: bands read in its strips,
    finer bands averaged to the SCL's pixels, as surface reflectance."""
    scl = datasets["SCL"]
    missing = sorted(set(ml_mask.NETWORK_BANDS.values()) - set(datasets))
    if missing:
        raise ProcessingError(f"scene {record.id}: the ml mask needs band(s) {', '.join(missing)}")

    def read_rows(first: int, last: int) -> np.ndarray:
        rows = last - first
        stack = np.empty((rows, scl.width, len(ml_mask.NETWORK_BANDS)), np.float32)
        for index, band in enumerate(ml_mask.NETWORK_BANDS.values()):
            dataset = datasets[band]
            factor = dataset.width // scl.width
            # Full resolution, averaged here: a resampled read could take a COG's overview.
            window = Window(0, first * factor, dataset.width, rows * factor)
            dn = dataset.read(1, window=window).astype(np.float32)
            if factor > 1:
                dn = dn.reshape(rows, factor, scl.width, factor).mean(axis=(1, 3))
            stack[..., index] = reflectance(dn, record.boa_add_offset)
        return stack

    return csmask.classify_scene(read_rows, scl.height, scl.width, threads)


def _write_all(writers: dict[str, COGWriter], threads: int) -> None:
    """Close every product writer (compress, lay out, validate), in parallel threads."""
    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="cog") as pool:
        for future in [pool.submit(writer.close) for writer in writers.values()]:
            future.result()


def process_scene(
    record: SceneRecord,
    band_paths: dict[str, Path],
    outputs: dict[str, Path],
    options: ProcessingOptions,
    scratch: Path,
    angle_grids: AngleGrids | None = None,
) -> dict[str, ProductResult]:
    """Make every requested product of one scene; return where they are and their stats
    (`angle_grids`: the scene's MTD_TL.xml angle grids, for a per-pixel NBAR)."""
    scratch.mkdir(parents=True, exist_ok=True)
    reflective = sorted(band for band in band_paths if band != "SCL")
    specs = {name: PRODUCTS[name] for name in options.products}
    computed = recipes(record, options, set(reflective))
    nbar = normalisation(record, options, reflective, angle_grids)
    # Decoding threads as an open option of the inputs only: set globally
    # (GDAL_NUM_THREADS), they would also split every other GDAL read into thread jobs.
    threads = str(options.cog.threads)
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES), ExitStack() as stack:
        try:
            datasets = {
                band: stack.enter_context(rasterio.open(path, NUM_THREADS=threads))
                for band, path in band_paths.items()
            }
        except rasterio.errors.RasterioIOError as exc:
            raise ProcessingError(f"scene {record.id}: cannot read a band ({exc})") from exc
        # The finest band is the products' grid; it comes first, and the strips follow it.
        reflective.sort(key=lambda band: -datasets[band].width)
        reference = datasets[reflective[0]]
        factors = _check_grids(datasets, reflective[0])
        width, height = reference.width, reference.height
        grid = {
            "width": width, "height": height, "crs": reference.crs,
            "transform": reference.transform,
        }  # fmt: skip
        writers: dict[str, COGWriter] = {}
        for name, spec in specs.items():
            writers[name] = COGWriter(outputs[name], spec, grid, options.cog, scratch)
            stack.callback(writers[name].discard)
        lookup = masking.mask_lookup(options.masked_classes)
        radii = options.buffers.radii(abs(datasets["SCL"].transform.a))
        network = (
            None
            if options.mask_method == "scl"
            else _network_labels(datasets, record, options.cog.threads)
        )
        c_factors = nbar.on_grid(abs(reference.transform.a), width) if nbar else None
        chain = _Chain(
            record, options, factors, lookup, radii, computed, network=network,
            c_factors=c_factors,
        )  # fmt: skip
        stats = _stream(chain, datasets, reflective, writers)
        _write_all(writers, options.cog.threads)
        results = product_results({name: outputs[name] for name in specs}, stats, reference)
    log.info("scene %s: %s", record.id, ", ".join(sorted(results)))
    return results
