"""kill -9 the whole workflow at random moments: nothing invalid is left, the README's recovery
commands finish the campaign, and it equals an uninterrupted run.

    python benchmarks/kill_test.py                         # 10 trials, demo campaign, 512 px
    python benchmarks/kill_test.py --trials 50 --size 256  # the figures of docs/reruns.md
    python benchmarks/kill_test.py --json                  # one JSON object per trial

The campaign folder is laid out like a checkout (Snakefile, rules/, envs/, profiles/,
config/ linked to this one, the sample archive in work/demo-archive as `make demo` writes
it), and every workflow command is the README's, run there: `snakemake --configfile
config/demo.yaml --profile profiles/local`. A reference run of the whole campaign, once,
measures its duration T and keeps its outputs. Each trial then starts from nothing, runs the
workflow in its own process group and sends SIGKILL to the whole group at a random moment in
[0, T]. After the kill:
1. no process of the group is left, and every file under its final name is sound: each .tif
   a valid COG (rio-cogeo, strict) read in full (every block of every band of every overview
   level), equal pixel for pixel to the reference's; each JSON/JSONL parseable, each STAC
   JSON readable by pystac and valid against the offline STAC schemas, each item's assets
   matching their files' `file:size` and `file:checksum`. Scratch (`.partial` temporaries,
   scene scratch folders, download folders, Snakemake's incomplete markers) is counted;
2. the README's recovery commands: the same command with `--unlock` (a killed run leaves its
   lock), then the same command again; before the rerun a dry-run's jobs per rule are
   recorded and `raw2ready plan` must count the same jobs;
3. the rerun completes; the jobs it ran are exactly the dry-run's; every scene that was
   complete after the kill keeps its files untouched (same size and mtime), the batch
   records of the rerun list as processed exactly the scenes that were incomplete;
4. the campaign is then complete and sound (the checks of 1 on every file, the whole STAC
   tree validates, the same products as the reference), no scratch is left, and a last
   dry-run has nothing to do.
Each tile's datacube (an Icechunk repository, one commit per month) is checked after the kill
and after the rerun: it opens, and every month it holds has the reference cube's time steps
and values exactly (after the kill: the months committed before it; after the rerun: all).
`tests/test_kill_checks.py` shows that these checks catch a COG cut by one byte, with 64
flipped bytes or its second half zeroed, which `rio cogeo validate` passes. Exit status 1
when any check of any trial fails.
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

import numpy as np
import pystac
import rasterio
from rio_cogeo.cogeo import cog_validate

from raw2ready.archives.transfer.decode import decode_fully
from raw2ready.campaign.batches import group
from raw2ready.campaign.inventory import read_inventory
from raw2ready.checksums import file_matches
from raw2ready.config import load_settings
from raw2ready.cube.datacube import open_cube
from raw2ready.demo import archive as demo_archive
from raw2ready.stac.validation import validate_stac_object, validate_stac_tree

PROJECT = Path(__file__).resolve().parents[1]
#: What the campaign folder links from this checkout, so that it runs as a checkout does.
CHECKOUT = ("Snakefile", "rules", "envs", "profiles", "config")
#: The README's workflow command (`make demo` runs it too), from the checkout.
WORKFLOW = ("--configfile", "config/demo.yaml", "--profile", "profiles/local")
#: The README's recovery after a kill: the same command with --unlock, then the same command.
UNLOCK = ("--unlock",)
ARCHIVE = Path("work/demo-archive")  # where config/demo.yaml points
PRODUCTS = ("ndvi", "lai", "mask")
RESULTS = Path("results/demo")
WORK = Path("work/demo")
REFERENCE = Path("reference")


@dataclass
class Trial:
    """What one kill did and what the checks found."""

    number: int
    kill_after_s: float
    finished_before_kill_s: float | None = None
    complete_scenes: int = 0
    incomplete_scenes: int = 0
    scratch_after_kill: dict[str, int] = field(default_factory=dict)
    final_files_checked: int = 0
    planned_jobs: dict[str, int] = field(default_factory=dict)
    rerun_jobs: dict[str, int] = field(default_factory=dict)
    files_checked_after_rerun: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


def write_campaign(root: Path, size: int) -> None:
    """A checkout-like campaign folder with the sample archive where the demo config expects
    it (`make demo` writes it there with `raw2ready demo-archive`)."""
    for name in CHECKOUT:
        (root / name).symlink_to(PROJECT / name)
    subprocess.run(
        [str(Path(sys.executable).parent / "raw2ready"), "demo-archive", str(ARCHIVE),
         "--size", str(size)],
        cwd=root, check=True, capture_output=True, env=environment(),
    )  # fmt: skip


def snakemake_command(*extra: str) -> list[str]:
    """The README's command, with the snakemake of this interpreter's environment."""
    return [str(Path(sys.executable).parent / "snakemake"), *WORKFLOW, *extra]


def environment() -> dict[str, str]:
    """PATH with this interpreter's bin folder first, as `make demo` sets it."""
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")


