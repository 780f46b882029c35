"""Real raster files as bytes, for tests that serve band files: the download path decodes
every block of what it fetches, so random bytes are not a band file."""

from __future__ import annotations

import numpy as np
from affine import Affine
from rasterio.io import MemoryFile


def geotiff_bytes(seed: int, side: int = 256, compress: str | None = None) -> bytes:
    """A tiled uint16 GeoTIFF: random values uncompressed, or (`compress`) smooth waves that a
    codec really compresses."""
    if compress:
        rows, cols = np.mgrid[0:side, 0:side]
        waves = (np.sin(cols / (40 + seed)) + np.cos(rows / 70)) * 2000 + 5000
        values = waves.astype(np.uint16)
    else:
        values = np.random.default_rng(seed).integers(0, 10000, (side, side), dtype=np.uint16)
    profile = {
        "driver": "GTiff", "width": side, "height": side, "count": 1, "dtype": "uint16",
        "tiled": True, "blockxsize": 256, "blockysize": 256, "crs": "EPSG:32647",
        "transform": Affine(10, 0, 600000, 0, -10, 1600020),
    }  # fmt: skip
    if compress:
        profile["compress"] = compress
    with MemoryFile() as memory:
        with memory.open(**profile) as dataset:
            dataset.write(values, 1)
        return bytes(memory.read())
