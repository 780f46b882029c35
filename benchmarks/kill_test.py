"""kill -9 the whole workflow at random moments: nothing invalid is left, the rerun redoes only
what is missing.

    python benchmarks/kill_test.py                         # 10 trials, demo campaign, 512 px
    python benchmarks/kill_test.py --trials 3 --size 256   # quicker
    python benchmarks/kill_test.py --json                  # one JSON object per trial

A calibration run measures how long the whole demo campaign takes (T). Each trial then
starts from nothing (same sample archive), runs `snakemake --profile profiles/local` in its
own process group and sends SIGKILL to the whole group at a random moment in [0, T]. After
the kill:
1. no process of the group is left, and every file under its final name is valid: each
   .tif a valid COG (rio-cogeo, strict), each STAC JSON readable by pystac and valid against
   the offline STAC schemas, every other JSON/JSONL parseable (`.partial` temporaries are
   not final names and are allowed);
2. `snakemake --unlock` (a killed run leaves its lock, as any crash does), then a dry-run:
   its jobs per rule are recorded; `raw2ready plan` must count the same jobs;
3. the rerun completes; the jobs it ran are exactly the dry-run's; every scene that was
   complete after the kill keeps its files untouched (same size and mtime), the batch
   records of the rerun list as processed exactly the scenes that were incomplete;
4. the campaign is then complete and valid (every scene has its COGs and item, the whole
   STAC tree validates) and a last dry-run has nothing to do.
Exit status 1 when any check of any trial fails.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pystac
import rasterio
import yaml
from rio_cogeo.cogeo import cog_validate

from raw2ready.campaign.batches import group
from raw2ready.campaign.inventory import read_inventory
from raw2ready.demo import archive as demo_archive
from raw2ready.stac.validation import validate_stac_object, validate_stac_tree

PROJECT = Path(__file__).resolve().parents[1]
PROFILE = PROJECT / "profiles" / "local"
PRODUCTS = ("ndvi", "lai", "mask")
RESULTS = Path("results/demo")
WORK = Path("work/demo")


@dataclass
class Trial:
    """What one kill did and what the checks found."""

    number: int
    kill_after_s: float
    finished_before_kill_s: float | None = None
    complete_scenes: int = 0
    incomplete_scenes: int = 0
    partial_files: int = 0
    final_files_checked: int = 0
    planned_jobs: dict[str, int] = field(default_factory=dict)
    rerun_jobs: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def write_campaign(root: Path, size: int) -> Path:
    """The sample archive and the demo config pointing at it; returns the config path."""
    demo_archive.write_demo_archive(root / "archive", seed=42, size=size)
    config = yaml.safe_load((PROJECT / "config" / "demo.yaml").read_text())
    config["archive"]["url"] = str(root / "archive" / "catalog.json")
    (root / "demo.yaml").write_text(yaml.safe_dump(config))
    return root / "demo.yaml"


def snakemake_command(root: Path, *extra: str) -> list[str]:
    """The workflow as a user runs it, with the local profile."""
    return [
        sys.executable, "-m", "snakemake", "--snakefile", str(PROJECT / "Snakefile"),
        "--directory", str(root), "--configfile", str(root / "demo.yaml"),
        "--profile", str(PROFILE), *extra,
    ]  # fmt: skip


def environment() -> dict[str, str]:
    """PATH with this interpreter's bin folder first, so jobs find `raw2ready`."""
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")


