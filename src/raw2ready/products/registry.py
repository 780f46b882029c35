"""The product registry: every product raw2ready writes, described once.

An entry says how the product is stored (dtype, scale, offset, nodata, unit), what kind of
values it holds (continuous index values or class codes, which decides the COG predictor,
the overview resampling and the statistics), which canonical bands it needs and what makes
it: a `Recipe` computed by the tile chain from reflectance blocks, the tile chain's SCL mask,
or an external processor (ESA SNAP). Adding a spectral index is one entry here plus its
function in `indices`; nothing else names products.

Reflectance-derived products are stored as int16 with a scale factor, which keeps files small
and lossless at the sensor's precision; the mask is uint8 classes. The module imports only
numpy: the Snakefile reads it (through config.py) while Snakemake builds the DAG.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass
from enum import Enum
from typing import NamedTuple

import numpy as np

from raw2ready.errors import ConfigError
from raw2ready.products import indices
from raw2ready.products.masking import (
    MASK_CLASSES,
    MASK_CLEAR,
    MASK_COLOURS,
    MASK_NODATA,
)

INT16_NODATA = -32768


class Encoding(NamedTuple):
    """How a product's values are stored: value = offset + scale x stored integer, and
    `nodata` where there is no value; `unit` of the decoded values (None: unitless)."""

    dtype: str
    scale: float
    offset: float
    nodata: int
    unit: str | None


#: Spectral indices: int16 in steps of 1e-4, finer than the reflectances' own precision.
INDEX_ENCODING = Encoding("int16", 0.0001, 0.0, INT16_NODATA, None)
#: SNAP's biophysical fractions: int16 in steps of 1e-3.
FRACTION_ENCODING = Encoding("int16", 0.001, 0.0, INT16_NODATA, None)


class Kind(Enum):
    """What a product's values are; decides its COG predictor, overviews and statistics."""

    #: Continuous values: horizontal predictor, averaged overviews, mean and stddev.
    INDEX = "index"
    #: Categorical codes: no predictor, MODE overviews, no moments.
    CLASSES = "classes"


class Maker(Enum):
    """What writes a product."""

    TILE_CHAIN = "raw2ready's tile chain"
    SNAP_BIOPHYSICAL = "ESA SNAP's Biophysical Processor (processors.lai: snap)"
    BIOPHYSICAL = "ESA's Biophysical Processor networks in numpy (processors.lai: biophysical)"
    SNAP_SENTINEL1 = "ESA SNAP's Sentinel-1 GRD graph (sentinel1.enabled)"
    COMPOSITE = "raw2ready's monthly composites (composites.enabled)"


@dataclass(frozen=True)
class Recipe:
    """How the tile chain computes a product: `function` takes float32 reflectance blocks
    of `bands`, in that order, and returns float32 values (NaN or inf where undefined)."""

    bands: tuple[str, ...]
    function: Callable[..., np.ndarray]
    #: The published model, where it is not the product's own citation (the LAI models).
    citation: str = ""

    def compute(self, surface: Mapping[str, np.ndarray]) -> np.ndarray:
        """The product's values for one block of reflectances keyed by canonical band id."""
        return self.function(*(surface[band] for band in self.bands))


@dataclass(frozen=True)
class ModelChoice:
    """Recipes of one product to choose from with a configuration key (e.g. lai.model)."""

    key: str
    models: Mapping[str, Recipe]

    def recipe(self, model: str) -> Recipe:
        """The recipe of `model`; ConfigError naming the key when it is unknown."""
        try:
            return self.models[model]
        except KeyError:
            raise ConfigError(
                f"{self.key} '{model}' is unknown; choose one of {', '.join(sorted(self.models))}"
            ) from None


@dataclass(frozen=True)
class Render:
    """How viewers draw a product by default (STAC render extension): a decoded value range
    stretched over a named colour map (rio-tiler / TiTiler names), or a colour per class."""

    range: tuple[float, float] | None = None
    colormap_name: str | None = None
    #: Class code -> RGBA colour, for class products (alpha 0: drawn transparent).
    colormap: Mapping[int, tuple[int, int, int, int]] | None = None


