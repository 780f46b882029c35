"""The composite job of a tile and month: the month's scene products reduced to a monthly
composite (raster/composite.py), then its STAC item, written last.

Its inputs are the month's batch record: the workflow reruns it when the batch is redone
(a scene added or repaired), and only then.
"""

from __future__ import annotations

import logging
import shutil

from raw2ready.campaign.batches import Batch, is_complete
from raw2ready.campaign.provenance import software_versions
from raw2ready.config import Settings
from raw2ready.errors import ProcessingError
from raw2ready.layout import Layout, composite_id
from raw2ready.products.registry import CLEAR_COUNT
from raw2ready.raster.composite import make_composite
from raw2ready.scene import SceneRecord
from raw2ready.stac.catalog import write_item
from raw2ready.stac.composite_item import composite_item

log = logging.getLogger(__name__)


def composite_month(
    settings: Settings, layout: Layout, batch: Batch, records: list[SceneRecord]
) -> None:
    """Make the monthly composite of a batch's scenes (`records`) and write its item."""
    done = [record for record in records if is_complete(layout, record, settings.products)]
    if not done:
        raise ProcessingError(
            f"batch {batch}: no finished scene to composite; run its batch job first"
        )
    products = settings.composites.products
    scenes = [{name: layout.product(record, name) for name in products} for record in done]
    names = [*products, CLEAR_COUNT.name]
    outputs = {name: layout.composite(batch.tile, batch.year, batch.month, name) for name in names}
    scratch = layout.work_dir / "scratch" / composite_id(batch.tile, batch.year, batch.month)
    try:
        results = make_composite(scenes, settings.composites.method, outputs, settings.cog, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    item = composite_item(
        batch.tile,
        batch.year,
        batch.month,
        results,
        [layout.item(record) for record in done],
        layout,
        settings.campaign,
        settings.composites.method,
        software_versions(),
    )
    write_item(item, layout.composite_item(batch.tile, batch.year, batch.month))
    log.info("composite %s of %d scene(s) written", item.id, len(done))
