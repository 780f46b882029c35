"""Spectral indices and empirical LAI models on surface-reflectance blocks (float32).

LAI models (both published, usable without SNAP):
- savi_metric: SEBAL/METRIC, Allen, Tasumi & Trezza (2007), J. Irrig. Drain. Eng. 133(4):
  SAVI with L = 0.5, LAI = -ln((0.69 - SAVI) / 0.59) / 0.91, limited to [0, 6].
- evi_boegh: Boegh et al. (2002), Remote Sensing of Environment 81: LAI = 3.618 EVI - 0.118,
  limited to [0, 6] like the METRIC model (EVI itself limited to [-1, 1]).
"""

from __future__ import annotations

import numexpr as ne
import numpy as np

LAI_MAX = 6.0
SAVI_SOIL_FACTOR = 0.5


def _evaluate(expression: str, **arrays: np.ndarray | float) -> np.ndarray:
    """Evaluate an expression with numexpr (multi-threaded, no temporaries) as float32."""
    with np.errstate(divide="ignore", invalid="ignore"):
        result = ne.evaluate(expression, local_dict=arrays)
    return result.astype(np.float32, copy=False)


def ndvi(red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """NDVI = (NIR - red) / (NIR + red); NaN or inf where the sum is zero."""
    return _evaluate("(nir - red) / (nir + red)", red=red, nir=nir)


def savi(red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """Soil-adjusted vegetation index (Huete 1988) with L = 0.5."""
    return _evaluate(
        "(1 + L) * (nir - red) / (nir + red + L)", red=red, nir=nir, L=SAVI_SOIL_FACTOR
    )


def evi(blue: np.ndarray, red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """Enhanced vegetation index (Huete et al. 2002), limited to [-1, 1]."""
    value = _evaluate(
        "2.5 * (nir - red) / (nir + 6 * red - 7.5 * blue + 1)", blue=blue, red=red, nir=nir
    )
    return np.clip(value, -1.0, 1.0, out=value)


def lai_savi_metric(red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """LAI from SAVI after Allen et al. (2007), limited to [0, 6]."""
    s = np.minimum(savi(red, nir), np.float32(0.6899))
    lai = _evaluate("-log((0.69 - s) / 0.59) / 0.91", s=s)
    return np.clip(lai, 0.0, LAI_MAX, out=lai)


def lai_evi_boegh(blue: np.ndarray, red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """LAI from EVI after Boegh et al. (2002), limited to [0, 6]."""
    lai = _evaluate("3.618 * e - 0.118", e=evi(blue, red, nir))
    return np.clip(lai, 0.0, LAI_MAX, out=lai)
