"""An area of interest read from GeoJSON in any CRS, as (multi)polygons moved into a
raster's CRS with their edges densified (a straight edge in one CRS bends in another)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from raw2ready.errors import AreaOfInterestError

#: GeoJSON's own CRS (RFC 7946): longitude, latitude on WGS 84.
CRS84 = CRS.from_user_input("OGC:CRS84")
#: Longest edge kept when moving an outline between CRSs: ~1 m in degrees or 1 m.
DENSIFY_DEGREES = 1e-5
DENSIFY_METRES = 1.0


@dataclass(frozen=True)
class AreaOfInterest:
    """Polygons (one geometry, possibly a MultiPolygon) and the CRS of their coordinates."""

    geometry: shapely.Geometry
    crs: CRS

    def in_crs(self, crs: CRS) -> shapely.Geometry:
        """The area in `crs`, edges densified first (identity when the CRS is the same)."""
        if crs == self.crs:
            return self.geometry
        step = DENSIFY_DEGREES if self.crs.is_geographic else DENSIFY_METRES
        transformer = Transformer.from_crs(self.crs, crs, always_xy=True)

        def move(coords: np.ndarray) -> np.ndarray:
            return np.column_stack(transformer.transform(coords[:, 0], coords[:, 1]))

        return shapely.make_valid(shapely.transform(shapely.segmentize(self.geometry, step), move))


def _crs_member(data: dict[str, Any]) -> CRS | None:
    """The CRS a GeoJSON 2008 `crs` member names (`{"type": "name", ...}`), if any."""
    member = data.get("crs")
    if member is None:
        return None
    try:
        return CRS.from_user_input(member["properties"]["name"])
    except (KeyError, TypeError, CRSError):
        raise AreaOfInterestError(
            f"the AOI's crs member {json.dumps(member)} names no known CRS"
        ) from None


def _geometries(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The geometries of a FeatureCollection, a Feature or a bare geometry."""
    kind = data.get("type")
    if kind == "FeatureCollection":
        return [feature["geometry"] for feature in data.get("features", [])]
    if kind == "Feature":
        return [data["geometry"]]
    return [data]


def parse_crs(text: str) -> CRS:
    """A CRS given by the user, e.g. `EPSG:32633`."""
    try:
        return CRS.from_user_input(text)
    except CRSError:
        raise AreaOfInterestError(f"'{text}' is not a known CRS (give e.g. EPSG:32633)") from None


def read_area(path: Path, crs: CRS | None = None) -> AreaOfInterest:
    """The polygons of a GeoJSON file, in `crs` if given, else in its `crs` member's, else in
    CRS84 (lon/lat); clashing CRSs, non-polygons or an empty area are refused."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise AreaOfInterestError(f"cannot read the AOI {path}: {exc}") from None
    declared = _crs_member(data)
    if crs is not None and declared is not None and crs != declared:
        raise AreaOfInterestError(
            f"the AOI {path} declares {declared.to_string()} but --aoi-crs says {crs.to_string()}"
        )
    try:
        shapes = [shapely.geometry.shape(geometry) for geometry in _geometries(data)]
    except (KeyError, TypeError, AttributeError, ValueError, shapely.errors.GEOSException):
        raise AreaOfInterestError(f"the AOI {path} is not valid GeoJSON") from None
    if not shapes or any(shape.geom_type not in ("Polygon", "MultiPolygon") for shape in shapes):
        raise AreaOfInterestError(f"the AOI {path} must hold Polygons or MultiPolygons only")
    geometry = shapely.make_valid(shapely.union_all(shapes))
    if geometry.is_empty or geometry.area == 0:
        raise AreaOfInterestError(f"the AOI {path} has no area")
    return AreaOfInterest(geometry, crs or declared or CRS84)