def snakemake(root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run the workflow to its end."""
    return subprocess.run(
        snakemake_command(root, *extra), capture_output=True, text=True, check=False,
        env=environment(),
    )  # fmt: skip


def group_members(pgid: int) -> list[int]:
    """Processes still alive in a process group (from /proc)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def run_and_kill(root: Path, after: float) -> tuple[list[int], float | None]:
    """Start the workflow in its own process group and SIGKILL the group after `after` s.

    Returns the processes of the group still alive afterwards (should be none), and the
    run's duration when it finished before the kill.
    """
    started = time.monotonic()
    finished = None
    with open(root / "killed-run.log", "w") as log:
        process = subprocess.Popen(
            snakemake_command(root), stdout=log, stderr=subprocess.STDOUT,
            env=environment(), start_new_session=True,
        )  # fmt: skip
        try:
            process.wait(timeout=after)
            finished = time.monotonic() - started
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    deadline = time.monotonic() + 5
    while group_members(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return group_members(process.pid), finished


def check_file(path: Path) -> str | None:
    """Why a file under its final name is not valid, or None."""
    try:
        if path.suffix == ".tif":
            valid, errors, _warnings = cog_validate(str(path), strict=True, quiet=True)
            if not valid:
                return f"{path}: not a valid COG: {errors}"
            with rasterio.open(path) as dataset:
                dataset.read(1, window=((0, 1), (0, 1)))
        elif path.suffix == ".jsonl":
            for line in path.read_text().splitlines():
                json.loads(line)
        elif path.suffix == ".json":
            data = json.loads(path.read_text())
            if isinstance(data, dict) and "stac_version" in data:
                # the object alone: its parents may legitimately not be written yet
                pystac.read_dict(data)
                validate_stac_object(data, path)
    except Exception as exc:  # any failure to read or validate is what this test looks for
        return f"{path}: {type(exc).__name__}: {exc}"
    return None


def final_files(root: Path) -> tuple[list[Path], list[Path]]:
    """Files under their final names, and `.partial` temporaries (files, or anything in a
    download job's `.partial` folder), in results and work."""
    finals, partials = [], []
    for folder in (root / RESULTS, root / WORK):
        for path in folder.rglob("*") if folder.exists() else []:
            if not path.is_file():
                continue
            if any(part.endswith(".partial") for part in path.relative_to(folder).parts):
                partials.append(path)
            elif path.suffix in (".tif", ".json", ".jsonl"):
                finals.append(path)
    return finals, partials


def scene_files(root: Path) -> dict[str, list[Path]]:
    """Every demo scene's expected products and item (found by name under results)."""
    found: dict[str, list[Path]] = {}
    for scene in demo_archive.DEMO_SCENES:
        scene_id = demo_archive.item_id(scene)
        names = {f"{scene_id}_{p}.tif" for p in PRODUCTS} | {f"{scene_id}.json"}
        found[scene_id] = [
            p for p in (root / RESULTS).rglob(f"{scene_id}*") if p.name in names
        ] if (root / RESULTS).exists() else []  # fmt: skip
    return found


def ran_jobs(output: str) -> dict[str, int]:
    """Jobs per rule a real run executed, from its log."""
    pattern = r"^\s*(?:localrule|rule|localcheckpoint|checkpoint) (\w+):"
    return dict(Counter(re.findall(pattern, output, re.MULTILINE)))


def expected_jobs(root: Path, planned: dict[str, int], unsearched: list[str]) -> dict[str, int]:
    """The dry-run's jobs, plus the batches a search checkpoint revealed during the run.

    A tile without inventory is planned as its search only; its batches join the DAG once
    the search has written the inventory (all of them are new, so all run: a download and a
    processing job each).
    """
    expected = Counter(planned)
    for tile in unsearched:
        records = read_inventory(root / WORK / "inventories" / f"{tile}.jsonl")
        expected["download"] += len(group(records))
        expected["scenes"] += len(group(records))
    return dict(expected)


def planned_jobs(root: Path) -> dict[str, int]:
    """Jobs per rule of the dry-run (empty when there is nothing to do)."""
    result = snakemake(root, "-n", "--quiet", "rules")
    if result.returncode != 0:
        raise RuntimeError(f"dry-run failed: {result.stderr[-2000:]}")
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    return {r: int(n) for r, n in re.findall(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)
            if r != "total"}  # fmt: skip


def plan_jobs(root: Path) -> dict[str, int]:
    """Jobs per rule as `raw2ready plan` counts them."""
    result = subprocess.run(
        [sys.executable, "-c", "from raw2ready.cli import main; main()", "plan",
         "--configfile", "demo.yaml", "--json", "--no-search"],
        cwd=root, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"raw2ready plan failed: {result.stderr[-2000:]}")
    jobs = json.loads(result.stdout)["jobs"]
    return {rule: count for rule, count in jobs.items() if rule != "total"}


def processed_by_rerun(root: Path, since: float) -> set[str]:
    """Scenes the rerun's batch jobs processed (from the batch records they wrote)."""
    processed = set()
    for path in (root / WORK / "batches").rglob("*.json"):
        if path.stat().st_mtime >= since:
            record = json.loads(path.read_text())
            processed |= {s["id"] for s in record["scenes"] if s["status"] == "processed"}
    return processed


def trial(root: Path, number: int, after: float) -> Trial:
    """One kill, its checks, the rerun and its checks."""
    for folder in ("results", "work", ".snakemake"):
        shutil.rmtree(root / folder, ignore_errors=True)
    outcome = Trial(number, round(after, 2))
    survivors, outcome.finished_before_kill_s = run_and_kill(root, after)
    if survivors:
        outcome.problems.append(f"processes left after the kill: {survivors}")

    finals, partials = final_files(root)
    outcome.final_files_checked, outcome.partial_files = len(finals), len(partials)
    outcome.problems += [p for p in map(check_file, finals) if p]
    scenes = scene_files(root)
    complete = {s for s, paths in scenes.items() if len(paths) == len(PRODUCTS) + 1}
    outcome.complete_scenes = len(complete)
    outcome.incomplete_scenes = len(scenes) - len(complete)
    untouched = {p: (p.stat().st_size, p.stat().st_mtime_ns) for s in complete for p in scenes[s]}

    unlock = snakemake(root, "--unlock")
    if unlock.returncode != 0:
        outcome.problems.append(f"--unlock failed: {unlock.stderr[-500:]}")
    outcome.planned_jobs = planned_jobs(root)
    unsearched = [
        tile for tile in ("47PPR", "48PUB")
        if not (root / WORK / "inventories" / f"{tile}.jsonl").exists()
    ]  # fmt: skip
    plan = plan_jobs(root)
    if plan != outcome.planned_jobs:
        outcome.problems.append(f"raw2ready plan counts {plan}, snakemake {outcome.planned_jobs}")
    started = time.time()
    rerun = snakemake(root)
    outcome.rerun_jobs = ran_jobs(rerun.stderr)
    if rerun.returncode != 0:
        outcome.problems.append(f"rerun failed: {rerun.stderr[-1500:]}")
        return outcome
    expected = expected_jobs(root, outcome.planned_jobs, unsearched)
    if outcome.rerun_jobs != expected:
        outcome.problems.append(
            f"rerun ran {outcome.rerun_jobs}, the dry-run planned {outcome.planned_jobs} "
            f"(expected {expected} with the batches of searched tiles {unsearched})"
        )
    touched = [str(p) for p, stamp in untouched.items()
               if (p.stat().st_size, p.stat().st_mtime_ns) != stamp]  # fmt: skip
    if touched:
        outcome.problems.append(f"complete scenes rewritten by the rerun: {touched[:3]}")
    incomplete = set(scenes) - complete
    processed = processed_by_rerun(root, started)
    if processed != incomplete:
        outcome.problems.append(
            f"rerun processed {sorted(processed)}, incomplete were {sorted(incomplete)}"
        )

    after_rerun = scene_files(root)
    missing = [s for s, paths in after_rerun.items() if len(paths) != len(PRODUCTS) + 1]
    if missing:
        outcome.problems.append(f"scenes still incomplete after the rerun: {missing}")
    outcome.problems += [p for p in map(check_file, final_files(root)[0]) if p]
    try:
        validate_stac_tree(root / RESULTS / "stac" / "collection.json")
    except Exception as exc:  # the tree must validate as a whole
        outcome.problems.append(f"STAC tree: {exc}")
    if planned_jobs(root):
        outcome.problems.append("a dry-run after the rerun still has jobs to do")
    return outcome


def run_trials(root: Path, fractions: list[float], size: int, report: Any = None) -> list[Trial]:
    """Calibrate on a full run (T), then one trial per fraction f, killed after f x T.

    A trial whose run finished before its kill lowers T to that run's duration, so the
    later kills fall inside the run even when the machine got less busy.
    """
    write_campaign(root, size)
    started = time.monotonic()
    full = snakemake(root)
    if full.returncode != 0:
        raise RuntimeError(f"calibration run failed: {full.stderr[-2000:]}")
    duration = time.monotonic() - started
    outcomes = []
    for number, fraction in enumerate(fractions, start=1):
        outcome = trial(root, number, fraction * duration)
        duration = min(duration, outcome.finished_before_kill_s or duration)
        outcomes.append(outcome)
        if report:
            report(outcome)
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--size", type=int, default=512, help="demo raster side (pixels)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the kill moments")
    parser.add_argument("--json", action="store_true", help="one JSON object per trial")
    args = parser.parse_args()

    def report(outcome: Trial) -> None:
        if args.json:
            print(json.dumps(asdict(outcome)), flush=True)
            return
        verdict = "ok" if not outcome.problems else "FAILED"
        kill = (
            f"killed after {outcome.kill_after_s:5.1f} s"
            if outcome.finished_before_kill_s is None
            else f"finished in {outcome.finished_before_kill_s:5.1f} s"
        )
        print(
            f"trial {outcome.number:>2}: {kill}, "
            f"{outcome.complete_scenes:>2} scene(s) complete, {outcome.incomplete_scenes:>2} "
            f"to redo, {outcome.final_files_checked:>3} final file(s) valid, "
            f"{outcome.partial_files} partial; rerun {outcome.rerun_jobs or 'nothing'}: {verdict}",
            flush=True,
        )
        for problem in outcome.problems:
            print(f"    {problem}", flush=True)

    with tempfile.TemporaryDirectory(prefix="raw2ready-kill-") as tmp:
        moments = random.Random(args.seed)
        fractions = [moments.random() for _ in range(args.trials)]
        outcomes = run_trials(Path(tmp), fractions, args.size, report)
    failed = [o.number for o in outcomes if o.problems]
    if not args.json:
        killed = sum(o.finished_before_kill_s is None for o in outcomes)
        print(
            f"{len(outcomes) - len(failed)} of {len(outcomes)} trial(s) passed every check "
            f"({killed} killed mid-run)"
        )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
