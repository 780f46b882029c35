"""The MGRS / Sentinel-2 tiling grid: tile ids, their UTM zone, EPSG code and pixel grid.

A Sentinel-2 tile `47PPR` is UTM zone 47, latitude band P, 100 km square PR; it is
10980 x 10980 px at 10 m with its upper-left corner on the square's west edge and
100 km north of the square's south edge (neighbouring tiles overlap by 9.8 km).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import mgrs

from raw2ready.errors import GridError

TILE_SIZE_10M = 10980
TILE_EXTENT_M = 109_800.0
_LAT_BANDS = "CDEFGHJKLMNPQRSTUVWX"
_TILE_RE = re.compile(r"^(?:MGRS-|T)?(\d{1,2})([C-HJ-NP-X])([A-HJ-NP-Z]{2})$")


@dataclass(frozen=True)
class Tile:
    """One Sentinel-2 grid tile."""

    zone: int
    latitude_band: str
    grid_square: str

    @property
    def id(self) -> str:
        """The canonical five-character id, e.g. `47PPR` (zone zero-padded)."""
        return f"{self.zone:02d}{self.latitude_band}{self.grid_square}"

    @property
    def northern(self) -> bool:
        """True for latitude bands N..X (northern hemisphere)."""
        return self.latitude_band >= "N"

    @property
    def epsg(self) -> int:
        """EPSG code of the tile's WGS 84 / UTM zone (326xx north, 327xx south)."""
        return (32600 if self.northern else 32700) + self.zone

    @property
    def upper_left(self) -> tuple[float, float]:
        """UTM easting/northing of the tile's upper-left corner (10 m pixel grid)."""
        _zone, _hemi, easting, northing = _utm_of(self.id)
        return float(int(easting)), float(int(northing)) + 100_000.0

    @property
    def grid_code(self) -> str:
        """The STAC grid extension code, e.g. `MGRS-47PPR`."""
        return f"MGRS-{self.id}"


def _utm_of(tile: str) -> tuple[int, str, float, float]:
    """UTM zone, hemisphere and SW corner of a tile's 100 km square (the mgrs library)."""
    with warnings.catch_warnings():
        # mgrs warns when a latitude band and square disagree near band edges; S2 tiles
        # straddle band edges by design, so the warning carries no information here.
        warnings.simplefilter("ignore", RuntimeWarning)
        return mgrs.MGRS().MGRSToUTM(f"{tile}0000000000")


def parse_tile(text: str) -> Tile:
    """Parse a tile id in any provider spelling (`47PPR`, `T47PPR`, `MGRS-47PPR`, `7HFE`)."""
    match = _TILE_RE.match(str(text).strip().upper())
    if not match:
        raise GridError(
            f"'{text}' is not a Sentinel-2 tile id (expected like 47PPR: UTM zone 1-60, "
            "latitude band C-X, two grid-square letters)"
        )
    zone, band, square = int(match.group(1)), match.group(2), match.group(3)
    if not 1 <= zone <= 60:
        raise GridError(f"tile '{text}': UTM zone {zone} is outside 1-60")
    tile = Tile(zone, band, square)
    try:
        _utm_of(tile.id)
    except Exception as exc:  # the mgrs library raises a bare MGRSError on bad squares
        raise GridError(
            f"tile '{text}': grid square {square} does not exist in zone {zone}{band}"
        ) from exc
    return tile


def tile_from_parts(zone: int | str, latitude_band: str, grid_square: str) -> Tile:
    """Build a tile from the three `mgrs:*` (or Earth Search v0 `sentinel:*`) fields."""
    return parse_tile(f"{int(zone):02d}{latitude_band}{grid_square}")


def latitude_band_index(band: str) -> int:
    """Index of a latitude band letter (C=0 .. X=19), for plausibility checks."""
    return _LAT_BANDS.index(band)
