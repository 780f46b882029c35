"""How the sensor sees the synthetic surface: sun and view angles, clouds, cirrus, cloud
shadows, the swath edge, the stored DNs and the scene classification (SCL) that goes with them.

Clouds, cirrus and shadows are rendered on 20 m cells, so each 20 m SCL pixel covers a uniform
2 x 2 block of 10 m pixels; on clear pixels the DN is exactly `round(10000 * reflectance)`
plus the scene's DN offset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from pyproj import Transformer

from raw2ready.demo.random_fields import fractal_noise, seeded_rng
from raw2ready.demo.scenes import DemoScene, datatake_start
from raw2ready.demo.surfaces import BAND_INDEX, block_mean
from raw2ready.grid import TILE_EXTENT_M, Tile, parse_tile
from raw2ready.scene import BOA_QUANTIFICATION
from raw2ready.sentinel2.scl import CLASSES, CLOUD_COVER, PERCENTAGE_PROPERTIES, SceneClass

# Atmosphere, one value per band in BAND_IDS order: opaque cloud top reflectance, cirrus
# brightening per unit thickness, and the fraction of light left in a cloud shadow (diffuse
# sky light only, bluer than direct sun).
_CLOUD = np.array([0.70, 0.69, 0.68, 0.67, 0.68, 0.68, 0.67, 0.66, 0.50, 0.35], np.float32)
_CIRRUS = np.array(
    [0.040, 0.038, 0.035, 0.030, 0.033, 0.032, 0.031, 0.030, 0.020, 0.012], np.float32
)
_SHADOW = np.array([0.50, 0.42, 0.38, 0.32, 0.35, 0.33, 0.32, 0.32, 0.30, 0.30], np.float32)


def upsample(array: np.ndarray) -> np.ndarray:
    """Nearest-neighbour 20 m -> 10 m: each cell becomes a 2 x 2 block."""
    return np.repeat(np.repeat(array, 2, axis=0), 2, axis=1)


@dataclass(frozen=True)
class Geometry:
    """Sun and view angles of a scene, in degrees (azimuth clockwise from north)."""

    sun_azimuth: float
    sun_elevation: float
    view_azimuth: float
    incidence_angle: float


def _sun_position(when: datetime, lat: float, lon: float) -> tuple[float, float]:
    """Solar azimuth and elevation (NOAA approximation, good to a fraction of a degree)."""
    doy = when.timetuple().tm_yday
    hours = when.hour + when.minute / 60 + when.second / 3600
    gamma = 2 * math.pi / 365 * (doy - 1 + (hours - 12) / 24)
    eqtime = 229.18 * (
        0.000075
        + 0.001868 * math.cos(gamma)
        - 0.032077 * math.sin(gamma)
        - 0.014615 * math.cos(2 * gamma)
        - 0.040849 * math.sin(2 * gamma)
    )
    decl = (
        0.006918
        - 0.399912 * math.cos(gamma)
        + 0.070257 * math.sin(gamma)
        - 0.006758 * math.cos(2 * gamma)
        + 0.000907 * math.sin(2 * gamma)
        - 0.002697 * math.cos(3 * gamma)
        + 0.00148 * math.sin(3 * gamma)
    )
    hour_angle = math.radians((hours * 60 + eqtime + 4 * lon) / 4 - 180)
    phi = math.radians(lat)
    cos_zenith = math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(
        hour_angle
    )
    elevation = 90 - math.degrees(math.acos(max(-1.0, min(1.0, cos_zenith))))
    azimuth = math.degrees(
        math.atan2(
            math.sin(hour_angle),
            math.cos(hour_angle) * math.sin(phi) - math.tan(decl) * math.cos(phi),
        )
    )
    return (azimuth + 180) % 360, elevation


def _tile_centre_lonlat(tile: Tile) -> tuple[float, float]:
    """Longitude/latitude of the full 109.8 km tile's centre (where ESA reports mean angles)."""
    east, north = tile.upper_left
    to_wgs84 = Transformer.from_crs(tile.epsg, 4326, always_xy=True)
    return to_wgs84.transform(east + TILE_EXTENT_M / 2, north - TILE_EXTENT_M / 2)


