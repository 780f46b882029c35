"""Per-scene chain on a full 10980 x 10980 tile: raw2ready vs a typical script vs the I/O floor.

    python benchmarks/tile_chain.py            # full tile, 3 alternating rounds, a table
    python benchmarks/tile_chain.py --json     # one JSON object (the figures of issue 6)
    python benchmarks/tile_chain.py --quick    # small tile, one round (the CI smoke run)
    python benchmarks/tile_chain.py --approaches raw2ready --variant nobuffers:buffers=off
                                               # mask buffers on (default) against off
    python benchmarks/tile_chain.py --approaches raw2ready --variant ml:mask.method=both
                                               # the ukis-csmask network's cost (ml-mask extra)
    python benchmarks/tile_chain.py --approaches raw2ready floor \
        --variant bio:processors.lai=biophysical --variant nbar:nbar=on \
        --variant nbargrids:nbar=grids         # ESA's networks (a 20 m pass), NBAR

Every approach runs in its own subprocess, so its peak RSS (ru_maxrss from wait4) is its own;
wall and CPU time are measured inside the child around the work, after the imports. Rounds
alternate the order of the approaches so that load from other jobs on the machine spreads
over all of them, and the ratios compare medians measured in the same session. The inputs
(see synthetic_tile.py) are generated once into a cache folder outside git and read once
before timing, so every approach starts with them in the page cache.

Approaches:
- baseline: the typical script: full-array rasterio reads, float64 numpy, float32 GTiff
  (the input's profile) then rio-cogeo `cog_translate` with its deflate profile.
- raw2ready: `raw2ready.raster.tile_chain.process_scene`, the package's own per-scene entry point.
- floor: read and decompress the inputs in strips, write uncompressed outputs of the
  products' sizes (int16, int16, uint8); no arithmetic, no compression, no overviews.

The variant `mask.method=ml|both` runs DLR's ukis-csmask network, which reads six bands; the
synthetic tile has B04, B08 and SCL only, so B02 and B03 are read from the B04 file and B11
and B12 are 20 m averages of B08 and B04 written once next to the tile. Their values do not
matter to the cost measured: the network does the same work whatever the reflectance.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from measured_child import run_measured, warm_page_cache

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
DEFAULT_CACHE = PROJECT / ".benchmarks-cache" / "tile_chain"
FULL_SIZE = 10980
QUICK_SIZE = 1500
APPROACHES = ("baseline", "raw2ready", "floor")
PRODUCTS = ("ndvi", "lai", "mask")
MASKED_SCL = (0, 1, 3, 8, 9, 10)
DN_OFFSET = -1000
QUANTIFICATION = 10000.0


# ----------------------------------------------------------------------------------------
# The approaches (run in a child process)
# ----------------------------------------------------------------------------------------


def run_baseline(inputs: dict[str, Path], out: Path, _cog: dict[str, Any]) -> dict[str, Path]:
    """The typical script: whole arrays, float64, float32 GTiff, then rio-cogeo."""
    import numpy as np
    import rasterio
    from rasterio.enums import Resampling
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    with rasterio.open(inputs["B04"]) as src:
        red = src.read(1).astype("float64")
        profile = src.profile
    with rasterio.open(inputs["B08"]) as src:
        nir = src.read(1).astype("float64")
    with rasterio.open(inputs["SCL"]) as src:
        scl = src.read(1, out_shape=red.shape, resampling=Resampling.nearest)
    nodata = (red == 0) | (nir == 0) | (scl == 0)
    red = (red + DN_OFFSET) / QUANTIFICATION
    nir = (nir + DN_OFFSET) / QUANTIFICATION
    masked = np.isin(scl, MASKED_SCL) | nodata
    with np.errstate(divide="ignore", invalid="ignore"):
        ndvi = (nir - red) / (nir + red)
        savi = 1.5 * (nir - red) / (nir + red + 0.5)
        lai = np.clip(-np.log((0.69 - np.minimum(savi, 0.6899)) / 0.59) / 0.91, 0, 6)
    ndvi[masked] = np.nan
    lai[masked] = np.nan
    mask = np.zeros(red.shape, dtype="uint8")
    mask[np.isin(scl, (8, 9))] = 1
    mask[scl == 10] = 2
    mask[scl == 3] = 3
    mask[scl == 1] = 4
    mask[nodata] = 255
    outputs = {}
    for name, array, nodata_value in (
        ("ndvi", ndvi, np.nan),
        ("lai", lai, np.nan),
        ("mask", mask, 255),
    ):
        profile.update(dtype=array.dtype.name if name == "mask" else "float32", nodata=nodata_value)
        scratch = out / f"{name}_tmp.tif"
        with rasterio.open(scratch, "w", **profile) as dst:
            dst.write(array.astype(profile["dtype"]), 1)
        outputs[name] = out / f"{name}.tif"
        cog_translate(scratch, outputs[name], cog_profiles.get("deflate"), quiet=True)
        scratch.unlink()
    return outputs


def run_raw2ready(inputs: dict[str, Path], out: Path, cog: dict[str, Any]) -> dict[str, Path]:
    """raw2ready's per-scene entry point with the default options (or --cog overrides;
    `buffers=off` draws no mask buffers, `mask.method=ml|both` runs the network, `nbar=on`
    normalises the reflectance with the scene's mean angles, `nbar=grids` with synthetic
    angle grids, and
    `processors.lai=biophysical` makes LAI, FAPAR and FCOVER with ESA's networks, as a
    campaign's scene job does: NDVI and mask in the tile chain, then the 20 m pass)."""
    from raw2ready.products.biophysical import load_networks
    from raw2ready.products.masking import BufferDistances
    from raw2ready.raster.biophysical_chain import biophysical_products
    from raw2ready.raster.cog import COGOptions
    from raw2ready.raster.tile_chain import ProcessingOptions, process_scene
    from raw2ready.scene import SceneRecord
    from raw2ready.sentinel2.angles import SunView
    from raw2ready.sentinel2.nbar import NbarOptions

    record = SceneRecord(
        id="S2B_47PPR_20240115_0_L2A", tile="47PPR", datetime="2024-01-15T03:51:21Z",
        platform="sentinel-2b", processing_baseline="05.10", apply_boa_offset=True,
        cloud_cover=None, collection="sentinel-2-l2a", source_href="synthetic",
        angles=SunView(sun_zenith=38.2, sun_azimuth=144.6, view_zenith=7.9, view_azimuth=106.3),
    )  # fmt: skip
    cog = dict(cog)
    buffers = BufferDistances() if cog.pop("buffers", "on") == "on" else BufferDistances(0, 0, 0)
    method = cog.pop("mask.method", "scl")
    nbar_mode = cog.pop("nbar", "off")
    nbar = NbarOptions(enabled=nbar_mode != "off")
    biophysical = cog.pop("processors.lai", "empirical") == "biophysical"
    chain_products = ("ndvi", "mask") if biophysical else PRODUCTS
    options = ProcessingOptions(
        products=chain_products,
        buffers=buffers,
        mask_method=method,
        cog=COGOptions(**cog),
        nbar=nbar,
    )
    outputs = {name: out / f"{name}.tif" for name in chain_products}
    chain_inputs = {band: inputs[band] for band in ("B04", "B08", "SCL")}
    if method != "scl":
        chain_inputs |= network_bands(inputs)
    grids = synthetic_angle_grids() if nbar_mode == "grids" else None
    process_scene(record, chain_inputs, outputs, options, out / "scratch", grids)
    if biophysical:
        networks, _source = load_networks(None)
        made = {name: out / f"{name}.tif" for name in ("lai", "fapar", "fcover")}
        biophysical_products(
            record, inputs, made, networks, options.masked_classes, buffers, options.cog,
            out / "scratch" / "biophysical",
        )  # fmt: skip
        outputs |= made
    return outputs


