"""OGC API-EDR on the tile cube: `raw2ready serve` runs as a real HTTP server on 127.0.0.1
over a small campaign's cube, and its position, area and cube answers in longitude/latitude
are compared with the scene COGs read with rasterio at pixels found with pyproj."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyproj
import pytest
import rasterio
import requests
import shapely

from raw2ready.demo.scenes import DemoScene, item_id
from raw2ready.products.registry import PRODUCTS
from tests.servers import free_port, wait_for_server
from tests.test_workflow import run_small_campaign

pytest.importorskip("pygeoapi", reason="the edr extra (pygeoapi) is not installed")

TILE = "47PPR"
SCENES = [
    DemoScene(TILE, "2023-06-03", "sentinel-2a", "05.10", False, cloud_fraction=0.3),
    DemoScene(TILE, "2023-06-13", "sentinel-2a", "05.10", False, cloud_fraction=0.5),
    DemoScene(TILE, "2023-07-03", "sentinel-2a", "05.10", False, cloud_fraction=0.2),
]


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A three-scene campaign over June-July 2023 with its scene cube, run by Snakemake."""
    return run_small_campaign(
        tmp_path_factory.mktemp("edr"),
        SCENES,
        composites={"enabled": False},
        cube={"enabled": True, "source": "scenes"},
    )


@pytest.fixture(scope="module")
def server(campaign: Path) -> Iterator[str]:
    """`raw2ready serve` on a free port; its base URL once it answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = campaign / "serve.log"
    command = [shutil.which("raw2ready") or "raw2ready", "serve", "--configfile", "demo.yaml"]
    with log.open("wb") as log_stream:
        process = subprocess.Popen(
            [*command, "--port", str(port)], cwd=campaign, stdout=log_stream, stderr=log_stream
        )
        try:
            wait_for_server(f"{url}/collections", process, log)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)


def scene_cog(root: Path, scene: DemoScene, product: str) -> Path:
    """A scene's product COG, found by name."""
    (path,) = (root / "results/demo/products").rglob(f"{item_id(scene)}_{product}.tif")
    return path


def decoded(stored: np.ndarray, product: str) -> np.ndarray:
    """Stored values decoded as CF does, NaN where nodata."""
    spec = PRODUCTS[product]
    values = spec.offset + spec.scale * stored.astype(np.float64)
    return np.where(stored == spec.nodata, np.nan, values)


def as_array(values: list[float | None]) -> np.ndarray:
    """CoverageJSON range values with null as NaN."""
    return np.array([np.nan if value is None else value for value in values], dtype=np.float64)


def to_lonlat(crs: rasterio.crs.CRS) -> pyproj.Transformer:
    """The COG's CRS to longitude/latitude."""
    return pyproj.Transformer.from_crs(crs, "OGC:CRS84", always_xy=True)


def test_the_tile_is_an_edr_collection_with_position_area_and_cube(server: str) -> None:
    collection = requests.get(f"{server}/collections/{TILE}", timeout=30).json()
    queries = set(collection["data_queries"])
    assert {"position", "area", "cube"} <= queries
    assert "ndvi" in collection["parameter_names"]


