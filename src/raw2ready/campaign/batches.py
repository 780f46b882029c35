"""Batches: the scenes of one tile and month, the workflow's unit of work.

A 25,000-scene campaign is ~6,000 batches, few enough for Snakemake to plan the whole
campaign in seconds (one job per scene costs it minutes and gigabytes: docs/reruns.md).
A batch job processes only the scenes whose outputs are missing, one after the other, so a
rerun after any failure redoes only the missing scenes; its record is written last.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from raw2ready.atomic import write_json
from raw2ready.campaign.provenance import software_versions
from raw2ready.config import Settings
from raw2ready.errors import ConfigError, ProcessingError, Raw2ReadyError
from raw2ready.layout import Layout
from raw2ready.scene import SceneRecord
from raw2ready.stac.catalog import (
    Month,
    TileSummary,
    quarters_between,
    write_month_catalog,
    write_tile_tree,
)

log = logging.getLogger(__name__)

_MONTHS = frozenset(f"{month:02d}" for month in range(1, 13))
#: The last line of a failed scene's log, as the CLI prints a user error.
_ERROR_FORMAT = "raw2ready: error: %s"


@dataclass(frozen=True, order=True)
class Batch:
    """The scenes of one tile sensed in one calendar month."""

    tile: str
    year: str
    month: str

    @classmethod
    def of(cls, record: SceneRecord) -> Batch:
        """The batch a scene belongs to."""
        return cls(record.tile, record.year, record.month)

    @classmethod
    def parse(cls, tile: str, month: str) -> Batch:
        """A batch from a tile id and `YYYY-MM` (the batch job's command line)."""
        year, _, number = month.partition("-")
        if not (len(year) == 4 and year.isdigit() and number in _MONTHS):
            raise ConfigError(f"--month '{month}' is not a month like 2023-07")
        return cls(tile, year, number)

    @property
    def quarter(self) -> str:
        """`Q1`..`Q4`, the catalog level between year and month."""
        return f"Q{(int(self.month) - 1) // 3 + 1}"

    @property
    def month_of_tree(self) -> Month:
        """The batch's month in its tile's STAC catalog tree."""
        return Month(self.year, self.quarter, self.month)

    def __str__(self) -> str:
        return f"{self.tile} {self.year}-{self.month}"

    def record(self, layout: Layout) -> Path:
        """Where the batch job writes its record."""
        return layout.batch(self.tile, self.year, self.quarter, self.month)

    def repair(self, layout: Layout, number: int) -> Path:
        """Where the `number`-th repair run of the batch writes its record."""
        return layout.batch_repair(self.tile, self.year, self.quarter, self.month, number)

    def repairs(self, layout: Layout) -> int:
        """The number of the batch's latest repair record (0 when it was never repaired)."""
        folder = self.record(layout).parent
        prefix, suffix = f"{self.month}.repair-", ".json"
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            return 0
        numbers = [
            name[len(prefix) : -len(suffix)]
            for name in names
            if name.startswith(prefix) and name.endswith(suffix)
        ]
        return max((int(number) for number in numbers if number.isdigit()), default=0)


def group(records: Iterable[SceneRecord]) -> dict[Batch, list[SceneRecord]]:
    """Scenes by batch, batches in tile and date order, scenes in inventory order."""
    batches: dict[Batch, list[SceneRecord]] = {}
    for record in records:
        batches.setdefault(Batch.of(record), []).append(record)
    return dict(sorted(batches.items()))


def scene_outputs(layout: Layout, record: SceneRecord, products: Iterable[str]) -> list[Path]:
    """Every file a scene's processing leaves: its product COGs, then its STAC item."""
    return [*(layout.product(record, name) for name in products), layout.item(record)]


def is_complete(layout: Layout, record: SceneRecord, products: Iterable[str]) -> bool:
    """True when every output of the scene exists (they are written validated, atomically).

    The item is written last, so it is checked first: a scene never started costs one stat.
    """
    return layout.item(record).exists() and all(
        layout.product(record, name).exists() for name in products
    )


def target(layout: Layout, batch: Batch, records: list[SceneRecord], products: list[str]) -> Path:
    """The record the workflow asks of a batch: its latest one, or a new repair record.

    Snakemake reruns a job only when a requested file is missing; when a finished batch
    lost an output (storage failure, deleted file) or gained a scene (a new search), the
    workflow asks for the batch's next repair record, which does not exist yet. A finished
    batch is asked for its latest record, so the catalog's inputs stay the same once done.
    """
    record = batch.record(layout)
    if not record.exists():
        return record
    repairs = batch.repairs(layout)
    if all(is_complete(layout, r, products) for r in records):
        return batch.repair(layout, repairs) if repairs else record
    return batch.repair(layout, repairs + 1)


@dataclass(frozen=True)
class SceneOutcome:
    """What the batch job did with one scene."""

    id: str
    status: str  # "complete" (outputs existed), "processed" or "failed"
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
        return SceneOutcome(record.id, "failed", time.monotonic() - started, str(exc))
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
    """Process the batch's scenes that lack outputs, then write the month's STAC catalog and
    the batch record (with the month's summary, which the tile catalog job reads).

    Every scene is tried even when one fails; catalog and record are written only when all
    are complete, so a failed batch is rerun and redoes only its unfinished scenes.
    """
    if not records:
        raise ProcessingError(f"batch {batch}: no scene of the inventory falls in it")
    outcomes: list[SceneOutcome] = []
    for record in records:
        if is_complete(layout, record, settings.products):
            log.info("scene %s: outputs exist, nothing to do", record.id)
            outcomes.append(SceneOutcome(record.id, "complete"))
        else:
            outcomes.append(_run_scene(process, settings, record, layout.scene_log(record)))
    failed = [outcome for outcome in outcomes if outcome.status == "failed"]
    if failed:
        raise ProcessingError(
            f"batch {batch}: {len(failed)} of {len(records)} scene(s) failed "
            f"(logs under {layout.scene_log(records[0]).parent}); first: "
            f"{failed[0].id}: {failed[0].error}"
        )
    summary = write_month_catalog(
        batch.tile, batch.month_of_tree, [layout.item(record) for record in records], layout
    )
    write_json(
        output,
        {
            "tile": batch.tile,
            "year": batch.year,
            "month": batch.month,
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "config_sha256": settings.digest(),
            "software": software_versions(),
            "scenes": [asdict(outcome) for outcome in outcomes],
            "summary": summary.to_dict(),
        },
    )
    return outcomes


def write_tile_tree_of_batches(
    settings: Settings, layout: Layout, tile: str, batch_records: list[Path]
) -> TileSummary:
    """Write a tile's catalog, year and quarter catalogs over the months its batches wrote.

    Every quarter of the campaign gets a catalog (empty when no scene fell in it), so the
    workflow can declare them all; the summary is merged from the batch records'.
    """
    months, summaries = [], []
    for path in batch_records:
        data = json.loads(path.read_text())
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