def snakemake(root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run the workflow to its end in the campaign folder."""
    return subprocess.run(
        snakemake_command(*extra), cwd=root, capture_output=True, text=True, check=False,
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
            snakemake_command(), cwd=root, stdout=log, stderr=subprocess.STDOUT,
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


def levels(path: Path) -> list[np.ndarray]:
    """Every band's pixels at full resolution and at each overview level."""
    with rasterio.open(path) as dataset:
        arrays = [dataset.read()]
        count = len(dataset.overviews(1))
    for level in range(count):
        with rasterio.open(path, overview_level=level) as overview:
            arrays.append(overview.read())
    return arrays


def check_cog(path: Path, reference: Path | None) -> None:
    """Raise unless `path` is a valid COG whose every block decodes and, with a reference,
    whose pixels at every level equal the reference's."""
    valid, errors, _warnings = cog_validate(str(path), strict=True, quiet=True)
    if not valid:
        raise ValueError(f"not a valid COG: {errors}")
    decode_fully(path, path.name, overviews=True)
    if reference is not None:
        mine, theirs = levels(path), levels(reference)
        if len(mine) != len(theirs) or not all(
            a.shape == b.shape and np.array_equal(a, b) for a, b in zip(mine, theirs, strict=False)
        ):
            raise ValueError(f"pixels differ from the reference run's {reference}")


def check_item_files(data: dict[str, Any], path: Path) -> None:
    """Raise unless every asset of an item with `file:size` / `file:checksum` has a file of
    that size and checksum."""
    for key, asset in data.get("assets", {}).items():
        if "file:size" not in asset and "file:checksum" not in asset:
            continue
        target = (path.parent / asset["href"]).resolve()
        if not target.is_file():
            raise ValueError(f"asset {key}: {target} is missing")
        size = target.stat().st_size
        if "file:size" in asset and size != asset["file:size"]:
            raise ValueError(f"asset {key}: {size} bytes, the item says {asset['file:size']}")
        if "file:checksum" in asset and file_matches(target, asset["file:checksum"]) is not True:
            raise ValueError(f"asset {key}: {target.name} does not match its file:checksum")


def check_file(path: Path, reference: Path | None = None) -> str | None:
    """Why a file under its final name is not sound, or None (`reference`: the same file of
    the reference run, for COGs)."""
    try:
        if path.suffix == ".tif":
            check_cog(path, reference)
        elif path.suffix == ".jsonl":
            for line in path.read_text().splitlines():
                json.loads(line)
        elif path.suffix == ".json":
            data = json.loads(path.read_text())
            if isinstance(data, dict) and "stac_version" in data:
                # the object alone: its parents may legitimately not be written yet
                pystac.read_dict(data)
                validate_stac_object(data, path)
                check_item_files(data, path)
    except Exception as exc:  # any failure to read or validate is what this test looks for
        return f"{path}: {type(exc).__name__}: {exc}"
    return None


def check_files(root: Path) -> tuple[int, list[str]]:
    """Check every file under its final name against the reference run: (count, problems)."""
    finals = final_files(root)
    problems = []
    for path in finals:
        relative = path.relative_to(root)
        reference = root / REFERENCE / relative
        if path.suffix == ".tif" and not reference.is_file():
            problems.append(f"{path}: not made by the reference run")
            continue
        problems += filter(None, [check_file(path, reference if path.suffix == ".tif" else None)])
    return len(finals), problems


def check_cubes(root: Path, complete: bool) -> list[str]:
    """Why a tile's cube is not sound: it must open, and every month it holds must equal the
    reference cube's (time steps and values); `complete`: it must hold every month."""
    problems = []
    for reference_cube in sorted((root / REFERENCE / RESULTS / "cubes").glob("*.icechunk")):
        cube = root / RESULTS / "cubes" / reference_cube.name
        if not cube.exists():
            problems += [f"{cube}: missing after the rerun"] if complete else []
            continue
        try:
            found, expected = open_cube(cube), open_cube(reference_cube)
            months = sorted(found.attrs.get("raw2ready:months", []))
            if complete and months != sorted(expected.attrs["raw2ready:months"]):
                raise ValueError(f"months {months}, the reference has all of theirs")
            held = expected.time.dt.strftime("%Y-%m").isin(months)
            if not found.equals(expected.isel(time=held.values)):
                raise ValueError(f"months {months} differ from the reference cube's")
        except Exception as exc:  # any failure to open or compare is what this looks for
            problems.append(f"{cube}: {type(exc).__name__}: {exc}")
    return problems


def is_scratch(path: Path) -> bool:
    """Whether a path is scratch, not an output: temporaries (`.partial` anywhere in its
    path), scene scratch, downloads (temporary: Snakemake removes them after their batch)."""
    parts = path.parts
    return any(part.endswith(".partial") for part in parts) or bool(
        {"scratch", "downloads"} & set(parts)
    )


def final_files(root: Path) -> list[Path]:
    """Files under their final names in results and work (logs are not checked)."""
    finals = []
    for folder in (root / RESULTS, root / WORK):
        for path in sorted(folder.rglob("*")) if folder.exists() else []:
            relative = path.relative_to(root)
            if path.is_file() and not is_scratch(relative) and "logs" not in relative.parts:
                finals.append(path)
    return finals


def scratch(root: Path) -> dict[str, int]:
    """Scratch left in the campaign, by kind (none is left by a finished run)."""
    kinds: Counter[str] = Counter()
    for folder in (root / RESULTS, root / WORK):
        for path in folder.rglob("*") if folder.exists() else []:
            relative = path.relative_to(root)
            if not path.is_file() or not is_scratch(relative):
                continue
            if path.name.endswith(".proof.json") and "downloads" in relative.parts:
                kinds["download proofs"] += 1
            elif "downloads" in relative.parts:
                kinds["downloads"] += 1
            elif "scratch" in relative.parts:
                kinds["scene scratch"] += 1
            else:
                kinds[f"{relative.parts[0]} .partial"] += 1
    incomplete = root / ".snakemake" / "incomplete"
    markers = sum(1 for p in incomplete.rglob("*") if p.is_file()) if incomplete.exists() else 0
    if markers:
        kinds["snakemake incomplete markers"] = markers
    return dict(kinds)


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
    processing job each, and a composite job each when the campaign makes composites).
    """
    expected = Counter(planned)
    composites = load_settings(root / "config" / "demo.yaml").composites.enabled
    for tile in unsearched:
        batches = len(group(read_inventory(root / WORK / "inventories" / f"{tile}.jsonl")))
        expected["download"] += batches
        expected["scenes"] += batches
        if composites:
            expected["composite"] += batches
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
         "--configfile", "config/demo.yaml", "--json", "--no-search"],
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


def missing_products(root: Path) -> list[str]:
    """Products of the reference run the campaign does not have."""
    made = {p.relative_to(root / REFERENCE) for p in (root / REFERENCE).rglob("*.tif")}
    return sorted(str(p) for p in made if not (root / p).is_file())


def trial(root: Path, number: int, after: float) -> Trial:
    """One kill, its checks, the README's recovery commands and their checks."""
    began = time.monotonic()
    shutil.rmtree(root / "results", ignore_errors=True)
    shutil.rmtree(root / WORK, ignore_errors=True)
    shutil.rmtree(root / ".snakemake", ignore_errors=True)
    outcome = Trial(number, round(after, 2))
    survivors, outcome.finished_before_kill_s = run_and_kill(root, after)
    if survivors:
        outcome.problems.append(f"processes left after the kill: {survivors}")

    outcome.final_files_checked, problems = check_files(root)
    outcome.problems += problems + check_cubes(root, complete=False)
    outcome.scratch_after_kill = scratch(root)
    scenes = scene_files(root)
    complete = {s for s, paths in scenes.items() if len(paths) == len(PRODUCTS) + 1}
    outcome.complete_scenes = len(complete)
    outcome.incomplete_scenes = len(scenes) - len(complete)
    untouched = {p: (p.stat().st_size, p.stat().st_mtime_ns) for s in complete for p in scenes[s]}

    unlock = snakemake(root, *UNLOCK)
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
        outcome.seconds = round(time.monotonic() - began, 1)
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
    if lost := missing_products(root):
        outcome.problems.append(f"products of the reference run missing: {lost[:3]}")
    outcome.files_checked_after_rerun, problems = check_files(root)
    outcome.problems += problems + check_cubes(root, complete=True)
    if left := scratch(root):
        outcome.problems.append(f"scratch left after the rerun: {left}")
    try:
        validate_stac_tree(root / RESULTS / "stac" / "collection.json")
    except Exception as exc:  # the tree must validate as a whole
        outcome.problems.append(f"STAC tree: {exc}")
    if planned_jobs(root):
        outcome.problems.append("a dry-run after the rerun still has jobs to do")
    outcome.seconds = round(time.monotonic() - began, 1)
    return outcome


