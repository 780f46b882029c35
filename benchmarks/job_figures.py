"""Refresh the per-job figures `raw2ready plan` estimates from (data/job_figures.json).

    python benchmarks/job_figures.py            # full 10980 x 10980 tile, writes the file
    python benchmarks/job_figures.py --print    # print the JSON instead of writing it

Runs each rule's own command on the sample archive with one scene swapped for the cached
full-size synthetic tile, exactly as benchmarks/job_resources.py does (its functions are
reused: wait4 peak RSS and CPU time per command, worst of the repeats), then adds the size of
every output the scene job wrote (product COGs and STAC item). The file records how, where
and when the figures were measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from job_resources import (  # noqa: E402
    DEFAULT_CACHE,
    FULL_SIZE,
    campaign_settings,
    full_size_archive,
    run_jobs,
)
from synthetic_tile import generate_tile  # noqa: E402

from raw2ready.demo import archive as demo_archive  # noqa: E402

FIGURES = HERE.parent / "src" / "raw2ready" / "data" / "job_figures.json"
#: job_resources.py names the per-scene job after the command it measures.
RULES = {"search": "search", "scene": "scene", "tile_catalog": "tile_catalog",
         "collection": "collection"}  # fmt: skip


def output_sizes(results: Path, scene_id: str) -> dict[str, int]:
    """Bytes of each product COG and of the STAC item the scene job wrote."""
    sizes = {}
    for path in results.rglob(f"{scene_id}*"):
        if path.suffix == ".tif":
            sizes[path.stem.removeprefix(f"{scene_id}_")] = path.stat().st_size
        elif path.suffix == ".json":
            sizes["item"] = path.stat().st_size
    return sizes


def measure(size: int, repeats: int, cache: Path) -> dict[str, Any]:
    """Worst figures of `repeats` runs of every rule's command, and the scene's output sizes."""
    tile_files = generate_tile(cache / f"{size}-seed0", size, seed=0)
    with tempfile.TemporaryDirectory(prefix="raw2ready-job-figures-") as tmp:
        root = Path(tmp)
        scene = full_size_archive(root / "archive", tile_files)
        settings = campaign_settings(root, scene)

        def fresh_run() -> dict[str, dict[str, float]]:
            for folder in ("results", "work"):
                shutil.rmtree(root / folder, ignore_errors=True)
            return run_jobs(root, settings, demo_archive.item_id(scene), scene.tile)

        runs = [fresh_run() for _ in range(repeats)]
        sizes = output_sizes(root / "results", demo_archive.item_id(scene))
    worst = {
        rule: {key: max(run[rule][key] for run in runs) for key in runs[0][rule]}
        for rule in runs[0]
    }
    return {
        "measured": {
            "by": "python benchmarks/job_figures.py",
            "on": f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}",
            "date": datetime.now(UTC).date().isoformat(),
            "how": (
                f"each rule's command once per run, worst of {repeats} run(s), on the sample "
                f"archive with one scene swapped for a {size} x {size} synthetic tile "
                "(benchmarks/synthetic_tile.py, seed 0; local download); CPU seconds and peak "
                "RSS from wait4; output sizes of that scene's COGs (ZSTD) and STAC item"
            ),
        },
        "per_job": {
            rule: {
                "cpu_seconds": worst[name]["cpu_s"],
                "wall_seconds": worst[name]["wall_s"],
                "peak_rss_mb": worst[name]["peak_rss_mb"],
            }
            for rule, name in RULES.items()
        },
        "output_bytes": sizes,
    }


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--size", type=int, default=FULL_SIZE, help="tile side (pixels)")
    options.add_argument("--repeats", type=int, default=2, help="runs (the worst counts)")
    options.add_argument("--print", action="store_true", help="print, do not write")
    args = options.parse_args()
    figures = measure(args.size, args.repeats, DEFAULT_CACHE)
    text = json.dumps(figures, indent=2) + "\n"
    if args.print:
        print(text, end="")
        return
    FIGURES.write_text(text)
    print(f"{FIGURES.relative_to(HERE.parent)}: {json.dumps(figures['per_job']['scene'])}")


if __name__ == "__main__":
    main()
