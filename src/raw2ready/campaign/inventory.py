"""Inventories: the scene records found for a tile, one JSON line each.

The Snakefile reads them to enumerate a campaign's jobs. An inventory is rewritten only
when its content changes, so re-searching an unchanged archive triggers no reruns.
"""

from __future__ import annotations

from pathlib import Path

from raw2ready.atomic import write_text
from raw2ready.config import Settings
from raw2ready.errors import ConfigError
from raw2ready.grid import parse_tile
from raw2ready.scene import SceneRecord


def render(records: list[SceneRecord]) -> str:
    """The inventory text of `records` (stable order and encoding)."""
    return "".join(record.to_json() + "\n" for record in records)


def write_inventory(path: Path, records: list[SceneRecord]) -> bool:
    """Write an inventory atomically unless identical; return True when it changed."""
    text = render(records)
    if path.exists() and path.read_text() == text:
        return False
    write_text(path, text)
    return True


def read_inventory(path: Path) -> list[SceneRecord]:
    """Scene records of an inventory file."""
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError as exc:
        raise ConfigError(f"inventory {path} does not exist; run the search first") from exc
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(SceneRecord.from_json(line))
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"inventory {path}, line {number}: not a scene record ({type(exc).__name__}); "
                "delete the inventory and rerun, which searches the tile again"
            ) from exc
    return records


def rejected_of(inventory: Path) -> Path:
    """Where a tile search lists the items it rejected: beside the inventory."""
    return inventory.with_name(f"{inventory.stem}.rejected.json")


def search_inventory(
    settings: Settings, tile: str, output: Path, rejected: Path
) -> tuple[int, bool]:
    """Search the campaign's archive for a tile, write its inventory and the items it
    rejected (unreadable, unusable, duplicate acquisitions) with the reason.

    Returns the number of scenes found and whether the inventory changed.
    """
    from raw2ready.archives.provider import SearchQuery
    from raw2ready.archives.search import search_archive
    from raw2ready.archives.transfer import DownloadOptions
    from raw2ready.campaign.outcome import write_rejected

    query = SearchQuery(
        tile=parse_tile(tile).id, start=settings.start, end=settings.end,
        max_cloud_cover=settings.max_cloud_cover,
        collection=settings.archive.collection, bands=settings.bands,
    )  # fmt: skip
    # catalogue requests retry like downloads (CDSE OData)
    options = DownloadOptions.retries_of(settings.download)
    result = search_archive(settings.archive, query, options)
    write_rejected(rejected, result.rejected)
    return len(result.records), write_inventory(output, result.records)
