"""A synthetic Sentinel-2 L2A sample archive in the layout of Earth Search v1 `sentinel-2-l2a`.

The demo and the tests need an archive that runs offline yet has every trap of the real one:
mixed processing baselines, the BOA offset applied by the archive on some items and not on
others, clouds, cirrus, cloud shadows, a nodata swath edge, 10 m and 20 m bands, real-looking
metadata. The scene content comes from a simple, seeded surface model (fields with crop
calendars, forest, a river, a lake, villages) that `surface_reflectance` returns noise-free, so
downstream tests can check products against the truth.

Data contract, per scene: on clear pixels (SCL 2, 4, 5, 6, 7) the stored DN is exactly
`round(10000 * surface_reflectance) + scene.dn_offset`, where `dn_offset` is 1000 for baseline
>= 04.00 with `earthsearch:boa_offset_applied: false` and 0 otherwise. Clouds, cirrus and
shadows are rendered on 20 m cells, so each 20 m SCL pixel covers a uniform 2 x 2 block of
10 m pixels. The landscape is drawn in units of the subset's side, so every feature appears at
any `size`; at the default 512 px (5.12 km) its scales are realistic.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path, PurePosixPath

import numpy as np
import pystac
import rasterio
from affine import Affine
from pyproj import Transformer
from pystac.extensions.eo import Band, EOExtension
from pystac.extensions.file import FileExtension
from pystac.extensions.grid import GridExtension
from pystac.extensions.mgrs import MgrsExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, RasterBand, RasterExtension
from pystac.extensions.view import ViewExtension
from pystac.layout import CustomLayoutStrategy

from raw2ready.errors import ConfigError
from raw2ready.grid import TILE_EXTENT_M, Tile, parse_tile

logger = logging.getLogger(__name__)

COLLECTION_ID = "sentinel-2-l2a"
ARCHIVE_PREFIX = "sentinel-s2-l2a-cogs"
BOA_ADD_OFFSET_DN = 1000
OFFSET_BASELINE = "04.00"
COG_BLOCKSIZE = 256
MIN_OVERVIEW_LEVELS = 2

PROCESSING_EXTENSION = "https://stac-extensions.github.io/processing/v1.1.0/schema.json"
SENTINEL2_EXTENSION = "https://stac-extensions.github.io/sentinel-2/v1.0.0/schema.json"
LICENSE_HREF = "https://sentinel.esa.int/documents/247904/690755/Sentinel_Data_Legal_Notice"


# --------------------------------------------------------------------------------------------
# Bands and spectra
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BandSpec:
    """One Sentinel-2 band as Earth Search v1 publishes it."""

    band_id: str
    asset_key: str
    resolution: int
    common_name: str
    center_wavelength: float
    full_width_half_max: float
    title: str


BANDS: tuple[BandSpec, ...] = (
    BandSpec("B02", "blue", 10, "blue", 0.49, 0.098, "Blue - 10m"),
    BandSpec("B03", "green", 10, "green", 0.56, 0.045, "Green - 10m"),
    BandSpec("B04", "red", 10, "red", 0.665, 0.038, "Red - 10m"),
    BandSpec("B08", "nir", 10, "nir", 0.842, 0.145, "NIR 1 - 10m"),
    BandSpec("B05", "rededge1", 20, "rededge", 0.704, 0.019, "Red Edge 1 - 20m"),
    BandSpec("B06", "rededge2", 20, "rededge", 0.74, 0.018, "Red Edge 2 - 20m"),
    BandSpec("B07", "rededge3", 20, "rededge", 0.783, 0.028, "Red Edge 3 - 20m"),
    BandSpec("B8A", "nir08", 20, "nir08", 0.865, 0.033, "NIR 2 - 20m"),
    BandSpec("B11", "swir16", 20, "swir16", 1.61, 0.143, "SWIR 1.6\u03bcm - 20m"),
    BandSpec("B12", "swir22", 20, "swir22", 2.19, 0.242, "SWIR 2.2\u03bcm - 20m"),
)
BAND_IDS: tuple[str, ...] = tuple(band.band_id for band in BANDS)
BANDS_10M: tuple[str, ...] = tuple(band.band_id for band in BANDS if band.resolution == 10)
BANDS_20M: tuple[str, ...] = tuple(band.band_id for band in BANDS if band.resolution == 20)
ASSET_KEYS: dict[str, str] = {band.band_id: band.asset_key for band in BANDS} | {"SCL": "scl"}
SCL_TITLE = "Scene classification map (SCL)"

# Surface reflectance end-members, one value per band in BAND_IDS order
# (B02 B03 B04 B08 B05 B06 B07 B8A B11 B12).
_ENDMEMBER_NAMES = ("vegetation", "canopy", "soil", "residue", "water", "urban", "burnt")
_ENDMEMBERS = np.array(
    [
        [0.030, 0.070, 0.035, 0.420, 0.110, 0.300, 0.380, 0.430, 0.220, 0.110],
        [0.025, 0.050, 0.025, 0.300, 0.080, 0.220, 0.280, 0.310, 0.150, 0.070],
        [0.100, 0.140, 0.190, 0.270, 0.220, 0.240, 0.260, 0.280, 0.340, 0.280],
        [0.080, 0.110, 0.150, 0.280, 0.190, 0.230, 0.260, 0.290, 0.330, 0.250],
        [0.060, 0.080, 0.070, 0.020, 0.060, 0.030, 0.025, 0.018, 0.008, 0.005],
        [0.120, 0.130, 0.140, 0.200, 0.160, 0.180, 0.190, 0.210, 0.240, 0.210],
        [0.040, 0.050, 0.060, 0.090, 0.070, 0.080, 0.085, 0.095, 0.120, 0.100],
    ],
    dtype=np.float32,
).T  # shape (band, end-member)
_VEG, _CANOPY, _SOIL, _RESIDUE, _WATER, _URBAN, _BURNT = range(len(_ENDMEMBER_NAMES))

# Atmosphere: opaque cloud top reflectance, cirrus brightening per unit thickness, and the
# fraction of light left in a cloud shadow (diffuse sky light only, bluer than direct sun).
_CLOUD = np.array([0.70, 0.69, 0.68, 0.67, 0.68, 0.68, 0.67, 0.66, 0.50, 0.35], np.float32)
_CIRRUS = np.array(
    [0.040, 0.038, 0.035, 0.030, 0.033, 0.032, 0.031, 0.030, 0.020, 0.012], np.float32
)
_SHADOW = np.array([0.50, 0.42, 0.38, 0.32, 0.35, 0.33, 0.32, 0.32, 0.30, 0.30], np.float32)
_BAND_INDEX = {band_id: index for index, band_id in enumerate(BAND_IDS)}
_MIN_REFLECTANCE = 0.0005

# Scene classification (SCL) codes.
SCL_NODATA, SCL_DARK, SCL_SHADOW, SCL_VEGETATION, SCL_NOT_VEGETATED, SCL_WATER = 0, 2, 3, 4, 5, 6
SCL_UNCLASSIFIED, SCL_CLOUD_MEDIUM, SCL_CLOUD_HIGH, SCL_CIRRUS = 7, 8, 9, 10
CLEAR_SCL: frozenset[int] = frozenset({2, 4, 5, 6, 7})
CLOUD_SCL: frozenset[int] = frozenset({8, 9, 10})
_SCL_PERCENTAGES = {
    "s2:saturated_defective_pixel_percentage": (1,),
    "s2:dark_features_percentage": (2,),
    "s2:cloud_shadow_percentage": (3,),
    "s2:vegetation_percentage": (4,),
    "s2:not_vegetated_percentage": (5,),
    "s2:water_percentage": (6,),
    "s2:unclassified_percentage": (7,),
    "s2:medium_proba_clouds_percentage": (8,),
    "s2:high_proba_clouds_percentage": (9,),
    "s2:thin_cirrus_percentage": (10,),
    "s2:snow_ice_percentage": (11,),
}


# --------------------------------------------------------------------------------------------
# The scenes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoScene:
    """One scene of the sample archive and the archive traps it carries."""

    tile: str
    date: str
    platform: str
    baseline: str
    boa_offset_applied: bool
    cloud_fraction: float = 0.2
    cirrus_fraction: float = 0.0
    nodata_swath: bool = False

    @property
    def sensing_date(self) -> date:
        """The sensing date as a `datetime.date`."""
        return date.fromisoformat(self.date)

    @property
    def platform_code(self) -> str:
        """`S2A` / `S2B`, as in item ids and product names."""
        return "S2" + self.platform[-1].upper()

    @property
    def has_boa_offset(self) -> bool:
        """True when the product format carries BOA_ADD_OFFSET = -1000 (baseline >= 04.00)."""
        return _baseline_key(self.baseline) >= _baseline_key(OFFSET_BASELINE)

    @property
    def dn_offset(self) -> int:
        """DN added to `round(10000 * reflectance)` in the stored files (1000 or 0)."""
        return BOA_ADD_OFFSET_DN if self.has_boa_offset and not self.boa_offset_applied else 0


def _baseline_key(baseline: str) -> tuple[int, int]:
    """Sortable form of a processing baseline such as `05.09`."""
    major, minor = baseline.split(".")
    return int(major), int(minor)


# Per tile: relative orbit and datatake start time (a descending pass at ~10:30 local solar
# time) and the hour of day ESA's ground segment generates the L2A product.
_ORBITS: dict[str, tuple[int, time, time]] = {
    "47PPR": (61, time(3, 41, 21), time(7, 0, 0)),
    "48PUB": (18, time(3, 31, 39), time(6, 48, 27)),
}
# Products of the Collection-1 reprocessing were generated long after sensing.
_REPROCESSING_BASELINE = "05.00"
_REPROCESSING_TIME = datetime(2023, 3, 15, 22, 46, 58, tzinfo=UTC)

DEMO_SCENES: tuple[DemoScene, ...] = (
    DemoScene("47PPR", "2021-02-14", "sentinel-2a", "02.14", False, 0.003, 0.0),
    DemoScene("47PPR", "2021-08-18", "sentinel-2b", "03.01", False, 0.72, 0.05),
    DemoScene("47PPR", "2022-03-11", "sentinel-2a", "04.00", False, 0.12, 0.03, True),
    DemoScene("47PPR", "2022-09-12", "sentinel-2b", "04.00", True, 0.35, 0.10),
    DemoScene("47PPR", "2023-01-05", "sentinel-2a", "05.09", True, 0.06, 0.04),
    DemoScene("47PPR", "2023-06-19", "sentinel-2b", "05.09", False, 0.30, 0.08),
    DemoScene("47PPR", "2024-04-19", "sentinel-2a", "05.10", True, 0.15, 0.0, True),
    DemoScene("48PUB", "2021-01-13", "sentinel-2b", "02.14", False, 0.10, 0.05),
    DemoScene("48PUB", "2021-07-17", "sentinel-2a", "03.00", False, 0.45, 0.06),
    DemoScene("48PUB", "2021-11-19", "sentinel-2b", "05.00", False, 0.20, 0.0),
    DemoScene("48PUB", "2022-10-05", "sentinel-2b", "04.00", False, 0.25, 0.05, True),
    DemoScene("48PUB", "2023-03-19", "sentinel-2a", "05.09", True, 0.08, 0.12),
    DemoScene("48PUB", "2023-08-11", "sentinel-2b", "05.09", False, 0.70, 0.0),
    DemoScene("48PUB", "2024-02-12", "sentinel-2a", "05.10", True, 0.004, 0.0),
)


def item_id(scene: DemoScene) -> str:
    """Earth Search v1 item id, e.g. `S2A_47PPR_20230105_0_L2A`."""
    return f"{scene.platform_code}_{scene.tile}_{scene.sensing_date:%Y%m%d}_0_L2A"


def scene_prefix(scene: DemoScene) -> PurePosixPath:
    """Folder of a scene inside the archive: `sentinel-s2-l2a-cogs/47/P/PR/2023/1/<id>`."""
    tile = parse_tile(scene.tile)
    day = scene.sensing_date
    return PurePosixPath(
        ARCHIVE_PREFIX,
        str(tile.zone),
        tile.latitude_band,
        tile.grid_square,
        str(day.year),
        str(day.month),
        item_id(scene),
    )


# --------------------------------------------------------------------------------------------
# Random fields
# --------------------------------------------------------------------------------------------


def _rng(seed: int, *keys: int | str) -> np.random.Generator:
    """A generator seeded by the archive seed plus keys, so each component is independent."""
    words = [seed] + [
        k if isinstance(k, int) else int.from_bytes(k.encode(), "little") for k in keys
    ]
    return np.random.default_rng(words)


def _value_noise(
    rng: np.random.Generator, shape: tuple[int, int], cell: tuple[float, float]
) -> np.ndarray:
    """Smooth random field in [0, 1]: random values on a coarse lattice, smoothstep-interpolated."""
    height, width = shape
    lattice = rng.random((int(height / cell[0]) + 2, int(width / cell[1]) + 2), dtype=np.float32)
    y = np.arange(height, dtype=np.float32) / np.float32(cell[0])
    x = np.arange(width, dtype=np.float32) / np.float32(cell[1])
    y0, x0 = y.astype(np.intp), x.astype(np.intp)
    ty, tx = y - y0, x - x0
    ty, tx = ty * ty * (3 - 2 * ty), tx * tx * (3 - 2 * tx)
    top = lattice[y0][:, x0] * (1 - tx) + lattice[y0][:, x0 + 1] * tx
    bottom = lattice[y0 + 1][:, x0] * (1 - tx) + lattice[y0 + 1][:, x0 + 1] * tx
    return top * (1 - ty[:, None]) + bottom * ty[:, None]


def _fractal_noise(
    rng: np.random.Generator, shape: tuple[int, int], cell: tuple[float, float], octaves: int
) -> np.ndarray:
    """Sum of value-noise octaves (halving cell size and amplitude), normalised to [0, 1]."""
    total = np.zeros(shape, np.float32)
    for octave in range(octaves):
        scale = 2.0**octave
        total += _value_noise(rng, shape, (cell[0] / scale, cell[1] / scale)) / np.float32(scale)
    return total / np.float32(sum(1 / 2.0**octave for octave in range(octaves)))


def _block_mean(array: np.ndarray) -> np.ndarray:
    """Mean over 2 x 2 blocks of the last two axes: the 10 m grid aggregated to 20 m."""
    *lead, height, width = array.shape
    blocks = array.reshape(*lead, height // 2, 2, width // 2, 2)
    return blocks.mean(axis=(-3, -1), dtype=np.float32)


def _upsample(array: np.ndarray) -> np.ndarray:
    """Nearest-neighbour 20 m -> 10 m: each cell becomes a 2 x 2 block."""
    return np.repeat(np.repeat(array, 2, axis=0), 2, axis=1)


# --------------------------------------------------------------------------------------------
# Landscape and phenology
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Crop:
    """A crop calendar: green cover peaks on day-of-year `peaks`, paddies flood before."""

    name: str
    share: float
    base: float
    amplitude: float
    peaks: tuple[int, ...]
    width: float
    floods: tuple[int, ...] = ()
    burn_probability: float = 0.0


# Thai crop calendars: rain-fed wet-season rice, irrigated double rice, cassava, sugarcane
# (harvested and often burnt in the dry season), wet-season maize, fallow with weeds.
CROPS: tuple[Crop, ...] = (
    Crop("rice", 0.32, 0.02, 0.85, (255,), 28.0, (195,), 0.2),
    Crop("irrigated_rice", 0.12, 0.02, 0.85, (60, 255), 25.0, (0, 195), 0.2),
    Crop("cassava", 0.20, 0.05, 0.70, (290,), 60.0),
    Crop("sugarcane", 0.16, 0.05, 0.85, (250,), 70.0, (), 0.5),
    Crop("maize", 0.10, 0.03, 0.80, (205,), 25.0),
    Crop("fallow", 0.10, 0.08, 0.25, (240,), 40.0),
)

# Non-field land cover units follow the parcels in the unit table.
_FOREST, _SHRUB, _TOWN, _BARE, _LAKE, _RIVER = range(6)
_N_COVERS = 6


@dataclass(frozen=True)
class Landscape:
    """The fixed surface of one tile subset: which unit each 10 m pixel belongs to."""

    unit: np.ndarray  # int32 (size, size): parcel index, or n_parcels + cover code
    n_parcels: int
    crop: np.ndarray  # int (n_parcels,): index into CROPS
    peak_shift: np.ndarray  # float (n_parcels,): days the parcel is ahead/behind
    vigour: np.ndarray  # float (n_parcels,): scales peak green cover
    texture: np.ndarray  # float32 (size, size): multiplicative brightness


def _parcels(rng: np.random.Generator, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Field parcel index per pixel: rows of rectangular fields of random length (a brick wall)."""
    row_edges = np.cumsum(rng.uniform(0.04, 0.09, 40))
    row_of_pixel = np.searchsorted(row_edges, v)
    parcel = np.zeros((v.size, u.size), np.int32)
    first = 0
    for row in range(int(row_of_pixel.max()) + 1):
        col_edges = np.cumsum(rng.uniform(0.03, 0.10, 60)) - rng.uniform(0, 0.05)
        col_of_pixel = np.searchsorted(col_edges, u)
        parcel[row_of_pixel == row, :] = first + col_of_pixel
        first += int(col_of_pixel.max()) + 1
    _, dense = np.unique(parcel, return_inverse=True)
    return dense.reshape(parcel.shape).astype(np.int32)


