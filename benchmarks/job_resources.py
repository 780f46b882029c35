"""Peak memory, wall and CPU time of each workflow job on a full-size tile: the rules' resources.

    python benchmarks/job_resources.py            # full 10980 x 10980 tile, a table
    python benchmarks/job_resources.py --json     # one JSON object
    python benchmarks/job_resources.py --size 2000 --repeats 1   # quick look

Each job is the exact command its rule runs (`raw2ready search`, `process-batch`,
`tile-catalog`, `collection`), started as a subprocess and measured with wait4 (peak RSS of
that process, user+system CPU) and a wall clock around it. The archive is the offline sample
archive with one scene's red, NIR and SCL assets replaced by a full-size synthetic tile (see
synthetic_tile.py; cached outside git), so download, processing, COG writing and the STAC
item run at the real scale. The `suggested` figures are what profiles and rules should
request: peak RSS x 1.5 rounded up to 250 MB, wall x 4 rounded up to 5 minutes, at least the
measured CPU parallelism in threads.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
sys.path.insert(0, str(HERE))

from synthetic_tile import generate_tile  # noqa: E402

from raw2ready.demo import archive as demo_archive  # noqa: E402

DEFAULT_CACHE = PROJECT / ".benchmarks-cache" / "tile_chain"
FULL_SIZE = 10980
SCENE_INDEX = 6  # 47PPR 2024-04-19, baseline 05.10, BOA offset applied by the archive
ASSETS = {"red": "B04", "nir": "B08", "scl": "SCL"}


def _checksum(path: Path) -> str:
    """`file:checksum` of a file: multihash sha2-256 as hex."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return "1220" + digest.hexdigest()


def full_size_archive(root: Path, tile_files: dict[str, Path]) -> demo_archive.DemoScene:
    """The sample archive with one scene's red, NIR and SCL swapped for the full-size tile."""
    demo_archive.write_demo_archive(root, seed=42, size=256)
    scene = demo_archive.DEMO_SCENES[SCENE_INDEX]
    folder = root / demo_archive.scene_prefix(scene)
    item_path = folder / f"{demo_archive.item_id(scene)}.json"
    item = json.loads(item_path.read_text())
    for key, band in ASSETS.items():
        asset = item["assets"][key]
        asset["href"] = str(tile_files[band])
        asset["file:size"] = tile_files[band].stat().st_size
        asset["file:checksum"] = _checksum(tile_files[band])
        for field in ("proj:shape", "proj:transform"):
            asset.pop(field, None)
    item_path.write_text(json.dumps(item))
    return scene


def campaign_settings(root: Path, scene: demo_archive.DemoScene) -> dict[str, Any]:
    """The demo config reduced to the one full-size scene, writing under root."""
    config = yaml.safe_load((PROJECT / "config" / "demo.yaml").read_text())
    config.update(
        tiles=[scene.tile], start=scene.date, end=scene.date,
        output_dir=str(root / "results"), work_dir=str(root / "work"), max_cloud_cover=100,
    )  # fmt: skip
    config["archive"]["url"] = str(root / "archive" / "catalog.json")
    from raw2ready.config import validate_config

    return validate_config(config, "benchmark config").document


def measure(command: list[str]) -> dict[str, float]:
    """Run a command; its wall seconds, CPU seconds and peak RSS (MB) from wait4."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command[:3])} failed:\n{stderr[-3000:]}")
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
    }


def suggested(figures: dict[str, float]) -> dict[str, int]:
    """Resources to request for a job measured with these figures."""
    return {
        "mem_mb": int(math.ceil(figures["peak_rss_mb"] * 1.5 / 250) * 250),
        "runtime": int(math.ceil(figures["wall_s"] * 4 / 60 / 5) * 5),
        "threads": max(1, round(figures["cpu_s"] / max(figures["wall_s"], 1e-9))),
    }


def run_jobs(root: Path, settings: dict[str, Any], scene: demo_archive.DemoScene) -> dict[str, Any]:
    """Each rule's command once, in the order the workflow runs them (the campaign is the
    one scene, so its batch is that scene)."""
    cli = [str(Path(sys.executable).parent / "raw2ready")]
    settings_json = root / "settings.json"  # the settings file the workflow's jobs read
    settings_json.write_text(json.dumps(settings))
    inventory = root / "work" / "inventories" / f"{scene.tile}.jsonl"
    record = root / "work" / "batches" / f"{scene.tile}-{scene.date[:7]}.json"
    commands = {
        "search": [*cli, "search", "--settings", str(settings_json), "--tile", scene.tile,
                   "--output", str(inventory)],
        "scenes": [*cli, "process-batch", "--settings", str(settings_json), "--inventory",
                   str(inventory), "--tile", scene.tile, "--month", scene.date[:7],
                   "--output", str(record)],
        "tile_catalog": [*cli, "tile-catalog", "--settings", str(settings_json), "--tile",
                         scene.tile, str(record)],
        "collection": [*cli, "collection", "--settings", str(settings_json)],
    }  # fmt: skip
    return {rule: measure(command) for rule, command in commands.items()}


def main() -> None:
    """Measure every rule's job; print a table or one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=FULL_SIZE, help="tile side in pixels")
    parser.add_argument("--repeats", type=int, default=2, help="runs; the worst is kept")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="input tile cache")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    tile_files = generate_tile(args.cache / f"{args.size}-seed0", args.size, seed=0)
    worst: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="raw2ready-job-resources-") as tmp:
        root = Path(tmp)
        scene = full_size_archive(root / "archive", tile_files)
        settings = campaign_settings(root, scene)
        for _ in range(args.repeats):
            for folder in ("results", "work"):
                shutil.rmtree(root / folder, ignore_errors=True)
            figures = run_jobs(root, settings, scene)
            for rule, values in figures.items():
                kept = worst.setdefault(rule, values)
                worst[rule] = {key: max(kept[key], values[key]) for key in values}
    report = {
        "size": args.size,
        "repeats": args.repeats,
        "cpus": os.cpu_count(),
        "jobs": {
            rule: {**values, "suggested": suggested(values)} for rule, values in worst.items()
        },
    }
    if args.json:
        print(json.dumps(report))
        return
    print(f"tile {args.size} x {args.size}, worst of {args.repeats} run(s), {os.cpu_count()} CPUs")
    print(f"{'rule':14s} {'wall s':>8s} {'cpu s':>8s} {'peak MB':>8s}   suggested")
    for rule, values in report["jobs"].items():
        hint = values["suggested"]
        print(
            f"{rule:14s} {values['wall_s']:8.1f} {values['cpu_s']:8.1f} "
            f"{values['peak_rss_mb']:8.0f}   mem_mb={hint['mem_mb']} runtime={hint['runtime']} "
            f"threads={hint['threads']}"
        )


if __name__ == "__main__":
    main()
