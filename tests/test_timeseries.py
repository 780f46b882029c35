"""`raw2ready timeseries` over a small Snakemake-run campaign: its statistics equal numpy's
over the full scene COGs, with the AOI's pixels found independently (pixel centres tested
with shapely.contains_xy, in lon/lat or in UTM), for a lon/lat MultiPolygon and for an AOI in
UTM; and its plot is a PNG of the expected size."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest
import rasterio
import shapely

from raw2ready.demo.scenes import DemoScene, item_id
from raw2ready.layout import COMPOSITES
from raw2ready.products.registry import PRODUCTS
from raw2ready.timeseries.aoi import AreaOfInterest
from raw2ready.timeseries.cube_pixels import _batches
from raw2ready.timeseries.series import _parts
from tests.test_workflow import run_small_campaign

TILE = "47PPR"
UTM = "EPSG:32647"
SCENES = [
    DemoScene(TILE, "2023-06-03", "sentinel-2a", "05.10", False, cloud_fraction=0.3),
    DemoScene(TILE, "2023-06-13", "sentinel-2a", "05.10", False, cloud_fraction=0.5),
    DemoScene(TILE, "2023-07-03", "sentinel-2a", "05.10", False, cloud_fraction=0.2),
]
#: Two fields in lon/lat (a MultiPolygon) inside the demo scenes' 2.56 km.
FIELDS = [
    [[99.932, 14.452], [99.938, 14.4535], [99.936, 14.459], [99.931, 14.457], [99.932, 14.452]],
    [[99.941, 14.461], [99.947, 14.462], [99.944, 14.468], [99.941, 14.461]],
]
#: A field in UTM 47N metres (vertices off the pixel centres).
UTM_FIELD = [
    [600523.3, 1598321.7], [601711.9, 1598402.2], [601487.1, 1599533.4],
    [600701.6, 1599200.8], [600523.3, 1598321.7],
]  # fmt: skip


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A three-scene campaign over June-July 2023 with composites and a cube of the scenes,
    run by Snakemake."""
    return run_small_campaign(
        tmp_path_factory.mktemp("timeseries"),
        SCENES,
        composites={"enabled": True, "method": "median", "products": ["ndvi", "lai"]},
        cube={"enabled": True, "source": "scenes"},
    )


