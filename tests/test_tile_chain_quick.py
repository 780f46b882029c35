"""Smoke run of benchmarks/tile_chain.py --quick: it runs end to end and reports every figure.

No timing assertion (speed is judged by the benchmark itself, on a full tile): only that
each approach ran, the report is complete and consistent, and raw2ready's COGs are valid.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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

    # The report rounds seconds to 1 ms and ratios to 0.01: allow exactly that rounding.
    def consistent(ratio: float, numerator: float, denominator: float) -> bool:
        exact = numerator / denominator
        slack = exact * (0.0005 / numerator + 0.0005 / denominator) + 0.005
        return abs(ratio - exact) <= slack * 1.01

    ours, baseline, floor = report["raw2ready_s"], report["baseline_s"], report["floor_s"]
    assert consistent(report["speedup_vs_baseline"], baseline, ours), report
    assert consistent(report["ratio_to_floor"], ours, floor), report
    assert (tmp_path / "cache" / "1500-seed0" / "tile.json").exists()  # the cached inputs
    assert not list(tmp_path.glob("tile_chain_*"))  # outputs of the runs cleaned up
