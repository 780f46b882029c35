"""One scene per acquisition: duplicates found by a search are resolved by one documented
rule and reported, never dropped silently.

Two records are one acquisition when they have the same tile and sensing time (to the
second), e.g. an acquisition reprocessed with a newer processing baseline, or an archive
listing one item twice. The newest processing baseline wins; at equal baselines an L2A wins
over an L1C, then the later id (SAFE names end with the product's generation time). Every
record set aside is returned with the reason, naming the record that won.
"""

from __future__ import annotations

from raw2ready.scene import SceneRecord


def _acquisition(record: SceneRecord) -> tuple[str, str]:
    """Tile and sensing time to the second: what makes two records one acquisition."""
    return record.tile, record.acquired.strftime("%Y%m%dT%H%M%S")


def _baseline(record: SceneRecord) -> tuple[int, ...]:
    """The processing baseline as numbers (04.00 < 05.09 < 05.10); unknown sorts first."""
    parts = record.processing_baseline.split(".")
    return tuple(int(part) for part in parts) if all(p.isdigit() for p in parts) else (-1,)


def _rank(record: SceneRecord) -> tuple[tuple[int, ...], bool, str]:
    """Newest baseline first, then L2A over L1C, then the later id."""
    return _baseline(record), record.collection.endswith("-l2a"), record.id


def newest_per_acquisition(
    records: list[SceneRecord],
) -> tuple[list[SceneRecord], list[tuple[str, str]]]:
    """The record kept for each acquisition (in the input's order), and the ones set aside
    with the reason."""
    winners: dict[tuple[str, str], SceneRecord] = {}
    for record in records:
        key = _acquisition(record)
        if key not in winners or _rank(record) > _rank(winners[key]):
            winners[key] = record
    kept_ids = {id(record) for record in winners.values()}
    kept = [record for record in records if id(record) in kept_ids]
    set_aside = [
        (
            record.id,
            f"duplicate of {winner.id} (same tile and sensing time; processing baseline "
            f"{record.processing_baseline} vs {winner.processing_baseline}: the newest wins)",
        )
        for record in records
        if id(record) not in kept_ids
        for winner in [winners[_acquisition(record)]]
    ]
    return kept, set_aside