def _blob(rng: np.random.Generator, uu: np.ndarray, vv: np.ndarray, radius: float) -> np.ndarray:
    """A roughly elliptic patch with a ragged edge (a village, a quarry, a reservoir)."""
    cu, cv = rng.uniform(0.1, 0.9, 2)
    ru, rv = radius * rng.uniform(0.7, 1.3, 2)
    edge = _value_noise(rng, uu.shape, (uu.shape[0] / 12, uu.shape[1] / 12))
    return ((uu - cu) / ru) ** 2 + ((vv - cv) / rv) ** 2 + 0.6 * (edge - 0.5) < 1.0


def _river(rng: np.random.Generator, uu: np.ndarray, vv: np.ndarray) -> np.ndarray:
    """A meandering river crossing the whole subset, north-south or east-west."""
    along, across = (vv, uu) if rng.random() < 0.5 else (uu, vv)
    phase = rng.uniform(0, 2 * np.pi, 2)
    centre = (
        rng.uniform(0.25, 0.75)
        + 0.08 * np.sin(2 * np.pi * 1.3 * along + phase[0])
        + 0.03 * np.sin(2 * np.pi * 3.7 * along + phase[1])
    )
    half_width = max(0.009, 0.75 / uu.shape[0])
    return np.abs(across - centre) < half_width


