"""A tile's footprint in longitude/latitude, for archives that filter by geometry."""

from __future__ import annotations

from typing import Any

from pyproj import Transformer

from raw2ready.grid import TILE_EXTENT_M, Tile


def tile_geometry(tile: Tile) -> dict[str, Any]:
    """GeoJSON (EPSG:4326) covering a tile, split in two at the antimeridian (RFC 7946)."""
    west, north = tile.upper_left
    steps = 8
    ring = [(west + TILE_EXTENT_M * i / steps, north) for i in range(steps)]
    ring += [(west + TILE_EXTENT_M, north - TILE_EXTENT_M * i / steps) for i in range(steps)]
    ring += [(west + TILE_EXTENT_M * (1 - i / steps), north - TILE_EXTENT_M) for i in range(steps)]
    ring += [(west, north - TILE_EXTENT_M * (1 - i / steps)) for i in range(steps)]
    to_lonlat = Transformer.from_crs(tile.epsg, 4326, always_xy=True)
    lons, lats = to_lonlat.transform([x for x, _ in ring], [y for _, y in ring])
    south, north_lat = min(lats), max(lats)

    def box(left: float, right: float) -> list[list[list[float]]]:
        return [[[left, south], [right, south], [right, north_lat], [left, north_lat],
                 [left, south]]]  # fmt: skip

    if max(lons) - min(lons) <= 180:
        return {"type": "Polygon", "coordinates": box(min(lons), max(lons))}
    east_part = min(lon for lon in lons if lon > 0)
    west_part = max(lon for lon in lons if lon < 0)
    return {"type": "MultiPolygon", "coordinates": [box(east_part, 180.0), box(-180.0, west_part)]}
