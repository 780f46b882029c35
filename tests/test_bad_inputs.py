"""Bad inputs a new user meets (config, archive items, files, command line): each ends with
the right exit status (non-zero, or zero where the right answer is a clean skip), one clear
line naming the culprit, no traceback, and nothing corrupt left behind or reused.

Most cases run the `raw2ready` entry point in-process (seconds for all); one runs the
Snakefile (`snakemake -n`). The table of every case and the line it prints is
docs/bad-inputs.md.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from raw2ready.campaign.inventory import read_inventory
from raw2ready.campaign.workflow import load_campaign
from raw2ready.cli import main
from raw2ready.demo import archive as demo_archive
from raw2ready.errors import ConfigError
from raw2ready.stac.validation import validate_stac_tree

from .conftest import PROJECT

BASE: dict[str, Any] = {
    "campaign": "bad-inputs",
    "archive": {"kind": "static_catalog", "url": "archive/catalog.json"},
    "tiles": ["48PUB"],
    "start": "2021-01-01",
    "end": "2024-12-31",
    "output_dir": "results",
    "work_dir": "work",
}
DELETE = object()


def invoke(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`raw2ready ARGS` in this process, as the console entry point runs it."""
    argv, sys.argv = sys.argv, ["raw2ready", *args]
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.argv = argv
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_clear_line(output: str, culprit: str) -> str:
    """The output names the culprit on exactly one line, without a traceback; that line."""
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if culprit in line]
    assert len(lines) == 1, output
    return lines[0]


def files_under(folder: Path) -> set[Path]:
    """Every file below folder (to show a failed command left nothing)."""
    return {path for path in folder.rglob("*") if path.is_file()}


def with_key(path: str, value: Any) -> dict[str, Any]:
    """BASE with the dotted key set to value (DELETE removes it)."""
    config = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    section = config
    for key in parents:
        section = section.setdefault(key, {})
    if value is DELETE:
        section.pop(last, None)
    else:
        section[last] = value
    return config


# (case, dotted key, value, what the line must name)
CONFIG_VALUES = [
    ("no campaign", "campaign", DELETE, "'campaign' is a required key"),
    ("empty campaign name", "campaign", "", "key 'campaign'"),
    ("campaign name with a slash", "campaign", "a b/c", "key 'campaign'"),
    ("no archive", "archive", DELETE, "'archive' is a required key"),
    ("unknown archive kind", "archive.kind", "nope", "key 'archive.kind'"),
    ("archive without url", "archive.url", DELETE, "'url' is a required key"),
    ("empty archive url", "archive.url", "", "key 'archive.url'"),
    ("collection not text", "archive.collection", 5, "key 'archive.collection'"),
    ("page size 0", "archive.page_size", 0, "key 'archive.page_size'"),
    ("unknown tile filter", "archive.tile_filter", "nope", "key 'archive.tile_filter'"),
    ("unknown archive key", "archive.bogus", 1, "unknown key 'archive.bogus'"),
    ("no tiles", "tiles", DELETE, "'tiles' is a required key"),
    ("empty tile list", "tiles", [], "key 'tiles'"),
    ("tile id too long", "tiles", ["47PPRX"], "key 'tiles[0]'"),
    ("tile outside the grid", "tiles", ["47ZZZ"], "key 'tiles[0]'"),
    ("tile listed twice", "tiles", ["47PPR", "47PPR"], "key 'tiles'"),
    ("tiles not a list", "tiles", "47PPR", "key 'tiles'"),
    ("no start", "start", DELETE, "'start' is a required key"),
    ("no end", "end", DELETE, "'end' is a required key"),
    ("month 13", "start", "2023-13-01", "key 'start'"),
    ("February 30th (quoted)", "start", "2023-02-30", "key 'start'"),
    ("date as a word", "start", "yesterday", "key 'start'"),
    ("date as a number", "start", 20230101, "key 'start'"),
    ("end before start", "end", "2020-01-01", "is after key 'end'"),
    ("cloud cover above 100", "max_cloud_cover", 150, "key 'max_cloud_cover'"),
    ("negative cloud cover", "max_cloud_cover", -1, "key 'max_cloud_cover'"),
    ("cloud cover as text", "max_cloud_cover", "abc", "key 'max_cloud_cover'"),
    ("unknown product", "products", ["ndwi9"], "unknown product 'ndwi9'"),
    ("no products", "products", [], "key 'products'"),
    ("product needing SNAP", "products", ["fapar"], "processors.lai: snap"),
    ("SCL class 99", "mask.scl_classes", [99], "key 'mask.scl_classes[0]'"),
    ("SCL classes not a list", "mask.scl_classes", 3, "key 'mask.scl_classes'"),
    ("unknown LAI model", "lai.model", "nope", "key 'lai.model'"),
    ("unknown L2A processor", "processors.l2a", "nope", "key 'processors.l2a'"),
    ("unknown LAI processor", "processors.lai", "nope", "key 'processors.lai'"),
    ("LZW compression", "cog.compression", "LZW", "key 'cog.compression'"),
    ("COG level as text", "cog.level", "x", "key 'cog.level'"),
    ("COG block size 100", "cog.blocksize", 100, "key 'cog.blocksize'"),
    ("unknown resampling", "cog.overview_resampling", "nope", "key 'cog.overview_resampling'"),
    ("zero download attempts", "download.attempts", 0, "key 'download.attempts'"),
    ("negative timeout", "download.timeout_seconds", -5, "key 'download.timeout_seconds'"),
    ("unknown download place", "download.where", "nowhere", "key 'download.where'"),
    ("Sentinel-1 without archive", "sentinel1.enabled", True, "key 'sentinel1'"),
    ("output dir as a number", "output_dir", 5, "key 'output_dir'"),
    ("unknown top-level key", "bogus", 1, "unknown key 'bogus'"),
]