def timeseries(root: Path, aoi: dict[str, Any], *options: str) -> list[dict[str, Any]]:
    """`raw2ready timeseries --json` on `aoi`, parsed (the default --from auto)."""
    path = root / "aoi.geojson"
    path.write_text(json.dumps(aoi))
    command = ["raw2ready", "timeseries", str(path), "--configfile", "demo.yaml", "--json"]
    result = subprocess.run(
        [*command, *options], cwd=root, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def reference(cog: Path, inside: Any, product: str) -> dict[str, float]:
    """Statistics from the full COG; `inside(x, y)` tells which UTM pixel centres are in."""
    spec = PRODUCTS[product]
    with rasterio.open(cog) as dataset:
        stored = dataset.read(1)
        rows, cols = np.indices(stored.shape)
        x, y = rasterio.transform.xy(dataset.transform, rows.ravel(), cols.ravel())
    mask = inside(np.asarray(x), np.asarray(y)).reshape(stored.shape)
    clear = mask & (stored != spec.nodata)
    values = spec.offset + spec.scale * stored[clear].astype(np.float64)
    return {
        "mean": values.mean(),
        "median": np.median(values),
        "p10": np.percentile(values, 10),
        "p90": np.percentile(values, 90),
        "clear_fraction": clear.sum() / mask.sum(),
        "clear_pixels": int(clear.sum()),
        "aoi_pixels": int(mask.sum()),
    }


def scene_cog(root: Path, scene: DemoScene, product: str) -> Path:
    """A scene's product COG, found by name."""
    (path,) = (root / "results/demo/products").rglob(f"{item_id(scene)}_{product}.tif")
    return path


def assert_rows_match(rows: list[dict[str, Any]], expected: list[dict[str, float]]) -> None:
    """Counts equal, statistics equal to float precision."""
    assert len(rows) == len(expected)
    for row, want in zip(rows, expected, strict=True):
        assert (row["clear_pixels"], row["aoi_pixels"]) == (
            want["clear_pixels"],
            want["aoi_pixels"],
        )
        for name in ("mean", "median", "p10", "p90", "clear_fraction"):
            assert row[name] == pytest.approx(want[name], rel=1e-9, abs=1e-12), name


def test_lon_lat_multipolygon_matches_numpy(campaign: Path) -> None:
    """A lon/lat MultiPolygon: pixel centres moved to lon/lat with pyproj and tested there."""
    aoi = {"type": "MultiPolygon", "coordinates": [[field] for field in FIELDS]}
    rows = timeseries(campaign, aoi, "--product", "ndvi")
    to_lon_lat = pyproj.Transformer.from_crs(UTM, "OGC:CRS84", always_xy=True)
    fields = shapely.geometry.shape(aoi)

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return shapely.contains_xy(fields, *to_lon_lat.transform(x, y))

    assert [row["date"] for row in rows] == [scene.date for scene in SCENES]
    assert {row["source"] for row in rows} == {"cube"}  # auto: the scenes' cube is there
    assert_rows_match(
        rows, [reference(scene_cog(campaign, s, "ndvi"), inside, "ndvi") for s in SCENES]
    )


def test_projected_aoi_matches_numpy(campaign: Path) -> None:
    """An AOI in UTM, by --aoi-crs or by a GeoJSON crs member, tested in UTM; --start/--end
    keep the dates between them."""
    polygon = {"type": "Polygon", "coordinates": [UTM_FIELD]}
    field = shapely.geometry.shape(polygon)

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return shapely.contains_xy(field, x, y)

    by_option = timeseries(campaign, polygon, "--product", "lai", "--aoi-crs", UTM)
    named = {**polygon, "crs": {"type": "name", "properties": {"name": UTM}}}
    by_member = timeseries(campaign, named, "--product", "lai", "--start", "2023-06-10")
    expected = [reference(scene_cog(campaign, s, "lai"), inside, "lai") for s in SCENES]
    assert_rows_match(by_option, expected)
    assert_rows_match(by_member, expected[1:])


def test_composites_and_plot(campaign: Path) -> None:
    """--composites summarises the monthly composite COGs; --plot writes a 1200x700 PNG."""
    import matplotlib.image

    aoi = {"type": "Polygon", "coordinates": [FIELDS[0]]}
    plot = campaign / "series.png"
    rows = timeseries(campaign, aoi, "--product", "ndvi", "--composites", "--plot", str(plot))
    to_lon_lat = pyproj.Transformer.from_crs(UTM, "OGC:CRS84", always_xy=True)
    field = shapely.geometry.shape(aoi)

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return shapely.contains_xy(field, *to_lon_lat.transform(x, y))

    months = ("2023-06", "2023-07")
    cogs = [
        next((campaign / "results/demo/products/composites").rglob(f"{TILE}_{m}_ndvi.tif"))
        for m in months
    ]
    assert [row["date"][:7] for row in rows] == list(months)
    assert {row["source"] for row in rows} == {"cogs"}  # the cube holds scenes, not composites
    assert_rows_match(rows, [reference(cog, inside, "ndvi") for cog in cogs])
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert matplotlib.image.imread(plot).shape == (700, 1200, 4)


@pytest.mark.parametrize("product", ["ndvi", "lai"])
def test_cube_rows_equal_cog_rows(campaign: Path, product: str) -> None:
    """--from cube and --from cogs give the same dates, items and pixel counts, and
    statistics equal within float32 rounding, for a lon/lat MultiPolygon."""
    aoi = {"type": "MultiPolygon", "coordinates": [[field] for field in FIELDS]}
    from_cube = timeseries(campaign, aoi, "--product", product, "--from", "cube")
    from_cogs = timeseries(campaign, aoi, "--product", product, "--from", "cogs")
    assert len(from_cube) == len(SCENES)
    assert {row.pop("source") for row in from_cube} == {"cube"}
    assert {row.pop("source") for row in from_cogs} == {"cogs"}
    for cube_row, cog_row in zip(from_cube, from_cogs, strict=True):
        exact = ("date", "items", "clear_pixels", "aoi_pixels")
        assert {k: cube_row[k] for k in exact} == {k: cog_row[k] for k in exact}
        for name in ("mean", "median", "p10", "p90", "clear_fraction"):
            assert cube_row[name] == pytest.approx(cog_row[name], rel=1e-6), name


def test_from_cube_without_such_cube_fails(campaign: Path) -> None:
    """--from cube on the composites, whose cube the campaign does not make: a one-line
    error naming --from cogs, no traceback."""
    path = campaign / "aoi.geojson"
    path.write_text(json.dumps({"type": "Polygon", "coordinates": [FIELDS[0]]}))
    command = ["raw2ready", "timeseries", str(path), "--configfile", "demo.yaml"]
    options = ["--product", "ndvi", "--composites", "--from", "cube"]
    result = subprocess.run(
        [*command, *options], cwd=campaign, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "--from cogs" in result.stderr
    assert "Traceback" not in result.stderr


def test_aoi_across_two_tiles_is_split_once() -> None:
    """A field across the overlap of 31UFS and 31UGS (same UTM zone): the first tile takes
    what its extent holds, the second only the rest, so the parts' areas add up to the
    field's (shapely areas in UTM) and meet only along 31UFS's east edge (x = 709800)."""
    field = shapely.box(703000.0, 5640000.0, 712500.0, 5641000.0)
    parts = _parts(("31UFS", "31UGS"), AreaOfInterest(field, pyproj.CRS.from_epsg(32631)))
    assert sorted(parts) == ["31UFS", "31UGS"]
    assert parts["31UFS"].bounds == pytest.approx((703000.0, 5640000.0, 709800.0, 5641000.0))
    assert parts["31UGS"].bounds == pytest.approx((709800.0, 5640000.0, 712500.0, 5641000.0))
    assert parts["31UFS"].area + parts["31UGS"].area == pytest.approx(field.area)
    assert shapely.intersection(parts["31UFS"], parts["31UGS"]).area == pytest.approx(0.0)


def test_cube_reads_cut_between_time_chunks() -> None:
    """Reads of at most `per_step` steps, cut between the cube's 12-step time chunks unless
    one chunk alone exceeds them; every step read once, in order."""
    steps = [(step, step) for step in range(30)]
    sizes = [[len(batch) for batch in _batches(steps, limit)] for limit in (100, 15, 5)]
    assert sizes == [[30], [12, 12, 6], [5, 5, 2, 5, 5, 2, 5, 1]]
    for limit in (100, 15, 5):
        assert [pair for batch in _batches(steps, limit) for pair in batch] == steps


def test_composite_cube_rows_equal_cog_rows(
    campaign: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cube of the composites (cube.source: composites, written by update_cube from a copy
    of the campaign's outputs) gives the composites' series row for row as their COGs."""
    from raw2ready.config import load_settings
    from raw2ready.cube.datacube import update_cube
    from raw2ready.layout import Layout
    from raw2ready.stac.index import IndexPaths
    from raw2ready.timeseries.series import COGS, CUBE, field_series

    monkeypatch.chdir(campaign)
    settings = load_settings(Path("demo.yaml"), {"cube": {"enabled": True, "source": "composites"}})
    shutil.copytree(
        settings.output_dir, tmp_path / "output", ignore=shutil.ignore_patterns("cubes")
    )
    copy = Layout(tmp_path / "output", settings.work_dir)
    assert update_cube(settings, copy, TILE) == ["2023-06", "2023-07"]
    original = Layout(settings.output_dir, settings.work_dir)
    collection = json.loads(original.collection(COMPOSITES).read_text())["id"]
    area = AreaOfInterest(shapely.Polygon(FIELDS[0]), pyproj.CRS.from_user_input("OGC:CRS84"))
    index = IndexPaths.beside(original.collection()).parquet
    series = {
        source: field_series(index, area, "ndvi", collection, None, source, copy.cube)
        for source in (CUBE, COGS)
    }
    assert [s.source for s in series.values()] == [CUBE, COGS]
    from_cube, from_cogs = (series[source].rows for source in (CUBE, COGS))
    assert [row.date.isoformat()[:7] for row in from_cube] == ["2023-06", "2023-07"]
    for cube_row, cog_row in zip(from_cube, from_cogs, strict=True):
        assert (cube_row.items, cube_row.clear_pixels, cube_row.aoi_pixels) == (
            cog_row.items, cog_row.clear_pixels, cog_row.aoi_pixels,
        )  # fmt: skip
        assert cube_row.mean == pytest.approx(cog_row.mean, rel=1e-6)
        assert cube_row.median == pytest.approx(cog_row.median, rel=1e-6)
