"""Sentinel-1 GRD -> terrain-flattened gamma0 products on one MGRS tile, and what their
STAC item says about them.

The GRD zip is checked and extracted, SNAP's gpt runs the backscatter graph
(processors/snap.py) subset to the tile, and each polarisation's gamma0 is cut to the
tile's 10 m grid and written through the one COG writer (raster/band_product.py) in dB
(10 log10), stored as int16 = dB x 1000: 0.001 dB steps over the whole range, where
linear x 1000 would leave dark fields and water a handful of levels. The item is built by
stac/catalog.py's `scene_item`; this module gives it the Sentinel-1 properties and the SAR
extension.
"""

from __future__ import annotations

import logging
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import rasterio
from pystac.extensions.sar import FrequencyBand, Polarization, SarExtension
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds, transform_geom

from raw2ready.config import Settings
from raw2ready.errors import ItemError, ProcessingError
from raw2ready.grid import TILE_SIZE_10M, parse_tile
from raw2ready.layout import Layout
from raw2ready.processors.sen2cor import extract_fetched
from raw2ready.processors.snap import (
    S1_DEM,
    S1_PIXEL_SPACING,
    band_file,
    run_graph,
    s1_grd_graph,
)
from raw2ready.products.registry import PRODUCTS
from raw2ready.raster.band_product import band_to_cog
from raw2ready.raster.tile_chain import ProductResult
from raw2ready.scene import SceneRecord
from raw2ready.sentinel1.grd import GAMMA0, S1Product

log = logging.getLogger(__name__)

#: Margin around the tile kept by the Subset before flattening (edge effects stay outside).
SUBSET_MARGIN_M = 2_000.0


def tile_region(tile: str, margin: float = SUBSET_MARGIN_M) -> str | None:
    """The tile's square widened by `margin` metres, as a WKT POLYGON in lon/lat (Subset's
    geoRegion); None across the antimeridian, where the whole product is processed."""
    parsed = parse_tile(tile)
    west, north = parsed.upper_left
    east, south = west + TILE_SIZE_10M * 10.0 + margin, north - TILE_SIZE_10M * 10.0 - margin
    west, north = west - margin, north + margin
    square = [[west, north], [east, north], [east, south], [west, south], [west, north]]
    geometry = transform_geom(
        f"EPSG:{parsed.epsg}", "EPSG:4326", {"type": "Polygon", "coordinates": [square]},
        antimeridian_cutting=True, precision=6,
    )  # fmt: skip
    if geometry["type"] != "Polygon":
        return None
    ring = ", ".join(f"{lon:.6f} {lat:.6f}" for lon, lat in geometry["coordinates"][0])
    return f"POLYGON(({ring}))"


def tile_window_grid(
    tile: str, bounds: tuple[float, float, float, float], crs: object
) -> tuple[rasterio.Affine, int, int]:
    """(transform, width, height) of the tile's 10 m grid cut to `bounds` (any CRS)."""
    parsed = parse_tile(tile)
    west, north = parsed.upper_left
    left, bottom, right, top = transform_bounds(crs, f"EPSG:{parsed.epsg}", *bounds)
    size = TILE_SIZE_10M * 10.0
    left, right = max(left, west), min(right, west + size)
    bottom, top = max(bottom, north - size), min(top, north)
    if left >= right or bottom >= top:
        raise ProcessingError(f"the Sentinel-1 product does not overlap tile {tile}")
    col0, col1 = math.floor((left - west) / 10), math.ceil((right - west) / 10)
    row0, row1 = math.floor((north - top) / 10), math.ceil((north - bottom) / 10)
    transform = rasterio.Affine(10.0, 0.0, west + col0 * 10, 0.0, -10.0, north - row0 * 10)
    return transform, col1 - col0, row1 - row0


def to_db(linear: np.ndarray) -> np.ndarray:
    """Linear backscatter -> dB (10 log10); zero or negative (outside the swath) -> NaN."""
    return np.where(linear > 0, 10 * np.log10(linear), np.nan)


@dataclass(frozen=True)
class Backscatter:
    """The gamma0 products of one GRD product on one tile, and how they were made."""

    product: S1Product
    polarisations: tuple[str, ...]
    results: dict[str, ProductResult]
    lineage: str

    @property
    def properties(self) -> dict[str, Any]:
        """The item properties of the mission (the SAR extension adds the product's)."""
        return {"constellation": "sentinel-1", "instruments": ["c-sar"]}

    def add_sar(self, item: pystac.Item) -> None:
        """Describe the product with the SAR extension: mode, C band, polarisations, GRD."""
        SarExtension.ext(item, add_if_missing=True).apply(
            instrument_mode=self.product.mode,
            frequency_band=FrequencyBand.C,
            polarizations=[Polarization(pol) for pol in self.polarisations],
            product_type="GRD",
        )


def gamma0_products(
    settings: Settings, archive: Path, record: SceneRecord, layout: Layout
) -> Backscatter:
    """Check and extract a fetched GRD zip, run the gpt chain for the configured
    polarisations and write their gamma0 COGs cut to the record's tile."""
    product = S1Product.of(record)
    polarisations = settings.sentinel1.polarisations
    missing = product.missing(polarisations)
    if missing:
        raise ItemError(f"{product.id} lacks polarisation(s) {', '.join(missing)}")
    tile = parse_tile(record.tile)
    scratch = layout.scratch(record)
    try:
        safe = extract_fetched(archive, scratch / "safe")
        log_file = layout.tool_log(record, "gpt-s1-grd")
        graph = s1_grd_graph(tile.epsg, polarisations, tile_region(tile.id))
        data = run_graph(
            graph, safe / "manifest.safe", scratch / "snap", "s1_grd",
            settings.processors.snap, log_file,
        )  # fmt: skip
        results: dict[str, ProductResult] = {}
        for pol in polarisations:
            name = GAMMA0[pol]
            with rasterio.open(band_file(data, f"Gamma0_{pol}", log_file)) as source:
                transform, width, height = tile_window_grid(tile.id, source.bounds, source.crs)
                with WarpedVRT(
                    source, crs=f"EPSG:{tile.epsg}", transform=transform, width=width,
                    height=height, resampling=Resampling.nearest, src_nodata=source.nodata,
                ) as grid:  # fmt: skip
                    results[name] = band_to_cog(
                        grid, layout.product(record, name), PRODUCTS[name], settings.cog,
                        scratch, convert=to_db,
                    )  # fmt: skip
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    lineage = (
        f"Sentinel-1 GRD {product.id}: ESA SNAP gpt Apply-Orbit-File, ThermalNoiseRemoval, "
        "Calibration (beta0), Subset to the tile, Terrain-Flattening (gamma0), "
        f"Terrain-Correction ({S1_DEM}, EPSG:{tile.epsg}, {S1_PIXEL_SPACING:g} m); "
        f"cut to tile {tile.id}; gamma0 stored as int16 = dB x 1000."
    )
    log.info("Sentinel-1 %s on tile %s: %s", product.id, tile.id, ", ".join(results))
    return Backscatter(product, polarisations, results, lineage)
