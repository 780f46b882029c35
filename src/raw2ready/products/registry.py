"""The products raw2ready makes per scene, their encodings and the bands each needs.

Reflectance-derived products are stored as int16 with a scale factor (NDVI 1e-4, LAI 1e-3),
which keeps files small and lossless at the sensor's precision; the mask is uint8 classes.
"""

from __future__ import annotations

from dataclasses import dataclass

from raw2ready.errors import ConfigError

INT16_NODATA = -32768
MASK_NODATA = 255


@dataclass(frozen=True)
class ProductSpec:
    """How one product is encoded on disk and described in STAC."""

    name: str
    title: str
    dtype: str
    nodata: int
    scale: float
    offset: float
    unit: str | None


PRODUCTS: dict[str, ProductSpec] = {
    "ndvi": ProductSpec(
        "ndvi", "Normalized Difference Vegetation Index", "int16", INT16_NODATA, 0.0001, 0.0, None
    ),
    "lai": ProductSpec("lai", "Leaf Area Index", "int16", INT16_NODATA, 0.001, 0.0, "m2/m2"),
    "mask": ProductSpec(
        "mask", "Cloud, cirrus and shadow mask", "uint8", MASK_NODATA, 1.0, 0.0, None
    ),
    # ESA SNAP products (snap.py): biophysical variables and Sentinel-1 backscatter in dB,
    # all stored as int16 = value x 1000.
    "fapar": ProductSpec(
        "fapar", "Fraction of absorbed photosynthetically active radiation (SNAP)",
        "int16", INT16_NODATA, 0.001, 0.0, None,
    ),
    "fcover": ProductSpec(
        "fcover", "Fraction of vegetation cover (SNAP)", "int16", INT16_NODATA, 0.001, 0.0, None
    ),
    "gamma0_vv": ProductSpec(
        "gamma0_vv", "Sentinel-1 terrain-flattened gamma0, VV (dB)",
        "int16", INT16_NODATA, 0.001, 0.0, "dB",
    ),
    "gamma0_vh": ProductSpec(
        "gamma0_vh", "Sentinel-1 terrain-flattened gamma0, VH (dB)",
        "int16", INT16_NODATA, 0.001, 0.0, "dB",
    ),
}  # fmt: skip

#: Bands every product family needs, by canonical band id (SCL is always needed).
LAI_MODEL_BANDS: dict[str, frozenset[str]] = {
    "savi_metric": frozenset({"B04", "B08"}),
    "evi_boegh": frozenset({"B02", "B04", "B08"}),
}
#: Bands SNAP's BiophysicalOp reads (plus the sun and viewing angles of the SAFE metadata).
SNAP_BIOPHYSICAL_BANDS = frozenset({"B03", "B04", "B05", "B06", "B07", "B8A", "B11", "B12"})
PRODUCT_BANDS: dict[str, frozenset[str]] = {
    "ndvi": frozenset({"B04", "B08"}),
    "mask": frozenset({"SCL"}),
    "fapar": SNAP_BIOPHYSICAL_BANDS,
    "fcover": SNAP_BIOPHYSICAL_BANDS,
}


def required_bands(products: list[str], lai_model: str) -> frozenset[str]:
    """Canonical band ids needed to make `products` (plus SCL, which masking always needs)."""
    needed: set[str] = {"SCL"}
    for product in products:
        if product == "lai":
            if lai_model not in LAI_MODEL_BANDS:
                raise ConfigError(
                    f"lai.model '{lai_model}' is unknown; choose one of "
                    f"{', '.join(sorted(LAI_MODEL_BANDS))}"
                )
            needed |= LAI_MODEL_BANDS[lai_model]
        elif product in PRODUCT_BANDS:
            needed |= PRODUCT_BANDS[product]
        else:
            raise ConfigError(
                f"product '{product}' is unknown; choose from {', '.join(sorted(PRODUCTS))}"
            )
    return frozenset(needed)
