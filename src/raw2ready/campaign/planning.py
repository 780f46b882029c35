"""Campaign planning: what a run would do, what is already done, and what it would cost.

`raw2ready plan` answers before an allocation is spent. The jobs per rule are Snakemake's
own: its dry-run's job table (`snakemake --dry-run --quiet rules`, its public command line),
for every family and rule, under the profile's rerun triggers and incomplete-job tracking.
Scene counts come from the inventories with the workflow's own test of a finished scene
(batches.is_complete); core-hours and volumes from per-job figures the benchmarks measured
(data/job_figures.json says how).
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

from raw2ready.campaign.batches import group, unfinished
from raw2ready.campaign.inventory import (
    read_inventory,
    rejected_of,
    search_inventory,
    write_inventory,
)
from raw2ready.campaign.outcome import read_rejected
from raw2ready.config import Settings
from raw2ready.errors import ConfigError, ExternalToolError
from raw2ready.layout import SENTINEL1, Layout
from raw2ready.scene import SceneRecord

log = logging.getLogger(__name__)

#: Rules in the order the workflow runs them (the order of the job table); others follow.
RULES = (
    "search", "sentinel1_search", "download", "sen2cor", "scenes", "repair_scenes",
    "sentinel1_download", "sentinel1_scene", "sentinel1_repair_scene", "tile_catalog",
    "sentinel1_tile_catalog",
    "sentinel1_collection", "collection", "report", "check", "all",
)  # fmt: skip
#: Rules whose jobs process Sentinel-2 scenes (costed per scene, not per job).
SCENE_RULES = ("scenes", "repair_scenes")
GB = 1e9
_JOB_ROW = re.compile(r"^(\w+)\s+(\d+)$", re.MULTILINE)


@dataclass(frozen=True)
class JobFigures:
    """Measured cost of one job per rule, and the size of each output of a scene."""

    per_job: dict[str, dict[str, float]]
    output_bytes: dict[str, int]
    measured: dict[str, Any]

    @classmethod
    def load(cls) -> JobFigures:
        """The figures shipped with the package (refreshed by benchmarks/job_figures.py)."""
        data = json.loads(files("raw2ready").joinpath("data/job_figures.json").read_text())
        return cls(data["per_job"], data["output_bytes"], data["measured"])

    def cpu_seconds(self, rule: str) -> float:
        """CPU seconds of one job of a rule (0 for rules that only collect targets)."""
        return float(self.per_job.get(rule, {}).get("cpu_seconds", 0.0))


@dataclass
class TilePlan:
    """One tile: its scenes and how many are done."""

    tile: str
    searched: bool
    scenes_per_year: dict[str, int] = field(default_factory=dict)
    complete: int = 0
    to_process: int = 0
    batches: int = 0
    download_bytes: int = 0
    unknown_download: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "searched": self.searched,
            "scenes": sum(self.scenes_per_year.values()),
            "scenes_per_year": dict(sorted(self.scenes_per_year.items())),
            "complete": self.complete,
            "to_process": self.to_process,
            "batches": self.batches,
        }


def search_missing(settings: Settings, layout: Layout) -> list[str]:
    """Run the searches of tiles that have no inventory yet (the Sentinel-1 family's too,
    when it is on); return those tiles."""
    searched = []
    for tile in settings.tiles:
        if not layout.inventory(tile).exists():
            count, _changed = search_inventory(
                settings, tile, layout.inventory(tile), rejected_of(layout.inventory(tile))
            )
            log.info("searched tile %s: %d scene(s)", tile, count)
            searched.append(tile)
        if settings.sentinel1.enabled and not layout.inventory(tile, SENTINEL1).exists():
            from raw2ready.archives.transfer import DownloadOptions
            from raw2ready.sentinel1.search import search_sentinel1

            retries = DownloadOptions.retries_of(settings.download)
            records = search_sentinel1(settings, tile, retries).records
            write_inventory(layout.inventory(tile, SENTINEL1), records)
            log.info("searched tile %s: %d Sentinel-1 scene(s)", tile, len(records))
    return searched


def default_snakefile() -> Path:
    """The workflow `raw2ready plan` asks: ./Snakefile, else the one of this checkout."""
    for candidate in (Path("Snakefile"), Path(__file__).resolve().parents[3] / "Snakefile"):
        if candidate.is_file():
            return candidate.resolve()
    raise ConfigError("no Snakefile here or beside the raw2ready package: give --snakefile")


def snakemake_jobs(configfile: Path, snakefile: Path, profile: Path | None = None) -> Counter[str]:
    """Jobs per rule of Snakemake's own dry-run (its job table), run in the current folder.

    Snakemake decides with everything a real run uses: the profile's rerun triggers, the
    jobs it marked incomplete (killed), checkpoints, temp files, every family's rules.
    """
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(snakefile),
        "--configfile", str(configfile), "--dry-run", "--quiet", "rules", "--nolock",
        *(["--profile", str(profile)] if profile else []),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    text = result.stdout + result.stderr
    if result.returncode != 0:
        last = next((line for line in reversed(text.splitlines()) if line.strip()), "")
        raise ExternalToolError(
            f"snakemake --dry-run failed (exit {result.returncode}): {last.strip()}"
        )
    if "Job stats:" not in text:
        return Counter()
    table = text.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    return Counter({rule: int(n) for rule, n in _JOB_ROW.findall(table) if rule != "total"})


def _plan_tile(settings: Settings, layout: Layout, tile: str) -> TilePlan:
    """A tile's scenes: how many per year, complete, left to process (with their bytes)."""
    inventory = layout.inventory(tile)
    plan = TilePlan(tile, searched=inventory.exists())
    if not plan.searched:
        return plan
    for _batch, records in group(read_inventory(inventory)).items():
        plan.batches += 1
        left = unfinished(layout, records, settings.products)
        for record in records:
            plan.scenes_per_year[record.year] = plan.scenes_per_year.get(record.year, 0) + 1
        plan.complete += len(records) - len(left)
        plan.to_process += len(left)
        for record in left:
            _add_download(plan, record)
    return plan


