"""Check an archive's BOA offset claim against the data: dark pixels cannot hide the offset.

Water, cloud shadow and dark-area pixels (SCL 6, 3, 2) reflect a few percent at most in
their darkest band, i.e. DN of about 0-600 in a product without the +1000 offset and about
1000-1600 in one that still carries it. Where enough such pixels exist, the median DN of the
darkest band says which, whatever the archive's flag claims; Earth Search has items whose
`boa_offset_applied` is wrong (Element84/earth-search issues 66 and 71). Too few dark
pixels, or a median in the margin around 1000, leave the decision to the metadata.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import RasterioError

from raw2ready.archives.transfer.decode import read_failure
from raw2ready.errors import SceneDataError
from raw2ready.scene import BOA_ADD_OFFSET, SceneRecord
from raw2ready.sentinel2.baseline import baseline_has_offset
from raw2ready.sentinel2.scl import SceneClass

log = logging.getLogger(__name__)

#: SCL classes whose surface is dark in at least one band: dark area, cloud shadow, water.
DARK_CLASSES = (SceneClass.DARK_FEATURE_SHADOW, SceneClass.CLOUD_SHADOW, SceneClass.WATER)
#: Fewer dark pixels than this in the sample decide nothing.
MIN_DARK_PIXELS = 200
#: Medians within this many DN of the offset decide nothing.
MARGIN_DN = 100
#: Side of the decimated sample read from each band (overviews make it cheap).
SAMPLE_SIDE = 512


@dataclass(frozen=True)
class OffsetEvidence:
    """What the dark pixels of a scene say about the offset, and how sure that is."""

    band: str | None
    pixels: int
    median_dn: float | None
    carries_offset: bool | None  # None: inconclusive

    def describe(self) -> str:
        """One line of figures for the log."""
        if self.band is None or self.median_dn is None:
            return f"{self.pixels} dark pixel(s) (SCL 2/3/6), too few to judge"
        return (
            f"{self.pixels} dark pixels (SCL 2/3/6), median DN {self.median_dn:.0f} in "
            f"{self.band} (offset {-BOA_ADD_OFFSET})"
        )


def _sample(path: Path, side: int, resampling: Resampling) -> np.ndarray:
    """The band decimated to `side` x `side` (or its own size, if smaller)."""
    with rasterio.open(path) as dataset:
        shape = (min(side, dataset.height), min(side, dataset.width))
        return dataset.read(1, out_shape=shape, resampling=resampling)


def offset_evidence(band_paths: dict[str, Path]) -> OffsetEvidence:
    """Median DN of dark-class pixels in the darkest reflective band of a scene."""
    scl = _sample(band_paths["SCL"], SAMPLE_SIDE, Resampling.nearest)
    side = scl.shape[0]
    dark = np.isin(scl, DARK_CLASSES)
    best: tuple[str, int, float] | None = None
    for band, path in sorted(band_paths.items()):
        if band == "SCL":
            continue
        values = _sample(path, side, Resampling.nearest)
        if values.shape != scl.shape:
            continue
        chosen = values[dark & (values > 0)]
        if chosen.size < MIN_DARK_PIXELS:
            continue
        median = float(np.median(chosen))
        if best is None or median < best[2]:
            best = (band, int(chosen.size), median)
    if best is None:
        return OffsetEvidence(None, int(dark.sum()), None, None)
    band, pixels, median = best
    offset = -BOA_ADD_OFFSET
    verdict = None
    if median < offset - MARGIN_DN:
        verdict = False
    elif median >= offset:
        verdict = True
    return OffsetEvidence(band, pixels, median, verdict)


def check_offset(record: SceneRecord, band_paths: dict[str, Path]) -> SceneRecord:
    """The record, with `apply_boa_offset` corrected when the data contradicts the metadata."""
    if not baseline_has_offset(record.processing_baseline):
        return record
    try:
        evidence = offset_evidence(band_paths)
    except RasterioError as exc:  # a corrupt band or an error page: this scene's failure
        raise SceneDataError(record.id, "offset check", read_failure(exc)) from exc
    if evidence.carries_offset is None:
        log.info("scene %s: offset check inconclusive: %s", record.id, evidence.describe())
        return record
    if evidence.carries_offset == record.apply_boa_offset:
        log.info("scene %s: offset check agrees with the metadata: %s", record.id,
                 evidence.describe())  # fmt: skip
        return record
    claim = "still carries" if record.apply_boa_offset else "no longer carries"
    found = "carries" if evidence.carries_offset else "does not carry"
    action = "applying" if evidence.carries_offset else "not applying"
    log.warning(
        "scene %s: the metadata says the data %s the BOA offset, but %s: the data %s it; "
        "%s BOA_ADD_OFFSET", record.id, claim, evidence.describe(), found, action,
    )  # fmt: skip
    return replace(record, apply_boa_offset=evidence.carries_offset)
