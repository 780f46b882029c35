"""The ML mask method: which bands it reads and how the network's labels join the SCL's.

`mask.method` is `scl` (Sen2Cor's scene classification alone), `ml` (DLR's ukis-csmask
network, `products/csmask.py`, for cloud and shadow; the SCL for no data and the other
masked classes) or `both` (a pixel is masked if either masks it). The labels are merged into
the mask codes before buffers are drawn (docs/masks.md has the rule and why). This module
loads no network, so the configuration can name the bands without the optional extra.
"""

from __future__ import annotations

import numpy as np

from raw2ready.products import masking

#: The network's band names (its band_order) -> Sentinel-2 band ids: the 6-band model.
NETWORK_BANDS = {
    "blue": "B02", "green": "B03", "red": "B04", "nir": "B08", "swir16": "B11", "swir22": "B12",
}  # fmt: skip
#: Network class (0 background, 1 cloud, 2 cloud shadow) -> mask code.
NETWORK_CODES = np.array([masking.MASK_CLEAR, masking.MASK_CLOUD, masking.MASK_SHADOW], np.uint8)
#: Mask codes `ml` keeps from the SCL: no data and the other masked classes (e.g. saturated).
SCL_KEPT_BY_ML = (masking.MASK_NODATA, masking.MASK_OTHER)


#: Memory (MB) a scene's processing job asks for: the tile chain alone stays near 0.6 GB on
#: a full tile; with the network the peak measured 2.1 GB (docs/performance.md).
JOB_MEMORY_MB = {"scl": 1000, "ml": 2500, "both": 2500}


def bands(method: str) -> frozenset[str]:
    """Sentinel-2 bands the mask method reads beyond the SCL."""
    return frozenset() if method == "scl" else frozenset(NETWORK_BANDS.values())


def combine(codes: np.ndarray, labels: np.ndarray, method: str) -> np.ndarray:
    """Mask codes from the SCL's `codes` and the network's `labels` (same grid) by `method`.

    `both`: a pixel is masked if either masks it; where SCL masks it, SCL's code stays.
    `ml`: the network's cloud and shadow, SCL only for no data and other masked classes.
    """
    if method == "scl":
        return codes
    network = np.take(NETWORK_CODES, labels)
    if method == "both":
        return np.where(codes == masking.MASK_CLEAR, network, codes)
    return np.where(np.isin(codes, SCL_KEPT_BY_ML), codes, network)
