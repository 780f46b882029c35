"""The Sentinel-2 tiling grid as ESA defines it: tile ids, UTM zone, EPSG, extent, footprint.

A tile such as `47PPR` is UTM zone 47, latitude band P and MGRS 100 km square PR. Its
corner follows from the id by this rule, which reproduces every tile of ESA's grid to the
metre (tests/test_grid.py checks all 20,430 land tiles):

1. The column letter gives the square's west edge: A-H, J-R or S-Z (I and O are skipped) in
   zones 1, 4, 7, ... / 2, 5, 8, ... / 3, 6, 9, ..., the first letter at easting 100 km.
2. The row letter gives the square's south edge modulo 2,000 km, counted from the equator:
   A-V (I and O skipped), starting at F in even zones. The latitude band picks which
   2,000 km cycle: the one that puts the square nearest the band's middle (bands are at
   most 1,333 km tall, so the choice is never close).
3. The tile's north-west corner is the square's, moved out west and north onto a 60 m
   lattice counted from easting 0 and from the equator (60 m, the coarsest band
   resolution, so the tile edges are pixel edges at 10, 20 and 60 m). The tile then
   reaches 109,800 m east and south (10980 px at 10 m; neighbouring tiles overlap).

A square belongs to the grid when it overlaps its grid zone: the band's latitudes (C
reaches down to 84 deg S, X up to 84 deg N) and the zone's longitudes (MGRS widens 32V and
31X-37X and drops 32X, 34X, 36X). Tiles that straddle a band edge keep the band they are
named after, which is why the square, not the band, fixes the corner.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from typing import Any

import numpy as np
from pyproj import Transformer

from raw2ready.errors import GridError

TILE_SIZE_10M = 10980
TILE_EXTENT_M = 109_800.0
_SQUARE_M = 100_000
_ROW_CYCLE_M = 2_000_000
_LATTICE_M = 60
_SOUTH_FALSE_NORTHING = 10_000_000
_LAT_BANDS = "CDEFGHJKLMNPQRSTUVWX"
#: Column letters of the 100 km squares, for zones 1, 4, 7, ... / 2, 5, 8, ... / 3, 6, 9, ...
_COLUMN_LETTERS = ("ABCDEFGH", "JKLMNPQR", "STUVWXYZ")
_ROW_LETTERS = "ABCDEFGHJKLMNPQRSTUV"
#: Even zones start their row letters at F (row 0 is letter index 5).
_EVEN_ZONE_ROW_SHIFT = 5
#: Longitudes (west, east) of the grid zones MGRS widens (32V; 31X-37X on Svalbard) or drops
#: (None). ESA keeps 31V at its full 6 deg (it has tiles 31VEF..31VFL east of 3 deg E).
_ZONE_EXCEPTIONS: dict[str, tuple[float, float] | None] = {
    "32V": (3.0, 12.0),
    "31X": (0.0, 9.0),
    "32X": None,
    "33X": (9.0, 21.0),
    "34X": None,
    "35X": (21.0, 33.0),
    "36X": None,
    "37X": (33.0, 42.0),
}
#: A unit square's closed outline, counter-clockwise from its north-west corner, 10 segments
#: per edge so that the outline keeps its curvature once projected to longitude/latitude.
_ALONG, _ZEROS, _ONES = np.linspace(0.0, 1.0, 11)[:-1], np.zeros(10), np.ones(10)
_UNIT_OUTLINE = np.array(
    [np.concatenate([_ZEROS, _ALONG, _ONES, 1 - _ALONG, [0.0]]),
     np.concatenate([1 - _ALONG, _ZEROS, _ALONG, _ONES, [1.0]])]
)  # fmt: skip
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
    def bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) of the tile in metres of its UTM zone (`epsg`)."""
        square_west, square_south = _square_origin(self)
        west = square_west // _LATTICE_M * _LATTICE_M
        north = -(-(square_south + _SQUARE_M) // _LATTICE_M) * _LATTICE_M
        if not self.northern:
            north += _SOUTH_FALSE_NORTHING
        return float(west), north - TILE_EXTENT_M, west + TILE_EXTENT_M, float(north)

    @property
    def upper_left(self) -> tuple[float, float]:
        """UTM easting/northing of the tile's upper-left corner (origin of its pixel grid)."""
        west, _south, _east, north = self.bounds
        return west, north

    @property
    def footprint(self) -> dict[str, Any]:
        """GeoJSON (EPSG:4326, 1e-7 deg) outline of the tile, edges densified; a MultiPolygon
        split at +-180 deg where it crosses the antimeridian (RFC 7946), for STAC searches."""
        west, south, east, north = self.bounds
        if not self.northern:
            south, north = south - _SOUTH_FALSE_NORTHING, north - _SOUTH_FALSE_NORTHING
        longitudes, latitudes = _outline(west, south, east, north)
        longitudes = longitudes + _central_meridian(self.zone)
        return _split_at_antimeridian(np.column_stack([longitudes, latitudes]).round(7).tolist())

    @property
    def grid_code(self) -> str:
        """The STAC grid extension code, e.g. `MGRS-47PPR`."""
        return f"MGRS-{self.id}"


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
    if not _in_grid_zone(tile):
        raise GridError(f"tile '{text}': grid square {square} does not exist in zone {zone}{band}")
    return tile


def tile_from_parts(zone: int | str, latitude_band: str, grid_square: str) -> Tile:
    """Build a tile from the three `mgrs:*` (or Earth Search v0 `sentinel:*`) fields."""
    return parse_tile(f"{int(zone):02d}{latitude_band}{grid_square}")


def latitude_band_index(band: str) -> int:
    """Index of a latitude band letter (C=0 .. X=19), for plausibility checks."""
    return _LAT_BANDS.index(band)


def _square_origin(tile: Tile) -> tuple[int, int]:
    """Easting and northing from the equator (negative south) of the 100 km square's SW
    corner; raises ValueError for letters the zone's lettering does not use."""
    column_letter, row_letter = tile.grid_square
    west = (_COLUMN_LETTERS[(tile.zone - 1) % 3].index(column_letter) + 1) * _SQUARE_M
    shift = _EVEN_ZONE_ROW_SHIFT if tile.zone % 2 == 0 else 0
    row_south = (_ROW_LETTERS.index(row_letter) - shift) % 20 * _SQUARE_M
    cycle = round(
        (_band_middle_northing(tile.latitude_band) - row_south - _SQUARE_M / 2) / _ROW_CYCLE_M
    )
    return west, row_south + cycle * _ROW_CYCLE_M


def _in_grid_zone(tile: Tile) -> bool:
    """True when the tile's 100 km square is in its grid zone: its centre in the band (X also
    keeps squares reaching below 84 deg N) and its outline overlapping the zone's longitudes."""
    longitudes = _zone_longitudes(tile.zone, tile.latitude_band)
    if longitudes is None:
        return False
    try:
        west, south = _square_origin(tile)
    except ValueError:  # a letter outside the zone's column or row lettering
        return False
    square_lons, square_lats = _outline(west, south, west + _SQUARE_M, south + _SQUARE_M)
    _lon, centre_lat = _transverse_mercator().transform(
        west + _SQUARE_M / 2, south + _SQUARE_M / 2, direction="INVERSE"
    )
    band_south, band_north = _band_latitudes(tile.latitude_band)
    reaches_band_top = centre_lat < band_north or (
        tile.latitude_band == "X" and square_lats.min() < band_north
    )
    zone_west, zone_east = (lon - _central_meridian(tile.zone) for lon in longitudes)
    return bool(
        band_south <= centre_lat
        and reaches_band_top
        and square_lons.max() > zone_west
        and square_lons.min() < zone_east
    )


def _band_latitudes(band: str) -> tuple[float, float]:
    """South and north latitude of a band; ESA's grid has C squares down to 84 deg S."""
    south = -80.0 + 8 * _LAT_BANDS.index(band)
    if band == "C":
        return -84.0, south + 8
    return south, south + (12 if band == "X" else 8)


def _zone_longitudes(zone: int, band: str) -> tuple[float, float] | None:
    """West and east longitude of a grid zone, or None where MGRS has no such zone."""
    standard = (-180.0 + 6 * (zone - 1), -180.0 + 6 * zone)
    return _ZONE_EXCEPTIONS.get(f"{zone}{band}", standard)


def _central_meridian(zone: int) -> float:
    """Longitude of a UTM zone's central meridian."""
    return -183.0 + 6 * zone


@cache
def _band_middle_northing(band: str) -> float:
    """Northing from the equator of the band's middle latitude on a central meridian."""
    south, north = _band_latitudes(band)
    _x, northing = _transverse_mercator().transform(0.0, (south + north) / 2)
    return northing


@cache
def _transverse_mercator() -> Transformer:
    """Longitude/latitude to UTM of a zone centred on longitude 0, northing counted from the
    equator (negative south): one transformer serves every zone and both hemispheres."""
    utm = "+proj=tmerc +lat_0=0 +lon_0=0 +k=0.9996 +x_0=500000 +y_0=0 +ellps=WGS84"
    return Transformer.from_crs("EPSG:4326", utm, always_xy=True)


def _outline(west: float, south: float, east: float, north: float) -> tuple[np.ndarray, np.ndarray]:
    """Longitudes (from the central meridian) and latitudes of a UTM rectangle's outline."""
    eastings = west + (east - west) * _UNIT_OUTLINE[0]
    northings = south + (north - south) * _UNIT_OUTLINE[1]
    return _transverse_mercator().transform(eastings, northings, direction="INVERSE")


def _split_at_antimeridian(ring: list[list[float]]) -> dict[str, Any]:
    """GeoJSON Polygon of a closed lon/lat ring, or a MultiPolygon of its two parts where
    it reaches past +-180 deg (the part beyond is shifted by 360 deg)."""
    lons = [lon for lon, _lat in ring]
    if min(lons) >= -180.0 and max(lons) <= 180.0:
        return {"type": "Polygon", "coordinates": [ring]}
    edge = 180.0 if max(lons) > 180.0 else -180.0
    shift = math.copysign(360.0, edge)
    inside = _clip(ring, edge, keep_east=edge < 0)
    beyond = [[lon - shift, lat] for lon, lat in _clip(ring, edge, keep_east=edge > 0)]
    return {"type": "MultiPolygon", "coordinates": [[inside], [beyond]]}


def _clip(ring: list[list[float]], meridian: float, keep_east: bool) -> list[list[float]]:
    """The closed ring cut to the side of `meridian` it keeps (Sutherland-Hodgman)."""
    kept: list[list[float]] = []
    for (lon1, lat1), (lon2, lat2) in pairwise(ring):
        inside1, inside2 = (lon1 >= meridian) == keep_east, (lon2 >= meridian) == keep_east
        if inside1:
            kept.append([lon1, lat1])
        if inside1 != inside2:
            fraction = (meridian - lon1) / (lon2 - lon1)
            kept.append([meridian, round(lat1 + (lat2 - lat1) * fraction, 7)])
    return [*kept, kept[0]]
