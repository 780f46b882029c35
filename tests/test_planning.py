"""Planning: synthetic inventories, `raw2ready plan` and its agreement with Snakemake.

The plan makes the Snakefile's decisions with the same functions; the workflow tests here
check that its job counts equal Snakemake's own dry-run on the demo campaign before a run,
after a partial run, after a full run and after a product is lost.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from raw2ready.campaign.inventory import read_inventory
from raw2ready.campaign.planning import JobFigures, make_plan, render, snakemake_jobs
from raw2ready.cli import cli
from raw2ready.config import load_settings
from raw2ready.demo import archive as demo_archive
from raw2ready.demo.synthetic_inventory import baseline_of, write_synthetic_inventories
from raw2ready.grid import parse_tile

from .conftest import PROJECT, make_settings, run_cli, write_demo_campaign
from .test_s3_storage import write_s1_campaign
from .test_sen2cor_snap import doubles  # noqa: F401  (fixture)
from .test_workflow import job_counts, snakemake

SNAKEFILE, LOCAL = PROJECT / "Snakefile", PROJECT / "profiles" / "local"

FIGURES = JobFigures(
    per_job={
        "scene": {"cpu_seconds": 36.0, "peak_rss_mb": 500.0},
        "tile_catalog": {"cpu_seconds": 3.6},
        "collection": {"cpu_seconds": 7.2},
        "search": {"cpu_seconds": 1.0},
    },
    output_bytes={"ndvi": 100_000_000, "lai": 90_000_000, "mask": 10_000_000, "item": 5_000},
    measured={"by": "a test"},
)


def test_synthetic_inventories_look_like_a_real_campaign(tmp_path: Path) -> None:
    tiles = write_synthetic_inventories(tmp_path, scenes=1000, tiles=5, years=4, seed=3)
    assert len(set(tiles)) == 5 and all(parse_tile(t).id == t for t in tiles)
    records = [r for tile in tiles for r in read_inventory(tmp_path / f"{tile}.jsonl")]
    assert len(records) == 1000 and len({r.id for r in records}) == 1000
    assert Counter(r.tile for r in records) == {tile: 200 for tile in tiles}
    assert {r.year for r in records} == {"2022", "2023", "2024", "2025"}
    assert Counter(r.platform for r in records) == {"sentinel-2a": 500, "sentinel-2b": 500}
    for record in records:
        assert record.id == f"S2{record.platform[-1].upper()}_{record.tile}_" + (
            f"{record.acquired:%Y%m%d}_0_L2A"
        )
        assert record.processing_baseline == baseline_of(record.acquired.date())
        assert record.apply_boa_offset == (record.processing_baseline >= "04.00")
        assert set(record.bands) == {"B02", "B04", "B08", "SCL"}
        assert all(band.size and band.href.endswith(".tif") for band in record.bands.values())
    assert {r.apply_boa_offset for r in records} == {True, False}
    again = write_synthetic_inventories(tmp_path / "again", scenes=1000, tiles=5, years=4, seed=3)
    assert again == tiles
    assert (tmp_path / "again" / f"{tiles[0]}.jsonl").read_text() == (
        tmp_path / f"{tiles[0]}.jsonl"
    ).read_text()


def test_synth_inventory_command_writes_a_campaign_the_plan_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inventories = tmp_path / "work" / "inventories"
    result = CliRunner().invoke(
        cli,
        ["synth-inventory", "--scenes", "500", "--tiles", "4", "--years", "2",
         str(inventories), "--config", str(tmp_path / "campaign.yaml")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    settings = load_settings(tmp_path / "campaign.yaml")
    assert len(settings.tiles) == 4
    assert sorted(p.stem for p in inventories.glob("*.jsonl")) == sorted(settings.tiles)

    monkeypatch.chdir(tmp_path)
    plan = make_plan(
        settings, snakemake_jobs(tmp_path / "campaign.yaml", SNAKEFILE, LOCAL), FIGURES
    )

    scenes = plan["scenes"]
    assert (scenes["total"], scenes["complete"], scenes["to_process"]) == (500, 0, 500)
    assert list(scenes["per_year"]) == ["2022", "2023"]
    assert all(245 <= count <= 255 for count in scenes["per_year"].values())
    assert plan["jobs"] == {
        "download": 4 * 24, "scenes": 4 * 24, "tile_catalog": 4, "collection": 1, "report": 1,
        "check": 1, "all": 1, "total": 2 * 4 * 24 + 8,
    }  # fmt: skip
    assert sum(tile["scenes"] for tile in plan["tiles"].values()) == 500
    estimate = plan["estimate"]
    assert estimate["core_hours"] == round((500 * 36.0 + 4 * 3.6 + 7.2) / 3600, 2)
    assert estimate["output_gb"] == round(500 * 200_005_000 / 1e9, 3)
    downloads = sum(
        band.size for tile in settings.tiles
        for r in read_inventory(inventories / f"{tile}.jsonl") for band in r.bands.values()
    )  # fmt: skip
    assert estimate["download_gb"] == round(downloads / 1e9, 3)
    assert "500 to process" in render(plan)


def test_synth_inventory_refuses_a_config_its_inventories_cannot_serve(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["synth-inventory", "--scenes", "5", "--tiles", "1", str(tmp_path / "elsewhere"),
         "--config", str(tmp_path / "c.yaml")],
    )  # fmt: skip
    assert result.exit_code != 0
    assert "named 'inventories'" in str(result.exception)
    assert not (tmp_path / "elsewhere").exists()


def test_a_tile_without_inventory_is_planned_as_a_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path, tiles=["47PPR"])
    (tmp_path / "c.json").write_text(settings.to_json())
    monkeypatch.chdir(tmp_path)
    plan = make_plan(settings, snakemake_jobs(tmp_path / "c.json", SNAKEFILE, LOCAL), FIGURES)
    assert plan["jobs"] == {
        "search": 1, "tile_catalog": 1, "collection": 1, "report": 1, "check": 1, "all": 1,
        "total": 6,
    }  # fmt: skip
    assert plan["tiles"]["47PPR"]["searched"] is False
    assert "not searched yet" in render(plan)


def test_outputs_without_measured_sizes_are_named(tmp_path: Path) -> None:
    write_synthetic_inventories(tmp_path / "work" / "inventories", 10, 1, 1)
    (tile,) = [p.stem for p in (tmp_path / "work" / "inventories").glob("*.jsonl")]
    settings = make_settings(
        tmp_path, tiles=[tile], products=["ndvi", "fcover"], processors={"lai": "snap"}
    )
    plan = make_plan(settings, Counter(), FIGURES)
    assert plan["estimate"]["unmeasured_outputs"] == ["fcover"]
    assert "no measured size for: fcover" in render(plan)


def test_the_shipped_figures_say_how_they_were_measured() -> None:
    figures = JobFigures.load()
    assert figures.measured["by"].startswith("python benchmarks/")
    assert figures.measured["how"] and figures.measured["date"]
    assert figures.cpu_seconds("scene") > 0
    assert {"ndvi", "lai", "mask", "item"} <= set(figures.output_bytes)


# --- against Snakemake, on the demo campaign ---------------------------------------------


def dry_run_jobs(root: Path) -> dict[str, int]:
    """Jobs per rule and total of a user's own `snakemake -n` (its job table)."""
    result = snakemake(root, root / "demo.yaml", "-n", "--quiet", "rules")
    assert result.returncode == 0, result.stderr[-3000:]
    return job_counts(result) or {"total": 0}


