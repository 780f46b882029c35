"""Cloud, cirrus and shadow masking from the Sen2Cor scene classification (SCL).

SCL is a 20 m product; it is brought to 10 m by pixel replication (nearest neighbour on
aligned grids). The mask product keeps *why* a pixel was masked, as small class codes.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import numpy as np

from raw2ready.sentinel2 import scl

#: The usual default mask (SCL 0, 1, 3, 8, 9, 10).
DEFAULT_MASKED_CLASSES = scl.DEFAULT_MASKED

#: Mask product codes.
MASK_CLEAR = 0
MASK_CLOUD = 1
MASK_CIRRUS = 2
MASK_SHADOW = 3
MASK_OTHER = 4
MASK_NODATA = 255
MASK_CLASSES: dict[int, str] = {
    MASK_CLEAR: "clear",
    MASK_CLOUD: "cloud",
    MASK_CIRRUS: "cirrus",
    MASK_SHADOW: "cloud shadow",
    MASK_OTHER: "other masked scene class",
    MASK_NODATA: "no data",
}
#: Mask product code -> RGBA, the colour table written into the mask COG (and STAC's
#: classification color_hint) so viewers draw the classes without a style of their own.
MASK_COLOURS: dict[int, tuple[int, int, int, int]] = {
    MASK_CLEAR: (46, 160, 67, 255),
    MASK_CLOUD: (240, 240, 240, 255),
    MASK_CIRRUS: (137, 207, 240, 255),
    MASK_SHADOW: (64, 64, 64, 255),
    MASK_OTHER: (214, 140, 30, 255),
    MASK_NODATA: (0, 0, 0, 0),
}


def mask_lookup(masked_classes: frozenset[int]) -> np.ndarray:
    """A 256-entry table from SCL class to mask code, for one vectorized lookup per block."""
    table = np.full(256, MASK_OTHER, dtype=np.uint8)
    for scl_class in scl.CLASSES:
        if scl_class == scl.SceneClass.NODATA:
            table[scl_class] = MASK_NODATA
        elif scl_class not in masked_classes:
            table[scl_class] = MASK_CLEAR
        elif scl_class in scl.CLOUD:
            table[scl_class] = MASK_CLOUD
        elif scl_class in scl.CIRRUS:
            table[scl_class] = MASK_CIRRUS
        elif scl_class in scl.SHADOW:
            table[scl_class] = MASK_SHADOW
    return table


def upsample_scl(scl: np.ndarray, factor: int) -> np.ndarray:
    """Bring a 20 m SCL block to 10 m by replicating each pixel factor x factor times."""
    if factor == 1:
        return scl
    return np.repeat(np.repeat(scl, factor, axis=1), factor, axis=0)


def classify(
    scl: np.ndarray,
    factor: int,
    bands: Iterable[np.ndarray],
    lookup: np.ndarray,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Mask codes at band resolution: SCL classes via `lookup`, no data where a band DN is 0.

    The lookup runs on the coarse SCL block (factor**2 fewer pixels) before upsampling;
    `out`, when given, receives the codes (e.g. a slice of a strip buffer).
    """
    codes = upsample_scl(np.take(lookup, scl), factor)
    if out is None:
        out = codes
    else:
        out[...] = codes
    dns = list(bands)
    if dns:
        darkest = dns[0] if len(dns) == 1 else functools.reduce(np.minimum, dns)
        # codes | 255 is 255 (MASK_NODATA), and codes | 0 is codes: no masked assignment.
        out |= np.equal(darkest, 0).view(np.uint8) * np.uint8(MASK_NODATA)
    return out