def _add_download(plan: TilePlan, record: SceneRecord) -> None:
    """Count the bytes a scene's download job fetches (as the archive states them)."""
    for band in record.bands.values():
        if band.size is None:
            plan.unknown_download += 1
        else:
            plan.download_bytes += band.size


def _sentinel1(settings: Settings, layout: Layout, jobs: Counter[str]) -> dict[str, Any]:
    """The Sentinel-1 family's scenes (product and tile pairs) and how many are left."""
    inventories = [layout.inventory(tile, SENTINEL1) for tile in settings.tiles]
    total = sum(len(read_inventory(path)) for path in inventories if path.exists())
    to_process = jobs["sentinel1_scene"] + jobs["sentinel1_repair_scene"]
    return {"scenes": total, "to_process": to_process}


def _existing(settings: Settings, layout: Layout, tiles: list[TilePlan]) -> dict[str, Any]:
    """Outputs already on disk, counted from the inventories' scenes."""
    products = items = 0
    for tile in tiles:
        if not tile.searched:
            continue
        for record in read_inventory(layout.inventory(tile.tile)):
            items += layout.item(record).exists()
            products += sum(layout.product(record, p).exists() for p in settings.products)
    batch_records = sum(1 for _ in (layout.work_dir / "batches").rglob("*.json"))
    return {
        "complete_scenes": sum(tile.complete for tile in tiles),
        "products": products,
        "items": items,
        "batch_records": batch_records,
        "tile_catalogs": sum(layout.tile_catalog(t.tile).exists() for t in tiles),
        "collection": layout.collection().exists(),
    }


def _estimate(
    settings: Settings, jobs: Counter[str], tiles: list[TilePlan], figures: JobFigures
) -> dict[str, Any]:
    """Core-hours and volumes of the jobs to run, from the measured per-job figures."""
    scenes = sum(tile.to_process for tile in tiles)
    cpu = scenes * figures.cpu_seconds("scene") + sum(
        count * figures.cpu_seconds(rule) for rule, count in jobs.items() if rule not in SCENE_RULES
    )
    names = [*settings.products, "item"]
    unmeasured = [name for name in names if name not in figures.output_bytes]
    per_scene = sum(figures.output_bytes.get(name, 0) for name in names)
    return {
        "core_hours": round(cpu / 3600, 2),
        "output_gb": round(scenes * per_scene / GB, 3),
        "download_gb": round(sum(t.download_bytes for t in tiles) / GB, 3),
        "bands_of_unknown_size": sum(t.unknown_download for t in tiles),
        "per_scene": {
            "cpu_seconds": figures.cpu_seconds("scene"),
            "peak_rss_mb": figures.per_job.get("scene", {}).get("peak_rss_mb"),
            "output_bytes": per_scene,
        },
        "unmeasured_outputs": unmeasured,
        "figures": figures.measured,
    }