GOOD_YAML = yaml.safe_dump(BASE)
# (case, how the file is made, what the line must name)
CONFIG_FILES: list[tuple[str, Callable[[Path], None], str]] = [
    ("config file missing", lambda path: None, "does not exist"),
    ("config is a folder", lambda path: path.mkdir(), "is a folder"),
    ("binary config", lambda path: path.write_bytes(bytes(range(256)) * 4), "is not text"),
    ("invalid YAML", lambda path: path.write_text("tiles: [47PPR\n"), "not valid YAML"),
    ("empty config", lambda path: path.write_text(""), "empty or not a mapping"),
    ("config is a list", lambda path: path.write_text("- 47PPR\n"), "empty or not a mapping"),
    ("February 30th (unquoted)",
     lambda path: path.write_text(GOOD_YAML.replace("'2021-01-01'", "2023-02-30")),
     "'2023-02-30' is not a calendar date"),
    ("September 31st (unquoted end)",
     lambda path: path.write_text(GOOD_YAML.replace("'2024-12-31'", "2024-09-31")),
     "'2024-09-31' is not a calendar date"),
]  # fmt: skip


def config_with(key: str, value: Any) -> Callable[[Path], None]:
    """A maker of a config file: BASE with one key set (or deleted)."""
    return lambda path: path.write_text(yaml.safe_dump(with_key(key, value)))


CONFIG_CASES = [
    *((case, config_with(key, value), culprit) for case, key, value, culprit in CONFIG_VALUES),
    *CONFIG_FILES,
]


@pytest.mark.parametrize(("case", "make", "culprit"), CONFIG_CASES,
                         ids=[case[0] for case in CONFIG_CASES])  # fmt: skip
