"""STAC registration in isolation: items, Year -> Quarter -> Month tile catalogs, collection."""

from __future__ import annotations

import json
from pathlib import Path

import pystac
import pytest

from raw2ready.errors import ProductValidationError
from raw2ready.layout import Layout
from raw2ready.raster.tile_chain import ProductResult
from raw2ready.scene import SceneRecord
from raw2ready.stac.catalog import (
    create_item,
    footprint,
    geometry_bbox,
    write_collection,
    write_item,
    write_tile_catalog,
)
from raw2ready.stac.validation import validate_stac_tree

STATS = {"minimum": -0.2, "maximum": 0.9, "mean": 0.4, "stddev": 0.2, "valid_percent": 80.0}


def record(scene_id: str, tile: str, when: str) -> SceneRecord:
    return SceneRecord(
        id=scene_id, tile=tile, datetime=when, platform="sentinel-2a",
        processing_baseline="05.10", apply_boa_offset=True, cloud_cover=12.5,
        collection="sentinel-2-l2a", source_href="/archive/items/x.json", bands={},
    )  # fmt: skip


def results(layout: Layout, scene: SceneRecord, epsg: int, origin: float) -> dict:
    out = {}
    for name in ("ndvi", "lai", "mask"):
        path = layout.product(scene, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"a product of " + name.encode())
        out[name] = ProductResult(
            name, path, STATS, (100, 100), (10.0, 0.0, origin, 0.0, -10.0, 1600000.0), epsg
        )
    return out


def publish(layout: Layout, scenes: list[tuple[SceneRecord, int, float]]) -> None:
    for scene, epsg, origin in scenes:
        item = create_item(scene, results(layout, scene, epsg, origin), layout, "t", "ab" * 32,
                           {"raw2ready": "0"}, "lineage")  # fmt: skip
        write_item(item, layout.item(scene))


def test_tree_links_and_extents(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "out", tmp_path / "work")
    scenes = [
        (record("A", "47PPR", "2023-01-05T03:41:21Z"), 32647, 600000.0),
        (record("B", "47PPR", "2023-02-05T03:41:21Z"), 32647, 600000.0),
        (record("C", "47PPR", "2024-08-01T03:41:21Z"), 32647, 600000.0),
        (record("D", "48PUB", "2022-11-19T03:31:39Z"), 32648, 300000.0),
    ]
    publish(layout, scenes)
    summaries = []
    for tile in ("47PPR", "48PUB"):
        items = [layout.item(s) for s, _e, _o in scenes if s.tile == tile]
        summaries.append(write_tile_catalog(tile, items, layout))
    assert [s.items for s in summaries] == [3, 1]

    path = write_collection("t", summaries, layout)
    # collection, 2 tiles, 3 years, 3 quarters, 4 months, 4 items
    assert validate_stac_tree(path) == 1 + 2 + 3 + 3 + 4 + 4
    collection = pystac.Collection.from_file(str(path))
    start, end = collection.extent.temporal.intervals[0]
    assert start.isoformat().startswith("2022-11-19") and end.isoformat().startswith("2024-08-01")
    assert collection.summaries.get_list("proj:code") == ["EPSG:32647", "EPSG:32648"]
    tile = collection.get_child("47PPR")
    years = sorted(child.id for child in tile.get_children())
    assert years == ["47PPR-2023", "47PPR-2024"]
    q1 = tile.get_child("47PPR-2023").get_child("47PPR-2023-Q1")
    months = sorted(child.id for child in q1.get_children())
    assert months == ["47PPR-2023-01", "47PPR-2023-02"]
    item = next(q1.get_child("47PPR-2023-01").get_items())
    assert item.id == "A"
    data = json.loads(layout.item(scenes[0][0]).read_text())
    assert all(not link["href"].startswith("/") for link in data["links"])
    assert data["assets"]["ndvi"]["href"].startswith("../")
    assert data["assets"]["ndvi"]["file:size"] == len(b"a product of ndvi")


def test_invalid_tree_is_not_published(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "out", tmp_path / "work")
    scene = record("A", "47PPR", "2023-01-05T03:41:21Z")
    publish(layout, [(scene, 32647, 600000.0)])
    broken = json.loads(layout.item(scene).read_text())
    broken["properties"]["proj:code"] = 32647  # must be a string
    layout.item(scene).write_text(json.dumps(broken))
    summary = write_tile_catalog("47PPR", [layout.item(scene)], layout)
    with pytest.raises(ProductValidationError, match="proj:code"):
        write_collection("t", [summary], layout)
    assert not layout.collection().exists()


def test_footprint_cut_at_the_antimeridian() -> None:
    # UTM zone 60 south of the equator reaching past 180 degrees east.
    result = ProductResult("ndvi", Path("x"), STATS, (10980, 10980),
                           (10.0, 0.0, 799980.0, 0.0, -10.0, 8000020.0), 32760)  # fmt: skip
    geometry = footprint(result)
    assert geometry["type"] == "MultiPolygon"
    west, _south, east, _north = geometry_bbox(geometry)
    assert west > 0 > east  # crosses: west edge in the east, per RFC 7946


def test_bbox_of_an_ordinary_polygon() -> None:
    ring = [[100.0, 13.0], [101.0, 13.0], [101.0, 14.0], [100.0, 14.0], [100.0, 13.0]]
    assert geometry_bbox({"type": "Polygon", "coordinates": [ring]}) == [100.0, 13.0, 101.0, 14.0]