def test_position_returns_each_scenes_pixel_at_a_lonlat_point(campaign: Path, server: str) -> None:
    with rasterio.open(scene_cog(campaign, SCENES[0], "ndvi")) as dataset:
        transform, crs = dataset.transform, dataset.crs
    # a point 37 % across and 61 % down the scene, in longitude/latitude
    x = transform.c + 0.37 * 256 * transform.a
    y = transform.f + 0.61 * 256 * transform.e
    lon, lat = to_lonlat(crs).transform(x, y)
    answer = requests.get(
        f"{server}/collections/{TILE}/position",
        params={"coords": f"POINT({lon} {lat})"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    coverage = answer.json()
    assert coverage["domain"]["domainType"] == "PointSeries"
    dates = [value[:10] for value in coverage["domain"]["axes"]["t"]["values"]]
    assert dates == [scene.date for scene in SCENES]
    # the pixel, independently: lon/lat back to the COG's CRS, then the COG's own index
    back_x, back_y = pyproj.Transformer.from_crs("OGC:CRS84", crs, always_xy=True).transform(
        lon, lat
    )
    assert set(coverage["ranges"]) >= {"ndvi", "lai"}
    for name, values in coverage["ranges"].items():
        expected = []
        for scene in SCENES:
            with rasterio.open(scene_cog(campaign, scene, name)) as dataset:
                row, col = dataset.index(back_x, back_y)
                expected.append(dataset.read(1)[row, col])
        np.testing.assert_allclose(
            as_array(values["values"]), decoded(np.array(expected), name), rtol=1e-6
        )
    assert not np.isnan(as_array(coverage["ranges"]["ndvi"]["values"])).all()


def test_a_point_outside_the_cube_returns_no_data(campaign: Path, server: str) -> None:
    with rasterio.open(scene_cog(campaign, SCENES[0], "ndvi")) as dataset:
        lon, lat = to_lonlat(dataset.crs).transform(
            dataset.transform.c - 1000, dataset.transform.f + 1000
        )
    answer = requests.get(
        f"{server}/collections/{TILE}/position",
        params={"coords": f"POINT({lon} {lat})"},
        timeout=60,
    )
    assert answer.status_code == 204  # pygeoapi's answer to ProviderNoDataError


def grid_check(campaign: Path, coverage: dict, inside_lonlat: shapely.Geometry) -> int:
    """Compare a grid coverage with the COGs: every cell whose centre lies inside the
    longitude/latitude geometry holds the COG's decoded value there, the others null.
    Returns the number of cells inside."""
    axes = coverage["domain"]["axes"]
    xs = np.linspace(axes["x"]["start"], axes["x"]["stop"], axes["x"]["num"])
    ys = np.linspace(axes["y"]["start"], axes["y"]["stop"], axes["y"]["num"])
    grid_x, grid_y = np.meshgrid(xs, ys)
    dates = [value[:10] for value in axes["t"]["values"]]
    assert dates == [scene.date for scene in SCENES]
    inside = None
    for name, values in coverage["ranges"].items():
        assert values["axisNames"] == ["y", "x", "t"]
        got = as_array(values["values"]).reshape(values["shape"])
        for step, scene in enumerate(SCENES):
            with rasterio.open(scene_cog(campaign, scene, name)) as dataset:
                lon, lat = to_lonlat(dataset.crs).transform(grid_x, grid_y)
                inside = shapely.contains_xy(inside_lonlat, lon, lat)
                rows, cols = rasterio.transform.rowcol(
                    dataset.transform, grid_x.ravel(), grid_y.ravel()
                )
                stored = dataset.read(1)[rows, cols].reshape(grid_x.shape)
            expected = np.where(inside, decoded(stored, name), np.nan)
            np.testing.assert_allclose(got[:, :, step], expected, rtol=1e-6)
    return int(inside.sum())


def test_area_returns_the_cog_window_inside_a_lonlat_polygon(campaign: Path, server: str) -> None:
    with rasterio.open(scene_cog(campaign, SCENES[0], "ndvi")) as dataset:
        transform, crs = dataset.transform, dataset.crs
    # pixel columns 40..69 and rows 100..129: corners a quarter pixel off the centres
    corners = [(40.25, 100.25), (69.75, 100.25), (69.75, 129.75), (40.25, 129.75)]
    lonlat = [to_lonlat(crs).transform(*(transform @ corner)) for corner in corners]
    polygon = shapely.Polygon(lonlat)
    answer = requests.get(
        f"{server}/collections/{TILE}/area", params={"coords": polygon.wkt}, timeout=60
    )
    assert answer.status_code == 200, answer.text
    assert grid_check(campaign, answer.json(), polygon) == 30 * 30


def test_cube_returns_the_pixels_inside_a_lonlat_bbox(campaign: Path, server: str) -> None:
    with rasterio.open(scene_cog(campaign, SCENES[0], "ndvi")) as dataset:
        west, north = to_lonlat(dataset.crs).transform(*(dataset.transform @ (150.3, 20.3)))
        east, south = to_lonlat(dataset.crs).transform(*(dataset.transform @ (170.7, 35.7)))
    bbox = (west, south, east, north)
    answer = requests.get(
        f"{server}/collections/{TILE}/cube",
        params={"bbox": ",".join(f"{value:.8f}" for value in bbox)},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    assert grid_check(campaign, answer.json(), shapely.box(*bbox)) > 0
