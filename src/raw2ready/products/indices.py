"""Spectral indices and empirical LAI models on surface-reflectance blocks (float32).

Their citations are in the product registry (registry.py), which says which bands each reads.

LAI models (both published, usable without SNAP):
- savi_metric: SEBAL/METRIC, Allen, Tasumi & Trezza (2007), J. Irrig. Drain. Eng. 133(4):
  SAVI with L = 0.5, LAI = -ln((0.69 - SAVI) / 0.59) / 0.91, limited to [0, 6].
- evi_boegh: Boegh et al. (2002), Remote Sensing of Environment 81: LAI = 3.618 EVI - 0.118,
  limited to [0, 6] like the METRIC model (EVI itself limited to [-1, 1]).

Every function computes in float32 with in-place numpy ufuncs: on the cache-sized blocks
the processing hands over, that is faster than numexpr and never upcasts to float64.
"""

from __future__ import annotations

import numpy as np

LAI_MAX = 6.0
SAVI_SOIL_FACTOR = 0.5
#: SAVI is capped just below the METRIC model's asymptote (0.69), where LAI reaches ~6.
SAVI_CAP = 0.6899

_F = np.float32


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator in place in `numerator`; NaN or inf where the latter is zero."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.divide(numerator, denominator, out=numerator)


def normalized_difference(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """(first - second) / (first + second), limited to [-1, 1] (only negative reflectances
    go beyond); NaN or +-1 where the sum is zero."""
    value = _ratio(np.subtract(first, second, dtype=_F), np.add(first, second, dtype=_F))
    return np.clip(value, -1.0, 1.0, out=value)


def ndvi(red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """NDVI (Rouse et al. 1974) = (NIR - red) / (NIR + red), limited to [-1, 1]."""
    return normalized_difference(nir, red)


def ndwi(green: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """NDWI (McFeeters 1996) = (green - NIR) / (green + NIR), limited to [-1, 1]."""
    return normalized_difference(green, nir)


def ndmi(nir: np.ndarray, swir16: np.ndarray) -> np.ndarray:
    """NDMI (Gao 1996; Wilson & Sader 2002) = (NIR - SWIR 1.6 um) / (NIR + SWIR 1.6 um),
    limited to [-1, 1]."""
    return normalized_difference(nir, swir16)


def nbr(nir: np.ndarray, swir22: np.ndarray) -> np.ndarray:
    """NBR (Key & Benson 2006) = (NIR - SWIR 2.2 um) / (NIR + SWIR 2.2 um), limited to
    [-1, 1]."""
    return normalized_difference(nir, swir22)


def savi(red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """Soil-adjusted vegetation index (Huete 1988) with L = 0.5:
    1.5 (NIR - red) / (NIR + red + 0.5)."""
    denominator = np.add(nir, red, dtype=_F)
    denominator += _F(SAVI_SOIL_FACTOR)
    value = _ratio(np.subtract(nir, red, dtype=_F), denominator)
    value *= _F(1 + SAVI_SOIL_FACTOR)
    return value


def evi(blue: np.ndarray, red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """Enhanced vegetation index (Huete et al. 2002), limited to [-1, 1]:
    2.5 (NIR - red) / (NIR + 6 red - 7.5 blue + 1)."""
    denominator = np.multiply(red, _F(6), dtype=_F)
    denominator += nir
    denominator -= _F(7.5) * blue
    denominator += _F(1)
    value = _ratio(np.subtract(nir, red, dtype=_F), denominator)
    value *= _F(2.5)
    return np.clip(value, -1.0, 1.0, out=value)


def lai_savi_metric(red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """LAI from SAVI after Allen et al. (2007), limited to [0, 6]."""
    value = savi(red, nir)
    np.clip(value, -np.inf, SAVI_CAP, out=value)  # two-sided clip: numpy's fast path
    np.subtract(_F(0.69), value, out=value)
    value *= _F(1 / 0.59)
    with np.errstate(invalid="ignore"):
        np.log(value, out=value)
    value *= _F(-1 / 0.91)
    return np.clip(value, 0.0, LAI_MAX, out=value)


def lai_evi_boegh(blue: np.ndarray, red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """LAI from EVI after Boegh et al. (2002), limited to [0, 6]."""
    value = evi(blue, red, nir)
    value *= _F(3.618)
    value -= _F(0.118)
    return np.clip(value, 0.0, LAI_MAX, out=value)
