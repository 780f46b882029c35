"""Dry-run time and peak memory of the workflow at campaign scale, against a per-step chain.

    python benchmarks/plan_scale.py                        # 1k, 5k, 25k, 50k scenes; a table
    python benchmarks/plan_scale.py --scenes 25000 --json  # one size, one JSON object
    python benchmarks/plan_scale.py --scenes 1000 --rounds 1   # quick look

For each size, `raw2ready.demo.synthetic_inventory` writes realistic inventories (no rasters) of
N scenes over 4 years and N/192 tiles (25,000 scenes: 130 tiles, the Thailand campaign of
issue 4). Two workflows plan the same campaign with `snakemake -n --quiet`, nothing on disk:
- raw2ready: the project's Snakefile (one job per tile and month, see docs/reruns.md);
- reference: benchmarks/reference/Snakefile, the plain chain of six rules per scene
  (download, mask, ndvi, lai, cog, stac item) and a catalog per tile.

Every dry-run is a fresh `python -m snakemake` process; its wall time is measured around it
(start-up included: that is what a user waits for) and its peak RSS and CPU time come from
wait4. Rounds alternate which workflow goes first, so load from other jobs on the machine
spreads over both, and the figures are medians. The job count comes from one more, untimed
dry-run with the job table (`--quiet rules`, which prints every job and costs more).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from raw2ready.demo.synthetic_inventory import write_synthetic_inventories

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
REFERENCE = HERE / "reference" / "Snakefile"
SIZES = (1_000, 5_000, 25_000, 50_000)
SCENES_PER_TILE = 25_000 / 130
YEARS = 4
CAMPAIGN = "scale"


def write_campaign(root: Path, scenes: int) -> dict[str, Path | list[str]]:
    """Inventories of `scenes` scenes under root/work, and the configs of both workflows."""
    tiles = max(1, round(scenes / SCENES_PER_TILE))
    inventories = root / "work" / "inventories"
    tile_ids = write_synthetic_inventories(inventories, scenes, tiles, YEARS, start_year=2022)
    config = {
        "campaign": CAMPAIGN,
        "output_dir": "results",
        "work_dir": str(root / "work"),
        "archive": {"kind": "static_catalog", "url": "archive/catalog.json"},
        "tiles": tile_ids,
        "start": "2022-01-01",
        "end": f"{2022 + YEARS - 1}-12-31",
    }
    (root / "raw2ready.yaml").write_text(yaml.safe_dump(config))
    (root / "reference.yaml").write_text(
        yaml.safe_dump({"inventories": str(inventories), "tiles": ",".join(tile_ids)})
    )
    return {"root": root, "tiles": tile_ids}


def command(workflow: str, root: Path, *extra: str) -> list[str]:
    """The dry-run command of one workflow, in its own working directory."""
    snakefile = PROJECT / "Snakefile" if workflow == "raw2ready" else REFERENCE
    return [
        sys.executable, "-m", "snakemake", "--snakefile", str(snakefile),
        "--configfile", str(root / f"{workflow}.yaml"), "--directory", str(root / workflow),
        "--cores", "1", "-n", *extra,
    ]  # fmt: skip


def measure(workflow: str, root: Path) -> dict[str, float]:
    """Wall seconds, CPU seconds and peak RSS (MB) of one `snakemake -n --quiet` process."""
    with tempfile.TemporaryFile("w+") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(
            command(workflow, root, "--quiet"), stdout=subprocess.DEVNULL, stderr=stderr
        )
        _pid, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            stderr.seek(0)
            raise SystemExit(f"{workflow} dry-run failed:\n{stderr.read()[-3000:]}")
    return {
        "seconds": wall,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }


def job_count(workflow: str, root: Path) -> int:
    """Jobs in the workflow's dry-run, from Snakemake's job table."""
    result = subprocess.run(
        command(workflow, root, "--quiet", "rules"), capture_output=True, text=True, check=False
    )
    match = re.search(r"^total\s+(\d+)\s*$", result.stdout + result.stderr, re.MULTILINE)
    if result.returncode != 0 or not match:
        raise SystemExit(f"{workflow} dry-run failed:\n{result.stderr[-3000:]}")
    return int(match.group(1))


def session(scenes: int, rounds: int) -> dict[str, Any]:
    """Medians of `rounds` alternating dry-runs of both workflows for one campaign size."""
    with tempfile.TemporaryDirectory(prefix="plan-scale-") as tmp:
        campaign = write_campaign(Path(tmp), scenes)
        root = Path(tmp)
        results: dict[str, list[dict[str, float]]] = {"raw2ready": [], "reference": []}
        for index in range(rounds):
            order = ("raw2ready", "reference") if index % 2 == 0 else ("reference", "raw2ready")
            for workflow in order:
                results[workflow].append(measure(workflow, root))
        jobs = job_count("raw2ready", root)
    median = {
        workflow: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        for workflow, runs in results.items()
    }
    ours, reference = median["raw2ready"], median["reference"]
    return {
        "scenes": scenes,
        "tiles": len(campaign["tiles"]),
        "years": YEARS,
        "jobs": jobs,
        "seconds": round(ours["seconds"], 2),
        "cpu_seconds": round(ours["cpu_seconds"], 2),
        "peak_rss_mb": round(ours["peak_rss_mb"], 1),
        "reference_seconds": round(reference["seconds"], 2),
        "reference_cpu_seconds": round(reference["cpu_seconds"], 2),
        "reference_peak_rss_mb": round(reference["peak_rss_mb"], 1),
        "ratio": round(reference["seconds"] / ours["seconds"], 2),
        "memory_ratio": round(reference["peak_rss_mb"] / ours["peak_rss_mb"], 2),
        "rounds": rounds,
    }


def print_row(row: dict[str, Any]) -> None:
    """One line of the table."""
    print(
        f"{row['scenes']:>7} {row['tiles']:>5} {row['jobs']:>6} | "
        f"{row['seconds']:>7.1f} {row['cpu_seconds']:>7.1f} {row['peak_rss_mb']:>7.0f} | "
        f"{row['reference_seconds']:>7.1f} {row['reference_cpu_seconds']:>7.1f} "
        f"{row['reference_peak_rss_mb']:>7.0f} | "
        f"{row['ratio']:>5.1f}x {row['memory_ratio']:>5.1f}x",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", type=int, help="one campaign size (default: 1k..50k)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (median)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.json:
        if not args.scenes:
            parser.error("--json measures one size: give --scenes")
        print(json.dumps(session(args.scenes, args.rounds)))
        return
    print(f"snakemake -n --quiet, medians of {args.rounds} alternating rounds; wall s, CPU s, "
          "peak RSS MB")  # fmt: skip
    print(f"{'scenes':>7} {'tiles':>5} {'jobs':>6} | {'raw2ready':^23} | "
          f"{'per-step reference':^23} | {'time':>6} {'memory':>6}")  # fmt: skip
    for scenes in [args.scenes] if args.scenes else SIZES:
        print_row(session(scenes, args.rounds))


if __name__ == "__main__":
    main()
