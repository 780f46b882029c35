"""Nadir BRDF-adjusted reflectance (NBAR) by the c-factor method HLS uses.

Reflectance seen at the scene's sun and view angles is multiplied, per band, by
c = BRDF(target) / BRDF(observed), where BRDF = f_iso + f_vol K_vol + f_geo K_geo with the
RossThick volumetric and LiSparse-Reciprocal geometric kernels of the MODIS BRDF product
(Lucht et al. 2000; h/b = 2, b/r = 1) and fixed global coefficients per band (Roy et al.
2016, RSE 176, 255-271; shown to suit Sentinel-2 by Roy et al. 2017, RSE 199, 25-38). The
target geometry is nadir view and the solar zenith HLS v2 models at the tile centre's
latitude (or a fixed one from the config). Angles in degrees, azimuths clockwise from north.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pyproj import Transformer

from raw2ready.errors import ProcessingError
from raw2ready.grid import parse_tile
from raw2ready.sentinel2.angles import AngleGrids, SunView

#: LiSparse-R crown shape (MODIS): crown height over vertical radius, and vertical over
#: horizontal radius.
HEIGHT_TO_RADIUS = 2.0
CROWN_SHAPE = 1.0


@dataclass(frozen=True)
class BrdfCoefficients:
    """A band's isotropic, volumetric and geometric kernel weights."""

    iso: float
    vol: float
    geo: float


_BLUE = BrdfCoefficients(0.0774, 0.0372, 0.0079)
_GREEN = BrdfCoefficients(0.1306, 0.0580, 0.0178)
_RED = BrdfCoefficients(0.1690, 0.0574, 0.0227)
_NIR = BrdfCoefficients(0.3093, 0.1535, 0.0330)
_SWIR1 = BrdfCoefficients(0.3430, 0.1154, 0.0453)
_SWIR2 = BrdfCoefficients(0.2658, 0.0639, 0.0387)

#: Roy et al. (2016) Table 1 per Sentinel-2 band: HLS v2 applies the NIR set to B8A;
#: raw2ready also applies it to B08 (the NIR band of its indices). Bands not listed (red
#: edge, B01, B09) are left as observed.
COEFFICIENTS: dict[str, BrdfCoefficients] = {
    "B02": _BLUE, "B03": _GREEN, "B04": _RED, "B08": _NIR, "B8A": _NIR,
    "B11": _SWIR1, "B12": _SWIR2,
}  # fmt: skip
COEFFICIENTS_SOURCE = (
    "Roy et al. 2016, Remote Sensing of Environment 176, 255-271, Table 1 (as HLS v2; "
    "Roy et al. 2017, RSE 199, 25-38)"
)
METHOD = "c-factor, RossThick/LiSparse-R kernels (h/b 2, b/r 1), nadir view"
ANGLES_SOURCE = "the scene's mean sun and view angles (STAC view:* properties or MTD_TL.xml)"
GRID_ANGLES_SOURCE = "MTD_TL.xml's sun and per-band view angle grids, interpolated bilinearly"


@dataclass(frozen=True)
class NbarOptions:
    """`nbar`: whether reflectance is normalised before the indices, and to which solar
    zenith (None: HLS's model at the tile centre's latitude)."""

    enabled: bool = False
    sun_zenith: float | None = None


def ross_thick(sun_zenith: Any, view_zenith: Any, relative_azimuth: Any) -> Any:
    """RossThick volumetric kernel (radians in; scalars or arrays); 0 at nadir sun and view."""
    cos_phase = np.cos(sun_zenith) * np.cos(view_zenith) + np.sin(sun_zenith) * np.sin(
        view_zenith
    ) * np.cos(relative_azimuth)
    phase = np.arccos(np.clip(cos_phase, -1.0, 1.0))
    scattering = (np.pi / 2 - phase) * np.cos(phase) + np.sin(phase)
    return scattering / (np.cos(sun_zenith) + np.cos(view_zenith)) - np.pi / 4