def _road(rng: np.random.Generator, uu: np.ndarray, vv: np.ndarray) -> np.ndarray:
    """A straight road through the subset, at least one pixel wide."""
    u0, v0 = rng.uniform(0.2, 0.8, 2)
    angle = rng.uniform(0, np.pi)
    half_width = max(0.002, 0.6 / uu.shape[0])
    return np.abs((uu - u0) * np.sin(angle) - (vv - v0) * np.cos(angle)) < half_width


@lru_cache(maxsize=4)
def _landscape(tile_id: str, seed: int, size: int) -> Landscape:
    """Draw the fixed landscape of a tile subset (cached: every date of a tile shares it)."""
    rng = _rng(seed, tile_id, "landscape")
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size
    uu, vv = np.meshgrid(coords, coords)
    unit = _parcels(rng, coords, coords)
    n_parcels = int(unit.max()) + 1
    crop = rng.choice(len(CROPS), n_parcels, p=[c.share for c in CROPS])
    peak_shift = rng.uniform(-12, 12, n_parcels)
    vigour = rng.uniform(0.85, 1.05, n_parcels)

    woods = _fractal_noise(rng, (size, size), (size / 3, size / 3), 3)
    low, high = np.quantile(woods, [0.62, 0.72])
    unit[woods > low] = n_parcels + _SHRUB
    unit[woods > high] = n_parcels + _FOREST
    for _ in range(3):
        unit[_blob(rng, uu, vv, rng.uniform(0.025, 0.045))] = n_parcels + _TOWN
    unit[_blob(rng, uu, vv, 0.02)] = n_parcels + _BARE
    unit[_road(rng, uu, vv)] = n_parcels + _TOWN
    unit[_blob(rng, uu, vv, rng.uniform(0.05, 0.08))] = n_parcels + _LAKE
    unit[_river(rng, uu, vv)] = n_parcels + _RIVER

    brightness = rng.uniform(0.92, 1.08, n_parcels + _N_COVERS).astype(np.float32)
    brightness[n_parcels + _LAKE] = brightness[n_parcels + _RIVER] = 1.0
    smooth = _fractal_noise(rng, (size, size), (size / 16, size / 16), 2)
    speckle = rng.standard_normal((size, size), dtype=np.float32)
    texture = brightness[unit] * (1 + 0.08 * (smooth - 0.5)) * (1 + 0.015 * speckle)
    landscape = Landscape(unit, n_parcels, crop, peak_shift, vigour, texture.astype(np.float32))
    for array in (unit, crop, peak_shift, vigour, landscape.texture):
        array.setflags(write=False)
    return landscape


