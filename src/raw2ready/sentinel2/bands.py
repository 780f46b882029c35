"""The Sentinel-2 MSI band table: one row per band, as Earth Search v1 publishes it.

Band ids are ESA's (`B8A`); the asset keys, common names, centre wavelengths and FWHM (in
micrometres) and titles are those of Earth Search v1 `sentinel-2-l2a` / `sentinel-2-l1c`
items, so code that reads or writes such items takes them from here instead of repeating them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources import files


@dataclass(frozen=True)
class SpectralBand:
    """One MSI band: ESA id, Earth Search v1 asset key, native resolution and spectrum."""

    band_id: str
    asset_key: str
    resolution: int
    common_name: str
    center_wavelength: float
    full_width_half_max: float
    title: str


#: Every MSI band in ESA order (B10, cirrus, exists in Level-1C only); the table itself is
#: package data (data/sentinel2_bands.json), one row per band.
BANDS: tuple[SpectralBand, ...] = tuple(
    SpectralBand(**row)
    for row in json.loads(files("raw2ready").joinpath("data/sentinel2_bands.json").read_text())[
        "bands"
    ]
)
#: Band id -> its row.
BY_ID: dict[str, SpectralBand] = {band.band_id: band for band in BANDS}
#: Earth Search v1 asset key -> its row.
BY_ASSET_KEY: dict[str, SpectralBand] = {band.asset_key: band for band in BANDS}

#: The scene classification layer (Level-2A): id, Earth Search v1 asset key, title, resolution.
SCL_BAND = "SCL"
SCL_ASSET_KEY = "scl"
SCL_TITLE = "Scene classification map (SCL)"
SCL_RESOLUTION = 20

#: ESA band order: `bandId` N in SAFE metadata is BAND_ORDER[N].
BAND_ORDER: tuple[str, ...] = tuple(band.band_id for band in BANDS)
#: Native resolution of each band and of the SCL: an asset at this resolution is preferred over
#: resampled ones.
NATIVE_RESOLUTION: dict[str, int] = {band.band_id: band.resolution for band in BANDS} | {
    SCL_BAND: SCL_RESOLUTION
}
