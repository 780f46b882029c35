"""Sentinel-2 MSI bands: ESA's band order and each band's native resolution."""

from __future__ import annotations

#: ESA band order: `bandId` N in SAFE metadata is BAND_ORDER[N].
BAND_ORDER = (
    "B01", "B02", "B03", "B04", "B05", "B06", "B07",
    "B08", "B8A", "B09", "B10", "B11", "B12",
)  # fmt: skip
#: Native resolution of each band: an asset at this resolution is preferred over resampled ones.
NATIVE_RESOLUTION: dict[str, int] = {
    "B01": 60, "B02": 10, "B03": 10, "B04": 10, "B05": 20, "B06": 20, "B07": 20,
    "B08": 10, "B8A": 20, "B09": 60, "B10": 60, "B11": 20, "B12": 20, "SCL": 20,
}  # fmt: skip