def li_sparse_r(sun_zenith: Any, view_zenith: Any, relative_azimuth: Any) -> Any:
    """LiSparse-Reciprocal geometric kernel (radians in; scalars or arrays); 0 at nadir."""
    sun = np.arctan(CROWN_SHAPE * np.tan(sun_zenith))
    view = np.arctan(CROWN_SHAPE * np.tan(view_zenith))
    tan_sun, tan_view = np.tan(sun), np.tan(view)
    sec_sun, sec_view = 1 / np.cos(sun), 1 / np.cos(view)
    cos_az = np.cos(relative_azimuth)
    distance_sq = tan_sun**2 + tan_view**2 - 2 * tan_sun * tan_view * cos_az
    cross = tan_sun * tan_view * np.sin(relative_azimuth)
    cos_t = HEIGHT_TO_RADIUS * np.sqrt(np.maximum(distance_sq, 0) + cross**2)
    t = np.arccos(np.clip(cos_t / (sec_sun + sec_view), -1.0, 1.0))
    overlap = (t - np.sin(t) * np.cos(t)) * (sec_sun + sec_view) / np.pi
    cos_phase = np.cos(sun) * np.cos(view) + np.sin(sun) * np.sin(view) * cos_az
    return overlap - sec_sun - sec_view + 0.5 * (1 + cos_phase) * sec_sun * sec_view


def reflectance_model(
    coefficients: BrdfCoefficients, sun_zenith: Any, view_zenith: Any, relative_azimuth: Any
) -> Any:
    """The kernel-driven BRDF model's reflectance at a geometry (degrees in)."""
    angles = [np.radians(value) for value in (sun_zenith, view_zenith, relative_azimuth)]
    return (
        coefficients.iso
        + coefficients.vol * ross_thick(*angles)
        + coefficients.geo * li_sparse_r(*angles)
    )


def _c_factor_at(
    coefficients: BrdfCoefficients,
    sun_zenith: Any,
    view_zenith: Any,
    relative_azimuth: Any,
    target_sun_zenith: float,
) -> Any:
    """c-factor at a geometry given angle by angle (degrees; scalars or arrays)."""
    target = reflectance_model(coefficients, target_sun_zenith, 0.0, 0.0)
    return target / reflectance_model(coefficients, sun_zenith, view_zenith, relative_azimuth)


def c_factor(coefficients: BrdfCoefficients, observed: SunView, target_sun_zenith: float) -> Any:
    """Multiplier taking reflectance seen at `observed` to nadir view and the target sun."""
    return _c_factor_at(
        coefficients,
        observed.sun_zenith,
        observed.view_zenith,
        observed.relative_azimuth,
        target_sun_zenith,
    )


def hls_sun_zenith(latitude: float) -> float:
    """HLS v2's normalisation solar zenith (degrees) for a tile centre's latitude: the
    sixth-order polynomial fit of the solar zenith at Landsat/Sentinel-2 overpass time."""
    terms = (31.0076, -0.1272, 0.01187, 2.40e-5, -9.48e-7, -1.95e-9, 6.15e-11)
    return sum(weight * latitude**power for power, weight in enumerate(terms))


def tile_centre_latitude(tile: str) -> float:
    """Latitude of a Sentinel-2 tile's centre, degrees."""
    grid = parse_tile(tile)
    west, south, east, north = grid.bounds
    to_wgs84 = Transformer.from_crs(grid.epsg, 4326, always_xy=True)
    return float(to_wgs84.transform((west + east) / 2, (south + north) / 2)[1])


@dataclass(frozen=True)
class CFactors:
    """Each band's c-factor on the products' pixel grid, rows at a time: one number per
    band (mean angles), or rows interpolated from the angle grid."""

    scalars: dict[str, np.float32]
    #: band -> its c-factors along each angle-grid row, at every pixel column.
    columns: dict[str, np.ndarray]
    pixels_per_step: float

    def rows(self, band: str, top: int, count: int) -> np.ndarray | np.float32:
        """The c-factors of `band` for product rows top to top + count."""
        table = self.columns.get(band)
        if table is None:
            return self.scalars[band]
        position = (np.arange(top, top + count) + 0.5) / self.pixels_per_step
        index = np.clip(position.astype(np.intp), 0, table.shape[0] - 2)
        weight = np.clip(position - index, 0.0, 1.0).astype(np.float32)[:, None]
        return table[index] * (1 - weight) + table[index + 1] * weight


