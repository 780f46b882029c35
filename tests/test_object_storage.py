"""What the workflow decides differently with object storage, and the pieces that let jobs
work from their declared files only (the whole run: tests/test_s3_storage.py)."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from pathlib import Path

import pytest

from raw2ready.campaign.batch_job import write_tile_tree_of_batches
from raw2ready.campaign.batches import Batch, group
from raw2ready.campaign.inventory import read_inventory
from raw2ready.campaign.workflow import load_campaign, storage_root
from raw2ready.demo.synthetic_inventory import write_synthetic_inventories
from raw2ready.errors import ConfigError
from raw2ready.months import Month, months_between, quarters_between
from raw2ready.stac.catalog import TileSummary

from .conftest import BASE_CONFIG, run_cli


def test_storage_root_is_the_folder_snakemake_put_a_declared_path_under() -> None:
    declared = "work/demo/inventories/47PPR.jsonl"
    assert storage_root(declared, declared) == "."
    local = f".snakemake/storage/s3/bucket/run/{declared}"
    assert storage_root(local, declared) == ".snakemake/storage/s3/bucket/run"
    with pytest.raises(ValueError, match="not the declared"):
        storage_root("elsewhere/47PPR.jsonl", declared)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (date(2023, 2, 1), date(2023, 3, 31), [("2023", "Q1")]),
        (date(2021, 11, 15), date(2022, 4, 1), [("2021", "Q4"), ("2022", "Q1"), ("2022", "Q2")]),
        (date(2022, 1, 1), date(2025, 12, 31), [(str(y), f"Q{q}") for y in range(2022, 2026)
                                                for q in range(1, 5)]),
    ],
)  # fmt: skip
def test_quarters_between(start: date, end: date, expected: list[tuple[str, str]]) -> None:
    assert quarters_between(start, end) == expected


def summary(tile: str, items: int, start: str, end: str, bbox: list[float]) -> TileSummary:
    """A month summary with only what merging looks at."""
    return TileSummary(tile, items, bbox, start, end, ["sentinel-2a"], ["05.10"],
                       ["EPSG:32647"], [10.0] * items)  # fmt: skip


def test_a_tile_summary_merges_its_months_and_ignores_empty_ones() -> None:
    merged = TileSummary.merge(
        "47PPR",
        [
            summary("47PPR", 2, "2023-03-01T00:00:00Z", "2023-03-21T00:00:00Z", [99, 14, 100, 15]),
            TileSummary.of_items("47PPR", []),
            summary("47PPR", 1, "2023-01-05T00:00:00Z", "2023-01-05T00:00:00Z", [98, 13, 99, 14]),
        ],
    )
    assert merged.items == 3
    assert (merged.start, merged.end) == ("2023-01-05T00:00:00Z", "2023-03-21T00:00:00Z")
    assert merged.bbox == [98, 13, 100, 15]
    assert merged.cloud_cover == [10.0] * 3
    assert TileSummary.merge("47PPR", []).items == 0


@pytest.fixture
def campaign_config(tmp_path: Path) -> dict:
    """A one-tile campaign over 2022 with relative folders, as under default storage."""
    (tile,) = write_synthetic_inventories(tmp_path / "work" / "inventories", 40, 1, 1)
    return dict(BASE_CONFIG, tiles=[tile], start="2022-01-01", end="2022-12-31",
                output_dir=str(tmp_path / "results"), work_dir=str(tmp_path / "work"))  # fmt: skip


def test_with_object_storage_batches_are_asked_for_their_record_and_redo_all_scenes(
    campaign_config: dict,
) -> None:
    shared = load_campaign(campaign_config, [])
    objects = load_campaign(campaign_config, [], object_storage=True)
    tile = shared.settings.tiles[0]
    inventory = shared.layout.inventory(tile)
    batch = next(iter(group(read_inventory(inventory))))
    batch.record(shared.layout).parent.mkdir(parents=True)
    batch.record(shared.layout).write_text("{}")  # finished, but no product on this disk

    assert shared.searched(tile) and not objects.searched(tile)
    assert batch.repair(shared.layout, 1).as_posix() in shared.batch_targets(inventory)
    assert batch.record(objects.layout).as_posix() in objects.batch_targets(inventory)
    assert not any(".repair-" in path for path in objects.batch_targets(inventory))
    records = group(read_inventory(inventory))[batch]
    assert objects.unfinished(inventory, batch) == records
    months = objects.stac_months(inventory)
    assert len(months) == len(objects.batch_targets(inventory)) == 12
    assert months[0].endswith(f"stac/{tile}/{batch.year}/{batch.quarter}/{batch.month}")


def test_with_object_storage_a_cube_is_refused_up_front(campaign_config: dict) -> None:
    config = dict(campaign_config, cube={"enabled": True})
    assert load_campaign(config, []).settings.cube.enabled  # fine on a shared file system
    with pytest.raises(ConfigError, match=r"key 'cube.enabled'.* set cube.enabled to false"):
        load_campaign(config, ["campaign.yaml"], object_storage=True)


def test_an_inventory_written_after_loading_is_known_only_through_its_checkpoint(
    campaign_config: dict,
) -> None:
    """A search finishing while Snakemake rebuilds the DAG after another tile's search must
    not be taken as searched: its job would drop out of the count (progress over 100 %)."""
    tile = campaign_config["tiles"][0]
    inventory = Path(campaign_config["work_dir"]) / "inventories" / f"{tile}.jsonl"
    written = inventory.read_text()
    inventory.unlink()
    loaded = load_campaign(campaign_config, [])
    inventory.write_text(written)  # the running search writes it now
    assert not loaded.searched(tile)
    assert load_campaign(campaign_config, []).searched(tile)


def test_the_tile_catalog_declares_a_catalog_for_every_year_and_quarter(
    campaign_config: dict,
) -> None:
    patterns = load_campaign(campaign_config, []).tree_catalogs()
    output_dir = campaign_config["output_dir"]
    assert patterns[0] == f"{output_dir}/stac/{{tile}}/2022/catalog.json"
    assert patterns[1:] == [
        f"{output_dir}/stac/{{tile}}/2022/Q{q}/catalog.json" for q in range(1, 5)
    ]


def test_a_family_tile_catalog_declares_every_month_too(campaign_config: dict) -> None:
    campaign_config.update(start="2022-11-15", end="2023-01-31")
    patterns = load_campaign(campaign_config, []).tree_catalogs("sentinel-1", months=True)
    tile_dir = f"{campaign_config['output_dir']}/stac/sentinel-1/{{tile}}"
    assert [p.removeprefix(tile_dir) for p in patterns] == [
        "/2022/catalog.json", "/2023/catalog.json", "/2022/Q4/catalog.json",
        "/2023/Q1/catalog.json", "/2022/Q4/11/catalog.json", "/2022/Q4/12/catalog.json",
        "/2023/Q1/01/catalog.json",
    ]  # fmt: skip
    assert months_between(date(2023, 12, 31), date(2023, 12, 31)) == [Month("2023", "Q4", "12")]


def test_a_family_has_every_tile_year_quarter_and_month_catalog(campaign_config: dict) -> None:
    campaign_config.update(tiles=["47PPR", "48PUB"], start="2022-12-01", end="2023-01-31")
    catalogs = load_campaign(campaign_config, []).family_catalogs("composites")
    root = f"{campaign_config['output_dir']}/stac/composites"
    expected = [
        f"{root}/{tile}/{part}catalog.json"
        for tile in ("47PPR", "48PUB")
        for part in ("", "2022/", "2023/", "2022/Q4/", "2023/Q1/", "2022/Q4/12/", "2023/Q1/01/")
    ]
    assert sorted(catalogs) == sorted(expected)


def test_settings_under_a_root_keep_their_digest(campaign_config: dict) -> None:
    campaign_config.update(output_dir="results/x", work_dir="work/x")
    settings = load_campaign(campaign_config, []).settings
    moved = dataclasses.replace(settings, root=Path("/copy"))
    assert (moved.output_dir, moved.work_dir) == (Path("/copy/results/x"), Path("/copy/work/x"))
    assert moved.digest() == settings.digest()


def batch_record(path: Path, tile: str, year: str, month: str, part: TileSummary) -> Path:
    """A finished batch's record with what the tile catalog job reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"tile": tile, "year": year, "month": month,
                                "summary": part.to_dict()}))  # fmt: skip
    return path


