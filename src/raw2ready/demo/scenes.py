"""The scenes of the demo archive, the archive traps each carries, and where they live.

Fourteen scenes on two tiles of two UTM zones, 2021-2024: processing baselines before and
after 04.00, the BOA offset applied by the archive on some items and not on others, cloudy
and clear dates, cirrus, nodata swath edges. Paths and ids follow Earth Search v1
`sentinel-2-l2a`; the synthetic inventories name their scenes the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from importlib.resources import files
from pathlib import PurePosixPath

from raw2ready.grid import parse_tile
from raw2ready.scene import BOA_ADD_OFFSET
from raw2ready.sentinel2.normalize import baseline_has_offset

COLLECTION_ID = "sentinel-2-l2a"
#: Earth Search v1 bucket and the folder of its L2A COGs in it.
BUCKET = "sentinel-cogs"
ARCHIVE_PREFIX = "sentinel-s2-l2a-cogs"


@dataclass(frozen=True)
class DemoScene:
    """One scene of the sample archive and the archive traps it carries."""

    tile: str
    date: str
    platform: str
    baseline: str
    boa_offset_applied: bool
    cloud_fraction: float = 0.2
    cirrus_fraction: float = 0.0
    nodata_swath: bool = False

    @property
    def sensing_date(self) -> date:
        """The sensing date as a `datetime.date`."""
        return date.fromisoformat(self.date)

    @property
    def platform_code(self) -> str:
        """`S2A` / `S2B`, as in item ids and product names."""
        return mission_code(self.platform)

    @property
    def has_boa_offset(self) -> bool:
        """True when the product format carries BOA_ADD_OFFSET = -1000 (baseline >= 04.00)."""
        return baseline_has_offset(self.baseline)

    @property
    def dn_offset(self) -> int:
        """DN added to `round(10000 * reflectance)` in the stored files (1000 or 0)."""
        return -BOA_ADD_OFFSET if self.has_boa_offset and not self.boa_offset_applied else 0


# Per tile: relative orbit and datatake start time (a descending pass at ~10:30 local solar
# time) and the hour of day ESA's ground segment generates the L2A product.
_ORBITS: dict[str, tuple[int, time, time]] = {
    "47PPR": (61, time(3, 41, 21), time(7, 0, 0)),
    "48PUB": (18, time(3, 31, 39), time(6, 48, 27)),
}
# Products of the Collection-1 reprocessing were generated long after sensing.
_REPROCESSING_BASELINE = "05.00"
_REPROCESSING_TIME = datetime(2023, 3, 15, 22, 46, 58, tzinfo=UTC)

#: The scenes (package data: data/demo_scenes.json, one row per scene and its traps).
DEMO_SCENES: tuple[DemoScene, ...] = tuple(
    DemoScene(**row)
    for row in json.loads(files("raw2ready").joinpath("data/demo_scenes.json").read_text())[
        "scenes"
    ]
)


def mission_code(platform: str) -> str:
    """`S2A` for `sentinel-2a`: the platform as item ids and product names spell it."""
    return "S2" + platform[-1].upper()


def earth_search_id(platform: str, tile_id: str, day: date) -> str:
    """Earth Search v1 item id of a scene, e.g. `S2A_47PPR_20230105_0_L2A`."""
    return f"{mission_code(platform)}_{tile_id}_{day:%Y%m%d}_0_L2A"


def earth_search_prefix(tile_id: str, day: date) -> PurePosixPath:
    """Folder of a tile's scenes of one month: `sentinel-s2-l2a-cogs/47/P/PR/2023/1`."""
    tile = parse_tile(tile_id)
    return PurePosixPath(
        ARCHIVE_PREFIX,
        str(tile.zone),
        tile.latitude_band,
        tile.grid_square,
        str(day.year),
        str(day.month),
    )


def item_id(scene: DemoScene) -> str:
    """Earth Search v1 item id, e.g. `S2A_47PPR_20230105_0_L2A`."""
    return earth_search_id(scene.platform, scene.tile, scene.sensing_date)


def scene_prefix(scene: DemoScene) -> PurePosixPath:
    """Folder of a scene inside the archive: `sentinel-s2-l2a-cogs/47/P/PR/2023/1/<id>`."""
    return earth_search_prefix(scene.tile, scene.sensing_date) / item_id(scene)


def datatake_start(scene: DemoScene) -> datetime:
    """Start of the datatake: the tile's orbit pass time on the sensing date."""
    _orbit, start, _generated = _ORBITS[scene.tile]
    return datetime.combine(scene.sensing_date, start, tzinfo=UTC)


def generation_time(scene: DemoScene) -> datetime:
    """When ESA generated the L2A product: hours after sensing, or the reprocessing campaign."""
    if scene.baseline == _REPROCESSING_BASELINE:
        return _REPROCESSING_TIME
    _orbit, _start, generated = _ORBITS[scene.tile]
    return datetime.combine(scene.sensing_date, generated, tzinfo=UTC)


def relative_orbit(scene: DemoScene) -> int:
    """The relative orbit that passes over the scene's tile."""
    return _ORBITS[scene.tile][0]


def absolute_orbit(scene: DemoScene) -> int:
    """Approximate absolute orbit number (14.3 orbits a day since launch)."""
    launch = date(2015, 6, 23) if scene.platform_code == "S2A" else date(2017, 3, 7)
    return int((scene.sensing_date - launch).days * 14.3) + 1
