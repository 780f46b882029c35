"""DLR's ukis-csmask cloud and cloud-shadow network (the optional `ml-mask` extra).

ukis-csmask (Apache-2.0) is a U-Net whose ONNX models ship inside its wheel and run on
onnxruntime, so it works offline. It reads surface reflectance of six bands in 256 px tiles
(its model card asks for ~30 m; raw2ready runs it on the SCL's 20 m grid) and labels each
pixel background (0), cloud (1) or cloud shadow (2). A scene is classified once, in row
strips with a halo of half a tile, so that the network sees context across strip edges.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from raw2ready.errors import ConfigError
from raw2ready.products.ml_mask import NETWORK_BANDS

log = logging.getLogger(__name__)

#: The model for surface reflectance (raw2ready processes L2A), six bands.
PRODUCT_LEVEL = "l2a"
MODEL_FILE = "model_6b_l2a.onnx"
#: Rows classified per strip, and rows read above and below it (half the 256 px tile).
STRIP_ROWS = 1024
HALO_ROWS = 128


def _csmask() -> Any:
    """ukis-csmask's CSmask class; ConfigError when the optional extra is not installed."""
    try:
        from ukis_csmask.mask import CSmask
    except ImportError as exc:
        raise ConfigError(
            "mask.method: ml (or both) needs pip install raw2ready[ml-mask] "
            f"(ukis-csmask and onnxruntime): {exc.msg.splitlines()[0]}"
        ) from exc
    return CSmask


@functools.cache
def model_described() -> str:
    """E.g. "ukis-csmask 1.0.0, model_6b_l2a.onnx sha256 ab12..." (for the items' lineage):
    the model file in the installed package's folder, which it loads and never downloads."""
    _csmask()
    import ukis_csmask

    path = Path(ukis_csmask.__file__).parent / MODEL_FILE
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(2**20), b""):
            digest.update(block)
    version = importlib.metadata.version("ukis-csmask")
    return f"ukis-csmask {version}, {path.name} sha256 {digest.hexdigest()}"


def network_classes(reflectance: np.ndarray, threads: int) -> np.ndarray:
    """The network's labels (0 background, 1 cloud, 2 shadow) of a (rows, cols, 6) float32
    surface reflectance array whose bands are in NETWORK_BANDS order."""
    found = _csmask()(
        img=reflectance,
        band_order=list(NETWORK_BANDS),
        product_level=PRODUCT_LEVEL,
        invalid_buffer=1,  # its binary valid mask is not used; 1 keeps it cheap
        intra_op_num_threads=threads,
    )
    return found.csm[..., 0]


def classify_scene(
    read_rows: Callable[[int, int], np.ndarray], height: int, width: int, threads: int
) -> np.ndarray:
    """The network's labels of a whole scene of `height` rows, strip by strip.

    `read_rows(first, last)` gives the reflectance of rows first to last as
    `network_classes` takes it; each strip is read with HALO_ROWS above and below so the
    network sees the same context at a strip's edge as inside it.
    """
    labels = np.empty((height, width), np.uint8)
    for start in range(0, height, STRIP_ROWS):
        stop = min(height, start + STRIP_ROWS)
        first, last = max(0, start - HALO_ROWS), min(height, stop + HALO_ROWS)
        labels[start:stop] = network_classes(read_rows(first, last), threads)[
            start - first : stop - first
        ]
        log.debug("ml mask: rows %d-%d of %d classified", start, stop, height)
    return labels