def test_a_bad_config_is_named_in_one_line(
    case: str,
    make: Callable[[Path], None],
    culprit: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    config = tmp_path / "campaign.yaml"
    make(config)
    before = files_under(tmp_path)
    code, out, err = invoke(capsys, "check-config", str(config))
    assert code == 1
    line = assert_one_clear_line(out + err, culprit)
    assert line.startswith("raw2ready: error: ") and str(config) in line
    assert files_under(tmp_path) == before


# (case, the file in the way, the config key, its folder below tmp_path)
FOLDERS = [
    ("output dir is a file", "results", "output_dir", "results"),
    ("output dir below a file", "results", "output_dir", "results/demo"),
    ("work dir is a file", "work", "work_dir", "work"),
    ("work dir below a file", "work", "work_dir", "work/demo"),
]


@pytest.mark.parametrize(("case", "in_the_way", "key", "folder"), FOLDERS,
                         ids=[case[0] for case in FOLDERS])  # fmt: skip
def test_a_campaign_folder_that_cannot_be_written_stops_it_before_any_job(
    case: str, in_the_way: str, key: str, folder: str, tmp_path: Path
) -> None:
    (tmp_path / in_the_way).write_text("x")
    config = dict(BASE, output_dir=str(tmp_path / "results"), work_dir=str(tmp_path / "work"))
    config[key] = str(tmp_path / folder)
    with pytest.raises(ConfigError) as error:
        load_campaign(config, ["campaign.yaml"])
    message = str(error.value)
    assert message == f"campaign.yaml: key '{key}': {tmp_path / in_the_way} is a file, not a folder"
    assert files_under(tmp_path) == {tmp_path / in_the_way}  # no settings file written


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any folder")
def test_a_read_only_work_dir_stops_the_campaign_before_any_job(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    config = dict(BASE, output_dir=str(tmp_path / "results"), work_dir=str(locked / "work"))
    with pytest.raises(ConfigError, match=r"key 'work_dir': folder .*locked is not writable"):
        load_campaign(config, ["campaign.yaml"])


def snakemake_dry_run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`snakemake -n ARGS` of the project's workflow, run in `folder`."""
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--snakefile", str(PROJECT / "Snakefile"),
         "--directory", str(folder), *args],
        cwd=folder, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip


def test_the_workflow_stops_with_one_line_when_the_work_dir_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "work").write_text("not a folder")
    config = tmp_path / "campaign.yaml"
    config.write_text(yaml.safe_dump(dict(BASE, work_dir=str(tmp_path / "work"))))
    result = snakemake_dry_run(tmp_path, "--configfile", str(config))
    assert result.returncode == 1
    line = assert_one_clear_line(result.stdout + result.stderr, "key 'work_dir'")
    assert line == f"raw2ready: error: {config}: key 'work_dir': {tmp_path / 'work'} is a file, " \
        "not a folder"  # fmt: skip


LOCAL = str(PROJECT / "profiles/local")
# Snakemake 9.27 reads --configfile and --profile itself, before the Snakefile runs: (case,
# how the config file is made, snakemake's arguments, the line it ends with, True when that
# line comes without a traceback). Where Snakemake prints a traceback, `raw2ready check-config`
# names the problem in one line (CONFIG_FILES above; docs/bad-inputs.md).
SNAKEMAKE_CONFIGS: list[tuple[str, Callable[[Path], None], list[str], str, bool]] = [
    ("config file missing", lambda path: None, ["--profile", LOCAL],
     "FileNotFoundError: [Errno 2] No such file or directory: 'campaign.yaml'", False),
    ("config is a folder", lambda path: path.mkdir(), ["--profile", LOCAL],
     "IsADirectoryError: [Errno 21] Is a directory: 'campaign.yaml'", False),
    ("binary config", lambda path: path.write_bytes(bytes(range(256)) * 4), ["--profile", LOCAL],
     "UnicodeDecodeError: 'utf-8' codec can't decode byte 0x80 in position 128: invalid "
     "start byte", False),
    ("February 30th (unquoted)",
     lambda path: path.write_text(GOOD_YAML.replace("'2021-01-01'", "2023-02-30")),
     ["--profile", LOCAL], "ValueError: day is out of range for month", False),
    ("invalid YAML", lambda path: path.write_text("tiles: [47PPR\n"), ["--profile", LOCAL],
     "Config file is not valid JSON or YAML. In case of YAML, make sure to not mix whitespace "
     "and tab indentation.", True),
    ("profile missing", lambda path: path.write_text(GOOD_YAML), ["--profile", "profiles/nope"],
     "Error: profile directory given (profiles/nope), but no profile.yaml (or config.yaml) "
     "found.", True),
]  # fmt: skip


