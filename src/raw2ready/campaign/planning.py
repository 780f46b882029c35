"""Campaign planning: what a run would do, what is already done, and what it would cost.

`raw2ready plan` answers before an allocation is spent. It makes the decisions the Snakefile
makes, with the same functions (batches.target, batches.is_complete), so its job counts are
Snakemake's under the profiles' rerun trigger (mtime); core-hours and volumes come
from per-job figures the benchmarks measured (data/job_figures.json says how).
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

from raw2ready.campaign.batches import group, is_complete, target
from raw2ready.campaign.inventory import read_inventory, search_inventory
from raw2ready.campaign.workflow import Campaign
from raw2ready.config import Settings
from raw2ready.layout import Layout
from raw2ready.scene import SceneRecord

log = logging.getLogger(__name__)

#: Rules in the order the workflow runs them (the order of the job table).
RULES = ("search", "sen2cor", "scenes", "repair_scenes", "tile_catalog", "collection", "all")
GB = 1e9


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
    """One tile: its scenes and what the run would do with them."""

    tile: str
    searched: bool
    scenes_per_year: dict[str, int] = field(default_factory=dict)
    complete: int = 0
    to_process: int = 0
    batches: int = 0
    jobs: Counter[str] = field(default_factory=Counter)
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
            "jobs": dict(self.jobs),
        }


def search_missing(settings: Settings, layout: Layout) -> list[str]:
    """Run the searches of tiles that have no inventory yet; return those tiles."""
    searched = []
    for tile in settings.tiles:
        if not layout.inventory(tile).exists():
            count, _changed = search_inventory(settings, tile, layout.inventory(tile))
            log.info("searched tile %s: %d scene(s)", tile, count)
            searched.append(tile)
    return searched


def _mtime(path: Path) -> float | None:
    """Modification time, or None for a missing file."""
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return None


def snakemake_incomplete(workdir: Path) -> set[Path]:
    """Outputs of jobs Snakemake started and never saw finish (killed, node lost).

    Snakemake 9 marks each output of a running job under .snakemake/incomplete (file names
    are the url-safe base64 of the path, split into 255-byte parts prefixed with '@'); with
    --rerun-incomplete it reruns those jobs even when their outputs exist.
    """
    markers = workdir / ".snakemake" / "incomplete"
    found = set()
    for folder, _dirs, names in os.walk(markers):
        relative = Path(folder).relative_to(markers).parts
        for name in names:
            if name == "migration_underway":
                continue
            encoded = "".join(part.removeprefix("@") for part in (*relative, name))
            try:
                path = Path(base64.urlsafe_b64decode(encoded).decode())
            except (ValueError, UnicodeDecodeError):
                continue
            found.add(Path(os.path.abspath(workdir / path)))
    return found


def _outdated(outputs: list[Path], inputs: list[Path], incomplete: set[Path]) -> bool:
    """Snakemake's rule under mtime triggers: an output is missing or marked incomplete, or
    an existing input is newer than the oldest output."""
    output_times = [_mtime(path) for path in outputs]
    if any(time is None for time in output_times):
        return True
    if any(Path(os.path.abspath(path)) in incomplete for path in outputs):
        return True
    oldest = min(time for time in output_times if time is not None)
    return any((time := _mtime(path)) is not None and time > oldest for path in inputs)


def _plan_tile(campaign: Campaign, tile: str, incomplete: set[Path]) -> TilePlan:
    """A tile's scenes and the jobs its batches and catalog would run."""
    layout, products = campaign.layout, campaign.settings.products
    inventory = layout.inventory(tile)
    plan = TilePlan(tile, searched=inventory.exists())
    if not plan.searched:
        plan.jobs["search"] = 1
        plan.jobs["tile_catalog"] = 1
        return plan
    targets = []
    for batch, records in group(read_inventory(inventory)).items():
        plan.batches += 1
        asked = target(layout, batch, records, products)
        targets.append(asked)
        unfinished = [r for r in records if not is_complete(layout, r, products)]
        for record in records:
            plan.scenes_per_year[record.year] = plan.scenes_per_year.get(record.year, 0) + 1
        plan.complete += len(records) - len(unfinished)
        if _outdated([asked], [], incomplete):
            plan.jobs["repair_scenes" if asked != batch.record(layout) else "scenes"] += 1
            plan.to_process += len(unfinished)
            l2a = campaign.sen2cor_inputs(inventory, batch)
            plan.jobs["sen2cor"] += sum(not Path(path).exists() for path in l2a)
            for record in unfinished:
                _add_download(plan, record)
    catalog = [layout.tile_catalog(tile), layout.tile_summary(tile)]
    if plan.jobs["scenes"] or plan.jobs["repair_scenes"] or _outdated(catalog, targets, incomplete):
        plan.jobs["tile_catalog"] = 1
    return plan


def _add_download(plan: TilePlan, record: SceneRecord) -> None:
    """Count the bytes a scene's processing fetches (as the archive states them)."""
    for band in record.bands.values():
        if band.size is None:
            plan.unknown_download += 1
        else:
            plan.download_bytes += band.size


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
        count * figures.cpu_seconds(rule)
        for rule, count in jobs.items()
        if rule not in ("scenes", "repair_scenes")
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


def make_plan(settings: Settings, figures: JobFigures | None = None) -> dict[str, Any]:
    """The campaign summary as a JSON-able mapping (see `render` for the text form).

    Paths are relative to the working directory, as for snakemake: run it where you run
    snakemake (its .snakemake folder tells which jobs were cut short).
    """
    layout = Layout(settings.output_dir, settings.work_dir)
    incomplete = snakemake_incomplete(Path.cwd())
    campaign = Campaign(settings, layout)
    tiles = [_plan_tile(campaign, tile, incomplete) for tile in settings.tiles]
    jobs: Counter[str] = Counter()
    for plan in tiles:
        jobs.update(plan.jobs)
    inputs = [
        p for tile in settings.tiles for p in (layout.tile_catalog(tile), layout.tile_summary(tile))
    ]
    if jobs["tile_catalog"] or _outdated([layout.collection()], inputs, incomplete):
        jobs["collection"] = 1
    if +jobs:
        jobs["all"] = 1
    years: Counter[str] = Counter()
    for plan in tiles:
        years.update(plan.scenes_per_year)
    ordered = {rule: jobs[rule] for rule in RULES if jobs[rule]}
    return {
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
    }


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
    if estimate["unmeasured_outputs"]:
        lines.append(f"  no measured size for: {', '.join(estimate['unmeasured_outputs'])}")
    lines += ["", f"{'tile':<6} " + " ".join(f"{y:>6}" for y in years) + "  complete  to do"]
    for tile, entry in plan["tiles"].items():
        if not entry["searched"]:
            lines.append(f"{tile:<6} (not searched yet)")
            continue
        counts = " ".join(f"{entry['scenes_per_year'].get(y, 0):>6}" for y in years)
        lines.append(f"{tile:<6} {counts}  {entry['complete']:>8}  {entry['to_process']:>5}")
    return "\n".join(lines)