def scene_geometry(scene: DemoScene, seed: int) -> Geometry:
    """Sun angles at the datatake time over the tile centre; plausible view angles."""
    lon, lat = _tile_centre_lonlat(parse_tile(scene.tile))
    sun_azimuth, sun_elevation = _sun_position(datatake_start(scene), lat, lon)
    rng = seeded_rng(seed, scene.tile, scene.date, "view")
    east_looking = seeded_rng(seed, scene.tile, "orbit").random() < 0.5
    view_azimuth = rng.uniform(100, 112) if east_looking else rng.uniform(280, 292)
    return Geometry(sun_azimuth, sun_elevation, view_azimuth, rng.uniform(2.0, 10.0))


@dataclass(frozen=True)
class Atmosphere:
    """What lies between the sun, the surface and the sensor, per 20 m cell."""

    alpha: np.ndarray  # float32: opaque cloud fraction (0 where clear)
    cirrus: np.ndarray  # float32: cirrus thickness factor (0 where none)
    shadow: np.ndarray  # bool: cloud shadow
    unclassified: np.ndarray  # bool: clear, but labelled unclassified (cloud margins)
    nodata: np.ndarray  # bool: outside the swath


def _swath_nodata(rng: np.random.Generator, cells: int) -> np.ndarray:
    """A diagonal swath edge: the east or west part of the subset lies outside the swath."""
    coords = (np.arange(cells) + 0.5) / cells
    uu, vv = np.meshgrid(coords, coords)
    start, slope = rng.uniform(0.40, 0.55), rng.uniform(0.35, 0.5)
    if rng.random() < 0.5:
        return uu > start + slope * vv
    return uu < (1 - start) - slope * (1 - vv)


def draw_atmosphere(scene: DemoScene, seed: int, size: int, geometry: Geometry) -> Atmosphere:
    """Clouds hitting the scene's cloud fraction, cirrus, displaced shadows, the swath edge."""
    cells = size // 2
    rng = seeded_rng(seed, scene.tile, scene.date, "atmosphere")
    nodata = _swath_nodata(rng, cells) if scene.nodata_swath else np.zeros((cells, cells), bool)
    valid = ~nodata

    # Shadows fall away from the sun, farther when the sun is low (cloud tops ~0.16 side high).
    zenith = math.radians(90 - geometry.sun_elevation)
    reach = 0.16 * cells * math.tan(zenith)
    shift_row = round(math.cos(math.radians(geometry.sun_azimuth)) * reach)
    shift_col = round(-math.sin(math.radians(geometry.sun_azimuth)) * reach)
    pad = max(abs(shift_row), abs(shift_col)) + 1
    field = fractal_noise(rng, (cells + 2 * pad, cells + 2 * pad), (cells / 5, cells / 5), 4)
    core = field[pad : pad + cells, pad : pad + cells]
    source = field[
        pad - shift_row : pad - shift_row + cells, pad - shift_col : pad - shift_col + cells
    ]

    ring = min(0.015, 0.002 + 0.3 * scene.cloud_fraction)  # unclassified cloud margins
    threshold, margin = np.quantile(
        core[valid], [1 - scene.cloud_fraction, max(0.0, 1 - scene.cloud_fraction - ring)]
    )
    cloud = (core > threshold) & valid
    alpha = np.where(cloud, 0.35 + 0.6 * np.clip((core - threshold) / 0.08, 0, 1), 0)
    shadow = (source > threshold) & ~cloud & valid
    unclassified = (core > margin) & ~cloud & ~shadow & valid

    cirrus = np.zeros((cells, cells), np.float32)
    if scene.cirrus_fraction > 0:
        streaks = fractal_noise(rng, (cells, cells), (cells / 10, cells / 1.5), 3)
        limit = np.quantile(streaks[valid], 1 - scene.cirrus_fraction)
        cirrus = np.where(
            (streaks > limit) & valid, 0.6 + 0.8 * np.clip((streaks - limit) / 0.1, 0, 1), 0
        ).astype(np.float32)
    # A cirrus pixel is labelled cirrus (SCL 10), so it is not also darkened as a shadow.
    shadow &= cirrus == 0
    unclassified &= cirrus == 0
    return Atmosphere(alpha.astype(np.float32), cirrus, shadow, unclassified, nodata)