def test_the_tile_tree_links_the_batches_months_under_every_quarter(
    campaign_config: dict, tmp_path: Path
) -> None:
    campaign = load_campaign(campaign_config, [])
    tile = campaign.settings.tiles[0]
    one = summary(tile, 2, "2022-02-01T00:00:00Z", "2022-02-11T00:00:00Z", [99, 14, 100, 15])
    two = summary(tile, 1, "2022-08-03T00:00:00Z", "2022-08-03T00:00:00Z", [99, 14, 100, 15])
    records = [
        batch_record(tmp_path / "b1.json", tile, "2022", "02", one),
        batch_record(tmp_path / "b2.json", tile, "2022", "08", two),
    ]
    merged = write_tile_tree_of_batches(campaign.settings, campaign.layout, tile, records)

    assert merged.items == 3
    tile_dir = campaign.layout.tile_catalog(tile).parent
    year = json.loads((tile_dir / "2022" / "catalog.json").read_text())
    assert [link["href"] for link in year["links"] if link["rel"] == "child"] == [
        f"./Q{q}/catalog.json" for q in range(1, 5)
    ]

    def months(quarter: str) -> list[str]:
        data = json.loads((tile_dir / "2022" / quarter / "catalog.json").read_text())
        return [link["href"] for link in data["links"] if link["rel"] == "child"]

    assert [months(f"Q{q}") for q in range(1, 5)] == [
        ["./02/catalog.json"],
        [],
        ["./08/catalog.json"],
        [],
    ]
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"tile": tile, "year": "2022", "month": "03"}))
    with pytest.raises(ConfigError, match=r"old\.json has no month summary.*delete it"):
        write_tile_tree_of_batches(campaign.settings, campaign.layout, tile, [old])
    batch_record(tmp_path / "other.json", "48PUB", "2022", "03", one)
    with pytest.raises(ConfigError, match=r"other\.json is of tile 48PUB"):
        write_tile_tree_of_batches(
            campaign.settings, campaign.layout, tile, [tmp_path / "other.json"]
        )


def test_tile_catalog_cli_needs_batch_records_or_a_family_inventory(tmp_path: Path) -> None:
    config = tmp_path / "c.json"
    config.write_text(json.dumps(BASE_CONFIG))
    result = run_cli(
        "tile-catalog", "--configfile", str(config), "--tile", "47PPR", "--inventory", "x.jsonl"
    )
    assert result.returncode == 2
    assert "give BATCH_RECORDS, or --family with --inventory" in result.stderr
    assert "Traceback" not in result.stderr


def test_batch_of_a_record_names_its_month_in_the_tree() -> None:
    month = Batch("47PPR", "2022", "08").month_of_tree
    assert (month.year, month.quarter, month.month) == ("2022", "Q3", "08")
