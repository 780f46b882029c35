"""Configuration validation: good configs pass, bad ones fail with one message naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from raw2ready.config import load_settings, validate_config
from raw2ready.errors import ConfigError

from .conftest import PROJECT

BAD_CONFIGS = [
    ({"bogus": 1}, "unknown key 'bogus'"),
    (
        {"archive": {"kind": "static_catalog", "url": "x", "colection": "a"}},
        "unknown key 'archive.colection'",
    ),
    ({"max_cloud_cover": "abc"}, "key 'max_cloud_cover'"),
    ({"max_cloud_cover": 120}, "key 'max_cloud_cover'"),
    ({"start": "2024-05-01", "end": "2024-01-01"}, "key 'start' (2024-05-01) is after key 'end'"),
    ({"tiles": ["47PPR", "99ZZZ"]}, "key 'tiles[1]'"),
    ({"tiles": ["47PZZ"]}, "grid square ZZ does not exist"),
    ({"start": "2024-13-01"}, "key 'start'"),
    ({"products": ["ndvi", "evi2"]}, "key 'products[1]'"),
    ({"mask": {"scl_classes": [3, 12]}}, "key 'mask.scl_classes[1]'"),
    ({"mask": {"buffers": {"cloud": -10}}}, "key 'mask.buffers.cloud'"),
    ({"mask": {"buffers": {"haze": 30}}}, "unknown key 'mask.buffers.haze'"),
    ({"mask": {"method": "fmask"}}, "key 'mask.method'"),
    ({"nbar": {"sun_zenith": 80}}, "key 'nbar.sun_zenith'"),
    ({"nbar": {"enabled": "yes"}}, "key 'nbar.enabled'"),
]


@pytest.mark.parametrize("path", ["config/demo.yaml", "config/config.yaml"])
def test_shipped_configs_are_valid(path: str) -> None:
    settings = load_settings(PROJECT / path)
    assert settings.tiles
    assert settings.start <= settings.end


def test_defaults_are_filled_in() -> None:
    settings = validate_config(yaml.safe_load((PROJECT / "config/demo.yaml").read_text()), "x")
    assert settings.download.attempts == 5
    assert settings.scl_classes == frozenset({0, 1, 3, 8, 9, 10})
    assert (settings.mask.buffers.cloud, settings.mask.buffers.shadow) == (300, 90)
    assert settings.mask.buffers.cirrus == 0
    assert settings.mask.method == "scl"
    assert (settings.nbar.enabled, settings.nbar.sun_zenith) == (False, None)


def test_the_ml_mask_method_fetches_the_networks_bands() -> None:
    data = yaml.safe_load((PROJECT / "config/demo.yaml").read_text())
    scl_only = validate_config(data, "x").bands
    data["mask"] = {"method": "both"}
    settings = validate_config(data, "x")
    assert settings.mask.method == "both"
    # ukis-csmask's 6-band model: blue, green, red, nir, swir16, swir22
    assert settings.bands == scl_only | {"B02", "B03", "B04", "B08", "B11", "B12"}


@pytest.mark.parametrize(("change", "message"), BAD_CONFIGS)
def test_bad_config_names_the_key(change: dict, message: str) -> None:
    data = yaml.safe_load((PROJECT / "config/demo.yaml").read_text())
    data.update(change)
    with pytest.raises(ConfigError) as error:
        validate_config(data, "my.yaml")
    assert message in str(error.value)
    assert str(error.value).startswith("my.yaml: ")


def _bad_config(tmp_path: Path, change: dict) -> Path:
    data = yaml.safe_load((PROJECT / "config/demo.yaml").read_text())
    data.update(change)
    data["output_dir"] = str(tmp_path / "results")
    data["work_dir"] = str(tmp_path / "work")
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(("change", "message"), BAD_CONFIGS[:7])
def test_snakemake_rejects_bad_config_cleanly(tmp_path: Path, change: dict, message: str) -> None:
    config = _bad_config(tmp_path, change)
    workdir = tmp_path / "run"
    workdir.mkdir()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "--snakefile",
            str(PROJECT / "Snakefile"),
            "--directory",
            str(workdir),
            "--configfile",
            str(config),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "results").exists() and not (tmp_path / "work").exists()
    assert list(workdir.iterdir()) == []


def test_cli_reports_bad_config_in_one_line(tmp_path: Path) -> None:
    config = _bad_config(tmp_path, {"tiles": ["47PPR", "99ZZZ"]})
    result = subprocess.run(
        [sys.executable, "-m", "raw2ready.cli", "check-config", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "tiles[1]" in lines[0], result.stderr
