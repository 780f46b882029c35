"""The synthetic truth: a seeded landscape of a tile subset and its surface reflectance by date.

Fields with Thai crop calendars (rice, cassava, sugarcane, maize, fallow), deciduous forest,
shrub, villages, a road, a lake and a river, each a mix of spectral end-members that changes
with the season. `surface_reflectance` returns it noise-free, so downstream tests can check
products against the truth. The landscape is drawn in units of the subset's side, so every
feature appears at any `size`; at the default 512 px (5.12 km) its scales are realistic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import numpy as np

from raw2ready.demo.random_fields import fractal_noise, seeded_rng, value_noise
from raw2ready.errors import ConfigError
from raw2ready.grid import parse_tile
from raw2ready.sentinel2.bands import BY_ID, SpectralBand

#: The bands the demo simulates (Earth Search v1 L2A minus the 60 m ones), 10 m bands first.
BANDS: tuple[SpectralBand, ...] = tuple(
    BY_ID[band_id]
    for band_id in ("B02", "B03", "B04", "B08", "B05", "B06", "B07", "B8A", "B11", "B12")
)
BAND_IDS: tuple[str, ...] = tuple(band.band_id for band in BANDS)
BANDS_10M: tuple[str, ...] = tuple(band.band_id for band in BANDS if band.resolution == 10)
BANDS_20M: tuple[str, ...] = tuple(band.band_id for band in BANDS if band.resolution == 20)

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
#: Row of each band in the demo's spectral tables (BAND_IDS order).
BAND_INDEX = {band_id: index for index, band_id in enumerate(BAND_IDS)}
_MIN_REFLECTANCE = 0.0005


def block_mean(array: np.ndarray) -> np.ndarray:
    """Mean over 2 x 2 blocks of the last two axes: the 10 m grid aggregated to 20 m."""
    *lead, height, width = array.shape
    blocks = array.reshape(*lead, height // 2, 2, width // 2, 2)
    return blocks.mean(axis=(-3, -1), dtype=np.float32)


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
    edge = value_noise(rng, uu.shape, (uu.shape[0] / 12, uu.shape[1] / 12))
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
    rng = seeded_rng(seed, tile_id, "landscape")
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size
    uu, vv = np.meshgrid(coords, coords)
    unit = _parcels(rng, coords, coords)
    n_parcels = int(unit.max()) + 1
    crop = rng.choice(len(CROPS), n_parcels, p=[c.share for c in CROPS])
    peak_shift = rng.uniform(-12, 12, n_parcels)
    vigour = rng.uniform(0.85, 1.05, n_parcels)

    woods = fractal_noise(rng, (size, size), (size / 3, size / 3), 3)
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
    smooth = fractal_noise(rng, (size, size), (size / 16, size / 16), 2)
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
    year_rng = seeded_rng(seed, tile_id, "season", day.year)
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


def check_seed_and_size(seed: int, size: int) -> None:
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
    check_seed_and_size(seed, size)
    tile, day = parse_tile(tile_id), _parse_date(date)
    landscape = _landscape(tile.id, seed, size)
    table = np.concatenate(
        [_parcel_weights(landscape, day, seed, tile.id), _cover_weights(day)], axis=1
    ).astype(np.float32)
    weights = table[:, landscape.unit] * landscape.texture  # (end-member, y, x) at 10 m
    result: dict[str, np.ndarray] = {}
    for resolution, band_ids in ((10, BANDS_10M), (20, BANDS_20M)):
        grid = weights if resolution == 10 else block_mean(weights)
        rows = [BAND_INDEX[b] for b in band_ids]
        stack = np.tensordot(_ENDMEMBERS[rows], grid, axes=1)
        for band_id, layer in zip(band_ids, stack, strict=True):
            result[band_id] = np.clip(layer, _MIN_REFLECTANCE, 1.0).astype(np.float32)
    return {band_id: result[band_id] for band_id in BAND_IDS}
