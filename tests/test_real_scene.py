"""The per-scene chain on a real (decimated) Earth Search L2A scene: 29RKH, 2020-02-19."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pystac
import rasterio
from rio_cogeo.cogeo import cog_validate
from scipy import ndimage

from raw2ready.campaign.reprocess import layout_of, reprocess_scene
from raw2ready.scene import BandAsset
from raw2ready.sentinel2.normalize import normalize_item

from .conftest import REAL_S2, make_settings, requires_real_s2

PIXELS = REAL_S2 / "pixels" / "riotilerpds_S2A_29RKH_20200219_0_L2A_decimated"
ITEM = REAL_S2 / "stac_items" / "es1__sentinel-2-l2a__S2A_29RKH_20200219_0_L2A.json"


@requires_real_s2
def test_real_scene_products_match_an_independent_ndvi(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, tiles=["29RKH"], start="2020-01-01")
    item = pystac.Item.from_file(str(ITEM))
    record = normalize_item(item, settings.bands)
    assert record.processing_baseline == "02.14"
    assert record.apply_boa_offset is False
    record = replace(
        record, bands={band: BandAsset(str(PIXELS / f"{band}.tif")) for band in record.bands}
    )

    reprocess_scene(settings, record)

    layout = layout_of(settings)
    for product in settings.products:
        path = layout.product(record, product)
        assert cog_validate(str(path), quiet=True)[0], path
    with rasterio.open(PIXELS / "B04.tif") as red_src, rasterio.open(PIXELS / "B08.tif") as nir_src:
        red = red_src.read(1).astype(np.float64)
        nir = nir_src.read(1).astype(np.float64)
    with rasterio.open(PIXELS / "SCL.tif") as scl_src:
        classes = scl_src.read(1)
        pixel = scl_src.transform.a  # 200 m: decimated
    # The default buffers (300 m cloud, 90 m shadow: less than a pixel here), independently.
    cloud_buffer = ndimage.distance_transform_edt(~np.isin(classes, [8, 9]), sampling=pixel) <= 300
    scl = np.repeat(np.repeat(classes, 2, axis=0), 2, axis=1)
    buffered = np.repeat(np.repeat(cloud_buffer, 2, axis=0), 2, axis=1)
    with rasterio.open(layout.product(record, "ndvi")) as ndvi_src:
        stored = ndvi_src.read(1)
        assert ndvi_src.scales == (0.0001,)
        assert ndvi_src.nodata == -32768
    clear = ~np.isin(scl, [0, 1, 3, 8, 9, 10]) & ~buffered & (red > 0) & (nir > 0)
    assert (buffered & ~np.isin(scl, [8, 9])).sum() > 1000
    expected = (nir - red) / (nir + red)
    assert clear.sum() > 1000
    np.testing.assert_allclose(
        stored[clear] * 1e-4, expected[clear], atol=0.5e-4 + 1e-6
    )  # quantum + float32
    assert (stored[~clear] == -32768).all()

    item_json = json.loads(layout.item(record).read_text())
    assert item_json["properties"]["s2:processing_baseline"] == "02.14"
    # NDVI's thumbnail; no overview: the scene fetched only B04 and B08 of a composite's bands.
    assert set(item_json["assets"]) == {"ndvi", "lai", "mask", "thumbnail"}
    stats = item_json["assets"]["ndvi"]["raster:bands"][0]["statistics"]
    assert stats["minimum"] >= -1 and stats["maximum"] <= 1
