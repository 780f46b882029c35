"""Run records: what a run started from, kept so a later rerun can show what differs."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from raw2ready.campaign.inventory import read_inventory, write_inventory
from raw2ready.campaign.provenance import (
    diff,
    finish_run,
    load_record,
    render_diff,
    start_run,
    state,
)
from raw2ready.cli import cli
from raw2ready.demo.synthetic_inventory import write_synthetic_inventories
from raw2ready.layout import Layout

from .conftest import make_settings, write_demo_campaign
from .test_workflow import snakemake


def campaign(tmp_path: Path, **overrides: object):
    """Settings and layout of a synthetic two-tile campaign with inventories."""
    tiles = write_synthetic_inventories(tmp_path / "work" / "inventories", 60, 2, 1)
    settings = make_settings(tmp_path, tiles=tiles, **overrides)
    return settings, Layout(settings.output_dir, settings.work_dir)


def test_a_run_record_holds_config_software_and_inventory_snapshots(tmp_path: Path) -> None:
    settings, layout = campaign(tmp_path)
    path = start_run(settings, layout, ["snakemake", "--cores", "2"])
    record = json.loads(path.read_text())
    assert record["status"] == "running" and record["finished"] is None
    assert record["config_sha256"] == settings.digest() and record["config"] == settings.document
    assert {"raw2ready", "GDAL", "rasterio", "python", "snakemake"} <= set(record["software"])
    for tile in settings.tiles:
        snapshot = record["inventories"][tile]
        stored = layout.inventory_snapshot(snapshot["sha256"])
        assert gzip.decompress(stored.read_bytes()) == layout.inventory(tile).read_bytes()
        assert snapshot["scenes"] == 30

    finish_run(settings, layout, path, "succeeded")
    assert load_record(layout, None)["status"] == "succeeded"
    snapshots = sorted(layout.inventory_snapshot("x").parent.iterdir())
    start_run(settings, layout, ["snakemake"])
    assert sorted(layout.inventory_snapshot("x").parent.iterdir()) == snapshots  # kept once


def test_diff_names_config_keys_software_and_the_scenes_an_archive_changed(
    tmp_path: Path,
) -> None:
    settings, layout = campaign(tmp_path)
    record = json.loads(start_run(settings, layout, ["snakemake"]).read_text())
    first, second = settings.tiles
    records = read_inventory(layout.inventory(first))
    dropped, reprocessed = records[0], records[1]
    changed = type(reprocessed)(**{**reprocessed.__dict__, "processing_baseline": "05.10"})
    added = type(reprocessed)(**{**reprocessed.__dict__, "id": "S2C_NEW_20220101_0_L2A"})
    write_inventory(layout.inventory(first), [changed, *records[2:], added])
    now = make_settings(tmp_path, tiles=list(settings.tiles), lai={"model": "evi_boegh"})
    record["software"]["rasterio"] = "0.0.1"

    changes = diff(layout, record, state(now, layout, keep_snapshots=False), new_is_current=True)

    assert changes["config"] == [{"key": "lai.model", "old": "savi_metric", "new": "evi_boegh"}]
    assert [c["key"] for c in changes["software"]] == ["rasterio"]
    assert list(changes["inventories"]) == [first]
    tile = changes["inventories"][first]
    assert tile["added"] == [added.id]
    assert tile["removed"] == [dropped.id]
    assert tile["changed"] == [reprocessed.id]
    assert second not in changes["inventories"]
    text = render_diff("run vs now", changes)
    assert "lai.model: 'savi_metric' -> 'evi_boegh'" in text
    assert f"{first}: 1 added, 1 removed, 1 changed" in text
    nothing = diff(layout, record, record)
    assert render_diff("same", nothing) == "same: no difference in config, software or inventories"


def test_provenance_commands_list_and_diff(tmp_path: Path) -> None:
    settings, layout = campaign(tmp_path)
    configfile = tmp_path / "campaign.yaml"
    configfile.write_text(yaml.safe_dump(settings.document))
    runner = CliRunner()
    missing = runner.invoke(cli, ["provenance", "diff", "--configfile", str(configfile)])
    assert missing.exit_code != 0 and "no run records" in str(missing.exception)

    first = json.loads(start_run(settings, layout, ["snakemake"]).read_text())["run"]
    settings.document["max_cloud_cover"] = 30
    configfile.write_text(yaml.safe_dump(settings.document))
    second = json.loads(start_run(settings, layout, ["snakemake"]).read_text())["run"]

    listed = runner.invoke(cli, ["provenance", "list", "--configfile", str(configfile)])
    assert listed.exit_code == 0
    assert [line.split()[0] for line in listed.output.splitlines()] == [first, second]
    latest = runner.invoke(cli, ["provenance", "diff", "--configfile", str(configfile)])
    assert (
        latest.output.strip()
        == f"run {second} vs now: no difference in config, software or inventories"
    )
    between = runner.invoke(
        cli, ["provenance", "diff", "--configfile", str(configfile), first, "--against", second,
              "--json"],
    )  # fmt: skip
    assert between.exit_code == 0
    assert json.loads(between.output)["config"] == [
        {"key": "max_cloud_cover", "old": 100, "new": 30}
    ]
    unknown = runner.invoke(cli, ["provenance", "diff", "--configfile", str(configfile), "nope"])
    assert "run record 'nope' not found" in str(unknown.exception)


def test_the_workflow_records_its_runs(tmp_path: Path) -> None:
    config = write_demo_campaign(tmp_path, size=64)
    result = snakemake(tmp_path, config)
    assert result.returncode == 0, result.stderr[-3000:]
    layout = Layout(tmp_path / "work/demo", tmp_path / "work/demo")
    (path,) = (tmp_path / "work/demo/runs").glob("*.json")
    record = json.loads(path.read_text())
    assert record["status"] == "succeeded" and record["finished"]
    assert set(record["inventories"]) == {"47PPR", "48PUB"}  # written by this run's searches
    for tile, snapshot in record["inventories"].items():
        stored = layout.inventory_snapshot(snapshot["sha256"])
        assert (
            gzip.decompress(stored.read_bytes())
            == (tmp_path / f"work/demo/inventories/{tile}.jsonl").read_bytes()
        )
    assert "--configfile" in record["command"]
    dry = snakemake(tmp_path, config, "-n")
    assert dry.returncode == 0
    assert len(list((tmp_path / "work/demo/runs").glob("*.json"))) == 1  # no record on a dry-run
