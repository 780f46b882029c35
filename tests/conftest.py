"""Shared test fixtures: paths to the real provider files and small settings builders."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from raw2ready.config import Settings, validate_config
from raw2ready.demo.archive import write_demo_archive
from raw2ready.scene import SceneRecord

PROJECT = Path(__file__).resolve().parents[1]
REAL_S2 = PROJECT.parent / "shared" / "fixtures" / "real-s2"

requires_real_s2 = pytest.mark.skipif(
    not REAL_S2.is_dir(), reason=f"real provider fixtures not found at {REAL_S2}"
)

BASE_CONFIG: dict[str, Any] = {
    "campaign": "test",
    "archive": {"kind": "static_catalog", "url": "archive/catalog.json"},
    "tiles": ["47PPR", "48PUB"],
    "start": "2021-01-01",
    "end": "2024-12-31",
    "max_cloud_cover": 100,
    "cog": {"blocksize": 256},
}


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Validated settings writing under tmp_path, with top-level keys overridden."""
    data = copy.deepcopy(BASE_CONFIG)
    data["output_dir"] = str(tmp_path / "results")
    data["work_dir"] = str(tmp_path / "work")
    data.update(overrides)
    return validate_config(data, "test config")


def settings_file(settings: Settings, folder: Path) -> str:
    """The settings file a workflow job is given (`--settings`), written into folder."""
    path = folder / "settings.json"
    settings.write(path)
    return str(path)


def write_demo_campaign(root: Path, size: int, composites: bool = True) -> Path:
    """The sample archive in root/archive and root/demo.yaml (config/demo.yaml pointing at it);
    composites=False: without the monthly composites and cubes (tests of the scene chain)."""
    write_demo_archive(root / "archive", seed=42, size=size)
    config = yaml.safe_load((PROJECT / "config" / "demo.yaml").read_text())
    config["archive"]["url"] = str(root / "archive" / "catalog.json")
    if not composites:
        config |= {"composites": {"enabled": False}, "cube": {"enabled": False}}
    (root / "demo.yaml").write_text(yaml.safe_dump(config))
    return root / "demo.yaml"


def process_demo_scene(root: Path, changes: dict[str, Any]) -> SceneRecord:
    """The first demo scene of 47PPR (a 240 px sample archive in `root`), searched and
    processed by the CLI as a user runs it, with `changes` to config/demo.yaml; its record."""
    config_path = write_demo_campaign(root, size=240)
    # one scene: no monthly composites or cube (their products need not be configured)
    config = yaml.safe_load(config_path.read_text()) | {"tiles": ["47PPR"]}
    config |= {"composites": {"enabled": False}, "cube": {"enabled": False}} | changes
    config_path.write_text(yaml.safe_dump(config))
    args = ("--configfile", str(config_path))
    searched = run_cli("search", *args, "--tile", "47PPR", "--output", "inv.jsonl", cwd=root)
    assert searched.returncode == 0, searched.stderr
    record = SceneRecord.from_json((root / "inv.jsonl").read_text().splitlines()[0])
    done = run_cli(
        "process-scene", *args, "--inventory", "inv.jsonl", "--scene", record.id, cwd=root
    )
    assert done.returncode == 0, done.stderr
    return record


def run_cli(*args: str, **options: Any) -> subprocess.CompletedProcess[str]:
    """`raw2ready ARGS` as a user runs it (a new process), output captured as text;
    `options` go to subprocess.run (cwd, env)."""
    return subprocess.run(
        [sys.executable, "-c", "from raw2ready.cli import main; main()", *args],
        capture_output=True, text=True, check=False, **options,
    )  # fmt: skip
