"""A month's composite on full tiles: raw2ready vs the Earthmover post's method.

    python benchmarks/composite.py                  # 6 scenes of 10980 x 10980, a table
    python benchmarks/composite.py --size 2048      # smaller tiles (2 cores: minutes)
    python benchmarks/composite.py --json           # one JSON object

Inputs: `--scenes` synthetic L2A tiles (synthetic_tile.py, one seed each: different parcels
and clouds) made into NDVI and LAI product COGs by raw2ready's tile chain (not timed, cached
beside the tiles), with each scene's SCL. Both approaches read the same files and write the
month's median NDVI, median LAI and clear-observation count.

- baseline (the method of Earthmover's "cloud-free monthly medians" post): `odc.stac.load`
  of the scenes' STAC items (ndvi, lai, scl) with dask chunks, cloud pixels masked from SCL,
  `median("time")` and the clear count with xarray, computed by dask's threads, written as
  tiled float32 GeoTIFFs.
- raw2ready: `raw2ready.raster.composite.make_composite` (median), COGs in the products'
  encodings.

Each runs in its own subprocess (peak RSS from wait4), alternating order over `--repeats`
rounds; the ratios compare medians of the same session.
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
import warnings
from pathlib import Path
from typing import Any

from measured_child import run_measured, warm_page_cache

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
DEFAULT_CACHE = PROJECT / ".benchmarks-cache" / "composite"
FULL_SIZE = 10980
PRODUCTS = ("ndvi", "lai")
#: SCL classes masked by both approaches (raw2ready's default mask.scl_classes).
MASKED_SCL = (0, 1, 3, 8, 9, 10)
#: odc-stac's dask chunks, as in the post (2048 px squares).
DASK_CHUNK = 2048


def scene_inputs(cache: Path, size: int, scenes: int) -> list[dict[str, Path]]:
    """Per scene: its ndvi and lai product COGs and its SCL (made once, then reused)."""
    sys.path.insert(0, str(HERE))
    from synthetic_tile import generate_tile

    from raw2ready.raster.cog import COGOptions
    from raw2ready.raster.tile_chain import ProcessingOptions, process_scene
    from raw2ready.scene import SceneRecord

    result = []
    for seed in range(scenes):
        folder = cache / f"{size}-seed{seed}"
        bands = generate_tile(folder, size, seed)
        outputs = {name: folder / f"{name}.tif" for name in PRODUCTS}
        if not all(path.exists() for path in outputs.values()):
            record = SceneRecord(
                id=f"S2B_47PPR_202406{seed + 1:02d}_0_L2A", tile="47PPR",
                datetime=f"2024-06-{seed + 1:02d}T03:51:21Z", platform="sentinel-2b",
                processing_baseline="05.10", apply_boa_offset=True, cloud_cover=None,
                collection="sentinel-2-l2a", source_href="synthetic",
            )  # fmt: skip
            options = ProcessingOptions(products=PRODUCTS, cog=COGOptions())
            process_scene(record, bands, outputs, options, folder / "scratch")
        result.append({**outputs, "scl": bands["SCL"]})
    return result


def stac_items(scenes: list[dict[str, Path]]) -> list[Any]:
    """STAC items of the scenes with projection fields, as odc-stac reads them."""
    import pystac
    import rasterio
    from pystac.extensions.projection import ProjectionExtension

    items = []
    for index, files in enumerate(scenes):
        with rasterio.open(files["ndvi"]) as dataset:
            bounds = list(dataset.bounds)
            epsg = dataset.crs.to_epsg()
        item = pystac.Item(
            f"scene-{index}", None, None, properties={},
            datetime=pystac.utils.str_to_datetime(f"2024-06-{index + 1:02d}T03:51:21Z"),
        )  # fmt: skip
        ProjectionExtension.ext(item, add_if_missing=True).epsg = epsg
        for name, path in files.items():
            asset = pystac.Asset(str(path), media_type=pystac.MediaType.COG)
            item.add_asset(name, asset)
            with rasterio.open(path) as dataset:
                projection = ProjectionExtension.ext(asset)
                projection.shape = [dataset.height, dataset.width]
                projection.transform = list(dataset.transform)[:6]
                projection.epsg = epsg
        item.bbox = bounds  # in the tile's CRS: odc-stac reads the assets' own grids
        items.append(item)
    return items


def run_baseline(scenes: list[dict[str, Path]], out: Path) -> dict[str, Path]:
    """odc-stac + dask + xarray, the post's way."""
    import numpy as np
    import odc.stac
    import rasterio

    warnings.simplefilter("ignore", RuntimeWarning)  # All-NaN medians where never clear
    items = stac_items(scenes)
    with rasterio.open(scenes[0]["ndvi"]) as dataset:
        crs, resolution, profile = dataset.crs, dataset.res[0], dataset.profile
    data = odc.stac.load(
        items, bands=["ndvi", "lai", "scl"], crs=str(crs), resolution=resolution,
        chunks={"x": DASK_CHUNK, "y": DASK_CHUNK}, resampling={"scl": "nearest"},
    )  # fmt: skip
    clear = ~data["scl"].isin(MASKED_SCL)
    outputs = {}
    results = {}
    for name in PRODUCTS:
        values = data[name]
        valid = clear & (values != values.attrs.get("nodata", -32768))
        scale = 0.0001 if name == "ndvi" else 0.001
        results[name] = (values.where(valid) * scale).median("time")
    results["clear_count"] = clear.sum("time").astype("float32")
    profile.update(dtype="float32", nodata=np.nan, compress="deflate", tiled=True)
    for name, array in results.items():
        outputs[name] = out / f"{name}.tif"
        with rasterio.open(outputs[name], "w", **profile) as dst:
            dst.write(array.values.astype("float32"), 1)
    return outputs