def _bump(doy: float, peak: np.ndarray | float, width: float) -> np.ndarray:
    """Seasonal Gaussian bump on the circular day-of-year axis."""
    distance = (doy - np.asarray(peak, dtype=np.float64) + 182.5) % 365.0 - 182.5
    return np.exp(-0.5 * (distance / width) ** 2)


def _parcel_weights(landscape: Landscape, day: date, seed: int, tile_id: str) -> np.ndarray:
    """End-member weights (end-member, parcel) of every field on a date, from its crop calendar."""
    doy = float(day.timetuple().tm_yday)
    n = landscape.n_parcels
    year_rng = _rng(seed, tile_id, "season", day.year)
    shift = landscape.peak_shift + year_rng.uniform(-8, 8, n)
    burns = year_rng.random(n)
    burn_start = year_rng.uniform(15, 75, n)
    weights = np.zeros((len(_ENDMEMBER_NAMES), n))
    for index, crop in enumerate(CROPS):
        mine = landscape.crop == index
        peaks = np.array(crop.peaks)[:, None] + shift[mine]
        green = crop.base + crop.amplitude * landscape.vigour[mine] * _bump(
            doy, peaks, crop.width
        ).max(axis=0)
        green = np.minimum(green, 0.95)
        flood = np.zeros_like(green)
        if crop.floods:
            floods = np.array(crop.floods)[:, None] + shift[mine]
            flood = 0.65 * _bump(doy, floods, 12.0).max(axis=0) * (1 - green)
        rest = 1 - green - flood
        burnt_now = (burns[mine] < crop.burn_probability) & (
            (doy - burn_start[mine]) % 365.0 < 50.0
        )
        burnt = np.where(burnt_now, rest, 0.0)
        rest = rest - burnt
        after_peak = (doy - peaks[0]) % 365.0 < 150.0
        residue = rest * np.where(after_peak, 0.7, 0.2)
        weights[_VEG, mine] = green
        weights[_WATER, mine] = flood
        weights[_BURNT, mine] = burnt
        weights[_RESIDUE, mine] = residue
        weights[_SOIL, mine] = rest - residue
    return weights


def _cover_weights(day: date) -> np.ndarray:
    """End-member weights (end-member, cover) of the non-field covers on a date."""
    doy = float(day.timetuple().tm_yday)
    weights = np.zeros((len(_ENDMEMBER_NAMES), _N_COVERS))
    # Deciduous dipterocarp forest sheds leaves late in the hot dry season (March-April).
    canopy = 0.85 + 0.08 * _bump(doy, 230, 70) - 0.2 * _bump(doy, 95, 25)
    weights[[_CANOPY, _RESIDUE, _SOIL], _FOREST] = canopy, 0.6 * (1 - canopy), 0.4 * (1 - canopy)
    grass = 0.25 + 0.45 * _bump(doy, 240, 60)
    weights[[_VEG, _RESIDUE, _SOIL], _SHRUB] = grass, 0.5 * (1 - grass), 0.5 * (1 - grass)
    weights[[_URBAN, _VEG], _TOWN] = 0.85, 0.15
    weights[_SOIL, _BARE] = 1.0
    weights[_WATER, [_LAKE, _RIVER]] = 1.0
    return weights