def reference_run(root: Path) -> float:
    """The uninterrupted run every trial is compared with: its duration; its outputs are
    kept under `reference/` (and must pass the checks themselves)."""
    started = time.monotonic()
    full = snakemake(root)
    if full.returncode != 0:
        raise RuntimeError(f"reference run failed: {full.stderr[-2000:]}")
    duration = time.monotonic() - started
    problems = [p for p in map(check_file, final_files(root)) if p]
    problems += [f"scratch left: {left}"] if (left := scratch(root)) else []
    if problems:
        raise RuntimeError(f"the reference run is not sound: {problems[:3]}")
    (root / REFERENCE).mkdir()
    shutil.move(root / "results", root / REFERENCE / "results")
    return duration


def run_trials(root: Path, fractions: list[float], size: int, report: Any = None) -> list[Trial]:
    """Reference run (its duration T), then one trial per fraction f, killed after f x T.

    A trial whose run finished before its kill lowers T to that run's duration, so the
    later kills fall inside the run even when the machine got less busy.
    """
    write_campaign(root, size)
    duration = reference_run(root)
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
            f"to redo, {outcome.final_files_checked:>3} final file(s) sound, scratch "
            f"{outcome.scratch_after_kill or 'none'}; rerun {outcome.rerun_jobs or 'nothing'}, "
            f"then {outcome.files_checked_after_rerun} file(s) sound; "
            f"{outcome.seconds:.0f} s: {verdict}",
            flush=True,
        )
        for problem in outcome.problems:
            print(f"    {problem}", flush=True)

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="raw2ready-kill-") as tmp:
        moments = random.Random(args.seed)
        fractions = [moments.random() for _ in range(args.trials)]
        outcomes = run_trials(Path(tmp), fractions, args.size, report)
    failed = [o.number for o in outcomes if o.problems]
    if not args.json:
        killed = sum(o.finished_before_kill_s is None for o in outcomes)
        print(
            f"{len(outcomes) - len(failed)} of {len(outcomes)} trial(s) passed every check "
            f"({killed} killed mid-run) in {time.monotonic() - started:.0f} s"
        )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
