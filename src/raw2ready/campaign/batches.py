"""Batches: the scenes of one tile and month, the workflow's unit of work.

A 25,000-scene campaign is ~6,000 batches, few enough for Snakemake to plan the whole
campaign in seconds (one job per scene costs it minutes and gigabytes: docs/reruns.md).
A batch's download job fetches, and its processing job processes, only the scenes whose
outputs are missing, so a rerun after any failure redoes only those; the processing job's
record is written last (campaign/batch_job.py). Light on purpose: the workflow imports it
while Snakemake builds the DAG.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from raw2ready.errors import ConfigError
from raw2ready.layout import Layout
from raw2ready.months import Month
from raw2ready.scene import SceneRecord

_MONTHS = frozenset(f"{month:02d}" for month in range(1, 13))
#: The status of a scene that failed, in batch records (with its one-line `error`).
FAILED = "failed"
#: Where a batch's download job puts its scenes' input files (a folder per scene).
DOWNLOADS = "downloads/{tile}/{year}/{quarter}/{month}"


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

    def downloads(self, layout: Layout) -> Path:
        """The folder the batch's download job fills and its processing job reads."""
        return layout.work_dir / DOWNLOADS.format(
            tile=self.tile, year=self.year, quarter=self.quarter, month=self.month
        )

    def repair(self, layout: Layout, number: int) -> Path:
        """Where the `number`-th repair run of the batch writes its record."""
        return layout.batch_repair(self.tile, self.year, self.quarter, self.month, number)

    def repairs(self, layout: Layout) -> int:
        """The number of the batch's latest repair record (0 when it was never repaired)."""
        return latest_repair(self.record(layout).parent, f"{self.month}.repair-")


def latest_repair(folder: Path, prefix: str) -> int:
    """The highest N of the `<prefix>N.json` repair records in `folder` (0: none)."""
    suffix = ".json"
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


def is_complete(layout: Layout, record: SceneRecord, products: Iterable[str]) -> bool:
    """True when every output of the scene exists (they are written validated, atomically).

    The item is written last, so it is checked first: a scene never started costs one stat.
    """
    return layout.item(record).exists() and all(
        layout.product(record, name).exists() for name in products
    )


def unfinished(
    layout: Layout, records: Iterable[SceneRecord], products: Iterable[str]
) -> list[SceneRecord]:
    """The scenes whose outputs are not all there: what a batch's jobs fetch and process."""
    names = list(products)
    return [record for record in records if not is_complete(layout, record, names)]


def target(layout: Layout, batch: Batch, records: list[SceneRecord], products: list[str]) -> Path:
    """The record the workflow asks of a batch: its latest one, or a new repair record
    (see record_to_ask)."""
    return record_to_ask(
        batch.record(layout),
        lambda number: batch.repair(layout, number),
        lambda: batch.repairs(layout),
        lambda: all(is_complete(layout, r, products) for r in records),
    )


def scene_target(layout: Layout, record: SceneRecord, products: list[str]) -> Path:
    """The record the workflow asks of a scene processed by a job of its own (a Sentinel-1
    product): its latest one, or a new repair record (see record_to_ask)."""
    first = layout.scene_record(record)
    return record_to_ask(
        first,
        lambda number: layout.scene_record(record, number),
        lambda: latest_repair(first.parent, "repair-"),
        lambda: is_complete(layout, record, products),
    )


def record_to_ask(
    first: Path,
    repair: Callable[[int], Path],
    repairs: Callable[[], int],
    complete: Callable[[], bool],
) -> Path:
    """The record the workflow asks of a job: its `first`, its latest `repair`, or a new one.

    Snakemake reruns a job only when a requested file is missing; when a finished job's
    scenes lost an output (storage failure, deleted file), failed, or gained a scene (a new
    search), the workflow asks for its next repair record, which does not exist yet. A
    finished job is asked for its latest record, so the catalog's inputs stay the same once
    done.
    """
    if not first.exists():
        return first
    latest = repairs()
    if complete():
        return repair(latest) if latest else first
    return repair(latest + 1)