def observe(truth: np.ndarray, band_id: str, atmosphere: Atmosphere) -> np.ndarray:
    """Top-of-canopy reflectance as seen through the atmosphere (shadow, cirrus, cloud)."""
    b = BAND_INDEX[band_id]
    alpha, cirrus, shadow = atmosphere.alpha, atmosphere.cirrus, atmosphere.shadow
    if truth.shape != alpha.shape:
        alpha, cirrus, shadow = upsample(alpha), upsample(cirrus), upsample(shadow)
    seen = np.where(shadow, truth * _SHADOW[b], truth)
    seen = np.where(cirrus > 0, seen + cirrus * _CIRRUS[b], seen)
    return np.where(alpha > 0, (1 - alpha) * seen + alpha * _CLOUD[b], seen).astype(np.float32)


def to_dn(reflectance: np.ndarray, nodata: np.ndarray, dn_offset: int) -> np.ndarray:
    """Stored uint16 DN: round(10000 * reflectance) + offset, >= 1 where valid, 0 outside."""
    if nodata.shape != reflectance.shape:
        nodata = upsample(nodata)
    dn = np.rint(reflectance * BOA_QUANTIFICATION) + dn_offset
    dn = np.clip(dn, 1, np.iinfo(np.uint16).max).astype(np.uint16)
    dn[nodata] = 0
    return dn


def _land_classes(truth: dict[str, np.ndarray]) -> np.ndarray:
    """Clear-sky SCL classes from the 20 m surface: water, dark area, vegetation, bare."""
    red = block_mean(truth["B04"])
    green = block_mean(truth["B03"])
    blue = block_mean(truth["B02"])
    nir = truth["B8A"]
    water = (nir < 0.05) & (green > nir)
    dark = ~water & (np.maximum(np.maximum(blue, green), red) < 0.07) & (nir < 0.13)
    vegetated = (nir - red) / (nir + red) >= 0.4
    classes = np.where(vegetated, SceneClass.VEGETATION, SceneClass.NOT_VEGETATED)
    return np.where(
        water, SceneClass.WATER, np.where(dark, SceneClass.DARK_FEATURE_SHADOW, classes)
    ).astype(np.uint8)


def scene_classification(truth: dict[str, np.ndarray], atmosphere: Atmosphere) -> np.ndarray:
    """The 20 m SCL layer, consistent with what `observe` did to the bands."""
    scl = _land_classes(truth)
    scl[atmosphere.unclassified] = SceneClass.UNCLASSIFIED
    scl[atmosphere.shadow] = SceneClass.CLOUD_SHADOW
    scl[atmosphere.cirrus > 0] = SceneClass.THIN_CIRRUS
    scl[atmosphere.alpha > 0] = SceneClass.CLOUD_MEDIUM_PROBA
    scl[atmosphere.alpha >= 0.65] = SceneClass.CLOUD_HIGH_PROBA
    scl[atmosphere.nodata] = SceneClass.NODATA
    return scl


def scl_statistics(scl: np.ndarray) -> dict[str, float]:
    """`s2:*_percentage` fields and `eo:cloud_cover` from an SCL layer, as ESA defines them.

    Nodata is a share of all pixels; every class a share of the valid (non-zero) pixels.
    """
    total = scl.size
    counts = np.bincount(scl.ravel(), minlength=len(CLASSES))
    valid = max(int(total - counts[SceneClass.NODATA]), 1)
    stats = {"s2:nodata_pixel_percentage": round(100 * float(counts[SceneClass.NODATA]) / total, 6)}
    for key, code in PERCENTAGE_PROPERTIES.items():
        stats[key] = round(100 * float(counts[code]) / valid, 6)
    stats["s2:degraded_msi_data_percentage"] = 0.0
    stats["eo:cloud_cover"] = round(100 * float(sum(counts[c] for c in CLOUD_COVER)) / valid, 6)
    return stats
