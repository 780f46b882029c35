"""Realistic tile inventories without rasters, for planning benchmarks at campaign scale.

A country-sized reprocessing campaign (~25,000 scenes over ~130 tiles and 4 years) cannot be
downloaded to test the dry-run; these inventories have the same shape as real ones: valid
MGRS tiles of neighbouring UTM zones, Earth Search v1 ids and hrefs, two platforms on a
regular revisit, processing baselines switching on their real dates (so the BOA-offset
decision varies), seeded cloud cover and band sizes.
"""

from __future__ import annotations

import math
import random
import warnings
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import mgrs

from raw2ready.campaign.inventory import write_inventory
from raw2ready.demo.scenes import BUCKET, COLLECTION_ID, earth_search_id, earth_search_prefix
from raw2ready.errors import ConfigError
from raw2ready.grid import parse_tile
from raw2ready.scene import BandAsset, SceneRecord
from raw2ready.sentinel2.normalize import baseline_has_offset

#: Where Earth Search v1 serves its bucket over HTTPS.
BUCKET_URL = f"https://{BUCKET}.s3.us-west-2.amazonaws.com"
#: The bands an inventory lists, with typical Earth Search v1 COG sizes in bytes (10 m bands
#: ~ 200 MB, SCL at 20 m ~ 4 MB).
_BAND_BYTES = {"B02": 210e6, "B04": 215e6, "B08": 230e6, "SCL": 4e6}
#: Processing baselines by the date ESA started them (L2A), newest last.
_BASELINES = (
    (date(2015, 1, 1), "02.14"),
    (date(2021, 6, 30), "03.00"),
    (date(2022, 1, 25), "04.00"),
    (date(2022, 12, 6), "05.09"),
    (date(2024, 2, 6), "05.10"),
)
#: Where the tile grid starts and how far apart its sample points are, in degrees: the
#: scan runs west to east and south to north over mainland South-East Asia.
_ORIGIN = (5.5, 97.5)
_SPAN_LON = 8.6
_STEP = 0.9


def campaign_tiles(count: int) -> list[str]:
    """`count` distinct, valid Sentinel-2 tile ids of a contiguous region."""
    tiles: list[str] = []
    converter = mgrs.MGRS()
    columns = math.ceil(_SPAN_LON / _STEP)
    row = 0
    while len(tiles) < count:
        latitude = _ORIGIN[0] + row * _STEP
        if latitude > 83:
            raise ConfigError(f"--tiles {count}: more tiles than the grid scan can provide")
        for column in range(columns):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                text = converter.toMGRS(latitude, _ORIGIN[1] + column * _STEP, MGRSPrecision=0)
            tile = parse_tile(text).id
            if tile not in tiles:
                tiles.append(tile)
            if len(tiles) == count:
                break
        row += 1
    return tiles


def baseline_of(day: date) -> str:
    """The processing baseline the archive holds for a scene sensed on `day`."""
    return [name for start, name in _BASELINES if start <= day][-1]


def _record(tile: str, moment: datetime, platform: str, rng: random.Random) -> SceneRecord:
    """One scene record in Earth Search v1 form."""
    scene = earth_search_id(platform, tile, moment.date())
    folder = f"{BUCKET_URL}/{earth_search_prefix(tile, moment.date()) / scene}"
    baseline = baseline_of(moment.date())
    return SceneRecord(
        id=scene,
        tile=tile,
        datetime=moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        platform=platform,
        processing_baseline=baseline,
        apply_boa_offset=baseline_has_offset(baseline),
        cloud_cover=round(rng.uniform(0, 100), 4),
        collection=COLLECTION_ID,
        source_href=f"{folder}/{scene}.json",
        bands={
            band: BandAsset(f"{folder}/{band}.tif", int(_BAND_BYTES[band] * rng.uniform(0.8, 1.2)))
            for band in _BAND_BYTES
        },
    )


def _tile_scenes(
    tile: str, count: int, start: date, years: int, rng: random.Random
) -> Iterator[SceneRecord]:
    """`count` acquisitions of a tile spread evenly over `years` years from `start`."""
    days = (date(start.year + years, start.month, start.day) - start).days
    pass_time = timedelta(hours=3, minutes=rng.randrange(20, 50), seconds=rng.randrange(60))
    taken: set[str] = set()
    for index in range(count):
        day = start + timedelta(days=int(index * days / count))
        platform = "sentinel-2a" if index % 2 == 0 else "sentinel-2b"
        while f"{platform}{day}" in taken:  # more scenes than days: the next free day
            day += timedelta(days=1)
        taken.add(f"{platform}{day}")
        moment = datetime(day.year, day.month, day.day, tzinfo=UTC) + pass_time
        yield _record(tile, moment, platform, rng)


def write_synthetic_inventories(
    out_dir: Path, scenes: int, tiles: int, years: int, start_year: int = 2022, seed: int = 0
) -> list[str]:
    """Write `<tile>.jsonl` inventories of `scenes` scenes in total; return the tile ids."""
    if scenes < 1 or tiles < 1 or years < 1:
        raise ConfigError(
            f"--scenes, --tiles and --years must be positive (got {scenes}, {tiles}, {years})"
        )
    if scenes > tiles * years * 365 * 2:
        raise ConfigError(
            f"--scenes {scenes}: more than two platforms can sense over {tiles} tile(s) "
            f"in {years} year(s)"
        )
    rng = random.Random(seed)
    tile_ids = campaign_tiles(tiles)
    start = date(start_year, 1, 1)
    for index, tile in enumerate(tile_ids):
        count = scenes // tiles + (1 if index < scenes % tiles else 0)
        records = list(_tile_scenes(tile, count, start, years, rng))
        write_inventory(Path(out_dir) / f"{tile}.jsonl", records)
    return tile_ids


def campaign_config(
    inventories: Path, tiles: list[str], years: int, start_year: int = 2022
) -> dict[str, object]:
    """A campaign configuration whose work folder holds `inventories` (so no search runs)."""
    if Path(inventories).name != "inventories":
        raise ConfigError(
            f"{inventories}: to go with a campaign config, the inventories must be written "
            "to a folder named 'inventories' (the config's work_dir is its parent)"
        )
    return {
        "campaign": "synthetic",
        "output_dir": str(Path(inventories).parent.parent / "results"),
        "work_dir": str(Path(inventories).parent),
        "archive": {"kind": "static_catalog", "url": "synthetic-archive/catalog.json"},
        "tiles": tiles,
        "start": f"{start_year}-01-01",
        "end": f"{start_year + years - 1}-12-31",
    }
