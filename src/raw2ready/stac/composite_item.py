"""The STAC item of a tile's monthly composite: its month as the time range, its products
as assets (with the scene items' raster, projection and file fields), and links to the
scene items it was made from."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from pathlib import Path

import pystac
from pystac.extensions.grid import GridExtension
from pystac.extensions.processing import ProcessingExtension
from pystac.extensions.projection import ProjectionExtension

from raw2ready.layout import COMPOSITES, Layout, composite_id
from raw2ready.raster.tile_chain import ProductResult
from raw2ready.stac.catalog import (
    JSON_MEDIA_TYPE,
    _product_asset,
    _relative,
    collection_id,
    footprint,
    geometry_bbox,
)


def composite_item(
    tile: str,
    year: str,
    month: str,
    results: dict[str, ProductResult],
    scene_items: list[Path],
    layout: Layout,
    campaign: str,
    method: str,
    software: dict[str, str],
) -> pystac.Item:
    """The item of one monthly composite, with its links in place."""
    first = next(iter(results.values()))
    geometry = footprint(first)
    start = datetime(int(year), int(month), 1, tzinfo=UTC)
    last_day = calendar.monthrange(int(year), int(month))[1]
    end = datetime(int(year), int(month), last_day, 23, 59, 59, tzinfo=UTC)
    item_dir = layout.composite_item(tile, year, month).parent
    item = pystac.Item(
        id=composite_id(tile, year, month),
        geometry=geometry,
        bbox=geometry_bbox(geometry),
        datetime=start,
        start_datetime=start,
        end_datetime=end,
        properties={
            "platform": "sentinel-2",
            "constellation": "sentinel-2",
            "instruments": ["msi"],
            "raw2ready:composite_method": method,
            "raw2ready:scenes": len(scene_items),
        },
        collection=collection_id(campaign, COMPOSITES),
    )
    ProjectionExtension.ext(item, add_if_missing=True).code = f"EPSG:{first.epsg}"
    GridExtension.ext(item, add_if_missing=True).code = f"MGRS-{tile}"
    processing = ProcessingExtension.ext(item, add_if_missing=True)
    processing.level = "L3"
    processing.lineage = (
        f"Monthly {method} composite by raw2ready of the month's clear observations of "
        f"{len(scene_items)} scene(s) (pixels every composited product holds a value in)."
    )
    processing.software = software
    for result in results.values():
        _product_asset(item, result, layout, item_dir)
    item.clear_links()
    item.add_link(pystac.Link("root", _relative(layout.collection(), item_dir), JSON_MEDIA_TYPE))
    collection_href = _relative(layout.collection(COMPOSITES), item_dir)
    item.add_link(pystac.Link("collection", collection_href, JSON_MEDIA_TYPE))
    item.add_link(pystac.Link("parent", "../catalog.json", JSON_MEDIA_TYPE))
    for scene_item in scene_items:
        item.add_link(pystac.Link("derived_from", _relative(scene_item, item_dir), JSON_MEDIA_TYPE))
    return item
