"""A product COG from one band of a finished raster (what an external processor wrote).

SNAP's biophysical variables and Sentinel-1 gamma0 arrive as float rasters. Each is read in
strips (any rasterio dataset: a file, or a WarpedVRT onto the product's grid), converted,
masked, encoded to the product's integers and streamed through the tile chain's
`COGWriter`, so these products get the same COG layout, overviews and validation before
the rename as every other product.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from rasterio.io import DatasetReaderBase
from rasterio.windows import Window

from raw2ready.config import COGOptions
from raw2ready.products.registry import ProductSpec
from raw2ready.raster.cog import COGWriter
from raw2ready.raster.tile_chain import STRIP_ROWS, ProductResult, RunningStatistics, encode

#: Window of the product grid -> its clear pixels (True where the product is kept).
ClearMask = Callable[[Window], np.ndarray]
#: Float values as read -> the product's values (e.g. linear backscatter -> dB).
Conversion = Callable[[np.ndarray], np.ndarray]


def band_to_cog(
    source: DatasetReaderBase,
    final: Path,
    spec: ProductSpec,
    options: COGOptions,
    scratch: Path,
    convert: Conversion | None = None,
    clear: ClearMask | None = None,
) -> ProductResult:
    """Write band 1 of `source` as the product `spec` at `final` (a validated COG).

    The source's nodata and non-finite converted values become the product's nodata, as do
    pixels `clear` rejects; rows go to the writer strip by strip, so memory stays bounded.
    """
    grid = {
        "width": source.width, "height": source.height, "crs": source.crs,
        "transform": source.transform,
    }  # fmt: skip
    writer = COGWriter(final, spec, grid, options, scratch)
    stats = RunningStatistics()
    try:
        for top in range(0, source.height, STRIP_ROWS):
            window = Window(0, top, source.width, min(STRIP_ROWS, source.height - top))
            raw = source.read(1, window=window, masked=True)
            valid = ~np.ma.getmaskarray(raw)
            values = raw.astype(np.float32).filled(np.nan)
            if convert is not None:
                with np.errstate(divide="ignore", invalid="ignore"):
                    values = convert(values)
            if clear is not None:
                valid &= clear(window)
            encoded = encode(values, valid, spec)
            stats.add_encoded(encoded, spec)
            writer.write(encoded)
        writer.close()
    finally:
        writer.discard()
    epsg = source.crs.to_epsg() if source.crs else None
    return ProductResult(
        spec.name, final, stats.as_stac(), (source.height, source.width),
        tuple(source.transform)[:6], epsg,
    )  # fmt: skip
