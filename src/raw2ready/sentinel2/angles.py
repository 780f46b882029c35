"""A scene's mean sun and view angles, from STAC item properties or SAFE tile metadata.

ESA's Biophysical Processor needs them per scene: STAC items carry them in the view
extension (view:sun_elevation, view:sun_azimuth, view:incidence_angle, view:azimuth; some
archives s2:mean_solar_zenith/azimuth), SAFE products in MTD_TL.xml (Mean_Sun_Angle and
Mean_Viewing_Incidence_Angle per band). Angles are degrees, azimuths clockwise from north.
"""

from __future__ import annotations

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