@pytest.mark.parametrize(("case", "make", "args", "last", "clear"), SNAKEMAKE_CONFIGS,
                         ids=[case[0] for case in SNAKEMAKE_CONFIGS])  # fmt: skip
def test_what_snakemake_says_of_a_config_file_it_cannot_read(
    case: str,
    make: Callable[[Path], None],
    args: list[str],
    last: str,
    clear: bool,
    tmp_path: Path,
) -> None:
    make(tmp_path / "campaign.yaml")
    before = files_under(tmp_path)
    result = snakemake_dry_run(tmp_path, "--configfile", "campaign.yaml", *args)
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert any(line.startswith(last) for line in output.splitlines()), output[-2000:]
    if clear:
        assert_one_clear_line(output, last)
    assert {p for p in files_under(tmp_path) - before if ".snakemake" not in p.parts} == set()


def test_an_unquoted_calendar_date_is_a_date_through_snakemake(tmp_path: Path) -> None:
    config = tmp_path / "campaign.yaml"
    config.write_text(GOOD_YAML.replace("'2021-01-01'", "2021-02-28"))
    assert "start: 2021-02-28\n" in config.read_text()  # YAML reads it as a datetime.date
    result = snakemake_dry_run(tmp_path, "--configfile", str(config), "--until", "search")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    [settings] = (tmp_path / "work/settings").glob("*.json")
    assert json.loads(settings.read_text())["start"] == "2021-02-28"


@pytest.fixture(scope="module")
def sample_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo archive (small rasters): spoiled per case in a copy."""
    root = tmp_path_factory.mktemp("sample")
    demo_archive.write_demo_archive(root / "archive", seed=42, size=64)
    return root / "archive"


def item_files(archive: Path) -> list[Path]:
    """The 48PUB item files of the sample archive, in date order."""
    return sorted(archive.rglob("S2?_48PUB_*_L2A.json"), key=lambda path: path.stem[10:18])


def edit_item(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Rewrite an item file with `change` applied to its JSON."""
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def newer_baseline(path: Path) -> None:
    """Add an item of the same acquisition with a newer processing baseline beside it."""
    data = json.loads(path.read_text())
    data["id"] = data["id"].replace("_0_L2A", "_1_L2A")
    data["properties"]["s2:processing_baseline"] = "05.99"
    twin = path.with_name(f"{data['id']}.json")
    twin.write_text(json.dumps(data))
    catalog = path.parent.parent / "catalog.json"
    if not catalog.is_file():
        catalog = next(p for p in path.parents if (p / "catalog.json").is_file()) / "catalog.json"
    edit_item(catalog, lambda c: c["links"].append(
        {"rel": "item", "href": os.path.relpath(twin, catalog.parent), "type": "application/json"}
    ))  # fmt: skip


def listed_twice(path: Path) -> None:
    """The item linked a second time from its catalog."""
    catalog = next(p for p in path.parents if (p / "catalog.json").is_file()) / "catalog.json"
    edit_item(catalog, lambda c: c["links"].append(
        {"rel": "item", "href": os.path.relpath(path, catalog.parent), "type": "application/json"}
    ))  # fmt: skip


