"""A synthetic Sentinel-2 L2A sample archive in the layout of Earth Search v1 `sentinel-2-l2a`.

The demo and the tests need an archive that runs offline yet has every trap of the real one:
mixed processing baselines, the BOA offset applied by the archive on some items and not on
others, clouds, cirrus, cloud shadows, a nodata swath edge, 10 m and 20 m bands, real-looking
metadata. This module writes it: per scene, the truth (`surfaces`), seen through the sky
(`observation`), stored as COGs, described by STAC items (`items`).

Data contract, per scene: on clear pixels (SCL 2, 4, 5, 6, 7; the demo draws no snow) the
stored DN is exactly `round(10000 * surface_reflectance) + scene.dn_offset`, where `dn_offset`
is 1000 for baseline >= 04.00 with `earthsearch:boa_offset_applied: false` and 0 otherwise.
Clouds, cirrus and shadows are rendered on 20 m cells, so each 20 m SCL pixel covers a uniform
2 x 2 block of 10 m pixels.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pystac
import rasterio
from affine import Affine

from raw2ready.atomic import atomic_path
from raw2ready.checksums import file_checksum
from raw2ready.demo.items import (
    WrittenFile,
    band_asset,
    save_catalog,
    scene_item,
    scl_asset,
    valid_footprint,
)
from raw2ready.demo.observation import (
    draw_atmosphere,
    observe,
    scene_classification,
    scene_geometry,
    to_dn,
)
from raw2ready.demo.scenes import DEMO_SCENES, DemoScene, item_id, scene_prefix
from raw2ready.demo.surfaces import BANDS, check_seed_and_size, surface_reflectance
from raw2ready.errors import ConfigError
from raw2ready.grid import parse_tile
from raw2ready.sentinel2.bands import SCL_ASSET_KEY, SCL_BAND, SCL_RESOLUTION

__all__ = [
    "DEMO_SCENES",
    "DemoScene",
    "item_id",
    "scene_prefix",
    "surface_reflectance",
    "write_demo_archive",
]

logger = logging.getLogger(__name__)

COG_BLOCKSIZE = 256
MIN_OVERVIEW_LEVELS = 2


def _overview_levels(width: int) -> int:
    """GDAL's automatic count (halve until below one block), but never fewer than two."""
    needed = math.ceil(math.log2(width / COG_BLOCKSIZE)) if width > COG_BLOCKSIZE else 0
    return max(MIN_OVERVIEW_LEVELS, needed)


def _write_cog(
    path: Path, data: np.ndarray, transform: Affine, epsg: int, resampling: str
) -> WrittenFile:
    """Write one band as a DEFLATE, 256 px tiled COG with overviews, nodata 0, atomically."""
    profile = {
        "driver": "COG",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": data.dtype.name,
        "crs": f"EPSG:{epsg}",
        "transform": transform,
        "nodata": 0,
        "compress": "DEFLATE",
        "predictor": 2,
        "blocksize": COG_BLOCKSIZE,
        "overview_resampling": resampling,
        "overview_count": _overview_levels(max(data.shape)),
    }
    with atomic_path(path) as partial, rasterio.open(partial, "w", **profile) as dst:
        dst.write(data, 1)
    return WrittenFile(path, path.stat().st_size, file_checksum(path))


def _write_scene(scene: DemoScene, out_dir: Path, seed: int, size: int) -> pystac.Item:
    """Render one scene, write its 11 COGs, and return its item (asset hrefs absolute)."""
    tile = parse_tile(scene.tile)
    east, north = tile.upper_left
    transforms = {res: Affine(res, 0.0, east, 0.0, -res, north) for res in (10, 20)}
    geometry = scene_geometry(scene, seed)
    truth = surface_reflectance(scene.tile, scene.date, seed, size)
    atmosphere = draw_atmosphere(scene, seed, size, geometry)
    scl = scene_classification(truth, atmosphere)
    folder = out_dir / scene_prefix(scene)
    folder.mkdir(parents=True, exist_ok=True)

    assets: dict[str, pystac.Asset] = {}
    for spec in BANDS:
        dn = to_dn(
            observe(truth[spec.band_id], spec.band_id, atmosphere),
            atmosphere.nodata,
            scene.dn_offset,
        )
        transform = transforms[spec.resolution]
        written = _write_cog(folder / f"{spec.band_id}.tif", dn, transform, tile.epsg, "AVERAGE")
        assets[spec.asset_key] = band_asset(spec, scene, written, dn.shape, transform)
    scl_grid = transforms[SCL_RESOLUTION]
    written = _write_cog(folder / f"{SCL_BAND}.tif", scl, scl_grid, tile.epsg, "NEAREST")
    assets[SCL_ASSET_KEY] = scl_asset(written, scl.shape, scl_grid)

    footprint = valid_footprint(~atmosphere.nodata, scl_grid, tile.epsg)
    logger.info("demo scene %s written to %s", item_id(scene), folder)
    return scene_item(scene, geometry, scl, assets, footprint)


def write_demo_archive(
    out_dir: Path,
    seed: int = 42,
    size: int = 512,
    scenes: Sequence[DemoScene] = DEMO_SCENES,
) -> Path:
    """Write the sample archive (by default the demo's scenes; tests pass their own, e.g.
    several in one month); return the path of its root catalog.json."""
    check_seed_and_size(seed, size)
    out_dir = Path(out_dir).resolve()
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"demo archive: '{out_dir}' exists and is not a directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    logger.info("writing %d demo scenes (%d px, seed %d) to %s", len(scenes), size, seed, out_dir)
    items = [_write_scene(scene, out_dir, seed, size) for scene in scenes]
    return save_catalog(out_dir, scenes, items)
