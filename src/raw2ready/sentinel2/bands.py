"""The Sentinel-2 MSI band table: one row per band, as Earth Search v1 publishes it.

Band ids are ESA's (`B8A`); the asset keys, common names, centre wavelengths and FWHM (in
micrometres) and titles are those of Earth Search v1 `sentinel-2-l2a` / `sentinel-2-l1c`
items, so code that reads or writes such items takes them from here instead of repeating them.
"""

from __future__ import annotations

from dataclasses import dataclass


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


#: Every MSI band in ESA order (B10, cirrus, exists in Level-1C only).
BANDS: tuple[SpectralBand, ...] = (
    SpectralBand("B01", "coastal", 60, "coastal", 0.443, 0.027, "Coastal - 60m"),
    SpectralBand("B02", "blue", 10, "blue", 0.49, 0.098, "Blue - 10m"),
    SpectralBand("B03", "green", 10, "green", 0.56, 0.045, "Green - 10m"),
    SpectralBand("B04", "red", 10, "red", 0.665, 0.038, "Red - 10m"),
    SpectralBand("B05", "rededge1", 20, "rededge", 0.704, 0.019, "Red Edge 1 - 20m"),
    SpectralBand("B06", "rededge2", 20, "rededge", 0.74, 0.018, "Red Edge 2 - 20m"),
    SpectralBand("B07", "rededge3", 20, "rededge", 0.783, 0.028, "Red Edge 3 - 20m"),
    SpectralBand("B08", "nir", 10, "nir", 0.842, 0.145, "NIR 1 - 10m"),
    SpectralBand("B8A", "nir08", 20, "nir08", 0.865, 0.033, "NIR 2 - 20m"),
    SpectralBand("B09", "nir09", 60, "nir09", 0.945, 0.026, "NIR 3 - 60m"),
    SpectralBand("B10", "cirrus", 60, "cirrus", 1.3735, 0.075, "Cirrus - 60m"),
    SpectralBand("B11", "swir16", 20, "swir16", 1.61, 0.143, "SWIR 1.6\u03bcm - 20m"),
    SpectralBand("B12", "swir22", 20, "swir22", 2.19, 0.242, "SWIR 2.2\u03bcm - 20m"),
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