def network_bands(inputs: dict[str, Path]) -> dict[str, Path]:
    """Stand-ins for the network's other bands (see the module docstring): B02 and B03 are
    the B04 file, B11 and B12 the 20 m averages of B08 and B04, written once."""
    import rasterio
    from affine import Affine
    from rasterio.enums import Resampling

    found = {"B02": inputs["B04"], "B03": inputs["B04"]}
    for band, source in (("B11", "B08"), ("B12", "B04")):
        found[band] = inputs[source].with_name(f"{band}.tif")
        if found[band].exists():
            continue
        with rasterio.open(inputs[source]) as src:
            shape = (src.height // 2, src.width // 2)
            data = src.read(1, out_shape=shape, resampling=Resampling.average)
            transform = src.transform * Affine.scale(2)
            profile = src.profile | {"width": shape[1], "height": shape[0], "transform": transform}
        scratch = found[band].with_suffix(".partial.tif")
        with rasterio.open(scratch, "w", **profile) as dst:
            dst.write(data, 1)
        scratch.rename(found[band])
    return found


def synthetic_angle_grids() -> Any:
    """MTD_TL.xml-like angle grids (23 x 23, 5 km) of an east-looking orbit: view zenith
    4 to 11 degrees across the tile, the sun a little higher to the north."""
    import numpy as np

    from raw2ready.sentinel2.angles import AngleGrids

    rows, cols = np.mgrid[0:23, 0:23].astype(float)
    sun = (38.0 + 0.05 * rows, 144.0 + 0.1 * cols)
    views = {band: (4.0 + 7.0 * cols / 22, 106.0 + 0.2 * rows) for band in ("B04", "B08")}
    return AngleGrids(5000.0, sun, views)


def run_floor(inputs: dict[str, Path], out: Path, _cog: dict[str, Any]) -> dict[str, Path]:
    """Read and decompress the inputs in block-aligned strips; write uncompressed outputs."""
    import numpy as np
    import rasterio
    from rasterio.windows import Window

    outputs = {name: out / f"{name}.raw.tif" for name in PRODUCTS}
    # The reading set-up of raw2ready: 2 decoding threads per input, a 64 MB block cache.
    with rasterio.Env(GDAL_CACHEMAX=64 * 2**20):
        red_src = rasterio.open(inputs["B04"], NUM_THREADS="2")
        nir_src = rasterio.open(inputs["B08"], NUM_THREADS="2")
        scl_src = rasterio.open(inputs["SCL"], NUM_THREADS="2")
        width, height = red_src.width, red_src.height
        profile = {
            "driver": "GTiff", "width": width, "height": height, "count": 1,
            "crs": red_src.crs, "transform": red_src.transform,
        }  # fmt: skip
        writers = {
            name: rasterio.open(outputs[name], "w", dtype=dtype, **profile)
            for name, dtype in (("ndvi", "int16"), ("lai", "int16"), ("mask", "uint8"))
        }
        rows = red_src.block_shapes[0][0]
        for top in range(0, height, rows):
            window = Window(0, top, width, min(rows, height - top))
            red = red_src.read(1, window=window)
            nir = nir_src.read(1, window=window)
            scl_window = Window(0, top // 2, width // 2, window.height // 2)
            scl = np.repeat(np.repeat(scl_src.read(1, window=scl_window), 2, 0), 2, 1)
            writers["ndvi"].write(red.view(np.int16), 1, window=window)
            writers["lai"].write(nir.view(np.int16), 1, window=window)
            writers["mask"].write(scl, 1, window=window)
        for dataset in (red_src, nir_src, scl_src, *writers.values()):
            dataset.close()
    return outputs


RUNNERS: dict[str, Callable[[dict[str, Path], Path, dict[str, Any]], dict[str, Path]]] = {
    "baseline": run_baseline,
    "raw2ready": run_raw2ready,
    "floor": run_floor,
}


def child(approach: str, inputs_json: str, out: Path, cog_json: str) -> None:
    """Run one approach and print its wall and CPU time (after imports) as JSON."""
    import rasterio  # noqa: F401  (imported before the clock starts, like any library)

    inputs = {band: Path(path) for band, path in json.loads(inputs_json).items()}
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    usage = os.times()
    start = time.perf_counter()
    outputs = RUNNERS[approach](inputs, out, json.loads(cog_json))
    wall = time.perf_counter() - start
    end = os.times()
    cpu = (end.user - usage.user) + (end.system - usage.system)
    print(
        json.dumps({"wall": wall, "cpu": cpu, "outputs": {k: str(v) for k, v in outputs.items()}})
    )


# ----------------------------------------------------------------------------------------
# The session (parent process)
# ----------------------------------------------------------------------------------------


def measure(approach: str, inputs: dict[str, Path], out: Path, cog: dict[str, Any]) -> dict:
    """Run one approach in a subprocess; its timings plus its own peak RSS in MB."""
    command = [
        sys.executable, str(Path(__file__).resolve()), "--child", approach,
        "--inputs-json", json.dumps({k: str(v) for k, v in inputs.items()}),
        "--out", str(out), "--cog-json", json.dumps(cog),
    ]  # fmt: skip
    return run_measured(command, approach)


def validate(outputs: dict[str, str]) -> bool:
    """True when every output passes rio-cogeo's COG validation (`rio cogeo validate`)."""
    from rio_cogeo.cogeo import cog_validate

    return all(cog_validate(path, quiet=True)[0] for path in outputs.values())


def contenders(args: argparse.Namespace) -> dict[str, tuple[str, dict[str, Any]]]:
    """Row name -> (approach, raw2ready COG options): the approaches, then the variants."""
    rows = {approach: (approach, args.cog) for approach in args.approaches}
    for label, options in args.variants:
        rows[f"raw2ready[{label}]"] = ("raw2ready", args.cog | options)
    return rows


def session(args: argparse.Namespace) -> dict[str, Any]:
    """Generate or reuse the tile, run the rounds, and summarize medians and ratios."""
    sys.path.insert(0, str(HERE))
    from synthetic_tile import generate_biophysical_bands, generate_tile

    folder = args.cache / f"{args.size}-seed{args.seed}"
    inputs = generate_tile(folder, args.size, args.seed)
    rows = contenders(args)
    if any(cog.get("processors.lai") == "biophysical" for _, cog in rows.values()):
        inputs |= generate_biophysical_bands(folder, inputs)
    warm_page_cache(inputs.values())
    work = Path(tempfile.mkdtemp(prefix="tile_chain_", dir=args.workdir))
    runs: dict[str, list[dict]] = {name: [] for name in rows}
    try:
        for round_index in range(args.repeats):
            order = list(rows) if round_index % 2 == 0 else list(rows)[::-1]
            for name in order:
                approach, cog = rows[name]
                result = measure(approach, inputs, work / "run", cog)
                result |= outputs_report(result["outputs"], cogs=approach != "floor")
                shutil.rmtree(work / "run", ignore_errors=True)
                runs[name].append(result)
                if not args.json:
                    print(
                        f"round {round_index + 1} {name:>24}: {result['wall']:6.2f} s wall, "
                        f"{result['cpu']:6.2f} s CPU, {result['peak_rss_mb']:6.0f} MB",
                        file=sys.stderr,
                    )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = {
        name: {
            "wall_s": statistics.median(r["wall"] for r in results),
            "cpu_s": statistics.median(r["cpu"] for r in results),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
            "output_mb": statistics.median(r["output_mb"] for r in results),
            "valid_cogs": None
            if rows[name][0] == "floor"
            else all(r["valid_cogs"] for r in results),
        }
        for name, results in runs.items()
    }
    return {"size": args.size, "repeats": args.repeats, "cog": args.cog, "approaches": summary}


def outputs_report(outputs: dict[str, str], cogs: bool) -> dict[str, Any]:
    """Output size of one run and, for COGs, whether all pass validation."""
    return {
        "output_mb": sum(os.path.getsize(p) for p in outputs.values()) / 2**20,
        "valid_cogs": validate(outputs) if cogs else None,
    }


def report(summary: dict[str, Any]) -> dict[str, Any]:
    """The JSON object of issue 6 (keys present only for the approaches that ran)."""
    approaches = summary["approaches"]
    result: dict[str, Any] = {"size": summary["size"], "repeats": summary["repeats"]}
    for name in ("raw2ready", "baseline", "floor"):
        if name in approaches:
            result[f"{name}_s"] = round(approaches[name]["wall_s"], 3)
    for name in ("raw2ready", "baseline"):
        if name in approaches:
            result[f"{name}_peak_rss_mb"] = round(approaches[name]["peak_rss_mb"], 1)
    if "raw2ready" in approaches:
        ours = approaches["raw2ready"]["wall_s"]
        if "baseline" in approaches:
            result["speedup_vs_baseline"] = round(approaches["baseline"]["wall_s"] / ours, 2)
        if "floor" in approaches:
            result["ratio_to_floor"] = round(ours / approaches["floor"]["wall_s"], 2)
        result["valid_cogs"] = bool(approaches["raw2ready"]["valid_cogs"])
    return result


def print_table(summary: dict[str, Any]) -> None:
    """A human-readable table of medians, then the ratios."""
    print(f"tile {summary['size']} x {summary['size']}, median of {summary['repeats']} rounds")
    if summary["cog"]:
        print(f"raw2ready COG options: {summary['cog']}")
    header = (
        f"{'approach':<24} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12} {'output MB':>10}"
        "  valid COGs"
    )
    print(header)
    print("-" * len(header))
    for name, row in summary["approaches"].items():
        valid = "-" if row["valid_cogs"] is None else ("yes" if row["valid_cogs"] else "NO")
        print(
            f"{name:<24} {row['wall_s']:8.2f} {row['cpu_s']:8.2f} {row['peak_rss_mb']:12.0f} "
            f"{row['output_mb']:10.1f}  {valid}"
        )
    ratios = report(summary)
    if "speedup_vs_baseline" in ratios:
        print(f"raw2ready is {ratios['speedup_vs_baseline']:.1f}x faster than the baseline")
    if "ratio_to_floor" in ratios:
        print(f"raw2ready takes {ratios['ratio_to_floor']:.2f}x the I/O floor")


def parse_cog(values: list[str]) -> dict[str, Any]:
    """`key=value` overrides of raw2ready's COGOptions (ints stay ints), or `buffers=off`,
    or `mask.method=ml|both`, `nbar=on|grids`, `processors.lai=biophysical`."""
    result: dict[str, Any] = {}
    for item in values:
        key, _, value = item.partition("=")
        result[key] = int(value) if value.isdigit() else value
    return result


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """`label:key=value,key=value` -> (label, COG options of an extra raw2ready row)."""
    label, _, options = text.partition(":")
    return label, parse_cog(options.split(","))


def main() -> None:
    """Parse arguments; run one approach (child mode) or a whole session."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SIZE} px tile, one round")
    parser.add_argument("--size", type=int, help=f"tile side in pixels (default {FULL_SIZE})")
    parser.add_argument("--repeats", type=int, help="alternating rounds (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="input tile cache")
    parser.add_argument("--workdir", type=Path, help="where outputs go (default: system tmp)")
    parser.add_argument("--approaches", nargs="+", choices=APPROACHES, default=list(APPROACHES))
    parser.add_argument(
        "--cog",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a raw2ready COG option, e.g. --cog compression=DEFLATE",
    )
    parser.add_argument(
        "--variant",
        dest="variants",
        action="append",
        default=[],
        type=parse_variant,
        metavar="LABEL:KEY=VALUE,...",
        help="an extra raw2ready row in the same rounds, e.g. --variant deflate6:compression="
        "DEFLATE,level=6",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--child", choices=APPROACHES, help=argparse.SUPPRESS)
    parser.add_argument("--inputs-json", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cog-json", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.inputs_json, args.out, args.cog_json)
        return
    args.size = args.size or (QUICK_SIZE if args.quick else FULL_SIZE)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.cog = parse_cog(args.cog)
    summary = session(args)
    if args.json:
        print(json.dumps(report(summary)))
    else:
        print_table(summary)


if __name__ == "__main__":
    main()