def plan_json(root: Path, work_dir: str = "work/demo") -> dict:
    """`raw2ready plan --json` run like a user would, in the campaign folder."""
    result = run_cli("plan", "--configfile", "demo.yaml", "--json", cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    plan = json.loads(result.stdout)
    assert json.loads((root / work_dir / "plan.json").read_text()) == plan
    return plan


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo campaign (small rasters), nothing run yet."""
    root = tmp_path_factory.mktemp("plan")
    write_demo_campaign(root, size=256)
    return root


def scene_ids(tile: str) -> set[str]:
    return {demo_archive.item_id(s) for s in demo_archive.DEMO_SCENES if s.tile == tile}


def test_plan_before_a_run_searches_and_counts_what_snakemake_would_run(demo: Path) -> None:
    plan = plan_json(demo)
    scenes = len(demo_archive.DEMO_SCENES)
    assert (demo / "work/demo/inventories/47PPR.jsonl").exists()
    assert plan["scenes"]["total"] == scenes and plan["scenes"]["to_process"] == scenes
    assert plan["existing"]["products"] == 0 and not plan["existing"]["collection"]
    months = {(s.tile, s.date[:7]) for s in demo_archive.DEMO_SCENES}
    assert plan["jobs"] == {
        "download": len(months), "scenes": len(months), "tile_catalog": 2, "collection": 1,
        "report": 1, "check": 1, "all": 1,
        # the demo's monthly composites and per-tile cubes
        "composite": len(months), "composites_tile_catalog": 2, "composites_collection": 1,
        "cube": 2, "total": 3 * len(months) + 11,
    }  # fmt: skip
    assert plan["jobs"] == dry_run_jobs(demo)


def test_plan_after_a_partial_run_counts_only_what_is_left(demo: Path) -> None:
    records = read_inventory(demo / "work/demo/inventories/47PPR.jsonl")
    done = [r for r in records if r.year <= "2022"]
    targets = sorted({f"work/demo/batches/47PPR/{r.year}/{r.quarter}/{r.month}.json" for r in done})
    result = snakemake(demo, demo / "demo.yaml", *targets)
    assert result.returncode == 0, result.stderr[-3000:]

    plan = plan_json(demo)

    total = len(demo_archive.DEMO_SCENES)
    assert plan["scenes"]["complete"] == len(done)
    assert plan["scenes"]["to_process"] == total - len(done)
    assert plan["tiles"]["47PPR"]["complete"] == len(done)
    assert plan["existing"]["products"] == 3 * len(done)
    assert plan["existing"]["items"] == len(done)
    assert plan["jobs"] == dry_run_jobs(demo)
    months = {(s.tile, s.date[:7]) for s in demo_archive.DEMO_SCENES}
    assert plan["jobs"]["scenes"] == plan["jobs"]["download"] == len(months) - len(targets)


def test_plan_after_a_full_run_then_a_lost_product(demo: Path) -> None:
    result = snakemake(demo, demo / "demo.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    plan = plan_json(demo)
    assert plan["jobs"] == {"total": 0} == dry_run_jobs(demo)
    assert plan["scenes"]["to_process"] == 0 and plan["existing"]["collection"]

    scene = sorted(scene_ids("48PUB"))[2]
    (lost,) = (demo / "results/demo/products").rglob(f"{scene}_ndvi.tif")
    lost.unlink()
    plan = plan_json(demo)

    assert plan["scenes"]["to_process"] == 1
    assert plan["tiles"]["48PUB"]["to_process"] == 1
    assert plan["jobs"] == {
        "download": 1, "repair_scenes": 1, "tile_catalog": 1, "collection": 1, "report": 1,
        "check": 1, "all": 1, "composite": 1, "composites_tile_catalog": 1,
        "composites_collection": 1, "cube": 1, "total": 11,
    }  # fmt: skip
    assert plan["jobs"] == dry_run_jobs(demo)
    assert "repair_scenes" in render(plan)


def test_plan_reports_a_bad_config_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"campaign": "x", "tiles": ["47PPR"]}))
    result = run_cli("plan", "--configfile", str(tmp_path / "bad.yaml"))
    assert result.returncode == 1
    assert result.stderr.startswith("raw2ready: error: ") and len(result.stderr.splitlines()) == 1


def test_plan_counts_the_sentinel1_family_too(
    tmp_path: Path,
    doubles: dict[str, Path],  # noqa: F811
) -> None:
    """SAFE L2A + one Sentinel-1 GRD product over two tiles: two product-tile scenes."""
    write_s1_campaign(tmp_path)

    plan = plan_json(tmp_path, work_dir="work")

    assert plan["sentinel1"] == {"scenes": 2, "to_process": 2}
    assert plan["jobs"]["sentinel1_download"] == plan["jobs"]["sentinel1_scene"] == 2
    assert plan["jobs"]["sentinel1_tile_catalog"] == 2
    assert plan["jobs"]["sentinel1_collection"] == 1
    assert "Sentinel-1: 2 product-tile scene(s), 2 to process" in render(plan)
    assert plan["jobs"] == dry_run_jobs(tmp_path)
