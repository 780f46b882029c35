"""A field's 4-year NDVI series: `raw2ready timeseries` vs per-date rio-tiler statistics.

    python benchmarks/timeseries.py                 # 292 dates of 10980 x 10980 COGs, a table
    python benchmarks/timeseries.py --size 2048     # smaller COGs, a quick run
    python benchmarks/timeseries.py --repeats 3 --json

Inputs (made once, cached under .benchmarks-cache/timeseries/): one MGRS tile with `--dates`
dates from 2022-01-01, one every 5 days (Sentinel-2's revisit: 292 dates to 2025-12-31).
Each date has an NDVI COG in raw2ready's product encoding (COGWriter: int16, scale 0.0001,
nodata -32768, 512 px tiles, overviews; `--compression` as the `cog` config section), a
STAC item made by raw2ready's `create_item`, and the campaign's index (`stac/items.parquet`,
`write_index`). Writing 292 full tiles would take hours here, so there are 12 synthetic
rasters (one per calendar month: the season's NDVI level, different parcels' noise and
cloud holes of nodata) and each date's COG is a hard link to its month's raster. Both
approaches open the same 292 paths and read the same bytes; files are in the page cache
(warm: read once before the rounds), which favours neither side.

The field is a 1000 m x 1000 m square (1 km2) on the tile's pixel grid, given in the tile's
UTM CRS: rio-tiler's `feature()` masks with all_touched=True and TiTiler weighs edge pixels
by their coverage, raw2ready takes the pixels whose centres fall inside; on a square on
pixel edges all three select the same 100 x 100 pixels, so both compute the same numbers.
The script asserts, per date, equal clear-pixel counts and means within one int16 step.

- baseline (what the STAC + TiTiler notebook does, one TiTiler `/statistics` call per date,
  in-process, no HTTP): the items found by reading the STAC item JSONs and keeping those
  whose bbox meets the field, then per item `rio_tiler.io.Reader(href).feature(field,
  align_bounds_with_dataset=True, unscale=True)`, `get_coverage_array` and
  `statistics(coverage=...)`, as titiler.core's statistics endpoint calls them.
- raw2ready: `raw2ready.timeseries.series.field_series` (the index search, then one window
  read per date), what `raw2ready timeseries --from cogs` runs.
- cube: the same `field_series` reading the field's pixels from the tile's datacube
  (`raw2ready timeseries --from cube`): one zarr read per 12 dates. The cube is written by
  raw2ready's `update_cube` (one Icechunk commit per month, as the `cube` rule does) from
  the same rasters cropped to a 2048 x 2048 window on the cube's 256-px chunk grid around
  the field: a full-tile cube of 292 dates would take ~40 GB here; the field's reads touch
  the same chunks (one 256 x 256 chunk per 12 dates) as in a full-tile cube.
- floor: only what every approach must do, open each date's COG and read the field's window
  (one 512 px tile decoded per date): no approach reading one COG per date can beat
  baseline / floor; the cube reads no COG.

Each runs in its own subprocess (peak RSS from wait4; the clock starts after the imports),
alternating order over `--repeats` rounds; the ratio compares medians of the same session.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from measured_child import run_measured, warm_page_cache

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
DEFAULT_CACHE = PROJECT / ".benchmarks-cache" / "timeseries"
FULL_SIZE = 10980
TILE = "31UFS"
PRODUCT = "ndvi"
CAMPAIGN = "timeseries-benchmark"
FIRST_DATE = date(2022, 1, 1)
REVISIT_DAYS = 5
#: 2022-01-01 to 2025-12-31 every 5 days.
DEFAULT_DATES = 292
PIXEL = 10.0
FIELD_PIXELS = 100  # 1000 m at 10 m
#: Parcels of the synthetic rasters (pixels on a side) and the season's NDVI per month.
PARCEL = 64
SEASON = (0.25, 0.28, 0.35, 0.5, 0.68, 0.8, 0.82, 0.75, 0.6, 0.45, 0.33, 0.27)
STRIP_ROWS = 512
#: Side of the cube's crop of the tile (pixels), a multiple of the cube's chunks.
CUBE_CROP = 2048


def month_raster(path: Path, size: int, month: int, compression: str) -> dict[str, float]:
    """A synthetic NDVI COG for a calendar month: parcels around the season's level, noise,
    and a band of cloud (nodata) whose position moves with the month; its STAC statistics."""
    import numpy as np
    from rasterio.crs import CRS
    from rasterio.transform import from_origin

    from raw2ready.config import COGOptions
    from raw2ready.grid import parse_tile
    from raw2ready.products.registry import PRODUCTS
    from raw2ready.raster.cog import COGWriter
    from raw2ready.raster.tile_chain import RunningStatistics

    spec = PRODUCTS[PRODUCT]
    tile = parse_tile(TILE)
    west, _south, _east, north = tile.bounds
    grid = {
        "width": size, "height": size, "crs": CRS.from_epsg(tile.epsg),
        "transform": from_origin(west, north, PIXEL, PIXEL),
    }  # fmt: skip
    rng = np.random.default_rng(month)
    parcels = rng.normal(0.0, 0.08, (math.ceil(size / PARCEL), math.ceil(size / PARCEL)))
    cloud_top = (month * 397) % size
    cloud_rows = size // 6
    writer = COGWriter(path, spec, grid, COGOptions(compression=compression), path.parent)
    stats = RunningStatistics()
    try:
        for top in range(0, size, STRIP_ROWS):
            rows = np.arange(top, min(top + STRIP_ROWS, size))
            offsets = parcels[rows // PARCEL][:, np.arange(size) // PARCEL]
            ndvi = SEASON[month - 1] + offsets + rng.normal(0.0, 0.02, offsets.shape)
            encoded = np.round((np.clip(ndvi, -1, 1) - spec.offset) / spec.scale).astype(spec.dtype)
            cloudy = (rows >= cloud_top) & (rows < cloud_top + cloud_rows)
            encoded[cloudy[:, None] & (np.arange(size) % 7 < 5)[None, :]] = spec.nodata
            writer.write(encoded)
            stats.add_encoded(encoded, spec)
        writer.close()
    except BaseException:
        writer.discard()
        raise
    return stats.as_stac()


def crop_window(size: int) -> tuple[int, int]:
    """First pixel (row = column) and side of the cube's crop: on the cube's chunk grid,
    around the field at the raster's centre."""
    from raw2ready.cube.datacube import CHUNKS

    side = min(size, CUBE_CROP)
    first = (size // 2 - side // 2) // CHUNKS[1] * CHUNKS[1]
    return min(first, size - side), side


def cropped_raster(source: Path, path: Path, size: int, compression: str) -> None:
    """A month raster's crop (`crop_window`) as a COG of the product's encoding."""
    import rasterio
    from rasterio.windows import Window

    from raw2ready.config import COGOptions
    from raw2ready.products.registry import PRODUCTS
    from raw2ready.raster.cog import COGWriter

    first, side = crop_window(size)
    with rasterio.open(source) as dataset:
        window = Window(first, first, side, side)
        grid = {
            "width": side, "height": side, "crs": dataset.crs,
            "transform": dataset.window_transform(window),
        }  # fmt: skip
        block = dataset.read(1, window=window)
    writer = COGWriter(
        path, PRODUCTS[PRODUCT], grid, COGOptions(compression=compression), path.parent
    )
    try:
        writer.write(block)
        writer.close()
    except BaseException:
        writer.discard()
        raise


def cube_layout(folder: Path) -> Any:
    """The layout of the campaign the cube is made from (beside the scenes' campaign)."""
    from raw2ready.layout import Layout

    return Layout(folder / "cube-campaign" / "output", folder / "cube-campaign" / "work")


def make_cube(folder: Path, records: list[Any], size: int, compression: str) -> None:
    """The tile's datacube, written by raw2ready's `update_cube` (one commit per month) from
    a campaign of the cropped month rasters (hard links per date, items, an inventory)."""
    import pystac

    from raw2ready.campaign.inventory import write_inventory
    from raw2ready.config import load_settings
    from raw2ready.cube.datacube import update_cube
    from raw2ready.layout import Layout

    layout = cube_layout(folder)
    crops = folder / "cube-months"
    crops.mkdir()
    for month in range(1, 13):
        cropped_raster(folder / "months" / f"{month:02d}.tif", crops / f"{month:02d}.tif", size,
                       compression)  # fmt: skip
    scenes = Layout(folder / "output", folder / "work")
    for record in records:
        product = layout.product(record, PRODUCT)
        product.parent.mkdir(parents=True, exist_ok=True)
        os.link(crops / f"{record.acquired.month:02d}.tif", product)
        item = pystac.Item.from_file(str(scenes.item(record)))  # the scene's item, as is
        layout.item(record).parent.mkdir(parents=True, exist_ok=True)
        layout.item(record).write_text(json.dumps(item.to_dict(transform_hrefs=False)))
    layout.inventory(TILE).parent.mkdir(parents=True, exist_ok=True)
    write_inventory(layout.inventory(TILE), records)
    settings = load_settings(
        PROJECT / "config" / "demo.yaml",
        {"tiles": [TILE], "products": [PRODUCT], "composites": {"enabled": False},
         "cube": {"enabled": True, "source": "scenes"}},
    )  # fmt: skip
    print(f"writing the cube: {len(records)} dates, one commit per month", file=sys.stderr)
    update_cube(settings, layout, TILE)


def field_geojson(size: int) -> dict[str, Any]:
    """The 1 km2 field: a square of 100 x 100 pixels at the raster's centre, on pixel edges,
    in the tile's UTM CRS (a GeoJSON 2008 `crs` member names it)."""
    from raw2ready.grid import parse_tile

    tile = parse_tile(TILE)
    west, _south, _east, north = tile.bounds
    first = size // 2 - FIELD_PIXELS // 2
    left, top = west + first * PIXEL, north - first * PIXEL
    right, bottom = left + FIELD_PIXELS * PIXEL, top - FIELD_PIXELS * PIXEL
    ring = [[left, bottom], [right, bottom], [right, top], [left, top], [left, bottom]]
    return {
        "type": "Feature",
        "crs": {"type": "name", "properties": {"name": f"EPSG:{tile.epsg}"}},
        "properties": {"name": "field"},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def make_inputs(folder: Path, size: int, dates: int, compression: str) -> dict[str, Any]:
    """The campaign (COGs, items, root collection, index), the field (made once) and the
    product's int16 step."""
    import pystac

    from raw2ready.grid import parse_tile
    from raw2ready.layout import Layout
    from raw2ready.products.registry import PRODUCTS
    from raw2ready.raster.tile_chain import ProductResult
    from raw2ready.scene import SceneRecord
    from raw2ready.stac.catalog import collection_id, create_item, write_item
    from raw2ready.stac.index import write_index

    layout = Layout(folder / "output", folder / "work")
    inputs = {
        "collection": str(layout.collection()),
        "index": str(layout.collection().parent / "items.parquet"),
        "field": str(folder / "field.geojson"),
        "collection_id": collection_id(CAMPAIGN),
        "months": str(folder / "months"),
        "products": str(layout.output_dir / "products"),
        "step": PRODUCTS[PRODUCT].scale,
        "cube": str(cube_layout(folder).cube(TILE)),
    }
    done = folder / "done.json"
    if done.exists():
        return inputs
    shutil.rmtree(folder, ignore_errors=True)
    rasters = folder / "months"
    rasters.mkdir(parents=True)
    month_stats = {}
    for month in range(1, 13):
        print(f"writing the synthetic raster of month {month}", file=sys.stderr)
        month_stats[month] = month_raster(rasters / f"{month:02d}.tif", size, month, compression)
    tile = parse_tile(TILE)
    west, _south, _east, north = tile.bounds
    transform = (PIXEL, 0.0, west, 0.0, -PIXEL, north)
    links, records = [], []
    for number in range(dates):
        day = FIRST_DATE + timedelta(days=REVISIT_DAYS * number)
        record = SceneRecord(
            id=f"S2B_{TILE}_{day:%Y%m%d}_0_L2A", tile=TILE,
            datetime=f"{day.isoformat()}T10:56:29Z", platform="sentinel-2b",
            processing_baseline="05.11", apply_boa_offset=False, cloud_cover=None,
            collection="sentinel-2-l2a", source_href="synthetic",
        )  # fmt: skip
        product = layout.product(record, PRODUCT)
        product.parent.mkdir(parents=True, exist_ok=True)
        os.link(rasters / f"{day.month:02d}.tif", product)
        result = ProductResult(
            PRODUCT, product, month_stats[day.month], (size, size), transform, tile.epsg
        )
        item = create_item(
            record, {PRODUCT: result}, layout, CAMPAIGN, "synthetic", {"raw2ready": "bench"}, ""
        )
        write_item(item, layout.item(record))
        records.append(record)
        links.append(os.path.relpath(layout.item(record), layout.collection().parent))
    collection = pystac.Collection(
        id=collection_id(CAMPAIGN),
        description="Synthetic NDVI series for benchmarks/timeseries.py",
        extent=pystac.Extent(
            pystac.SpatialExtent([[-180.0, -90.0, 180.0, 90.0]]),
            pystac.TemporalExtent([[None, None]]),
        ),
    )
    data = collection.to_dict(include_self_link=False, transform_hrefs=False)
    data["links"] = [
        {"rel": "item", "href": href, "type": "application/geo+json"} for href in links
    ]
    Path(inputs["collection"]).write_text(json.dumps(data))
    write_index(Path(inputs["collection"]))
    Path(inputs["field"]).write_text(json.dumps(field_geojson(size)))
    make_cube(folder, records, size, compression)
    done.write_text(json.dumps({"size": size, "dates": dates, "compression": compression}))
    return inputs


def run_baseline(inputs: dict[str, Any]) -> list[dict[str, Any]]:
    """Per date, what a TiTiler `/statistics` call with the field as a feature computes."""
    from rasterio.crs import CRS
    from rasterio.warp import transform_geom
    from rio_tiler.io import Reader
    from shapely.geometry import box, shape

    from raw2ready.stac.index import tree_items

    field = json.loads(Path(inputs["field"]).read_text())
    crs = CRS.from_user_input(field["crs"]["properties"]["name"])
    # the items' bboxes are lon/lat: the field's there, as a STAC search would compare them
    lonlat = shape(transform_geom(crs, "EPSG:4326", field["geometry"]))
    feature = {key: value for key, value in field.items() if key != "crs"}
    items = []
    for path in tree_items(Path(inputs["collection"])):
        item = json.loads(path.read_text())
        if PRODUCT in item["assets"] and box(*item["bbox"]).intersects(lonlat):
            href = (path.parent / item["assets"][PRODUCT]["href"]).resolve()
            items.append((item["properties"]["datetime"], str(href)))
    rows = []
    for moment, href in sorted(items):
        with Reader(href) as source:
            image = source.feature(
                feature, shape_crs=crs, dst_crs=crs, align_bounds_with_dataset=True, unscale=True
            )
        coverage = image.get_coverage_array(feature, shape_crs=crs)
        stats = image.statistics(percentiles=[10, 90], coverage=coverage)["b1"]
        clear = int(stats.valid_pixels)
        rows.append(
            {"date": moment[:10], "mean": stats.mean if clear else None, "clear_pixels": clear}
        )
    return rows


def run_floor(inputs: dict[str, Any]) -> list[dict[str, Any]]:
    """The least any approach does: open each date's COG and read the field's window (the
    COGs listed from their folder, no statistics)."""
    import rasterio
    from shapely.geometry import shape

    bounds = shape(json.loads(Path(inputs["field"]).read_text())["geometry"]).bounds
    for path in sorted(Path(inputs["products"]).rglob(f"*_{PRODUCT}.tif")):
        with rasterio.open(path) as dataset:
            dataset.read(1, window=dataset.window(*bounds))
    return []


def run_raw2ready(inputs: dict[str, Any], source: str = "cogs") -> list[dict[str, Any]]:
    """What `raw2ready timeseries field.geojson --product ndvi --from cogs` computes."""
    from raw2ready.timeseries.aoi import read_area
    from raw2ready.timeseries.series import field_series

    area = read_area(Path(inputs["field"]))
    series = field_series(
        Path(inputs["index"]), area, PRODUCT, inputs["collection_id"],
        source=source, cube_of=lambda _tile: Path(inputs["cube"]),
    )  # fmt: skip
    if series.source != source:
        raise SystemExit(f"raw2ready read the pixels from the {series.source}, not {source}")
    return [
        {
            "date": row.date.isoformat(),
            "mean": row.as_record()["mean"],
            "clear_pixels": row.clear_pixels,
        }
        for row in series.rows
    ]


def run_cube(inputs: dict[str, Any]) -> list[dict[str, Any]]:
    """What `raw2ready timeseries field.geojson --product ndvi --from cube` computes."""
    from raw2ready.timeseries.series import CUBE

    return run_raw2ready(inputs, CUBE)


RUNNERS = {
    "baseline": run_baseline, "raw2ready": run_raw2ready, "cube": run_cube, "floor": run_floor,
}  # fmt: skip
#: The child that makes the inputs (the parent loads no raster library: see measured_child).
PREPARE = "prepare"


def child(approach: str, inputs_json: str) -> None:
    """Run one approach; print its wall and CPU time (after the imports) and rows as JSON."""
    import numpy  # noqa: F401  (the libraries load before the clock starts)
    import rasterio  # noqa: F401

    if approach == "baseline":
        import rio_tiler.io  # noqa: F401
    elif approach in ("raw2ready", "cube"):
        import raw2ready.timeseries.series  # noqa: F401
    inputs = json.loads(inputs_json)
    if approach == PREPARE:
        print(json.dumps(make_inputs(Path(inputs["folder"]), **inputs["shape"])))
        return
    before, start = os.times(), time.perf_counter()
    rows = RUNNERS[approach](inputs)
    wall, after = time.perf_counter() - start, os.times()
    cpu = (after.user - before.user) + (after.system - before.system)
    print(json.dumps({"wall": wall, "cpu": cpu, "rows": rows}))


def measure(approach: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """One approach in its own process: timings, rows and its peak RSS (MB)."""
    command = [sys.executable, __file__, "--child", approach, "--inputs-json", json.dumps(inputs)]
    return run_measured(command, approach)


def check_agreement(baseline: list[dict[str, Any]], ours: list[dict[str, Any]], lsb: float) -> None:
    """Both computed the same dates, clear counts, and means within one int16 step."""
    if [row["date"] for row in baseline] != [row["date"] for row in ours]:
        raise SystemExit("the approaches found different dates")
    for theirs, mine in zip(baseline, ours, strict=True):
        same_count = theirs["clear_pixels"] == mine["clear_pixels"]
        if theirs["mean"] is None or mine["mean"] is None:
            same_mean = theirs["mean"] is mine["mean"]
        else:
            same_mean = abs(theirs["mean"] - mine["mean"]) <= lsb
        if not (same_count and same_mean):
            raise SystemExit(f"{mine['date']}: baseline {theirs} but raw2ready {mine}")


def session(args: argparse.Namespace) -> dict[str, Any]:
    """Prepare the inputs, alternate the approaches over the rounds, take medians."""
    folder = args.cache / f"{args.size}-{args.dates}-{args.compression.lower()}"
    shape = {"size": args.size, "dates": args.dates, "compression": args.compression}
    inputs = measure(PREPARE, {"folder": str(folder), "shape": shape})
    inputs.pop("peak_rss_mb")
    warm_page_cache(sorted(Path(inputs["months"]).glob("*.tif")))
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in RUNNERS}
    for round_index in range(args.repeats):
        order = list(RUNNERS) if round_index % 2 == 0 else list(RUNNERS)[::-1]
        for name in order:
            result = measure(name, inputs)
            runs[name].append(result)
            print(
                f"round {round_index + 1} {name:>10}: {result['wall']:7.2f} s wall, "
                f"{result['cpu']:7.2f} s CPU, {result['peak_rss_mb']:7.0f} MB",
                file=sys.stderr,
            )
        for name in ("raw2ready", "cube"):
            check_agreement(runs["baseline"][-1]["rows"], runs[name][-1]["rows"], inputs["step"])
    summary: dict[str, Any] = {
        "size": args.size, "dates": len(runs["raw2ready"][0]["rows"]),
        "compression": args.compression, "repeats": args.repeats,
    }  # fmt: skip
    for name, results in runs.items():
        summary[f"{name}_s"] = round(statistics.median(r["wall"] for r in results), 3)
        summary[f"{name}_cpu_s"] = round(statistics.median(r["cpu"] for r in results), 3)
        summary[f"{name}_peak_rss_mb"] = round(max(r["peak_rss_mb"] for r in results), 1)
    summary["speedup"] = round(summary["baseline_s"] / summary["raw2ready_s"], 2)
    summary["cube_speedup"] = round(summary["baseline_s"] / summary["cube_s"], 2)
    for name in ("baseline", "raw2ready", "cube"):
        summary[f"{name}_over_floor"] = round(summary[f"{name}_s"] / summary["floor_s"], 2)
    return summary


def main() -> None:
    """Command line: a session (default) or one approach in a child process."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=FULL_SIZE, help="COG size in pixels.")
    parser.add_argument("--dates", type=int, default=DEFAULT_DATES, help="Dates, 5 days apart.")
    parser.add_argument("--compression", choices=["ZSTD", "DEFLATE"], default="ZSTD",
                        help="COG codec (raw2ready's default: ZSTD).")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3, help="Rounds (order alternates).")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    parser.add_argument("--child", choices=[*RUNNERS, PREPARE], help=argparse.SUPPRESS)
    parser.add_argument("--inputs-json", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.inputs_json)
        return
    summary = session(args)
    if args.json:
        print(json.dumps(summary))
        return
    print(
        f"{summary['dates']} dates, 1 km2 field on {args.size} x {args.size} {args.compression} "
        f"COGs, median of {args.repeats} round(s), warm page cache"
    )
    for name in RUNNERS:
        print(
            f"{name:<10} {summary[f'{name}_s']:8.2f} s wall {summary[f'{name}_cpu_s']:8.2f} s CPU "
            f"{summary[f'{name}_peak_rss_mb']:8.0f} MB peak"
        )
    print(
        f"raw2ready is {summary['speedup']:.1f}x faster than per-date rio-tiler statistics; "
        f"the floor's time x{summary['raw2ready_over_floor']:.1f} (baseline: "
        f"x{summary['baseline_over_floor']:.1f})"
    )
    print(
        f"raw2ready from the cube is {summary['cube_speedup']:.1f}x faster than per-date "
        f"rio-tiler statistics (the COG floor's time x{summary['cube_over_floor']:.2f})"
    )


if __name__ == "__main__":
    main()