def make_plan(
    settings: Settings, jobs: Counter[str], figures: JobFigures | None = None
) -> dict[str, Any]:
    """The campaign summary as a JSON-able mapping (see `render` for the text form), with
    `jobs` the jobs per rule Snakemake would run (`snakemake_jobs`).

    Paths are relative to the working directory, as for snakemake: run it where you run
    snakemake.
    """
    layout = Layout(settings.output_dir, settings.work_dir)
    tiles = [_plan_tile(settings, layout, tile) for tile in settings.tiles]
    years: Counter[str] = Counter()
    for plan in tiles:
        years.update(plan.scenes_per_year)
    known = [rule for rule in RULES if jobs[rule]]
    ordered = {rule: jobs[rule] for rule in [*known, *sorted(set(+jobs) - set(known))]}
    summary = {
        "campaign": settings.campaign,
        "config_sha256": settings.digest(),
        "planned": datetime.now(UTC).isoformat(timespec="seconds"),
        "scenes": {
            "total": sum(years.values()),
            "complete": sum(t.complete for t in tiles),
            "to_process": sum(t.to_process for t in tiles),
            "per_year": dict(sorted(years.items())),
        },
        "jobs": {**ordered, "total": sum(ordered.values())},
        "existing": _existing(settings, layout, tiles),
        "estimate": _estimate(settings, jobs, tiles, figures or JobFigures.load()),
        "tiles": {plan.tile: plan.to_dict() for plan in tiles},
        "rejected": [
            {"tile": tile, **asdict(problem)}
            for tile in settings.tiles
            for problem in read_rejected(rejected_of(layout.inventory(tile)))
        ],
    }
    if settings.sentinel1.enabled:
        summary["sentinel1"] = _sentinel1(settings, layout, jobs)
    return summary


def render(plan: dict[str, Any]) -> str:
    """The plan as a text summary: totals, jobs per rule, scenes per tile and year."""
    scenes, estimate, existing = plan["scenes"], plan["estimate"], plan["existing"]
    years = list(scenes["per_year"])
    lines = [
        f"campaign {plan['campaign']} (config sha256 {plan['config_sha256'][:12]})",
        f"scenes: {scenes['total']} in {len(plan['tiles'])} tile(s); "
        f"{scenes['complete']} complete, {scenes['to_process']} to process",
        f"existing: {existing['products']} product(s), {existing['items']} item(s), "
        f"{existing['batch_records']} batch record(s), {existing['tile_catalogs']} tile "
        f"catalog(s), collection {'yes' if existing['collection'] else 'no'}",
        "",
        "jobs that would run:" if plan["jobs"]["total"] else "jobs that would run: none",
        *(f"  {rule:<14} {count:>7}" for rule, count in plan["jobs"].items()),
        "",
        f"estimate: {estimate['core_hours']} core-hours, {estimate['output_gb']} GB of "
        f"products and items, {estimate['download_gb']} GB to download",
        f"  ({estimate['per_scene']['cpu_seconds']} CPU s and "
        f"{estimate['per_scene']['output_bytes'] / 1e6:.0f} MB per scene, measured by "
        f"{estimate['figures']['by']})",
    ]
    if "sentinel1" in plan:
        lines.append(
            f"Sentinel-1: {plan['sentinel1']['scenes']} product-tile scene(s), "
            f"{plan['sentinel1']['to_process']} to process"
        )
    if estimate["unmeasured_outputs"]:
        lines.append(f"  no measured size for: {', '.join(estimate['unmeasured_outputs'])}")
    lines += ["", f"{'tile':<6} " + " ".join(f"{y:>6}" for y in years) + "  complete  to do"]
    for tile, entry in plan["tiles"].items():
        if not entry["searched"]:
            lines.append(f"{tile:<6} (not searched yet)")
            continue
        counts = " ".join(f"{entry['scenes_per_year'].get(y, 0):>6}" for y in years)
        lines.append(f"{tile:<6} {counts}  {entry['complete']:>8}  {entry['to_process']:>5}")
    if plan["rejected"]:
        lines += ["", f"rejected by the search: {len(plan['rejected'])} item(s)"]
        lines += [
            f"  {entry['tile']} {entry['name']}: {entry['cause']}" for entry in plan["rejected"]
        ]
    return "\n".join(lines)
