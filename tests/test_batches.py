"""Batches: grouping, the record the workflow asks for, and the batch job's skip/fail rules.

The scene processing is replaced by a stand-in that writes empty outputs, so these tests
check only what the batch layer decides: which scenes run, what is recorded, what a failure
leaves behind.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import pytest

from raw2ready.campaign.batch_job import process_batch
from raw2ready.campaign.batches import Batch, group, is_complete, target, unfinished
from raw2ready.campaign.downloads import downloaded
from raw2ready.campaign.inventory import read_inventory, write_inventory
from raw2ready.config import Settings
from raw2ready.demo.synthetic_inventory import write_synthetic_inventories
from raw2ready.errors import ConfigError, DownloadError, ProcessingError
from raw2ready.layout import Layout
from raw2ready.scene import BandAsset, SceneRecord

from .conftest import make_settings, run_cli, settings_file
from .rasters import geotiff_bytes


@pytest.fixture
def campaign(tmp_path: Path) -> tuple[Settings, Layout, dict[Batch, list[SceneRecord]]]:
    """Settings, layout and the batches of one synthetic tile of 40 scenes over a year."""
    (tile,) = write_synthetic_inventories(tmp_path / "work" / "inventories", 40, 1, 1)
    settings = make_settings(tmp_path, tiles=[tile])
    layout = Layout(settings.output_dir, settings.work_dir)
    return settings, layout, group(read_inventory(layout.inventory(tile)))


def finish(layout: Layout, record: SceneRecord, products: list[str]) -> None:
    """Stand-in for a scene's processing: empty products, an item with what summaries read."""
    for path in (layout.product(record, p) for p in products):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    item = {
        "bbox": [99.0, 14.0, 100.0, 15.0],
        "properties": {"datetime": record.datetime, "platform": record.platform,
                       "proj:code": "EPSG:32647", "eo:cloud_cover": 12.5},
        "assets": {p: {"href": str(layout.product(record, p))} for p in products},
    }  # fmt: skip
    layout.item(record).parent.mkdir(parents=True, exist_ok=True)
    layout.item(record).write_text(json.dumps(item))


def test_batches_are_the_scenes_of_one_tile_and_month(campaign) -> None:
    _settings, _layout, batches = campaign
    assert len(batches) == 12
    assert list(batches) == sorted(batches)
    for batch, records in batches.items():
        assert {(r.tile, r.year, r.month) for r in records} == {
            (batch.tile, batch.year, batch.month)
        }
        assert batch.quarter == f"Q{(int(batch.month) - 1) // 3 + 1}"
    assert sum(len(records) for records in batches.values()) == 40
    assert Batch.parse("47NLG", "2022-07") == Batch("47NLG", "2022", "07")
    with pytest.raises(ConfigError, match="'2022-13' is not a month"):
        Batch.parse("47NLG", "2022-13")


def test_a_batch_is_asked_for_its_record_then_a_repair_when_an_output_is_lost(campaign) -> None:
    settings, layout, batches = campaign
    products = settings.products
    batch, records = next(iter(batches.items()))
    record_path = batch.record(layout)
    assert target(layout, batch, records, products) == record_path  # never run
    for record in records:
        finish(layout, record, products)
    assert target(layout, batch, records, products) == record_path  # done, record missing
    record_path.parent.mkdir(parents=True, exist_ok=True)
    record_path.write_text("{}")
    assert target(layout, batch, records, products) == record_path  # done and recorded

    lost = layout.product(records[0], "lai")
    lost.unlink()
    assert not is_complete(layout, records[0], products)
    first_repair = target(layout, batch, records, products)
    assert first_repair == record_path.with_name(f"{batch.month}.repair-1.json")
    finish(layout, records[0], products)
    first_repair.write_text("{}")
    assert target(layout, batch, records, products) == first_repair  # the latest record

    layout.item(records[-1]).unlink()
    assert target(layout, batch, records, products).name == f"{batch.month}.repair-2.json"


def test_the_batch_job_processes_only_unfinished_scenes_and_records_them(campaign) -> None:
    settings, layout, batches = campaign
    batch, records = next(iter(batches.items()))
    assert len(records) >= 3
    finish(layout, records[0], settings.products)
    calls: list[str] = []

    def process(_settings: Settings, record: SceneRecord) -> None:
        calls.append(record.id)
        finish(layout, record, settings.products)

    outcomes = process_batch(settings, layout, batch, records, batch.record(layout), process)

    assert calls == [r.id for r in records[1:]]
    assert [o.status for o in outcomes] == ["complete"] + ["processed"] * (len(records) - 1)
    written = json.loads(batch.record(layout).read_text())
    assert written["config_sha256"] == settings.digest()
    assert [s["id"] for s in written["scenes"]] == [r.id for r in records]
    assert all(is_complete(layout, r, settings.products) for r in records)
    assert written["summary"]["items"] == len(records)
    assert written["summary"]["start"] == min(r.datetime for r in records)
    month = json.loads((layout.item(records[0]).parent.parent / "catalog.json").read_text())
    assert sorted(link["href"] for link in month["links"] if link["rel"] == "item") == sorted(
        f"{r.id}/{r.id}.json" for r in records
    )