def _check_seed_and_size(seed: int, size: int) -> None:
    """Reject a seed or size the generator cannot honour, naming the bad value."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"demo archive: seed must be a non-negative integer, got {seed!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 32 or size % 2:
        raise ConfigError(
            f"demo archive: size must be an even number of pixels >= 32, got {size!r}"
        )


def _parse_date(day: str) -> date:
    """An ISO date (YYYY-MM-DD), or a ConfigError naming the bad text."""
    try:
        return date.fromisoformat(day)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"demo archive: date '{day}' is not an ISO date (YYYY-MM-DD)") from exc


def surface_reflectance(
    tile_id: str, date: str, seed: int = 42, size: int = 512
) -> dict[str, np.ndarray]:
    """The noise-free true surface reflectance (float32, 0..1) per canonical band id ('B04',
    'B08', ...) at its native resolution, before clouds and nodata."""
    _check_seed_and_size(seed, size)
    tile, day = parse_tile(tile_id), _parse_date(date)
    landscape = _landscape(tile.id, seed, size)
    table = np.concatenate(
        [_parcel_weights(landscape, day, seed, tile.id), _cover_weights(day)], axis=1
    ).astype(np.float32)
    weights = table[:, landscape.unit] * landscape.texture  # (end-member, y, x) at 10 m
    result: dict[str, np.ndarray] = {}
    for resolution, band_ids in ((10, BANDS_10M), (20, BANDS_20M)):
        grid = weights if resolution == 10 else _block_mean(weights)
        rows = [_BAND_INDEX[b] for b in band_ids]
        stack = np.tensordot(_ENDMEMBERS[rows], grid, axes=1)
        for band_id, layer in zip(band_ids, stack, strict=True):
            result[band_id] = np.clip(layer, _MIN_REFLECTANCE, 1.0).astype(np.float32)
    return {band_id: result[band_id] for band_id in BAND_IDS}


# --------------------------------------------------------------------------------------------
# Viewing and illumination geometry
# --------------------------------------------------------------------------------------------


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


def _scene_geometry(scene: DemoScene, seed: int) -> Geometry:
    """Sun angles at the datatake time over the tile centre; plausible view angles."""
    lon, lat = _tile_centre_lonlat(parse_tile(scene.tile))
    sun_azimuth, sun_elevation = _sun_position(_datatake_start(scene), lat, lon)
    rng = _rng(seed, scene.tile, scene.date, "view")
    east_looking = _rng(seed, scene.tile, "orbit").random() < 0.5
    view_azimuth = rng.uniform(100, 112) if east_looking else rng.uniform(280, 292)
    return Geometry(sun_azimuth, sun_elevation, view_azimuth, rng.uniform(2.0, 10.0))


# --------------------------------------------------------------------------------------------
# Atmosphere, observation and scene classification
# --------------------------------------------------------------------------------------------


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


def _atmosphere(scene: DemoScene, seed: int, size: int, geometry: Geometry) -> Atmosphere:
    """Clouds hitting the scene's cloud fraction, cirrus, displaced shadows, the swath edge."""
    cells = size // 2
    rng = _rng(seed, scene.tile, scene.date, "atmosphere")
    nodata = _swath_nodata(rng, cells) if scene.nodata_swath else np.zeros((cells, cells), bool)
    valid = ~nodata

    # Shadows fall away from the sun, farther when the sun is low (cloud tops ~0.16 side high).
    zenith = math.radians(90 - geometry.sun_elevation)
    reach = 0.16 * cells * math.tan(zenith)
    shift_row = round(math.cos(math.radians(geometry.sun_azimuth)) * reach)
    shift_col = round(-math.sin(math.radians(geometry.sun_azimuth)) * reach)
    pad = max(abs(shift_row), abs(shift_col)) + 1
    field = _fractal_noise(rng, (cells + 2 * pad, cells + 2 * pad), (cells / 5, cells / 5), 4)
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
        streaks = _fractal_noise(rng, (cells, cells), (cells / 10, cells / 1.5), 3)
        limit = np.quantile(streaks[valid], 1 - scene.cirrus_fraction)
        cirrus = np.where(
            (streaks > limit) & valid, 0.6 + 0.8 * np.clip((streaks - limit) / 0.1, 0, 1), 0
        ).astype(np.float32)
    # A cirrus pixel is labelled cirrus (SCL 10), so it is not also darkened as a shadow.
    shadow &= cirrus == 0
    unclassified &= cirrus == 0
    return Atmosphere(alpha.astype(np.float32), cirrus, shadow, unclassified, nodata)


def _observe(truth: np.ndarray, band_id: str, atmosphere: Atmosphere) -> np.ndarray:
    """Top-of-canopy reflectance as seen through the atmosphere (shadow, cirrus, cloud)."""
    b = _BAND_INDEX[band_id]
    alpha, cirrus, shadow = atmosphere.alpha, atmosphere.cirrus, atmosphere.shadow
    if truth.shape != alpha.shape:
        alpha, cirrus, shadow = _upsample(alpha), _upsample(cirrus), _upsample(shadow)
    seen = np.where(shadow, truth * _SHADOW[b], truth)
    seen = np.where(cirrus > 0, seen + cirrus * _CIRRUS[b], seen)
    return np.where(alpha > 0, (1 - alpha) * seen + alpha * _CLOUD[b], seen).astype(np.float32)


def _to_dn(reflectance: np.ndarray, nodata: np.ndarray, dn_offset: int) -> np.ndarray:
    """Stored uint16 DN: round(10000 * reflectance) + offset, >= 1 where valid, 0 outside."""
    if nodata.shape != reflectance.shape:
        nodata = _upsample(nodata)
    dn = np.rint(reflectance * 10000) + dn_offset
    dn = np.clip(dn, 1, np.iinfo(np.uint16).max).astype(np.uint16)
    dn[nodata] = 0
    return dn