@dataclass(frozen=True)
class ProductSpec:
    """One product: its name and title, its kind, its encoding (dtype .. unit, the fields of
    `Encoding`), its citation, and what makes it from which bands."""

    name: str
    title: str
    kind: Kind
    dtype: str
    scale: float
    offset: float
    nodata: int
    unit: str | None
    citation: str
    _: KW_ONLY
    #: How the tile chain computes it from reflectance (None: the mask, or external only).
    computed_by: Recipe | ModelChoice | None = None
    made_by: tuple[Maker, ...] = (Maker.TILE_CHAIN,)
    #: Bands read other than through a recipe (the mask's SCL, an external processor's).
    reads: frozenset[str] = frozenset()
    #: Code -> meaning, for class products (STAC classification:classes).
    classes: Mapping[int, str] | None = None
    #: How viewers draw it by default (None: no hint).
    render: Render | None = None
    #: Code -> RGBA, for class products: the COG's colour table.
    colours: Mapping[int, tuple[int, int, int, int]] | None = None

    @property
    def encoding(self) -> Encoding:
        """How the values are stored."""
        return Encoding(self.dtype, self.scale, self.offset, self.nodata, self.unit)

    def recipe(self, model: str) -> Recipe | None:
        """The tile chain's recipe; `model` is the configured lai.model, used by products
        that offer a choice of models."""
        if isinstance(self.computed_by, ModelChoice):
            return self.computed_by.recipe(model)
        return self.computed_by

    def bands(self, model: str) -> frozenset[str]:
        """Canonical band ids this product needs with the configured model."""
        recipe = self.recipe(model)
        return self.reads | frozenset(recipe.bands if recipe else ())


#: Published empirical LAI models (lai.model), usable without SNAP.
LAI_MODELS: dict[str, Recipe] = {
    "savi_metric": Recipe(
        ("B04", "B08"),
        indices.lai_savi_metric,
        "Allen, R. G., Tasumi, M. and Trezza, R. (2007): Satellite-based energy balance for "
        "mapping evapotranspiration with internalized calibration (METRIC) - Model. Journal of "
        "Irrigation and Drainage Engineering 133(4), 380-394, doi:10.1061/(ASCE)0733-9437(2007)"
        "133:4(380). LAI = -ln((0.69 - SAVI) / 0.59) / 0.91 with SAVI (L = 0.5), in [0, 6].",
    ),
    "evi_boegh": Recipe(
        ("B02", "B04", "B08"),
        indices.lai_evi_boegh,
        "Boegh, E. et al. (2002): Airborne multispectral data for quantifying leaf area index, "
        "nitrogen concentration, and photosynthetic efficiency in agriculture. Remote Sensing "
        "of Environment 81(2-3), 179-193, doi:10.1016/S0034-4257(01)00342-X. "
        "LAI = 3.618 EVI - 0.118, in [0, 6].",
    ),
}

#: Vegetation indices: red (bare) to green (dense canopy) over NDVI's usual land range.
VEGETATION_RENDER = Render((0.0, 1.0), "rdylgn")
#: Fractions (fAPAR, fCover): yellow to green over their whole range.
FRACTION_RENDER = Render((0.0, 1.0), "ylgn")

SNAP_BIOPHYSICAL_CITATION = (
    "Weiss, M. and Baret, F. (2016): S2ToolBox Level 2 products: LAI, FAPAR, FCOVER, "
    "version 1.1. INRA (ESA SNAP Biophysical Processor ATBD)."
)
#: Bands the Biophysical Processor's networks read (plus the scene's sun and view angles).
SNAP_BIOPHYSICAL_BANDS = frozenset({"B03", "B04", "B05", "B06", "B07", "B8A", "B11", "B12"})