# (case, what is done to the first 48PUB item, what the rejection must name)
ITEMS: list[tuple[str, Callable[[Path], None], str]] = [
    ("item is invalid JSON", lambda p: p.write_text("{not json"), "JSONDecodeError"),
    ("item without datetime", lambda p: edit_item(p, lambda d: d["properties"].pop("datetime")),
     "datetime"),
    ("asset without href", lambda p: edit_item(p, lambda d: d["assets"]["red"].pop("href")),
     "href"),
    ("item without the NIR band", lambda p: edit_item(p, lambda d: d["assets"].pop("nir")),
     "B08"),
    ("item file missing", lambda p: p.unlink(), "No such file"),
    ("cloud cover as text", lambda p: edit_item(
        p, lambda d: d["properties"].update({"eo:cloud_cover": "lots"})), "ValueError"),
    ("item is not a STAC item", lambda p: p.write_text('{"type": "Catalog"}'), "unreadable"),
    ("item listed twice", listed_twice, "duplicate of"),
    ("two processing baselines", newer_baseline, "05.99: the newest wins"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "spoil", "culprit"), ITEMS, ids=[case[0] for case in ITEMS])
def test_a_bad_item_costs_only_its_scene(
    case: str,
    spoil: Callable[[Path], None],
    culprit: str,
    sample_archive: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    caplog: pytest.LogCaptureFixture,
) -> None:
    archive = tmp_path / "archive"
    shutil.copytree(sample_archive, archive)
    items = item_files(archive)
    bad = items[0]
    scene = bad.stem
    spoil(bad)
    config = tmp_path / "campaign.yaml"
    config.write_text(yaml.safe_dump(dict(BASE, archive={
        "kind": "static_catalog", "url": str(archive / "catalog.json")})))  # fmt: skip
    inventory = tmp_path / "48PUB.jsonl"

    code, _out, err = invoke(capsys, "search", "--configfile", str(config), "--tile", "48PUB",
                            "--output", str(inventory))  # fmt: skip

    assert code == 0, err
    found = {record.id for record in read_inventory(inventory)}
    others = {path.stem for path in items[1:]}
    assert others <= found  # the rest of the tile proceeds
    rejected = json.loads((tmp_path / "48PUB.rejected.json").read_text())
    assert len(rejected) == 1, rejected
    assert culprit in rejected[0]["reason"] and "\n" not in rejected[0]["reason"]
    line = assert_one_clear_line(caplog.text + err, culprit)
    assert "skipping" in line
    if case == "two processing baselines":  # the newest wins; the other is reported
        assert scene not in found and scene.replace("_0_L2A", "_1_L2A") in found
        assert rejected[0]["item"] == scene
    elif case == "item listed twice":
        assert scene in found
    else:
        assert scene not in found
        assert scene in rejected[0]["item"]


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """A folder of good and bad inputs for the command-line cases."""
    config = tmp_path / "campaign.yaml"
    config.write_text(yaml.safe_dump(dict(BASE, output_dir=str(tmp_path / "results"),
                                          work_dir=str(tmp_path / "work"))))  # fmt: skip
    (tmp_path / "bad.json").write_text("[1")
    (tmp_path / "empty.json").write_text("{}")
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "corrupt.jsonl").write_text("garbage\n")
    (tmp_path / "record.json").write_text("{bad")
    (tmp_path / "not-an-item.json").write_text('{"a": 1}')
    (tmp_path / "not-a-zip.zip").write_text("zzz")
    (tmp_path / "a-file").write_text("x")
    return tmp_path


