"""What a campaign has made so far, counted from its files: the end message of `make demo`
(`raw2ready summary`), with real paths to look at next instead of placeholders."""

from __future__ import annotations

from pathlib import Path

from raw2ready.campaign.batches import is_complete
from raw2ready.campaign.inventory import read_inventory
from raw2ready.config import Settings
from raw2ready.layout import Layout


def summary_lines(settings: Settings, configfile: Path) -> list[str]:
    """Scenes found and complete, products and items written, and what to try next."""
    layout = Layout(settings.output_dir, settings.work_dir)
    records = [
        record
        for tile in settings.tiles
        if layout.inventory(tile).is_file()
        for record in read_inventory(layout.inventory(tile))
    ]
    complete = [r for r in records if is_complete(layout, r, settings.products)]
    products = [layout.product(r, name) for r in complete for name in settings.products]
    collection = layout.collection()
    lines = [
        f"campaign {settings.campaign}: {len(complete)} of {len(records)} scene(s) complete in "
        f"{len(settings.tiles)} tile(s): {len(products)} product(s) (COG), "
        f"{len(complete)} STAC item(s)",
        f"STAC collection: {collection}" if collection.is_file() else "STAC collection: not yet",
        f"logs:            {layout.work_dir / 'logs'}",
    ]
    if products:
        example = products[0]
        lines += [
            "try next:",
            f"  rio info {example}",
            f"  rio cogeo validate {example}",
            f"  raw2ready provenance list --configfile {configfile}",
            f"  raw2ready plan --configfile {configfile}   (nothing left to do)",
        ]
    return lines