def _snap_biophysical(name: str, title: str) -> ProductSpec:
    """A variable only SNAP's Biophysical Processor makes, stored like LAI (x 1000)."""
    return ProductSpec(
        name,
        f"{title} (ESA Biophysical Processor)",
        Kind.INDEX,
        *FRACTION_ENCODING,
        SNAP_BIOPHYSICAL_CITATION,
        made_by=(Maker.SNAP_BIOPHYSICAL, Maker.BIOPHYSICAL),
        reads=SNAP_BIOPHYSICAL_BANDS,
        render=FRACTION_RENDER,
    )


def _gamma0(polarisation: str) -> ProductSpec:
    """Sentinel-1 terrain-flattened backscatter of one polarisation, in dB x 1000."""
    return ProductSpec(
        f"gamma0_{polarisation.lower()}",
        f"Sentinel-1 terrain-flattened gamma0, {polarisation} (dB)",
        Kind.INDEX,
        *Encoding("int16", 0.001, 0.0, INT16_NODATA, "dB"),
        "Small, D. (2011): Flattening Gamma: Radiometric Terrain Correction for SAR Imagery. "
        "IEEE Transactions on Geoscience and Remote Sensing 49(8), 3081-3093, "
        "doi:10.1109/TGRS.2011.2120616.",
        made_by=(Maker.SNAP_SENTINEL1,),
        render=Render((-25.0, 0.0), "greys_r"),
    )


#: The tile chain's cloud, cirrus and shadow classes: computed for every scene, since every
#: other product is masked with them, and written when configured.
MASK = ProductSpec(
    "mask",
    "Cloud, cirrus and shadow mask",
    Kind.CLASSES,
    *Encoding("uint8", 1.0, 0.0, MASK_NODATA, None),
    "Sen2Cor scene classification (SCL): Main-Knorn, M. et al. (2017): Sen2Cor for "
    "Sentinel-2. Proc. SPIE 10427, 1042704, doi:10.1117/12.2278218.",
    reads=frozenset({"SCL"}),
    classes=MASK_CLASSES,
    colours=MASK_COLOURS,
    # The COG's colour table, clear pixels transparent: the mask draws over any other layer.
    render=Render(colormap={**MASK_COLOURS, MASK_CLEAR: (0, 0, 0, 0)}),
)

#: Clear observations per pixel of a monthly composite (0: none, the products are nodata).
CLEAR_COUNT = ProductSpec(
    "clear_count",
    "Clear observations in the month",
    Kind.INDEX,
    *Encoding("uint8", 1.0, 0.0, 255, None),
    "raw2ready: scene pixels whose composited products all hold a value (not masked).",
    made_by=(Maker.COMPOSITE,),
)