def run_raw2ready(scenes: list[dict[str, Path]], out: Path) -> dict[str, Path]:
    """raw2ready's composite of the product COGs (already masked by the tile chain)."""
    from raw2ready.raster.cog import COGOptions
    from raw2ready.raster.composite import make_composite

    outputs = {name: out / f"{name}.tif" for name in [*PRODUCTS, "clear_count"]}
    inputs = [{name: files[name] for name in PRODUCTS} for files in scenes]
    make_composite(inputs, "median", outputs, COGOptions(), out / "scratch")
    return outputs


RUNNERS = {"baseline": run_baseline, "raw2ready": run_raw2ready}


def child(approach: str, scenes_json: str, out: Path) -> None:
    """Run one approach; print its wall and CPU time (after the imports) as JSON."""
    import numpy  # noqa: F401  (the libraries load before the clock starts)
    import rasterio  # noqa: F401

    if approach == "baseline":
        import odc.stac  # noqa: F401
    scenes = [{k: Path(v) for k, v in files.items()} for files in json.loads(scenes_json)]
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    before, start = os.times(), time.perf_counter()
    outputs = RUNNERS[approach](scenes, out)
    wall, after = time.perf_counter() - start, os.times()
    cpu = (after.user - before.user) + (after.system - before.system)
    print(json.dumps({"wall": wall, "cpu": cpu, "outputs": [str(p) for p in outputs.values()]}))


def measure(approach: str, scenes: list[dict[str, Path]], out: Path) -> dict[str, Any]:
    """One approach in its own process: timings and its peak RSS (MB)."""
    scenes_json = json.dumps([{k: str(v) for k, v in files.items()} for files in scenes])
    command = [sys.executable, __file__, "--child", approach, "--scenes-json", scenes_json,
               "--out", str(out)]  # fmt: skip
    return run_measured(command, approach)


def session(args: argparse.Namespace) -> dict[str, Any]:
    """Prepare the inputs, alternate the approaches over the rounds, take medians."""
    scenes = scene_inputs(args.cache, args.size, args.scenes)
    warm_page_cache(path for files in scenes for path in files.values())
    work = Path(tempfile.mkdtemp(prefix="composite_"))
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in RUNNERS}
    try:
        for round_index in range(args.repeats):
            order = list(RUNNERS) if round_index % 2 == 0 else list(RUNNERS)[::-1]
            for name in order:
                result = measure(name, scenes, work / name)
                runs[name].append(result)
                print(
                    f"round {round_index + 1} {name:>10}: {result['wall']:7.2f} s wall, "
                    f"{result['cpu']:7.2f} s CPU, {result['peak_rss_mb']:7.0f} MB",
                    file=sys.stderr,
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary: dict[str, Any] = {"size": args.size, "scenes": args.scenes, "repeats": args.repeats}
    for name, results in runs.items():
        summary[f"{name}_s"] = round(statistics.median(r["wall"] for r in results), 2)
        summary[f"{name}_cpu_s"] = round(statistics.median(r["cpu"] for r in results), 2)
        summary[f"{name}_peak_mb"] = round(max(r["peak_rss_mb"] for r in results), 1)
    summary["speedup"] = round(summary["baseline_s"] / summary["raw2ready_s"], 2)
    summary["memory_ratio"] = round(summary["raw2ready_peak_mb"] / summary["baseline_peak_mb"], 3)
    return summary


def main() -> None:
    """Command line: a session (default) or one approach in a child process."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=FULL_SIZE, help="Tile size in pixels.")
    parser.add_argument("--scenes", type=int, default=6, help="Scenes in the month.")
    parser.add_argument("--repeats", type=int, default=1, help="Rounds (order alternates).")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    parser.add_argument("--child", choices=list(RUNNERS), help=argparse.SUPPRESS)
    parser.add_argument("--scenes-json", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.scenes_json, args.out)
        return
    summary = session(args)
    if args.json:
        print(json.dumps(summary))
        return
    print(f"{args.scenes} scenes of {args.size} x {args.size}, median of {args.repeats} round(s)")
    for name in RUNNERS:
        print(
            f"{name:<10} {summary[f'{name}_s']:8.2f} s wall {summary[f'{name}_cpu_s']:8.2f} s CPU "
            f"{summary[f'{name}_peak_mb']:8.0f} MB peak"
        )
    print(
        f"raw2ready is {summary['speedup']:.1f}x faster and uses "
        f"{summary['memory_ratio']:.2f}x the peak memory of the baseline"
    )


if __name__ == "__main__":
    main()