@dataclass(frozen=True)
class Normalisation:
    """How one scene's reflectance is normalised: the target and each band's c-factor."""

    target_sun_zenith: float
    target_source: str
    observed: SunView
    #: Each band's c-factor at the scene's mean angles.
    c_factors: dict[str, float]
    #: Each band's c-factor on the angle grid (points `grid_step` m apart from the tile's
    #: upper-left corner); empty when the scene has no angle grids.
    grids: dict[str, np.ndarray] = field(default_factory=dict)
    grid_step: float = 5000.0

    @property
    def angles_source(self) -> str:
        """Which angles the c-factors come from."""
        return GRID_ANGLES_SOURCE if self.grids else ANGLES_SOURCE

    def on_grid(self, pixel: float, width: int) -> CFactors:
        """The c-factors on a product grid of `pixel` metres and `width` columns whose
        origin is the tile's upper-left corner."""
        per_step = self.grid_step / pixel
        positions = (np.arange(width) + 0.5) / per_step
        columns = {
            band: np.array(
                [np.interp(positions, np.arange(grid.shape[1]), row) for row in grid], np.float32
            )
            for band, grid in self.grids.items()
        }
        scalars = {band: np.float32(value) for band, value in self.c_factors.items()}
        return CFactors(scalars, columns, per_step)

    def metadata(self) -> dict[str, Any]:
        """The item's record of the normalisation (method, sources, geometry, factors)."""
        return {
            "method": METHOD,
            "coefficients": COEFFICIENTS_SOURCE,
            "angles": self.angles_source,
            "observed": {
                "sun_zenith": round(self.observed.sun_zenith, 4),
                "view_zenith": round(self.observed.view_zenith, 4),
                "relative_azimuth": round(self.observed.relative_azimuth, 4),
            },
            "target": {
                "view_zenith": 0.0,
                "sun_zenith": round(self.target_sun_zenith, 4),
                "sun_zenith_from": self.target_source,
            },
            "c_factors": {band: round(value, 6) for band, value in self.c_factors.items()},
        } | (
            {
                "c_factor_range": {
                    band: [round(float(grid.min()), 6), round(float(grid.max()), 6)]
                    for band, grid in self.grids.items()
                }
            }
            if self.grids
            else {}
        )

    def described(self) -> str:
        """One clause for the item's processing:lineage."""
        factors = ", ".join(f"{band} {value:.4f}" for band, value in self.c_factors.items())
        return (
            f"reflectance normalised to nadir view and sun zenith {self.target_sun_zenith:.2f} "
            f"deg ({self.target_source}) by the c-factor method with {COEFFICIENTS_SOURCE} "
            f"from {self.angles_source} (c-factors at the mean angles {factors}); "
        )


def scene_normalisation(
    scene_id: str,
    tile: str,
    angles: SunView | None,
    bands: Iterable[str],
    options: NbarOptions,
    angle_grids: AngleGrids | None = None,
) -> Normalisation:
    """The normalisation of a scene's `bands` (those with coefficients), per pixel where
    `angle_grids` has the band's view angles; ProcessingError when the scene's metadata
    gives no angles."""
    if angles is None:
        raise ProcessingError(
            f"scene {scene_id}: its metadata gives no sun/view angles, which NBAR needs; "
            "set nbar.enabled: false for this archive"
        )
    if options.sun_zenith is None:
        latitude = tile_centre_latitude(tile)
        target = hls_sun_zenith(latitude)
        source = f"HLS v2 model at the tile centre's latitude {latitude:.3f}"
    else:
        target, source = options.sun_zenith, "nbar.sun_zenith"
    corrected = [band for band in sorted(set(bands)) if band in COEFFICIENTS]
    factors = {band: float(c_factor(COEFFICIENTS[band], angles, target)) for band in corrected}
    if angle_grids is None:
        return Normalisation(target, source, angles, factors)
    sun_zenith, sun_azimuth = angle_grids.sun
    grids = {
        band: _c_factor_at(
            COEFFICIENTS[band],
            sun_zenith,
            angle_grids.views[band][0],
            sun_azimuth - angle_grids.views[band][1],
            target,
        )
        for band in corrected
        if band in angle_grids.views
    }
    return Normalisation(target, source, angles, factors, grids, angle_grids.step)
