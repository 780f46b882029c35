"""The demo campaign on a real single-node Slurm cluster, through `--profile profiles/slurm`.

The suite starts munged, slurmctld and slurmd on 127.0.0.1 (tests/slurm_cluster.py) and
runs the operator's profile with the CI overrides of tests/slurm/ci-profile (test partition,
no accounting daemon so job states come from squeue, fast status checks). The first run has
one of its scene jobs cancelled with scancel every time it is (re)submitted, so the run ends
incomplete; the rerun must submit only the missing work, leave every finished product
untouched, and complete the campaign. The campaign sets `download.where: local`, as on a
cluster whose compute nodes have no internet: the download jobs must run where snakemake
runs and never be submitted; only processing jobs go to Slurm. Needs the Debian packages
slurm-wlm and munge (`make test` installs them) and root (the daemons run as root); skips
with the reason otherwise.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from rio_cogeo.cogeo import cog_validate

from raw2ready.demo import archive as demo_archive
from raw2ready.stac.validation import validate_stac_tree

from .conftest import PROJECT, write_demo_campaign
from .slurm_cluster import SlurmCluster, slurm_available

pytestmark = [
    pytest.mark.skipif(not slurm_available(), reason="Slurm/munge not installed (make test)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the test cluster's daemons must run as root"),
]

SIZE = 256
CI_PROFILE = PROJECT / "tests" / "slurm" / "ci-profile"
RUN_TIMEOUT = 900
SUBMITTED = re.compile(r"has been submitted with SLURM jobid (\d+)")
LOCAL_RULE = re.compile(r"^\s*localrule (\w+):$", re.MULTILINE)
RULE_LINE = re.compile(r"^\s*(?:local)?rule (\w+):$")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A running single-node cluster for the module; stopped (queue drained) afterwards."""
    slurm = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        slurm.start()
        yield slurm
    finally:
        slurm.stop()


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A campaign folder with the sample archive and the demo config pointing at it."""
    root = tmp_path_factory.mktemp("campaign")
    config = yaml.safe_load(write_demo_campaign(root, SIZE, composites=False).read_text())
    config["download"] = {"where": "local"}  # compute nodes without internet
    (root / "demo.yaml").write_text(yaml.safe_dump(config))
    return root


def command(root: Path) -> list[str]:
    """snakemake with the operator's SLURM profile and the CI-only overrides."""
    return [
        sys.executable, "-m", "snakemake", "--snakefile", str(PROJECT / "Snakefile"),
        "--directory", str(root), "--configfile", str(root / "demo.yaml"),
        "--profile", str(PROJECT / "profiles" / "slurm"),
        "--workflow-profile", str(CI_PROFILE),
    ]  # fmt: skip


def environment(cluster: SlurmCluster) -> dict[str, str]:
    """This interpreter's bin first (raw2ready, snakemake), then the cluster's wrappers."""
    return cluster.env(dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}"))


