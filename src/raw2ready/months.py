"""The campaign calendar: the months and quarters a campaign spans, the levels of its catalogs.

Light on purpose (no raster or STAC library): the workflow names every catalog of a tile's
Year -> Quarter -> Month tree from it while Snakemake builds the DAG.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from raw2ready.layout import Layout


@dataclass(frozen=True, order=True)
class Month:
    """A month of a tile's catalog tree: the folder names of its levels."""

    year: str
    quarter: str
    month: str


def quarters_between(start: date, end: date) -> list[tuple[str, str]]:
    """Every (year, `Qn`) a campaign from `start` to `end` touches, in order."""
    first, last = (start.year, (start.month - 1) // 3), (end.year, (end.month - 1) // 3)
    quarters = []
    year, index = first
    while (year, index) <= last:
        quarters.append((str(year), f"Q{index + 1}"))
        year, index = (year + 1, 0) if index == 3 else (year, index + 1)
    return quarters


def months_between(start: date, end: date) -> list[Month]:
    """Every month a campaign from `start` to `end` touches, in order."""
    months = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        months.append(Month(str(year), f"Q{(month - 1) // 3 + 1}", f"{month:02d}"))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def month_folder(layout: Layout, tile: str, month: Month, family: str | None = None) -> Path:
    """The folder of a month's catalog and its items' folders."""
    tile_dir = layout.tile_catalog(tile, family).parent
    return tile_dir / month.year / month.quarter / month.month
