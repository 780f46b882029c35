"""The processing job of a batch: its unfinished scenes made into products and items, then
the month's STAC catalog and the batch record, written last.

Every scene is tried even when one fails, each with its own log. A scene that fails costs
only itself: the month's catalog links the scenes that are complete, and the record lists
each scene's outcome, a failed one with its one-line cause. The workflow then asks for the
batch's next repair record (batches.target), so the next run redoes only the failed scenes,
and its final check (`raw2ready check`) ends the run non-zero naming them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from raw2ready.atomic import write_json
from raw2ready.campaign.batches import FAILED, Batch, is_complete
from raw2ready.campaign.provenance import software_versions
from raw2ready.config import Settings
from raw2ready.errors import ConfigError, ProcessingError, Raw2ReadyError
from raw2ready.layout import Layout
from raw2ready.months import quarters_between
from raw2ready.scene import SceneRecord
from raw2ready.stac.catalog import TileSummary, write_month_catalog, write_tile_tree

log = logging.getLogger(__name__)

#: The last line of a failed scene's log, as the CLI prints a user error.
_ERROR_FORMAT = "raw2ready: error: %s"


@dataclass(frozen=True)
class SceneOutcome:
    """What the batch job did with one scene."""

    id: str
    status: str  # "complete" (outputs existed), "processed" or FAILED
    seconds: float = 0.0
    error: str | None = None


def _run_scene(
    process: Callable[[Settings, SceneRecord], None],
    settings: Settings,
    record: SceneRecord,
    log_file: Path,
) -> SceneOutcome:
    """Process one scene with its own log file; a user-facing error fails only this scene."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_file, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    started = time.monotonic()
    try:
        process(settings, record)
    except Raw2ReadyError as exc:
        log.error("scene %s failed: %s", record.id, exc)
        handler.stream.write(_ERROR_FORMAT % exc + "\n")  # the last line, as the CLI prints it
        return SceneOutcome(record.id, FAILED, time.monotonic() - started, str(exc))
    finally:
        root.removeHandler(handler)
        handler.close()
    return SceneOutcome(record.id, "processed", time.monotonic() - started)


def process_batch(
    settings: Settings,
    layout: Layout,
    batch: Batch,
    records: list[SceneRecord],
    output: Path,
    process: Callable[[Settings, SceneRecord], None],
) -> list[SceneOutcome]:
    """Process the batch's scenes that lack outputs, then write the month's STAC catalog of
    the complete ones and the batch record (each scene's outcome, a failed one with its
    cause, and the month's summary, which the tile catalog job reads)."""
    if not records:
        raise ProcessingError(f"batch {batch}: no scene of the inventory falls in it")
    outcomes: list[SceneOutcome] = []
    for record in records:
        if is_complete(layout, record, settings.products):
            log.info("scene %s: outputs exist, nothing to do", record.id)
            outcomes.append(SceneOutcome(record.id, "complete"))
        else:
            outcomes.append(_run_scene(process, settings, record, layout.scene_log(record)))
    failed = {outcome.id for outcome in outcomes if outcome.status == FAILED}
    if failed:
        log.error(
            "batch %s: %d of %d scene(s) failed (logs under %s); the next run retries them",
            batch, len(failed), len(records), layout.scene_log(records[0]).parent,
        )  # fmt: skip
    items = [layout.item(record) for record in records if record.id not in failed]
    summary = write_month_catalog(batch.tile, batch.month_of_tree, items, layout)
    fields = {"tile": batch.tile, "year": batch.year, "month": batch.month}
    _write_record(output, settings, outcomes, **fields, summary=summary.to_dict())
    return outcomes


def process_scene(
    settings: Settings,
    layout: Layout,
    record: SceneRecord,
    products: list[str],
    output: Path,
    process: Callable[[Settings, SceneRecord], None],
) -> SceneOutcome:
    """The job of a scene processed on its own (a Sentinel-1 product): its outputs unless
    they exist, then its record, shaped like a batch's, so a failure (with its one-line
    cause) costs only this scene, `raw2ready check` lists it and the next run retries it."""
    if is_complete(layout, record, products):
        log.info("scene %s: outputs exist, nothing to do", record.id)
        outcome = SceneOutcome(record.id, "complete")
    else:
        outcome = _run_scene(process, settings, record, layout.scene_log(record))
    _write_record(output, settings, [outcome], tile=record.tile, scene=record.id)
    return outcome


def _write_record(
    output: Path, settings: Settings, outcomes: list[SceneOutcome], **fields: Any
) -> None:
    """Write a job's record: what it is of (`fields`), when and with what settings and
    software it finished, and each scene's outcome (read by `raw2ready check`)."""
    write_json(
        output,
        {
            **fields,
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "config_sha256": settings.digest(),
            "software": software_versions(),
            "scenes": [asdict(outcome) for outcome in outcomes],
        },
    )


def write_tile_tree_of_batches(
    settings: Settings, layout: Layout, tile: str, batch_records: list[Path]
) -> TileSummary:
    """Write a tile's catalog, year and quarter catalogs over the months its batches wrote.

    Every quarter of the campaign gets a catalog (empty when no scene fell in it), so the
    workflow can declare them all; the summary is merged from the batch records'.
    """
    months, summaries = [], []
    for path in batch_records:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"batch record {path} cannot be read ({type(exc).__name__}): delete it and "
                "rerun, which redoes that month's catalog"
            ) from exc
        if data["tile"] != tile:
            raise ConfigError(f"batch record {path} is of tile {data['tile']}, not {tile}")
        if "summary" not in data:
            raise ConfigError(
                f"batch record {path} has no month summary (written by an older raw2ready): "
                "delete it and rerun, which redoes that month's catalog"
            )
        batch = Batch(tile, data["year"], data["month"])
        months.append(batch.month_of_tree)
        summaries.append(TileSummary(**data["summary"]))
    quarters = quarters_between(settings.start, settings.end)
    write_tile_tree(tile, months, layout, quarters=quarters)
    return TileSummary.merge(tile, summaries)
