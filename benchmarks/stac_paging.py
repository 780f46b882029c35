"""STAC API search: round trips and seconds per scene against page size and archive size.

    python benchmarks/stac_paging.py            # 400 and 1600 scenes of one tile
    python benchmarks/stac_paging.py --quick    # 100 and 400 (smoke run)
    python benchmarks/stac_paging.py --json     # one JSON object

A local `rustac serve` (memory backend) holds copies of a real Earth Search v1 item, one per
day, for the searched tile, plus as many of a neighbouring tile (which the footprint search
returns and the exact tile check drops). `search_archive` runs with several page sizes. What
raw2ready controls is linear: each page is fetched once by following its next link and each
item normalized once, so seconds per scene should stay flat when the archive grows (the
ratio `per_scene(large) / per_scene(small)` near 1; quadratic paging would make it ~4), and
larger pages cut the round trips.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from copy import deepcopy
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from raw2ready.archives.provider import SearchQuery
from raw2ready.archives.search import search_archive
from raw2ready.config import ArchiveSection

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))
from tests.servers import rustac_server  # noqa: E402 (the project's test server helper)

TEMPLATE = (
    PROJECT.parent / "shared/fixtures/real-s2/stac_items"
    / "es1__sentinel-2-l2a__S2B_21MZV_20231110_0_L2A.json"
)  # fmt: skip
START = date(2020, 1, 1)


def items(count: int) -> list[dict[str, Any]]:
    """`count` daily scenes of 21MZV and as many of the neighbour 21MZA."""
    template = json.loads(TEMPLATE.read_text())
    made = []
    for tile in ("21MZV", "21MZA"):
        for day in range(count):
            item = deepcopy(template)
            when = START + timedelta(days=day)
            item["id"] = f"S2B_{tile}_{when:%Y%m%d}_0_L2A"
            item["properties"]["datetime"] = f"{when.isoformat()}T14:12:31Z"
            item["properties"]["grid:code"] = f"MGRS-{tile}"
            item["properties"]["mgrs:grid_square"] = tile[3:]
            item["links"] = []
            made.append(item)
    return made


def measure(count: int, page_sizes: list[int], folder: Path) -> list[dict[str, float]]:
    """Seconds and pages of one search per page size over `count` scenes of the tile."""
    path = folder / f"items-{count}.json"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": items(count)}))
    end = START + timedelta(days=count)
    query = SearchQuery("21MZV", START, end, 100, "sentinel-2-l2a", frozenset({"B04", "SCL"}))
    rows = []
    with rustac_server(path, folder / "rustac.log") as url:
        for page_size in page_sizes:
            pages = PageCounter()
            started = time.perf_counter()
            result = search_archive(ArchiveSection("stac_api", url, page_size=page_size), query)
            seconds = time.perf_counter() - started
            assert len(result.records) == count, (len(result.records), count)
            rows.append({
                "scenes": count, "page_size": page_size, "pages": pages.count,
                "seconds": round(seconds, 3), "ms_per_scene": round(1000 * seconds / count, 3),
            })  # fmt: skip
            pages.close()
    return rows


class PageCounter(logging.Handler):
    """Counts the pages `stac_api_items` logs at DEBUG."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0
        self.logger = logging.getLogger("raw2ready.archives.stac_api")
        self.logger.setLevel(logging.DEBUG)
        self.logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        if ": page " in record.getMessage():
            self.count += 1

    def close(self) -> None:
        self.logger.removeHandler(self)
        super().close()


def per_scene(rows: list[dict[str, float]], scenes: int, page_size: int) -> float:
    """Milliseconds per scene of one measured search."""
    return next(
        r["ms_per_scene"] for r in rows if r["scenes"] == scenes and r["page_size"] == page_size
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small archive, smoke run")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    small, large = (100, 400) if args.quick else (400, 1600)
    page_sizes = [20, 100, 500]
    with tempfile.TemporaryDirectory() as tmp:
        rows = measure(small, page_sizes, Path(tmp)) + measure(large, page_sizes, Path(tmp))
    ratios = {
        str(size): round(per_scene(rows, large, size) / per_scene(rows, small, size), 2)
        for size in page_sizes
    }
    if args.json:
        print(json.dumps({"rows": rows, "per_scene_ratio_large_over_small": ratios}))
        return
    print(f"{'scenes':>7} {'page':>5} {'pages':>6} {'seconds':>8} {'ms/scene':>9}")
    for row in rows:
        print(f"{row['scenes']:>7} {row['page_size']:>5} {row['pages']:>6} "
              f"{row['seconds']:>8.3f} {row['ms_per_scene']:>9.3f}")  # fmt: skip
    print(f"ms/scene at {large} over ms/scene at {small}, per page size: {ratios}")


if __name__ == "__main__":
    main()