def _land_classes(truth: dict[str, np.ndarray]) -> np.ndarray:
    """Clear-sky SCL classes from the 20 m surface: water, dark area, vegetation, bare."""
    red = _block_mean(truth["B04"])
    green = _block_mean(truth["B03"])
    blue = _block_mean(truth["B02"])
    nir = truth["B8A"]
    water = (nir < 0.05) & (green > nir)
    dark = ~water & (np.maximum(np.maximum(blue, green), red) < 0.07) & (nir < 0.13)
    vegetated = (nir - red) / (nir + red) >= 0.4
    classes = np.where(vegetated, SCL_VEGETATION, SCL_NOT_VEGETATED)
    return np.where(water, SCL_WATER, np.where(dark, SCL_DARK, classes)).astype(np.uint8)


def _scene_classification(truth: dict[str, np.ndarray], atmosphere: Atmosphere) -> np.ndarray:
    """The 20 m SCL layer, consistent with what `_observe` did to the bands."""
    scl = _land_classes(truth)
    scl[atmosphere.unclassified] = SCL_UNCLASSIFIED
    scl[atmosphere.shadow] = SCL_SHADOW
    scl[atmosphere.cirrus > 0] = SCL_CIRRUS
    scl[atmosphere.alpha > 0] = SCL_CLOUD_MEDIUM
    scl[atmosphere.alpha >= 0.65] = SCL_CLOUD_HIGH
    scl[atmosphere.nodata] = SCL_NODATA
    return scl


def scl_statistics(scl: np.ndarray) -> dict[str, float]:
    """`s2:*_percentage` fields and `eo:cloud_cover` from an SCL layer, as ESA defines them.

    Nodata is a share of all pixels; every class a share of the valid (non-zero) pixels.
    """
    total = scl.size
    counts = np.bincount(scl.ravel(), minlength=12)
    valid = max(int(total - counts[SCL_NODATA]), 1)
    stats = {"s2:nodata_pixel_percentage": round(100 * counts[SCL_NODATA] / total, 6)}
    for key, classes in _SCL_PERCENTAGES.items():
        stats[key] = round(100 * float(sum(counts[c] for c in classes)) / valid, 6)
    stats["s2:degraded_msi_data_percentage"] = 0.0
    stats["eo:cloud_cover"] = round(100 * float(sum(counts[c] for c in CLOUD_SCL)) / valid, 6)
    return stats


# --------------------------------------------------------------------------------------------
# Writing rasters
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WrittenFile:
    """A file on disk with the `file:*` facts its STAC asset needs."""

    path: Path
    size: int
    checksum: str


def _overview_levels(width: int) -> int:
    """GDAL's automatic count (halve until below one block), but never fewer than two."""
    needed = math.ceil(math.log2(width / COG_BLOCKSIZE)) if width > COG_BLOCKSIZE else 0
    return max(MIN_OVERVIEW_LEVELS, needed)


def _multihash_sha256(path: Path) -> str:
    """`file:checksum` value: multihash sha2-256 (0x12, 32 bytes) as hex."""
    return "1220" + hashlib.sha256(path.read_bytes()).hexdigest()


def _write_cog(
    path: Path, data: np.ndarray, transform: Affine, epsg: int, resampling: str
) -> WrittenFile:
    """Write one band as a DEFLATE, 256 px tiled COG with overviews, nodata 0, atomically."""
    partial = path.with_name(f".{path.name}.partial")
    profile = {
        "driver": "COG",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": data.dtype.name,
        "crs": f"EPSG:{epsg}",
        "transform": transform,
        "nodata": 0,
        "compress": "DEFLATE",
        "predictor": 2,
        "blocksize": COG_BLOCKSIZE,
        "overview_resampling": resampling,
        "overview_count": _overview_levels(max(data.shape)),
    }
    with rasterio.open(partial, "w", **profile) as dst:
        dst.write(data, 1)
    os.replace(partial, path)
    return WrittenFile(path, path.stat().st_size, _multihash_sha256(path))


# --------------------------------------------------------------------------------------------
# STAC metadata
# --------------------------------------------------------------------------------------------


def _datatake_start(scene: DemoScene) -> datetime:
    """Start of the datatake: the tile's orbit pass time on the sensing date."""
    _orbit, start, _generated = _ORBITS[scene.tile]
    return datetime.combine(scene.sensing_date, start, tzinfo=UTC)


def _generation_time(scene: DemoScene) -> datetime:
    """When ESA generated the L2A product: hours after sensing, or the reprocessing campaign."""
    if scene.baseline == _REPROCESSING_BASELINE:
        return _REPROCESSING_TIME
    _orbit, _start, generated = _ORBITS[scene.tile]
    return datetime.combine(scene.sensing_date, generated, tzinfo=UTC)


def _absolute_orbit(scene: DemoScene) -> int:
    """Approximate absolute orbit number (14.3 orbits a day since launch)."""
    launch = date(2015, 6, 23) if scene.platform_code == "S2A" else date(2017, 3, 7)
    return int((scene.sensing_date - launch).days * 14.3) + 1


def _reflectance_conversion_factor(day: date) -> float:
    """Sun-Earth distance correction ESA reports as U: 1 / (1 - e cos(0.0172 (doy - 4)))^2."""
    doy = day.timetuple().tm_yday
    return 1 / (1 - 0.01673 * math.cos(0.0172 * (doy - 4))) ** 2


def _stamp(when: datetime) -> str:
    """Compact timestamp used in Sentinel-2 product names, e.g. 20230105T034121."""
    return when.strftime("%Y%m%dT%H%M%S")


def _product_names(scene: DemoScene) -> dict[str, str]:
    """The `s2:*` identifiers of the product, tile, datastrip and datatake."""
    code, start, generated = scene.platform_code, _datatake_start(scene), _generation_time(scene)
    orbit = _absolute_orbit(scene)
    relative_orbit = _ORBITS[scene.tile][0]
    centre = f"2{code[-1]}PS" if scene.has_boa_offset else "SGS_"
    n_code = "N" + scene.baseline.replace(".", "")
    granule = (
        f"{code}_OPER_MSI_L2A_TL_{centre}_{_stamp(generated)}_A{orbit:06d}_T{scene.tile}_"
        f"N{scene.baseline}"
    )
    return {
        "s2:tile_id": granule,
        "s2:granule_id": granule,
        "s2:product_uri": (
            f"{code}_MSIL2A_{_stamp(start)}_{n_code}_R{relative_orbit:03d}_T{scene.tile}_"
            f"{_stamp(generated)}.SAFE"
        ),
        "s2:generation_time": generated.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
        "s2:datatake_id": f"G{code}_{_stamp(start)}_{orbit:06d}_N{scene.baseline}",
        "s2:datatake_type": "INS-NOBS",
        "s2:datastrip_id": (
            f"{code}_OPER_MSI_L2A_DS_{centre}_{_stamp(generated)}_"
            f"S{_stamp(start - timedelta(seconds=3))}_N{scene.baseline}"
        ),
    }