def started_jobs(log: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, wildcards) of every job a Snakemake log shows starting, group members too."""
    jobs: list[tuple[str, dict[str, str]]] = []
    for line in log.splitlines():
        match = RULE_LINE.match(line)
        if match:
            jobs.append((match.group(1), {}))
        elif line.strip().startswith("wildcards:") and jobs:
            pairs = line.split(":", 1)[1].split(",")
            jobs[-1] = (jobs[-1][0], dict(pair.strip().split("=", 1) for pair in pairs))
    return jobs


def processing_months(jobs: list[tuple[str, dict[str, str]]]) -> set[tuple[str, str, str]]:
    """(tile, year, month) of every job that processes scenes."""
    return {
        (wc["tile"], wc["year"], wc["month"]) for _rule, wc in jobs if {"tile", "month"} <= set(wc)
    }


def items(root: Path) -> dict[str, Path]:
    """Scene id -> STAC item of every scene the campaign finished."""
    return {
        p.stem: p
        for p in (root / "results/demo/stac").rglob("*_L2A.json")
        if p.parent.name == p.stem
    }


def products(root: Path) -> dict[Path, int]:
    """Every product COG and its modification time (ns)."""
    return {p: p.stat().st_mtime_ns for p in (root / "results/demo/products").rglob("*.tif")}


def month_of(scene: demo_archive.DemoScene) -> tuple[str, str, str]:
    """(tile, year, month) of a demo scene."""
    year, month, _day = scene.date.split("-")
    return scene.tile, year, month


def run_cancelling_one_job(cluster: SlurmCluster, root: Path) -> tuple[str, list[str]]:
    """Run the campaign; scancel the first running scene job and each of its resubmissions."""
    log_path = root / "first-run.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command(root), env=environment(cluster), stdout=log, stderr=subprocess.STDOUT
        )
        target: str | None = None
        cancelled: list[str] = []
        seen: set[str] = set()
        deadline = time.monotonic() + RUN_TIMEOUT
        while process.poll() is None:
            if time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"first run did not end in {RUN_TIMEOUT} s")
            for job in cluster.queue():
                seen.add(job["comment"])
                if job["id"] in cancelled or job["state"] != "RUNNING":
                    continue
                if target is None and "scene" in job["comment"]:
                    target = job["comment"]
                if job["comment"] == target:
                    cluster.run("scancel", job["id"])
                    cancelled.append(job["id"])
            time.sleep(0.5)
    assert target is not None, "no scene job was ever seen running"
    (root / "queued-jobs.txt").write_text("\n".join(sorted(seen)))
    return log_path.read_text(), cancelled


@pytest.fixture(scope="module")
def runs(cluster: SlurmCluster, campaign: Path) -> dict[str, object]:
    """The interrupted first run, the state it left, and the rerun."""
    first_log, cancelled = run_cancelling_one_job(cluster, campaign)
    before = products(campaign)
    finished_before = set(items(campaign))
    rerun = subprocess.run(
        command(campaign), env=environment(cluster), capture_output=True, text=True,
        timeout=RUN_TIMEOUT, check=False,
    )  # fmt: skip
    (campaign / "rerun.log").write_text(rerun.stdout + rerun.stderr)
    return {
        "first_log": first_log,
        "cancelled": cancelled,
        "before": before,
        "finished_before": finished_before,
        "rerun": rerun,
        "rerun_log": rerun.stdout + rerun.stderr,
    }


def test_first_run_submits_through_slurm_and_groups_scene_jobs(runs: dict) -> None:
    log = runs["first_log"]
    submissions = [line for line in log.splitlines() if SUBMITTED.search(line)]
    scene_submissions = [line for line in submissions if "scene" in line]
    scene_jobs = [job for job in started_jobs(log) if "month" in job[1]]
    assert scene_submissions, log[-3000:]
    assert len(scene_submissions) < len(scene_jobs), "scene jobs were not bundled"


def test_downloads_run_where_snakemake_runs_and_only_processing_is_submitted(
    runs: dict, campaign: Path
) -> None:
    months = {month_of(scene) for scene in demo_archive.DEMO_SCENES}
    for log in (runs["first_log"], runs["rerun_log"]):
        submissions = [line for line in log.splitlines() if SUBMITTED.search(line)]
        assert submissions and not [line for line in submissions if "download" in line]
    local_downloads = LOCAL_RULE.findall(runs["first_log"]).count("download")
    assert local_downloads == len(months), runs["first_log"][-3000:]
    queued = (campaign / "queued-jobs.txt").read_text().splitlines()
    assert queued and not [comment for comment in queued if "download" in comment]


def test_a_cancelled_job_fails_only_its_own_work(runs: dict) -> None:
    assert runs["cancelled"], "nothing was cancelled"
    all_scenes = {demo_archive.item_id(s) for s in demo_archive.DEMO_SCENES}
    finished = runs["finished_before"]
    assert finished < all_scenes, "the cancelled job's scenes were finished anyway"
    assert finished, "no scene finished besides the cancelled job's"
    assert "Error in" in runs["first_log"] or "failed" in runs["first_log"]


def test_rerun_submits_only_the_missing_work_and_completes(runs: dict, campaign: Path) -> None:
    rerun = runs["rerun"]
    assert rerun.returncode == 0, runs["rerun_log"][-4000:]
    missing = [
        s
        for s in demo_archive.DEMO_SCENES
        if demo_archive.item_id(s) not in runs["finished_before"]
    ]
    rerun_months = processing_months(started_jobs(runs["rerun_log"]))
    assert rerun_months == {month_of(s) for s in missing}
    assert set(items(campaign)) == {demo_archive.item_id(s) for s in demo_archive.DEMO_SCENES}


def test_rerun_leaves_every_finished_product_untouched(runs: dict, campaign: Path) -> None:
    after = products(campaign)
    untouched = {path: mtime for path, mtime in runs["before"].items() if path in after}
    assert untouched, "no product survived the first run"
    assert {path: after[path] for path in untouched} == untouched
    assert len(after) == 3 * len(demo_archive.DEMO_SCENES)


def test_outputs_are_valid_cogs_and_a_valid_stac_catalog(runs: dict, campaign: Path) -> None:
    assert runs["rerun"].returncode == 0
    for path in products(campaign):
        valid, errors, _warnings = cog_validate(str(path), strict=True, quiet=True)
        assert valid, (path, errors)
    count = validate_stac_tree(campaign / "results/demo/stac/collection.json")
    assert count >= len(demo_archive.DEMO_SCENES) + 3


def test_a_second_rerun_submits_nothing(cluster: SlurmCluster, campaign: Path, runs: dict) -> None:
    assert runs["rerun"].returncode == 0
    again = subprocess.run(
        [*command(campaign), "--dry-run"], env=environment(cluster), capture_output=True,
        text=True, timeout=RUN_TIMEOUT, check=False,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Nothing to be done" in again.stdout + again.stderr
