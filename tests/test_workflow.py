"""The whole chain as a real Snakemake run on the generated sample archive.

One module-scoped run (small rasters) feeds every check; the rerun checks come last
because they change the run's state.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import pytest
import rasterio
import yaml
from rio_cogeo.cogeo import cog_validate
from scipy import ndimage

from raw2ready.demo import archive as demo_archive
from raw2ready.stac.validation import SCHEMA_INDEX, validate_stac_tree

from .conftest import PROJECT

SIZE = 512
MASKED = [0, 1, 3, 8, 9, 10]


def snakemake(
    workdir: Path, config: Path, *extra: str, activated: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the project's workflow in `workdir` like a user would (local profile).

    activated: this interpreter's bin first on PATH, as after `source .venv/bin/activate`;
    else the environment's `bin/snakemake` run by path with PATH=/usr/bin:/bin and no
    VIRTUAL_ENV, as by a user who never activated it (PYTHONPATH is kept, so a checkout's
    src under test is what runs).
    """
    if activated:
        command = [sys.executable, "-m", "snakemake"]
        env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    else:
        command = [str(Path(sys.executable).parent / "snakemake")]
        env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
        env["PATH"] = "/usr/bin:/bin"
    return subprocess.run(
        [*command, "--snakefile", str(PROJECT / "Snakefile"),
         "--directory", str(workdir), "--configfile", str(config),
         "--profile", str(PROJECT / "profiles" / "local"), *extra],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip


def run_small_campaign(
    root: Path, scenes: list[Any], composites: dict[str, Any], cube: dict[str, Any]
) -> Path:
    """The demo config over `scenes` of one tile (256 px) from June to July 2023, with the
    given composites and cube sections, run to completion by Snakemake in `root`."""
    from raw2ready.demo.archive import write_demo_archive

    write_demo_archive(root / "archive", seed=11, size=256, scenes=scenes)
    data = yaml.safe_load((PROJECT / "config" / "demo.yaml").read_text())
    data["archive"]["url"] = str(root / "archive" / "catalog.json")
    data.update(
        tiles=sorted({scene.tile for scene in scenes}), start="2023-06-01", end="2023-07-31",
        max_cloud_cover=100, composites=composites, cube=cube,
    )  # fmt: skip
    (root / "demo.yaml").write_text(yaml.safe_dump(data))
    result = snakemake(root, root / "demo.yaml", "--cores", "2")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return root


def job_counts(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    """Jobs per rule of Snakemake's job table ("Job stats") in a run's or dry-run's log."""
    text = result.stdout + result.stderr
    if "Job stats:" not in text:
        return {}
    table = text.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    return {rule: int(count) for rule, count in re.findall(r"^(\w+)\s+(\d+)$", table, re.M)}


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo campaign with its tiles searched (`--until search`), nothing else run."""
    root = tmp_path_factory.mktemp("campaign")
    demo_archive.write_demo_archive(root / "archive", seed=42, size=SIZE)
    config = yaml.safe_load((PROJECT / "config" / "demo.yaml").read_text())
    config["archive"]["url"] = str(root / "archive" / "catalog.json")
    (root / "demo.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(root, root / "demo.yaml", "--until", "search")
    assert result.returncode == 0, result.stderr[-4000:]
    return root


@pytest.fixture(scope="module")
def dry_run(searched: Path) -> dict[str, int]:
    """The job table of the dry-run of the searched campaign."""
    result = snakemake(searched, searched / "demo.yaml", "-n", "--quiet", "rules")
    assert result.returncode == 0, result.stderr[-4000:]
    return job_counts(result)


@pytest.fixture(scope="module")
def run(searched: Path, dry_run: dict[str, int]) -> Path:
    """A finished demo campaign, run to completion the way a user who never activated the
    environment runs it (`.venv/bin/snakemake`, PATH=/usr/bin:/bin, no VIRTUAL_ENV)."""
    result = snakemake(searched, searched / "demo.yaml", activated=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return searched


def test_dry_run_lists_download_and_processing_as_separate_jobs(dry_run: dict[str, int]) -> None:
    months = {(s.tile, s.date[:7]) for s in demo_archive.DEMO_SCENES}
    assert dry_run["download"] == dry_run["scenes"] == len(months)
    assert "search" not in dry_run


def test_run_without_the_environment_on_path_leaves_no_download_behind(run: Path) -> None:
    assert (run / "work/demo/logs/download").is_dir()
    assert not (run / "work/demo/downloads").exists() or not any(
        (run / "work/demo/downloads").rglob("*.tif")
    )


def items(run: Path) -> list[dict]:
    """Every STAC item the run wrote."""
    return [
        json.loads(p.read_text()) for p in sorted((run / "results/demo/stac").rglob("*_L2A.json"))
    ]


def test_every_scene_of_the_archive_has_products(run: Path) -> None:
    written = {item["id"] for item in items(run)}
    expected = {demo_archive.item_id(s) for s in demo_archive.DEMO_SCENES}
    assert written == expected


def test_every_product_is_a_valid_cog(run: Path) -> None:
    paths = sorted((run / "results/demo/products").rglob("*.tif"))
    scene_products = [path for path in paths if "composites" not in path.parts]
    assert len(scene_products) == 3 * len(demo_archive.DEMO_SCENES)
    for path in paths:  # the monthly composites too
        valid, errors, _warnings = cog_validate(str(path), strict=True, quiet=True)
        assert valid, (path, errors)
        with rasterio.open(path) as dataset:
            assert dataset.overviews(1), path
            assert dataset.nodata is not None


def test_stac_catalog_validates_with_pystac(run: Path) -> None:
    count = validate_stac_tree(run / "results/demo/stac/collection.json")
    scenes = len(demo_archive.DEMO_SCENES)
    assert count >= scenes + 2 + 1  # items, tile catalogs, collection (plus date levels)


def stac_validator(collection: Path) -> list[dict]:
    """stac-validator's report on a whole tree (offline, with the shipped schemas); every
    object must be valid."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "stac-validator"), "validate", "--recursive",
         "--schema-config", str(SCHEMA_INDEX), str(collection)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    report, _end = json.JSONDecoder().raw_decode(result.stdout[result.stdout.index("[") :])
    assert all(entry["valid_stac"] for entry in report)
    return report


def test_stac_catalog_validates_with_stac_validator(run: Path) -> None:
    report = stac_validator(run / "results/demo/stac/collection.json")
    assert len(report) > len(demo_archive.DEMO_SCENES)


def test_collection_extent_and_tree(run: Path) -> None:
    collection = pystac.Collection.from_file(str(run / "results/demo/stac/collection.json"))
    dates = sorted(s.date for s in demo_archive.DEMO_SCENES)
    interval = collection.extent.temporal.intervals[0]
    assert interval[0].date().isoformat() == dates[0]
    assert interval[1].date().isoformat() == dates[-1]
    # the scene items (the composites' child collection has its own, tested elsewhere)
    all_items = [
        item for item in collection.get_items(recursive=True) if item.collection_id == collection.id
    ]
    assert len(all_items) == len(demo_archive.DEMO_SCENES)
    west, south, east, north = collection.extent.spatial.bboxes[0]
    for item in all_items:
        assert west <= item.bbox[0] and item.bbox[2] <= east
        assert south <= item.bbox[1] and item.bbox[3] <= north
        month_catalog = item.get_parent()
        quarter = month_catalog.get_parent()
        year = quarter.get_parent()
        tile = year.get_parent()
        assert tile.id == item.properties["grid:code"].removeprefix("MGRS-")
        assert year.id.endswith(str(item.datetime.year))
        assert quarter.id.endswith(f"Q{(item.datetime.month - 1) // 3 + 1}")


def _archive_bands(run: Path, scene: demo_archive.DemoScene) -> tuple[dict, dict]:
    """Raw DN of red, NIR and SCL (at 10 m) of a scene, where the default mask buffers reach
    (300 m around cloud, 90 m around shadow: scipy's exact distance transform on the SCL
    grid, independently of raw2ready), and its archive item's properties."""
    folder = run / "archive" / demo_archive.scene_prefix(scene)
    item = json.loads((folder / f"{demo_archive.item_id(scene)}.json").read_text())
    bands = {}
    for band in ("B04", "B08", "SCL"):
        with rasterio.open(folder / f"{band}.tif") as dataset:
            bands[band] = dataset.read(1)
            pixel = dataset.transform.a
    near = np.zeros(bands["SCL"].shape, bool)
    for classes, metres in (([8, 9], 300), ([3], 90)):
        present = np.isin(bands["SCL"], classes)
        if present.any():
            near |= ndimage.distance_transform_edt(~present, sampling=pixel) <= metres
    for name, values in (("SCL", bands["SCL"]), ("buffered", near)):
        bands[name] = np.repeat(np.repeat(values, 2, axis=0), 2, axis=1)
    return bands, item["properties"]


def _product(run: Path, scene: demo_archive.DemoScene, name: str) -> np.ndarray:
    (path,) = (run / "results/demo/products").rglob(f"{demo_archive.item_id(scene)}_{name}.tif")
    with rasterio.open(path) as dataset:
        return dataset.read(1)


@pytest.mark.parametrize("scene", demo_archive.DEMO_SCENES, ids=demo_archive.item_id)
def test_ndvi_equals_independent_recomputation(run: Path, scene: demo_archive.DemoScene) -> None:
    bands, props = _archive_bands(run, scene)
    baseline = tuple(int(p) for p in props["s2:processing_baseline"].split("."))
    offset = -1000 if baseline >= (4, 0) and not props["earthsearch:boa_offset_applied"] else 0
    red = (bands["B04"].astype(np.float64) + offset) / 10000
    nir = (bands["B08"].astype(np.float64) + offset) / 10000
    valid = (bands["B04"] > 0) & (bands["B08"] > 0) & ~np.isin(bands["SCL"], MASKED)
    valid &= ~bands["buffered"]
    stored = _product(run, scene, "ndvi")
    assert valid.sum() > 0.1 * valid.size or scene.cloud_fraction > 0.5
    expected = np.clip((nir - red) / (nir + red), -1, 1)
    np.testing.assert_allclose(stored[valid] * 1e-4, expected[valid], atol=0.5e-4 + 1e-6)
    assert (stored[~valid] == -32768).all()
    mask = _product(run, scene, "mask")
    assert (mask[valid] == 0).all() and (mask[~valid] != 0).all()


@pytest.mark.parametrize("scene", demo_archive.DEMO_SCENES, ids=demo_archive.item_id)
def test_reflectance_is_the_same_surface_whatever_the_offset(
    run: Path, scene: demo_archive.DemoScene
) -> None:
    """Scenes stored with and without the +1000 DN offset all give the true surface NDVI."""
    surface = demo_archive.surface_reflectance(scene.tile, scene.date, seed=42, size=SIZE)
    red = np.rint(surface["B04"] * 10000) / 10000
    nir = np.rint(surface["B08"] * 10000) / 10000
    truth = (nir - red) / (nir + red)
    stored = _product(run, scene, "ndvi")
    clear = stored != -32768
    assert clear.any()
    np.testing.assert_allclose(stored[clear] * 1e-4, truth[clear], atol=0.5e-4 + 1e-6)


def test_second_dry_run_has_nothing_to_do(run: Path) -> None:
    result = snakemake(run, run / "demo.yaml", "-n")
    assert result.returncode == 0, result.stderr
    assert "Nothing to be done" in result.stdout + result.stderr


def test_removing_one_product_recomputes_only_that_scene(run: Path) -> None:
    scene = demo_archive.DEMO_SCENES[3]
    (lai,) = (run / "results/demo/products").rglob(f"{demo_archive.item_id(scene)}_lai.tif")
    others = {
        p: p.stat().st_mtime_ns for p in (run / "results/demo/products").rglob("*.tif") if p != lai
    }
    lai.unlink()
    dry = snakemake(run, run / "demo.yaml", "-n", "--quiet", "rules")
    assert dry.returncode == 0, dry.stderr
    result = snakemake(run, run / "demo.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    assert lai.exists()
    ran = [
        line
        for line in result.stderr.splitlines()
        if line.strip().startswith("rule ") or line.strip().startswith("localrule ")
    ]
    scene_jobs = [line for line in ran if "scene" in line and "_catalog" not in line]
    assert len(scene_jobs) == 1, ran
    # the scene's products, and its month's composite (made from them), are redone
    month_composite = f"{scene.tile}_{scene.date[:7]}_"
    changed = [
        p
        for p, mtime in others.items()
        if p.stat().st_mtime_ns != mtime
        and demo_archive.item_id(scene) not in p.name
        and month_composite not in p.name
    ]
    assert changed == []
    assert job_counts(result)["composite"] == 1


def test_the_summary_counts_what_the_run_made(run: Path) -> None:
    products = [  # the scenes' products (the monthly composites are counted apart)
        p for p in (run / "results/demo/products").rglob("*.tif") if "composites" not in p.parts
    ]
    items = [p for p in (run / "results/demo/stac").rglob("*_L2A.json")]
    result = subprocess.run(
        [sys.executable, "-m", "raw2ready.cli", "summary", "--configfile", "demo.yaml"],
        cwd=run, capture_output=True, text=True, check=True,
    )  # fmt: skip
    first = result.stdout.splitlines()[0]
    scenes = len(demo_archive.DEMO_SCENES)
    assert first == (
        f"campaign demo: {scenes} of {scenes} scene(s) complete in 2 tile(s): "
        f"{len(products)} product(s) (COG), {len(items)} STAC item(s)"
    )
    assert "<" not in result.stdout  # real paths, no placeholders
    assert json.loads((run / "work/demo/outcome.json").read_text()) == {
        "rejected": [], "failed": [],
    }  # fmt: skip
