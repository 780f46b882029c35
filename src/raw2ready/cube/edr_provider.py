"""pygeoapi's xarray EDR provider on a tile's Icechunk cube, queried in longitude/latitude.

pygeoapi's `XarrayEDRProvider` opens plain Zarr/NetCDF paths and selects `nearest` on the
raw query coordinates: on a UTM cube a CRS84 point silently returns a corner pixel. This
subclass opens the repository's read-only session (the last commit of `main`, reopened on
every request, so a new month shows as soon as it is committed) and transforms CRS84 query
geometries to the cube's storage CRS before selecting:

- position: the pixel whose footprint holds the point (none outside the cube);
- area: the pixels whose centres lie inside the polygon (others null in the grid);
- cube: the pixels whose centres lie inside the longitude/latitude box.

Values are decoded with the CF scale_factor/add_offset (as `xarray.open_zarr` does),
nodata is null; the CoverageJSON domain is in the storage CRS (pixel centres).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import shapely
import xarray as xr
from pygeoapi.provider.base import (
    BaseProvider,
    ProviderConnectionError,
    ProviderNoDataError,
    ProviderQueryError,
)
from pygeoapi.provider.xarray_ import _convert_float32_to_float64
from pygeoapi.provider.xarray_edr import XarrayEDRProvider
from shapely.geometry.base import BaseGeometry

from raw2ready.cube.datacube import open_cube

CRS84 = "OGC:CRS84"


class IcechunkEDRProvider(XarrayEDRProvider):
    """EDR position, area and cube queries in CRS84 on a tile's Icechunk cube."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        # XarrayProvider.__init__ opens `data` with xarray's own openers, which know no
        # Icechunk repository: open it here, then set up what that constructor sets up.
        BaseProvider.__init__(self, provider_def)
        try:
            self._data = open_cube(Path(self.data))
            self.storage_crs = self._parse_storage_crs(provider_def)
            self._coverage_properties = self._get_coverage_properties()
            self.axes = self._coverage_properties["axes"]
            self.get_fields()
        except Exception as exc:  # pygeoapi turns this into an HTTP error naming the cube
            raise ProviderConnectionError(f"cannot open the cube {self.data}: {exc}") from exc
        self._from_crs84 = pyproj.Transformer.from_crs(CRS84, self.storage_crs, always_xy=True)

    def position(self, **kwargs: Any) -> dict[str, Any]:
        """The time series of the pixel holding a CRS84 point."""
        geometry = kwargs.get("wkt")
        if geometry is None or geometry.geom_type != "Point":
            raise ProviderQueryError("position queries take coords=POINT(lon lat)")
        x, y = self._from_crs84.transform(geometry.x, geometry.y)
        data = self._subset(kwargs)
        pixel = data.sel({self.x_field: x, self.y_field: y}, method="nearest")
        half_x, half_y = (
            self._coverage_properties["resx"] / 2,
            self._coverage_properties["resy"] / 2,
        )
        if abs(pixel[self.x_field] - x) > half_x or abs(pixel[self.y_field] - y) > half_y:
            raise ProviderNoDataError("the point is outside the cube")
        return self._coverage(pixel, kwargs)

    def area(self, **kwargs: Any) -> dict[str, Any]:
        """The pixels whose centres lie inside a CRS84 polygon."""
        geometry = kwargs.get("wkt")
        if geometry is None or geometry.geom_type not in ("Polygon", "MultiPolygon"):
            raise ProviderQueryError("area queries take coords=POLYGON((lon lat, ...))")
        return self._inside(geometry, kwargs)

    def cube(self, **kwargs: Any) -> dict[str, Any]:
        """The pixels whose centres lie inside a CRS84 bbox (minlon,minlat,maxlon,maxlat)."""
        bbox = kwargs.get("bbox") or []
        if len(bbox) != 4:
            raise ProviderQueryError("cube queries take bbox=minlon,minlat,maxlon,maxlat")
        return self._inside(shapely.box(*bbox), kwargs)

    def _inside(self, geometry: BaseGeometry, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The grid of pixels around a CRS84 geometry, null where a centre is outside it."""
        projected = shapely.transform(geometry, self._project)
        minx, miny, maxx, maxy = projected.bounds
        data = self._subset(kwargs)
        xs, ys = data[self.x_field].values, data[self.y_field].values
        window = {
            self.x_field: (xs >= minx) & (xs <= maxx),
            self.y_field: (ys >= miny) & (ys <= maxy),
        }
        data = data.isel(window)
        grid_x, grid_y = np.meshgrid(data[self.x_field].values, data[self.y_field].values)
        inside = shapely.contains_xy(projected, grid_x, grid_y)
        if not inside.any():
            raise ProviderNoDataError("no pixel centre of the cube lies inside the geometry")
        return self._coverage(
            data.where(xr.DataArray(inside, dims=(self.y_field, self.x_field))), kwargs
        )

    def _project(self, coordinates: np.ndarray) -> np.ndarray:
        """CRS84 (lon, lat) rows to storage CRS (x, y) rows, for `shapely.transform`."""
        x, y = self._from_crs84.transform(coordinates[:, 0], coordinates[:, 1])
        return np.column_stack([x, y])

    def _subset(self, kwargs: dict[str, Any]) -> xr.Dataset:
        """The requested parameters and time steps (all when not given)."""
        properties = kwargs.get("select_properties")
        data = self._data[[*properties]] if properties else self._data
        if properties:
            self._fields = {k: v for k, v in self._fields.items() if k in properties}
        datetime_ = kwargs.get("datetime_")
        if datetime_ is None:
            return data
        when = self._make_datetime(datetime_)
        if isinstance(when, slice):
            return data.sel({self.time_field: when})
        days = data[self.time_field].values.astype("datetime64[D]")
        return data.isel({self.time_field: days == when.astype("datetime64[D]")})

    def _coverage(self, data: xr.Dataset, kwargs: dict[str, Any]) -> dict[str, Any]:
        """CoverageJSON of a selection, its values ordered as its axisNames (y, x, t):
        pygeoapi flattens the stored (t, y, x) order under those names."""
        if data.sizes.get(self.time_field, 1) == 0:
            raise ProviderNoDataError("no time step of the cube matches the datetime")
        data = _convert_float32_to_float64(data.transpose(..., self.time_field).load())
        time, time_steps = self._parse_time_metadata(data, kwargs)
        xs, ys = np.atleast_1d(data[self.x_field].values), np.atleast_1d(data[self.y_field].values)
        meta = {
            "bbox": [xs[0], ys[0], xs[-1], ys[-1]],
            "time": time,
            "driver": "xarray",
            "height": data.sizes.get(self.y_field, 1),
            "width": data.sizes.get(self.x_field, 1),
            "time_steps": time_steps,
            "variables": {name: variable.attrs for name, variable in data.variables.items()},
        }
        return self.gen_covjson(meta, data, self.fields)