def test_a_failed_scene_costs_only_itself_and_is_recorded_with_its_cause(campaign) -> None:
    settings, layout, batches = campaign
    batch, records = next(iter(batches.items()))
    broken = records[1].id
    cause = f"{broken}/B08.tif: HTTP 503 (gave up after 3 attempts)"

    def process(_settings: Settings, record: SceneRecord) -> None:
        if record.id == broken:
            raise DownloadError(cause)
        finish(layout, record, settings.products)

    outcomes = process_batch(settings, layout, batch, records, batch.record(layout), process)

    assert [o.status for o in outcomes] == [
        "failed" if r.id == broken else "processed" for r in records
    ]
    written = json.loads(batch.record(layout).read_text())
    assert [(s["id"], s["status"], s["error"]) for s in written["scenes"]] == [
        (r.id, "failed", cause) if r.id == broken else (r.id, "processed", None) for r in records
    ]
    assert written["summary"]["items"] == len(records) - 1
    month = json.loads((layout.item(records[0]).parent.parent / "catalog.json").read_text())
    assert sorted(link["href"] for link in month["links"] if link["rel"] == "item") == sorted(
        f"{r.id}/{r.id}.json" for r in records if r.id != broken
    )
    assert [is_complete(layout, r, settings.products) for r in records] == [
        r.id != broken for r in records
    ]
    # the workflow asks for a repair record: the next run redoes the failed scene only
    assert target(layout, batch, records, list(settings.products)) == batch.repair(layout, 1)
    assert unfinished(layout, records, settings.products) == [records[1]]
    log = layout.scene_log(records[1]).read_text().strip().splitlines()
    assert log[-1] == f"raw2ready: error: {cause}"


def test_an_empty_batch_is_an_error(campaign) -> None:
    settings, layout, _batches = campaign
    batch = Batch("47NLG", "1999", "01")
    with pytest.raises(ProcessingError, match="no scene of the inventory"):
        process_batch(settings, layout, batch, [], batch.record(layout), lambda *_: None)


def local_bands(record: SceneRecord, archive: Path) -> SceneRecord:
    """The record with its bands as local files of known content (what a download copies)."""
    bands = {}
    for band in record.bands:
        path = archive / record.id / f"{band}.tif"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(geotiff_bytes(len(bands), 64))
        bands[band] = BandAsset(str(path), path.stat().st_size)
    return dataclasses.replace(record, bands=bands)


def download_job(
    settings: Settings, inventory: Path, batch: Batch, folder: Path
) -> subprocess.CompletedProcess[str]:
    """`raw2ready download` for one batch, as the workflow's download job runs it."""
    return run_cli(
        "download", "--settings", settings_file(settings, inventory.parent),
        "--inventory", str(inventory),
        "--tile", batch.tile, "--month", f"{batch.year}-{batch.month}", "--output", str(folder),
    )  # fmt: skip


def test_the_download_job_fetches_only_the_unfinished_scenes(campaign, tmp_path: Path) -> None:
    settings, layout, batches = campaign
    batch, records = next(iter(batches.items()))
    records = [local_bands(record, tmp_path / "archive") for record in records]
    write_inventory(tmp_path / "batch.jsonl", records)
    finish(layout, records[0], settings.products)
    folder = batch.downloads(layout)

    result = download_job(settings, tmp_path / "batch.jsonl", batch, folder)

    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(p.name for p in folder.iterdir()) == sorted(r.id for r in records[1:])
    for record in records[1:]:
        files = downloaded(record, folder)
        assert set(files) == set(record.bands)
        for band, path in files.items():
            assert path.read_bytes() == Path(record.bands[band].href).read_bytes()
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # nothing partial left
    with pytest.raises(ProcessingError, match=r"not \(all\) in .*delete that folder and rerun"):
        downloaded(records[0], folder)


def test_a_scene_that_cannot_be_fetched_costs_only_itself(campaign, tmp_path: Path) -> None:
    settings, layout, batches = campaign
    batch, records = next(iter(batches.items()))
    records = [local_bands(record, tmp_path / "archive") for record in records]
    Path(records[2].bands["B08"].href).unlink()
    write_inventory(tmp_path / "batch.jsonl", records)
    folder = batch.downloads(layout)

    result = download_job(settings, tmp_path / "batch.jsonl", batch, folder)

    assert result.returncode == 0, result.stderr
    assert (folder / records[0].id / "B04.tif").read_bytes() == Path(
        records[0].bands["B04"].href
    ).read_bytes()
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # nothing partial left
    with pytest.raises(DownloadError, match=rf"{records[2].id} was not fetched: .*B08.tif: no"):
        downloaded(records[2], folder)