def _convex_hull(points: np.ndarray) -> list[tuple[float, float]]:
    """Counter-clockwise convex hull of (x, y) points (Andrew's monotone chain), closed."""
    pts = sorted({(float(x), float(y)) for x, y in points})

    def cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    upper: list[tuple[float, float]] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    hull = lower[:-1] + upper[:-1]
    return [*hull, hull[0]]


def _footprint(valid: np.ndarray, transform: Affine, epsg: int) -> dict:
    """GeoJSON polygon (WGS 84) of the valid data: convex by construction (square minus swath)."""
    corners = []
    for row in np.flatnonzero(valid.any(axis=1)):
        cols = np.flatnonzero(valid[row])
        for col in (cols[0], cols[-1] + 1):
            corners += [transform @ (col, row), transform @ (col, row + 1)]
    ring = _convex_hull(np.array(corners))
    to_wgs84 = Transformer.from_crs(epsg, 4326, always_xy=True)
    lonlat = [to_wgs84.transform(x, y) for x, y in ring]
    return {"type": "Polygon", "coordinates": [[[round(x, 8), round(y, 8)] for x, y in lonlat]]}


def _bbox(geometry: dict) -> list[float]:
    """[west, south, east, north] of a polygon."""
    ring = np.array(geometry["coordinates"][0])
    return [round(float(v), 8) for v in (*ring.min(axis=0), *ring.max(axis=0))]


def _centroid(geometry: dict) -> dict[str, float]:
    """`proj:centroid` (lat/lon) of a polygon: the area-weighted centre of its ring."""
    ring = np.array(geometry["coordinates"][0])
    x, y = ring[:, 0], ring[:, 1]
    cross = x[:-1] * y[1:] - x[1:] * y[:-1]
    area = cross.sum() / 2
    cx = ((x[:-1] + x[1:]) * cross).sum() / (6 * area)
    cy = ((y[:-1] + y[1:]) * cross).sum() / (6 * area)
    return {"lat": round(float(cy), 5), "lon": round(float(cx), 5)}


def _band_asset(
    spec: BandSpec,
    scene: DemoScene,
    written: WrittenFile,
    shape: tuple[int, int],
    transform: Affine,
) -> pystac.Asset:
    """A reflectance asset with the eo, raster, proj and file fields Earth Search puts on it."""
    asset = pystac.Asset(
        href=str(written.path),
        media_type=pystac.MediaType.COG,
        title=spec.title,
        roles=["data", "reflectance"],
        extra_fields={"gsd": spec.resolution},
    )
    EOExtension.ext(asset).bands = [
        Band.create(
            name=spec.band_id,
            common_name=spec.common_name,
            center_wavelength=spec.center_wavelength,
            full_width_half_max=spec.full_width_half_max,
        )
    ]
    offset = -BOA_ADD_OFFSET_DN / 10000 if scene.has_boa_offset else 0
    RasterExtension.ext(asset).bands = [
        RasterBand.create(
            nodata=0,
            data_type=DataType.UINT16,
            spatial_resolution=spec.resolution,
            scale=0.0001,
            offset=offset,
        )
    ]
    _grid_fields(asset, shape, transform)
    FileExtension.ext(asset).apply(size=written.size, checksum=written.checksum)
    return asset


def _scl_asset(written: WrittenFile, shape: tuple[int, int], transform: Affine) -> pystac.Asset:
    """The scene classification asset (uint8, 20 m, no scale/offset)."""
    asset = pystac.Asset(
        href=str(written.path),
        media_type=pystac.MediaType.COG,
        title=SCL_TITLE,
        roles=["data"],
        extra_fields={"gsd": 20},
    )
    RasterExtension.ext(asset).bands = [
        RasterBand.create(nodata=0, data_type=DataType.UINT8, spatial_resolution=20)
    ]
    _grid_fields(asset, shape, transform)
    FileExtension.ext(asset).apply(size=written.size, checksum=written.checksum)
    return asset


def _grid_fields(asset: pystac.Asset, shape: tuple[int, int], transform: Affine) -> None:
    """`proj:shape` and `proj:transform` of an asset."""
    projection = ProjectionExtension.ext(asset)
    projection.shape = [int(shape[0]), int(shape[1])]
    projection.transform = [float(v) for v in tuple(transform)[:6]]


def _scene_item(
    scene: DemoScene,
    geometry: Geometry,
    scl: np.ndarray,
    assets: dict[str, pystac.Asset],
    footprint: dict,
) -> pystac.Item:
    """The STAC item of one scene, with Earth Search v1 property names and extensions."""
    tile = parse_tile(scene.tile)
    stats = scl_statistics(scl)
    names = _product_names(scene)
    created = (_generation_time(scene) + timedelta(hours=1, minutes=21, seconds=15.427)).strftime(
        "%Y-%m-%dT%H:%M:%S.%f"
    )[:-3] + "Z"
    identifier = item_id(scene)
    properties = {
        "created": created,
        "platform": scene.platform,
        "constellation": "sentinel-2",
        "instruments": ["msi"],
        "eo:cloud_cover": stats.pop("eo:cloud_cover"),
        "proj:epsg": tile.epsg,
        **stats,
        "s2:product_type": "S2MSI2A",
        "s2:processing_baseline": scene.baseline,
        **names,
        "s2:reflectance_conversion_factor": _reflectance_conversion_factor(scene.sensing_date),
        "s2:sequence": "0",
        "earthsearch:s3_path": f"s3://sentinel-cogs/{scene_prefix(scene)}",
        "earthsearch:payload_id": "roda-sentinel2/workflow-sentinel2-to-stac/"
        + hashlib.md5(identifier.encode()).hexdigest(),
        "earthsearch:boa_offset_applied": scene.boa_offset_applied,
        "processing:software": {"sentinel2-to-stac": "0.1.1"},
        "updated": created,
    }
    item = pystac.Item(
        id=identifier,
        geometry=footprint,
        bbox=_bbox(footprint),
        datetime=_datatake_start(scene) + timedelta(seconds=12, microseconds=24000),
        properties=properties,
        stac_extensions=[PROCESSING_EXTENSION, SENTINEL2_EXTENSION],
    )
    for key in sorted(assets):
        item.add_asset(key, assets[key])
    EOExtension.add_to(item)
    RasterExtension.add_to(item)
    FileExtension.add_to(item)
    ProjectionExtension.ext(item, add_if_missing=True).apply(
        epsg=tile.epsg, centroid=_centroid(footprint)
    )
    item.properties["proj:epsg"] = tile.epsg  # Earth Search v1 spelling, beside proj:code
    MgrsExtension.ext(item, add_if_missing=True).apply(
        latitude_band=tile.latitude_band, grid_square=tile.grid_square, utm_zone=tile.zone
    )
    GridExtension.ext(item, add_if_missing=True).apply(code=tile.grid_code)
    ViewExtension.ext(item, add_if_missing=True).apply(
        incidence_angle=geometry.incidence_angle,
        azimuth=geometry.view_azimuth,
        sun_azimuth=geometry.sun_azimuth,
        sun_elevation=geometry.sun_elevation,
    )
    item.add_link(pystac.Link("license", LICENSE_HREF, title="Sentinel data legal notice"))
    return item