GOOD = ["--configfile", "campaign.yaml"]
# (case, command line, exit status, what the line must name)
COMMANDS = [
    ("unknown command", ["frobnicate"], 2, "No such command 'frobnicate'"),
    ("search without --tile", ["search", *GOOD, "--output", "x.jsonl"], 2, "'--tile'"),
    ("invalid tile id", ["search", *GOOD, "--tile", "47PPRX", "--output", "x.jsonl"], 1,
     "'47PPRX' is not a Sentinel-2 tile id"),
    ("month 13", ["download", *GOOD, "--inventory", "corrupt.jsonl", "--tile", "48PUB",
                  "--month", "2023-13", "--output", "d"], 1, "--month '2023-13'"),
    ("settings file missing", ["search", "--settings", "nope.json", "--tile", "48PUB",
                               "--output", "x.jsonl"], 1, "settings file nope.json"),
    ("settings file not JSON", ["search", "--settings", "bad.json", "--tile", "48PUB",
                                "--output", "x.jsonl"], 1, "settings file bad.json"),
    ("settings file empty", ["search", "--settings", "empty.json", "--tile", "48PUB",
                             "--output", "x.jsonl"], 1, "empty.json: the configuration"),
    ("inventory missing", ["download", *GOOD, "--inventory", "missing.jsonl", "--tile", "48PUB",
                           "--month", "2023-01", "--output", "d"], 1, "inventory missing.jsonl"),
    ("inventory line corrupt", ["download", *GOOD, "--inventory", "corrupt.jsonl", "--tile",
                                "48PUB", "--month", "2023-01", "--output", "d"], 1,
     "inventory corrupt.jsonl, line 1"),
    ("scene not in inventory", ["process-scene", *GOOD, "--inventory", "empty.jsonl",
                                "--scene", "NOPE"], 1, "scene NOPE is not in inventory"),
    ("inventory that is a JSON object", ["process-scene", *GOOD, "--inventory", "empty.json",
                                         "--scene", "NOPE"], 1, "inventory empty.json, line 1"),
    ("item file not an item", ["inspect", "not-an-item.json"], 1, "is not a STAC item"),
    ("SAFE that is not a zip", ["safe-check", "not-a-zip.zip"], 1, "not a readable zip"),
    ("batch record corrupt", ["tile-catalog", *GOOD, "--tile", "48PUB", "record.json"], 1,
     "batch record record.json cannot be read"),
    ("collection before its tiles", ["collection", *GOOD], 1, "tile summary"),
    ("demo archive into a file", ["demo-archive", "a-file"], 1, "is not a directory"),
    ("check-config without a file", ["check-config"], 2, "Missing argument 'CONFIGFILE'"),
    ("unknown log level", ["--log-level", "bogus", "check-config", "campaign.yaml"], 2,
     "'bogus' is not one of"),
    ("plan of a missing config", ["plan", "--configfile", "nope.yaml", "--no-search"], 1,
     "configuration file nope.yaml does not exist"),
    ("check-config on a folder", ["check-config", "."], 1, "is a folder"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "args", "status", "culprit"), COMMANDS,
                         ids=[case[0] for case in COMMANDS])  # fmt: skip
def test_a_bad_command_line_is_named_in_one_line(
    case: str,
    args: list[str],
    status: int,
    culprit: str,
    files: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(files)
    before = files_under(files)
    code, out, err = invoke(capsys, *args)
    assert code == status
    assert_one_clear_line(out + err, culprit)
    assert files_under(files) == before  # nothing written, nothing half-written


def test_a_campaign_where_no_scene_matches_ends_cleanly_with_a_valid_empty_collection(
    sample_archive: Path, tmp_path: Path
) -> None:
    config = tmp_path / "campaign.yaml"
    config.write_text(yaml.safe_dump(dict(
        BASE, start="2010-01-01", end="2010-03-31", output_dir=str(tmp_path / "results"),
        work_dir=str(tmp_path / "work"),
        archive={"kind": "static_catalog", "url": str(sample_archive / "catalog.json")},
    )))  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(PROJECT / "Snakefile"),
         "--directory", str(tmp_path), "--configfile", str(config), "--cores", "1"],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert_one_clear_line(result.stdout + result.stderr, "no scene matched the campaign")
    collection = tmp_path / "results/stac/collection.json"
    assert validate_stac_tree(collection) >= 1  # the collection and its empty tile tree
    summaries = json.loads(collection.read_text())["summaries"]
    assert summaries and all(summaries.values())  # STAC: no empty summary
    assert not list((tmp_path / "results").rglob("*.tif"))
