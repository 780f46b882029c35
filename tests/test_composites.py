"""Monthly composites and the per-tile datacube, through a real Snakemake run of a small
campaign (four scenes in June 2023, two mostly cloudy ones in July), compared with numpy
computations from the scene COGs, and a SIGKILL during a cube commit."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import icechunk
import numpy as np
import pystac
import pytest
import rasterio
import xarray as xr
import yaml
from affine import Affine

from raw2ready.config import COGOptions, load_settings
from raw2ready.demo.archive import write_demo_archive
from raw2ready.demo.scenes import DemoScene, item_id
from raw2ready.errors import ConfigError
from raw2ready.layout import Layout
from raw2ready.products.masking import MASK_CLEAR
from raw2ready.products.registry import PRODUCTS
from raw2ready.raster.composite import make_composite
from raw2ready.stac.validation import validate_stac_tree
from tests.conftest import make_settings
from tests.test_workflow import PROJECT, job_counts, snakemake

TILE = "47PPR"
SIZE = 512
SCENES = [
    DemoScene(TILE, "2023-06-03", "sentinel-2a", "05.10", False, cloud_fraction=0.1),
    DemoScene(TILE, "2023-06-08", "sentinel-2b", "05.10", False, cloud_fraction=0.5),
    DemoScene(TILE, "2023-06-13", "sentinel-2a", "05.10", False, cloud_fraction=0.9),
    DemoScene(TILE, "2023-06-18", "sentinel-2b", "05.10", False, cloud_fraction=0.3),
    DemoScene(TILE, "2023-07-03", "sentinel-2a", "05.10", False, cloud_fraction=0.97),
    DemoScene(TILE, "2023-07-13", "sentinel-2a", "05.10", False, cloud_fraction=0.95),
]
MONTHS = {"2023-06": SCENES[:4], "2023-07": SCENES[4:]}
COMPOSITED = ("ndvi", "lai")


def config(root: Path) -> Path:
    """The demo config narrowed to one tile and June-July 2023, composites and cube on."""
    data = yaml.safe_load((PROJECT / "config" / "demo.yaml").read_text())
    data["archive"]["url"] = str(root / "archive" / "catalog.json")
    data.update(tiles=[TILE], start="2023-06-01", end="2023-07-31", max_cloud_cover=100)
    data["composites"] = {"enabled": True, "method": "median", "products": list(COMPOSITED)}
    data["cube"] = {"enabled": True, "source": "scenes"}
    # Narrow buffers: the 97 %- and 95 %-cloudy July scenes keep some clear pixels (with
    # FORCE's 300 m every pixel of this 5 km scene would be a buffer); the mask product,
    # which the test reads, carries whatever buffers are drawn.
    data["mask"] = {"buffers": {"cloud": 20, "shadow": 20}}
    path = root / "demo.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small campaign, run to completion by Snakemake."""
    root = tmp_path_factory.mktemp("composites")
    write_demo_archive(root / "archive", seed=7, size=SIZE, scenes=SCENES)
    result = snakemake(root, config(root), "--cores", "2")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return root


def layout(root: Path) -> Layout:
    """The campaign's layout, absolute."""
    settings = load_settings(root / "demo.yaml")
    return Layout(root / settings.output_dir, root / settings.work_dir)


def scene_cog(root: Path, scene: DemoScene, product: str) -> Path:
    """A scene's product COG (found by name: the layout's path needs the scene record)."""
    (path,) = (root / "results/demo/products").rglob(f"{item_id(scene)}_{product}.tif")
    return path


def read(path: Path) -> np.ndarray:
    """A COG's stored values."""
    with rasterio.open(path) as dataset:
        return dataset.read(1)


def decoded(stored: np.ndarray, product: str) -> np.ndarray:
    """Stored values as float, NaN where nodata."""
    spec = PRODUCTS[product]
    values = spec.offset + spec.scale * stored.astype(np.float64)
    return np.where(stored == spec.nodata, np.nan, values)


