"""Smoke run of benchmarks/tile_chain.py --quick: it runs end to end and reports every figure.

No timing assertion (speed is judged by the benchmark itself, on a full tile): only that
each approach ran, the report is complete and consistent, and raw2ready's COGs are valid.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import PROJECT

KEYS = {
    "raw2ready_s", "baseline_s", "floor_s", "raw2ready_peak_rss_mb", "baseline_peak_rss_mb",
    "speedup_vs_baseline", "ratio_to_floor", "valid_cogs",
}  # fmt: skip


def test_quick_benchmark_reports_every_figure(tmp_path: Path) -> None:
    command = [
        sys.executable, str(PROJECT / "benchmarks" / "tile_chain.py"), "--quick", "--json",
        "--cache", str(tmp_path / "cache"), "--workdir", str(tmp_path),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)

    assert report.keys() >= KEYS
    assert report["valid_cogs"] is True
    for key in KEYS - {"valid_cogs"}:
        assert report[key] > 0, key
    assert report["speedup_vs_baseline"] == pytest.approx(
        report["baseline_s"] / report["raw2ready_s"], rel=0.01, abs=0.01
    )
    assert report["ratio_to_floor"] == pytest.approx(
        report["raw2ready_s"] / report["floor_s"], rel=0.01, abs=0.01
    )
    assert (tmp_path / "cache" / "1500-seed0" / "tile.json").exists()  # the cached inputs
    assert not list(tmp_path.glob("tile_chain_*"))  # outputs of the runs cleaned up