_PRODUCTS = (
    ProductSpec(
        "ndvi",
        "Normalized Difference Vegetation Index",
        Kind.INDEX,
        *INDEX_ENCODING,
        "Rouse, J. W., Haas, R. H., Schell, J. A. and Deering, D. W. (1974): Monitoring "
        "vegetation systems in the Great Plains with ERTS. Third ERTS Symposium, NASA SP-351, "
        "309-317.",
        computed_by=Recipe(("B04", "B08"), indices.ndvi),
        render=VEGETATION_RENDER,
    ),
    ProductSpec(
        "evi",
        "Enhanced Vegetation Index",
        Kind.INDEX,
        *INDEX_ENCODING,
        "Huete, A., Didan, K., Miura, T., Rodriguez, E. P., Gao, X. and Ferreira, L. G. (2002): "
        "Overview of the radiometric and biophysical performance of the MODIS vegetation "
        "indices. Remote Sensing of Environment 83(1-2), 195-213, "
        "doi:10.1016/S0034-4257(02)00096-2.",
        computed_by=Recipe(("B02", "B04", "B08"), indices.evi),
        render=VEGETATION_RENDER,
    ),
    ProductSpec(
        "savi",
        "Soil-Adjusted Vegetation Index (L = 0.5)",
        Kind.INDEX,
        *INDEX_ENCODING,
        "Huete, A. R. (1988): A soil-adjusted vegetation index (SAVI). Remote Sensing of "
        "Environment 25(3), 295-309, doi:10.1016/0034-4257(88)90106-X.",
        computed_by=Recipe(("B04", "B08"), indices.savi),
        render=VEGETATION_RENDER,
    ),
    ProductSpec(
        "ndwi",
        "Normalized Difference Water Index",
        Kind.INDEX,
        *INDEX_ENCODING,
        "McFeeters, S. K. (1996): The use of the Normalized Difference Water Index (NDWI) in "
        "the delineation of open water features. International Journal of Remote Sensing "
        "17(7), 1425-1432, doi:10.1080/01431169608948714.",
        computed_by=Recipe(("B03", "B08"), indices.ndwi),
        render=Render((-1.0, 1.0), "rdbu"),
    ),
    ProductSpec(
        "ndmi",
        "Normalized Difference Moisture Index",
        Kind.INDEX,
        *INDEX_ENCODING,
        "Gao, B.-C. (1996): NDWI - A normalized difference water index for remote sensing of "
        "vegetation liquid water from space. Remote Sensing of Environment 58(3), 257-266, "
        "doi:10.1016/S0034-4257(96)00067-3; as NDMI: Wilson, E. H. and Sader, S. A. (2002): "
        "Detection of forest harvest type using multiple dates of Landsat TM imagery. Remote "
        "Sensing of Environment 80(3), 385-396, doi:10.1016/S0034-4257(01)00318-2.",
        computed_by=Recipe(("B08", "B11"), indices.ndmi),
        render=Render((-1.0, 1.0), "rdbu"),
    ),
    ProductSpec(
        "nbr",
        "Normalized Burn Ratio",
        Kind.INDEX,
        *INDEX_ENCODING,
        "Key, C. H. and Benson, N. C. (2006): Landscape Assessment (LA): Sampling and analysis "
        "methods. In: FIREMON: Fire Effects Monitoring and Inventory System, USDA Forest "
        "Service, Rocky Mountain Research Station, General Technical Report RMRS-GTR-164-CD, "
        "LA-1-55.",
        computed_by=Recipe(("B08", "B12"), indices.nbr),
        render=Render((-1.0, 1.0), "rdylgn"),
    ),
    ProductSpec(
        "lai",
        "Leaf Area Index",
        Kind.INDEX,
        *Encoding("int16", 0.001, 0.0, INT16_NODATA, "m2/m2"),
        "The published model chosen with lai.model (LAI_MODELS); with processors.lai: snap "
        "or biophysical, " + SNAP_BIOPHYSICAL_CITATION,
        computed_by=ModelChoice("lai.model", LAI_MODELS),
        render=Render((0.0, 6.0), "ylgn"),
        made_by=(Maker.TILE_CHAIN, Maker.SNAP_BIOPHYSICAL, Maker.BIOPHYSICAL),
    ),
    MASK,
    _snap_biophysical("fapar", "Fraction of absorbed photosynthetically active radiation"),
    _snap_biophysical("fcover", "Fraction of vegetation cover"),
    _gamma0("VV"),
    _gamma0("VH"),
    CLEAR_COUNT,
)

PRODUCTS: dict[str, ProductSpec] = {spec.name: spec for spec in _PRODUCTS}


def scene_products() -> tuple[str, ...]:
    """Names the `products` key accepts: products made per Sentinel-2 scene (the
    Sentinel-1 family comes with sentinel1.enabled, the composites' count with composites)."""
    other_families = {Maker.SNAP_SENTINEL1, Maker.COMPOSITE}
    return tuple(name for name, spec in PRODUCTS.items() if other_families.isdisjoint(spec.made_by))


def product(name: str) -> ProductSpec:
    """The registry entry of `name`; ConfigError naming the known products otherwise."""
    try:
        return PRODUCTS[name]
    except KeyError:
        raise ConfigError(
            f"product '{name}' is unknown; choose from {', '.join(scene_products())}"
        ) from None


def required_bands(products: list[str], lai_model: str) -> frozenset[str]:
    """Canonical band ids needed to make `products` (plus SCL, which masking always needs)."""
    needed: set[str] = set(MASK.reads)
    for name in products:
        needed |= product(name).bands(lai_model)
    return frozenset(needed)