# --------------------------------------------------------------------------------------------
# The archive
# --------------------------------------------------------------------------------------------


def _write_scene(scene: DemoScene, out_dir: Path, seed: int, size: int) -> pystac.Item:
    """Render one scene, write its 11 COGs, and return its item (asset hrefs absolute)."""
    tile = parse_tile(scene.tile)
    east, north = tile.upper_left
    transforms = {res: Affine(res, 0.0, east, 0.0, -res, north) for res in (10, 20)}
    geometry = _scene_geometry(scene, seed)
    truth = surface_reflectance(scene.tile, scene.date, seed, size)
    atmosphere = _atmosphere(scene, seed, size, geometry)
    scl = _scene_classification(truth, atmosphere)
    folder = out_dir / scene_prefix(scene)
    folder.mkdir(parents=True, exist_ok=True)

    assets: dict[str, pystac.Asset] = {}
    for spec in BANDS:
        dn = _to_dn(
            _observe(truth[spec.band_id], spec.band_id, atmosphere),
            atmosphere.nodata,
            scene.dn_offset,
        )
        transform = transforms[spec.resolution]
        written = _write_cog(folder / f"{spec.band_id}.tif", dn, transform, tile.epsg, "AVERAGE")
        assets[spec.asset_key] = _band_asset(spec, scene, written, dn.shape, transform)
    written = _write_cog(folder / "SCL.tif", scl, transforms[20], tile.epsg, "NEAREST")
    assets["scl"] = _scl_asset(written, scl.shape, transforms[20])

    footprint = _footprint(~atmosphere.nodata, transforms[20], tile.epsg)
    logger.info("demo scene %s written to %s", item_id(scene), folder)
    return _scene_item(scene, geometry, scl, assets, footprint)


def _collection(items: Sequence[pystac.Item]) -> pystac.Collection:
    """The `sentinel-2-l2a` collection with the spatial and temporal extent of its items."""
    boxes = np.array([item.bbox for item in items])
    times = sorted(item.datetime for item in items if item.datetime is not None)
    extent = pystac.Extent(
        pystac.SpatialExtent([[*boxes[:, :2].min(axis=0), *boxes[:, 2:].max(axis=0)]]),
        pystac.TemporalExtent([[times[0], times[-1]]]),
    )
    collection = pystac.Collection(
        id=COLLECTION_ID,
        title="Sentinel-2 Level-2A (synthetic sample)",
        description=(
            "SYNTHETIC Sentinel-2 L2A scenes in the layout of Earth Search v1 sentinel-2-l2a, "
            "generated by raw2ready for demos and tests. Not real observations."
        ),
        extent=extent,
        license="proprietary",
        keywords=["sentinel", "earth observation", "esa", "synthetic"],
        providers=[
            pystac.Provider("ESA", roles=[pystac.ProviderRole.LICENSOR]),
            pystac.Provider("raw2ready", roles=[pystac.ProviderRole.PRODUCER]),
        ],
        summaries=pystac.Summaries(
            {
                "platform": sorted({str(item.properties["platform"]) for item in items}),
                "constellation": ["sentinel-2"],
                "instruments": ["msi"],
                "gsd": [10, 20],
            }
        ),
    )
    collection.add_link(pystac.Link("license", LICENSE_HREF, title="Sentinel data legal notice"))
    for item in items:
        collection.add_item(item)
    return collection


def write_demo_archive(out_dir: Path, seed: int = 42, size: int = 512) -> Path:
    """Write the sample archive; return the path of its root catalog.json."""
    _check_seed_and_size(seed, size)
    out_dir = Path(out_dir).resolve()
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"demo archive: '{out_dir}' exists and is not a directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    logger.info(
        "writing %d demo scenes (%d px, seed %d) to %s", len(DEMO_SCENES), size, seed, out_dir
    )

    items = [_write_scene(scene, out_dir, seed, size) for scene in DEMO_SCENES]
    catalog = pystac.Catalog(
        id="raw2ready-demo-archive",
        description=(
            "SYNTHETIC sample archive in the layout of Earth Search v1 (collection "
            "sentinel-2-l2a): mixed processing baselines and BOA offset flags, clouds, "
            "shadows, a swath edge. Generated by raw2ready; not real data."
        ),
        title="raw2ready demo archive",
    )
    catalog.add_child(_collection(items))
    item_files = {
        item.id: str(out_dir / scene_prefix(scene) / f"{item.id}.json")
        for item, scene in zip(items, DEMO_SCENES, strict=True)
    }
    catalog.normalize_hrefs(
        str(out_dir),
        strategy=CustomLayoutStrategy(item_func=lambda item, _parent: item_files[item.id]),
    )
    catalog.make_all_asset_hrefs_relative()
    catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return out_dir / "catalog.json"