def clear_stack(root: Path, scenes: list[DemoScene]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Each composited product's decoded values per scene (NaN where not clear), and the
    clear observations: mask clear and both products valid."""
    clear = np.stack([read(scene_cog(root, s, "mask")) == MASK_CLEAR for s in scenes])
    values = {
        name: np.stack([decoded(read(scene_cog(root, s, name)), name) for s in scenes])
        for name in COMPOSITED
    }
    for stack in values.values():
        clear &= ~np.isnan(stack)
    return {name: np.where(clear, stack, np.nan) for name, stack in values.items()}, clear


def assert_median_of_clear_pixels(
    root: Path, scenes: list[DemoScene], composite: Callable[[str], Path]
) -> np.ndarray:
    """Assert that the composite's COGs (`composite(product)`) are numpy's median of the
    scenes' clear pixels (scene COGs under root) and count them; return the count."""
    values, clear = clear_stack(root, scenes)
    count = read(composite("clear_count"))
    np.testing.assert_array_equal(count, clear.sum(axis=0))
    with warnings.catch_warnings():  # pixels without a clear observation: All-NaN slices
        warnings.simplefilter("ignore", RuntimeWarning)
        medians = {name: np.nanmedian(stack, axis=0) for name, stack in values.items()}
    for name, median in medians.items():
        stored = decoded(read(composite(name)), name)
        np.testing.assert_array_equal(np.isnan(stored), count == 0)
        # the composite is stored in the product's encoding: within half a step
        half_step = PRODUCTS[name].scale / 2 + 1e-9
        np.testing.assert_allclose(stored, median, rtol=0, atol=half_step, equal_nan=True)
    return count


@pytest.mark.parametrize("month", sorted(MONTHS))
def test_median_composite_equals_numpy_median_of_clear_pixels(campaign: Path, month: str) -> None:
    year, number = month.split("-")
    count = assert_median_of_clear_pixels(
        campaign, MONTHS[month], lambda name: layout(campaign).composite(TILE, year, number, name)
    )
    assert (count > 0).any()


def test_a_mostly_cloudy_month_has_pixels_without_observation(campaign: Path) -> None:
    count = read(layout(campaign).composite(TILE, "2023", "07", "clear_count"))
    assert (count == 0).any()
    lai = read(layout(campaign).composite(TILE, "2023", "07", "lai"))
    assert (lai[count == 0] == PRODUCTS["lai"].nodata).all()


def test_max_ndvi_takes_every_product_from_the_greenest_clear_date(
    campaign: Path, tmp_path: Path
) -> None:
    scenes = MONTHS["2023-06"]
    paths = [{name: scene_cog(campaign, s, name) for name in COMPOSITED} for s in scenes]
    outputs = {name: tmp_path / f"{name}.tif" for name in [*COMPOSITED, "clear_count"]}
    settings = load_settings(campaign / "demo.yaml")
    make_composite(paths, "max_ndvi", outputs, settings.cog, tmp_path / "scratch")
    values, clear = clear_stack(campaign, scenes)
    has = clear.any(axis=0)
    greenest = np.argmax(np.where(clear, values["ndvi"], -np.inf), axis=0)
    for name in COMPOSITED:
        expected = np.take_along_axis(values[name], greenest[None], axis=0)[0]
        expected[~has] = np.nan
        np.testing.assert_array_equal(decoded(read(outputs[name]), name), expected)
    np.testing.assert_array_equal(read(outputs["clear_count"]), clear.sum(axis=0))


def test_median_of_blocks_cut_at_the_edges_equals_numpy(tmp_path: Path) -> None:
    """Five scenes on a 300 x 700 grid of 128-px blocks (partial blocks on both edges),
    every count of clear observations from 0 to 5, composited by two threads: the stored
    median is numpy's (mean of the two middle values for even counts, rounded half to even)."""
    rng = np.random.default_rng(3)
    shape, scenes = (300, 700), 5
    values = {
        name: rng.integers(-3000, 9000, (scenes, *shape)).astype(np.int16) for name in COMPOSITED
    }
    clear = rng.random((scenes, *shape)) < rng.random(shape)  # per pixel a clear fraction
    clear[:, :20] = False  # a band never clear
    profile = {
        "driver": "GTiff", "width": shape[1], "height": shape[0], "count": 1, "dtype": "int16",
        "crs": "EPSG:32647", "transform": Affine(10, 0, 600000, 0, -10, 1600020),
        "tiled": True, "blockxsize": 128, "blockysize": 128,
    }  # fmt: skip
    paths = []
    for index in range(scenes):
        paths.append({})
        for name in COMPOSITED:
            stored = np.where(clear[index], values[name][index], PRODUCTS[name].nodata)
            paths[index][name] = tmp_path / f"{index}_{name}.tif"
            with rasterio.open(
                paths[index][name], "w", nodata=PRODUCTS[name].nodata, **profile
            ) as dst:
                dst.write(stored.astype(np.int16), 1)
    outputs = {name: tmp_path / f"{name}.tif" for name in [*COMPOSITED, "clear_count"]}
    make_composite(paths, "median", outputs, COGOptions(threads=2), tmp_path / "scratch")
    count = clear.sum(axis=0)
    np.testing.assert_array_equal(read(outputs["clear_count"]), count)
    assert set(np.unique(count)) == set(range(scenes + 1))
    for name in COMPOSITED:
        with warnings.catch_warnings():  # pixels never clear: All-NaN slices
            warnings.simplefilter("ignore", RuntimeWarning)
            median = np.nanmedian(np.where(clear, values[name], np.nan), axis=0)
        expected = np.where(count > 0, np.rint(median), PRODUCTS[name].nodata)
        np.testing.assert_array_equal(read(outputs[name]), expected)


def test_composites_are_a_valid_child_collection_of_the_campaign(campaign: Path) -> None:
    root = campaign / "results/demo/stac/collection.json"
    collection = pystac.Collection.from_file(str(root))
    children = {child.id: child for child in collection.get_children()}
    composites = children["raw2ready-demo-composites"]
    items = list(composites.get_items(recursive=True))
    assert sorted(item.id for item in items) == [f"{TILE}_2023-06", f"{TILE}_2023-07"]
    # offline, with the shipped schemas; counts the composites' collection, catalogs, items
    assert validate_stac_tree(root) > validate_stac_tree(Path(composites.get_self_href())) > 2
    june = next(item for item in items if item.id.endswith("06"))
    assert set(june.assets) == {"ndvi", "lai", "clear_count"}
    assert len(june.get_links("derived_from")) == len(MONTHS["2023-06"])


def open_cube(path: Path) -> xr.Dataset:
    """The cube's last commit, opened the way the README shows."""
    repository = icechunk.Repository.open(icechunk.local_filesystem_storage(str(path)))
    return xr.open_zarr(repository.readonly_session("main").store, consolidated=False)


def test_cube_values_equal_the_scene_cogs(campaign: Path) -> None:
    cube = open_cube(layout(campaign).cube(TILE))
    assert cube.sizes["time"] == len(SCENES)
    assert "crs_wkt" in cube["spatial_ref"].attrs and cube["lai"].attrs["units"] == "m2/m2"
    assert cube["ndvi"].encoding["scale_factor"] == PRODUCTS["ndvi"].scale
    assert cube["ndvi"].encoding["_FillValue"] == PRODUCTS["ndvi"].nodata
    for index, scene in enumerate(SCENES):
        assert str(cube.time.values[index])[:10] == scene.date
        for name in ("ndvi", "lai"):
            expected = decoded(read(scene_cog(campaign, scene, name)), name)
            np.testing.assert_allclose(cube[name][index].values, expected, rtol=1e-6)
    with rasterio.open(scene_cog(campaign, SCENES[0], "ndvi")) as dataset:
        assert cube.x.values[0] == dataset.transform.c + dataset.transform.a / 2
        assert cube.y.values[0] == dataset.transform.f + dataset.transform.e / 2


def test_rerun_does_nothing_and_a_redone_scene_redoes_only_its_month(campaign: Path) -> None:
    dry = snakemake(campaign, campaign / "demo.yaml", "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr
    june, july = (layout(campaign).composite(TILE, "2023", m, "ndvi") for m in ("06", "07"))
    before = {path: path.stat().st_mtime_ns for path in (june, july)}
    scene_cog(campaign, MONTHS["2023-06"][1], "lai").unlink()
    result = snakemake(campaign, campaign / "demo.yaml", "--cores", "2")
    assert result.returncode == 0, result.stderr[-4000:]
    jobs = job_counts(result)
    assert jobs["composite"] == 1 and jobs["cube"] == 1
    assert june.stat().st_mtime_ns != before[june]
    assert july.stat().st_mtime_ns == before[july]
    record = json.loads((campaign / f"work/demo/cubes/{TILE}.json").read_text())
    assert record["committed"] == ["2023-06"]


KILLED_COMMIT = """
import os, signal, sys
from icechunk.session import Session
commit = Session.commit
def kill_before_july(self, message, *args, **kwargs):
    if message.startswith("month 2023-07"):  # its chunks are written, the commit not made
        os.kill(os.getpid(), signal.SIGKILL)
    return commit(self, message, *args, **kwargs)
Session.commit = kill_before_july
from raw2ready.cli import main
main()
"""


def test_a_kill_during_a_commit_leaves_the_months_committed_before(
    campaign: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "campaign"
    shutil.copytree(campaign / "results", copy / "results", symlinks=True)
    shutil.copytree(campaign / "work", copy / "work", symlinks=True)
    shutil.copy(campaign / "demo.yaml", copy / "demo.yaml")
    cube = copy / "results/demo/cubes" / f"{TILE}.icechunk"
    shutil.rmtree(cube)
    command = ["cube", "--configfile", "demo.yaml", "--tile", TILE]
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_COMMIT, *command], cwd=copy, capture_output=True, check=False
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    after_kill = open_cube(cube)
    assert sorted(after_kill.attrs["raw2ready:months"]) == ["2023-06"]
    assert after_kill.sizes["time"] == len(MONTHS["2023-06"])
    expected = decoded(read(scene_cog(campaign, MONTHS["2023-06"][0], "ndvi")), "ndvi")
    np.testing.assert_allclose(after_kill["ndvi"][0].values, expected, rtol=1e-6)
    resumed = subprocess.run(
        [sys.executable, "-m", "raw2ready.cli", *command], cwd=copy, capture_output=True,
        text=True, check=False,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "1 month(s) committed" in resumed.stdout
    assert open_cube(cube).sizes["time"] == len(SCENES)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"composites": {"enabled": True, "products": ["evi"]}}, "composites.products[0]"),
        ({"composites": {"enabled": True, "products": ["mask"]}}, "not a continuous product"),
        (
            {"composites": {"enabled": True, "method": "max_ndvi", "products": ["lai"]}},
            "max_ndvi needs ndvi",
        ),
        ({"cube": {"enabled": True, "source": "composites"}}, "needs key 'composites.enabled'"),
    ],
)
def test_composite_and_cube_settings_are_checked(
    tmp_path: Path, overrides: dict, message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_settings(tmp_path, products=["ndvi", "lai", "mask"], **overrides)
