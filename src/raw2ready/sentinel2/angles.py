"""A scene's mean sun and view angles, from STAC item properties or SAFE tile metadata.

ESA's Biophysical Processor needs them per scene: STAC items carry them in the view
extension (view:sun_elevation, view:sun_azimuth, view:incidence_angle, view:azimuth; some
archives s2:mean_solar_zenith/azimuth), SAFE products in MTD_TL.xml (Mean_Sun_Angle and
Mean_Viewing_Incidence_Angle per band). Angles are degrees, azimuths clockwise from north.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class SunView:
    """Mean sun and view zenith/azimuth of a scene, in degrees."""

    sun_zenith: float
    sun_azimuth: float
    view_zenith: float
    view_azimuth: float

    @property
    def relative_azimuth(self) -> float:
        """Sun azimuth minus view azimuth, as SNAP's BiophysicalOp forms it."""
        return self.sun_azimuth - self.view_azimuth


def from_item_properties(properties: Mapping[str, Any]) -> SunView | None:
    """The mean angles an item's properties hold, or None when any is missing."""
    if "view:sun_elevation" in properties:
        sun_zenith = 90.0 - float(properties["view:sun_elevation"])
    elif "s2:mean_solar_zenith" in properties:
        sun_zenith = float(properties["s2:mean_solar_zenith"])
    else:
        return None
    sun_azimuth = properties.get("view:sun_azimuth", properties.get("s2:mean_solar_azimuth"))
    view_zenith = properties.get("view:incidence_angle")
    view_azimuth = properties.get("view:azimuth")
    if sun_azimuth is None or view_zenith is None or view_azimuth is None:
        return None
    return SunView(sun_zenith, float(sun_azimuth), float(view_zenith), float(view_azimuth))


def from_tile_metadata(
    sun: tuple[float, float], views: Mapping[str, tuple[float, float]], bands: Iterable[str]
) -> SunView:
    """The mean angles of MTD_TL.xml: the sun's (zenith, azimuth) and the mean of the
    per-band viewing (zenith, azimuth) over `bands` (all bands when none of them is listed);
    azimuths are averaged as unit vectors, so 359 and 1 degrees give 0."""
    chosen = [views[band] for band in bands if band in views] or list(views.values())
    zenith = float(np.mean([angles[0] for angles in chosen]))
    radians = np.radians([angles[1] for angles in chosen])
    azimuth = float(np.degrees(np.arctan2(np.sin(radians).mean(), np.cos(radians).mean())))
    return SunView(sun[0], sun[1], zenith, azimuth % 360.0)


def _fill_gaps(values: np.ndarray) -> np.ndarray:
    """NaN cells (outside every detector's footprint) filled from their valid neighbours,
    ring by ring, so interpolation near the swath edge stays finite."""
    filled = values.copy()
    while np.isnan(filled).any() and not np.isnan(filled).all():
        padded = np.pad(filled, 1, constant_values=np.nan)
        neighbours = np.stack(
            [padded[1:-1, :-2], padded[1:-1, 2:], padded[:-2, 1:-1], padded[2:, 1:-1]]
        )
        known = ~np.isnan(neighbours)
        total = np.where(known, neighbours, 0.0).sum(axis=0)
        count = known.sum(axis=0)
        gaps = np.isnan(filled) & (count > 0)
        filled[gaps] = total[gaps] / count[gaps]
    return filled


def _fill_azimuth_gaps(azimuth: np.ndarray) -> np.ndarray:
    """`_fill_gaps` for azimuths: on the unit vectors, so 359 and 1 fill with 0, not 180."""
    radians = np.radians(azimuth)
    east, north = _fill_gaps(np.sin(radians)), _fill_gaps(np.cos(radians))
    return np.degrees(np.arctan2(east, north)) % 360.0


def _circular_mean(azimuths: np.ndarray) -> np.ndarray:
    """Mean of azimuth grids (degrees) along the first axis as unit vectors, NaN ignored."""
    radians = np.radians(azimuths)
    east, north = np.nanmean(np.sin(radians), axis=0), np.nanmean(np.cos(radians), axis=0)
    return np.degrees(np.arctan2(east, north)) % 360.0


@dataclass(frozen=True)
class AngleGrids:
    """Sun and per-band view (zenith, azimuth) grids of MTD_TL.xml in degrees; point (0, 0)
    is the tile's upper-left corner, points `step` metres apart, NaN-free."""

    step: float
    sun: tuple[np.ndarray, np.ndarray]
    views: dict[str, tuple[np.ndarray, np.ndarray]]

    @classmethod
    def from_detectors(
        cls,
        step: float,
        sun: tuple[np.ndarray, np.ndarray],
        detectors: Mapping[str, list[tuple[np.ndarray, np.ndarray]]],
    ) -> AngleGrids:
        """Merge each band's per-detector view grids (NaN outside each detector) where they
        overlap (zenith averaged, azimuth on the circle) and fill the cells no detector sees."""
        views = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # cells no detector sees: NaN
            for band, grids in detectors.items():
                zenith = np.nanmean(np.stack([zenith for zenith, _ in grids]), axis=0)
                azimuth = _circular_mean(np.stack([azimuth for _, azimuth in grids]))
                azimuth[np.isnan(zenith)] = np.nan
                views[band] = (_fill_gaps(zenith), _fill_azimuth_gaps(azimuth))
        return cls(step, (_fill_gaps(sun[0]), _fill_azimuth_gaps(sun[1])), views)
