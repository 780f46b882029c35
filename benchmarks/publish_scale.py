"""Time `raw2ready publish` (stac/publish.py) for a demo-sized and a campaign-sized tree.

    python benchmarks/publish_scale.py                 # 14 (the demo) and 25,000 items
    python benchmarks/publish_scale.py --items 5000

Writes synthetic STAC trees shaped like the workflow's (a collection linking its items; items
with a footprint, the demo's properties and three COG assets with raster statistics, hrefs
relative), starts a throwaway PostgreSQL + pgstac (tests/pgstac_database.py: Debian's
postgresql-15 and postgresql-15-postgis-3, run as root), and times a first publication and a
rerun of each tree (the rerun upserts the same items: the idempotent path). The demo-sized
tree is the baseline measured in the same run; the ratios compare time per item.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from raw2ready.config import PgstacSection  # noqa: E402
from raw2ready.stac.publish import publish_tree  # noqa: E402
from tests.pgstac_database import DATABASE, UNAVAILABLE, pgstac_database  # noqa: E402

DEMO_ITEMS = 14  # the items `make demo` publishes
START = datetime(2019, 1, 1, tzinfo=UTC)


def synthetic_item(index: int, collection: str, rng: random.Random) -> dict[str, Any]:
    """A product item like the workflow's: footprint, properties, three COG assets."""
    west, south = 98.0 + (index % 50) * 0.9, 6.0 + (index // 50 % 20) * 0.9
    ring = [[west, south], [west + 1, south], [west + 1, south + 1], [west, south + 1]]
    scene = f"S2A_SYN_{index:06d}_L2A"
    when = START + timedelta(hours=7 * index)
    band = {"nodata": -32768, "data_type": "int16", "spatial_resolution": 10.0,
            "statistics": {"minimum": -0.5, "maximum": 0.9, "mean": 0.41, "valid_percent": 99.4},
            "scale": 0.0001, "offset": 0.0}  # fmt: skip
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "id": scene,
        "collection": collection,
        "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
        "bbox": [west, south, west + 1, south + 1],
        "properties": {
            "datetime": when.isoformat().replace("+00:00", "Z"),
            "platform": "sentinel-2a",
            "eo:cloud_cover": round(rng.uniform(0, 90), 3),
            "proj:code": "EPSG:32647",
            "grid:code": "MGRS-47PPR",
        },
        "links": [{"rel": "parent", "href": "../collection.json"}],
        "assets": {
            product: {"href": f"../../products/{scene}/{scene}_{product}.tif",
                      "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                      "roles": ["data"], "raster:bands": [band]}
            for product in ("ndvi", "lai", "mask")
        },
    }  # fmt: skip


def write_tree(folder: Path, collection: str, count: int) -> Path:
    """A collection linking `count` synthetic items, each in its own folder: its path."""
    rng = random.Random(42)
    links = []
    for index in range(count):
        item = synthetic_item(index, collection, rng)
        path = folder / item["id"] / f"{item['id']}.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(item))
        links.append({"rel": "item", "href": f"./{item['id']}/{item['id']}.json"})
    document = {
        "type": "Collection", "stac_version": "1.1.0", "id": collection,
        "description": "synthetic", "license": "other", "links": links,
        "extent": {"spatial": {"bbox": [[98.0, 6.0, 144.0, 25.0]]},
                   "temporal": {"interval": [[START.isoformat(), None]]}},
    }  # fmt: skip
    (folder / "collection.json").write_text(json.dumps(document))
    return folder / "collection.json"


def timed_publications(collection: Path, section: PgstacSection) -> tuple[float, float]:
    """Seconds of a first publication and of a rerun of the same tree."""
    times = []
    for _ in range(2):
        began = time.perf_counter()
        publish_tree(collection, section)
        times.append(time.perf_counter() - began)
    return times[0], times[1]


def main() -> None:
    """Measure and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=25_000, help="items of the large tree")
    args = parser.parse_args()
    if UNAVAILABLE:
        raise SystemExit(f"publish_scale: {UNAVAILABLE}")
    folder = Path(tempfile.mkdtemp(prefix="raw2ready-publish-"))
    try:
        with pgstac_database() as port:
            section = PgstacSection(dbname=DATABASE, host="127.0.0.1", port=port)
            rows = []
            for name, count in (("demo", DEMO_ITEMS), ("campaign", args.items)):
                collection = write_tree(folder / name, f"synthetic-{name}", count)
                rows.append((name, count, *timed_publications(collection, section)))
    finally:
        shutil.rmtree(folder)
    base_first, base_rerun = rows[0][2] / rows[0][1], rows[0][3] / rows[0][1]
    print(f"{'tree':<10}{'items':>8}{'first s':>10}{'rerun s':>10}{'items/s':>10}"
          f"{'first/item vs demo':>20}{'rerun/item vs demo':>20}")  # fmt: skip
    for name, count, first, rerun in rows:
        ratios = f"{first / count / base_first:>20.2f}{rerun / count / base_rerun:>20.2f}"
        print(f"{name:<10}{count:>8}{first:>10.2f}{rerun:>10.2f}{count / first:>10.0f}{ratios}")


if __name__ == "__main__":
    main()
