"""What a run left undone: scenes that failed (from the batch records) and archive items
that were rejected (from the searches), listed at the end of every run by `raw2ready check`.

A failed scene ends the run non-zero, naming it, once the catalogs and the collection of
everything that succeeded are written; the next run retries only the failed scenes. A
rejected item (unreadable, unusable, a duplicate acquisition) is the archive's problem: it
is listed, but does not fail the run.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from raw2ready.atomic import write_json
from raw2ready.campaign.batches import FAILED
from raw2ready.errors import ProcessingError

#: Failed scenes named in full on the console; the rest are counted (all are in the output).
SHOWN = 20


@dataclass(frozen=True)
class Problem:
    """A scene that failed, or an item that was rejected, and its one-line cause."""

    name: str
    cause: str


def read_rejected(path: Path) -> list[Problem]:
    """The items a tile's search rejected (its `.rejected.json`; none when absent)."""
    if not path.is_file():
        return []
    return [Problem(entry["item"], entry["reason"]) for entry in json.loads(path.read_text())]


def write_rejected(path: Path, rejected: list[tuple[str, str]]) -> None:
    """Write a tile search's rejected items beside its inventory (rewritten only if changed)."""
    data = [{"item": item, "reason": reason} for item, reason in rejected]
    if path.is_file() and json.loads(path.read_text()) == data:
        return
    write_json(path, data)


def read_failed(batch_records: list[Path]) -> list[Problem]:
    """The scenes that failed in the latest record of each batch."""
    return [
        Problem(scene["id"], scene.get("error") or "failed")
        for path in batch_records
        for scene in json.loads(path.read_text())["scenes"]
        if scene["status"] == FAILED
    ]


def report(failed: list[Problem], rejected: list[Problem]) -> list[str]:
    """The lines shown at the end of a run: every rejected item, then the failed scenes."""
    lines = [f"rejected item {p.name}: {p.cause}" for p in rejected]
    lines += [f"failed scene {p.name}: {p.cause}" for p in failed[:SHOWN]]
    if len(failed) > SHOWN:
        lines.append(f"... and {len(failed) - SHOWN} more failed scene(s)")
    return lines


def check_failed(failed: list[Problem]) -> None:
    """ProcessingError naming the failed scenes, if any (the run then ends non-zero)."""
    if failed:
        names = ", ".join(p.name for p in failed[:3]) + (", ..." if len(failed) > 3 else "")
        raise ProcessingError(
            f"{len(failed)} scene(s) failed ({names}); the catalog has everything else: "
            "run the same command again to retry only them"
        )


def write_outcome(output: Path, rejected: list[Problem]) -> None:
    """The record of a run that left no scene failed (what it rejected)."""
    write_json(output, {"rejected": [asdict(p) for p in rejected], "failed": []})
