"""A full-size synthetic Sentinel-2 L2A tile for benchmarks, generated strip by strip.

Content that compresses and classifies like a real scene: crop parcels with per-parcel
NDVI, lakes and a river, sensor noise, clouds with soft edges, thin cirrus, displaced cloud
shadows and a nodata swath edge. B04 and B08 are written at 10 m and SCL at 20 m as DEFLATE
COGs with 1024 px blocks and nearest overviews, like Earth Search's archive. Baseline 05.10:
DN = 10000 * reflectance + 1000 (the BOA offset still to apply), 0 = nodata.

Generation is streamed in strips, so memory stays small whatever the size; the result is a
function of (size, seed) only (GENERATOR_VERSION marks changes of the model).
"""

from __future__ import annotations

import json
import logging
import shutil
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.windows import Window

log = logging.getLogger(__name__)

#: Bump when the content model changes, so stale caches are regenerated.
GENERATOR_VERSION = 1
BANDS = ("B04", "B08", "SCL")
EPSG = 32647
ORIGIN = (600000.0, 1600020.0)
DN_OFFSET = 1000
STRIP_ROWS = 1024
CLOUD_COVER_THRESHOLD = 0.62
SHADOW_SHIFT_20M = (35, 22)  # cloud shadow displacement (rows, cols) in 20 m cells


@dataclass(frozen=True)
class Parcels:
    """Rows of rectangular crop parcels: row edges and, per row band, column edges and values."""

    row_edges: np.ndarray
    col_edges: list[np.ndarray]
    ndvi: list[np.ndarray]
    brightness: list[np.ndarray]


@dataclass(frozen=True)
class TileModel:
    """Everything random about the tile, drawn once from the seed."""

    size: int
    parcels: Parcels
    lakes: np.ndarray  # coarse value noise, 10 m pixel spacing LAKE_SPACING
    cloud_large: np.ndarray
    cloud_small: np.ndarray
    cirrus: np.ndarray
    seed: int


LAKE_SPACING = 700
CLOUD_LARGE_SPACING = 600
CLOUD_SMALL_SPACING = 120
CIRRUS_SPACING = 900


def _coarse(rng: np.random.Generator, size: int, spacing: int) -> np.ndarray:
    """Random values on a grid `spacing` px apart, covering `size` px plus one cell."""
    cells = size // spacing + 2
    return rng.random((cells, cells), dtype=np.float32)


def _parcels(rng: np.random.Generator, size: int) -> Parcels:
    """Parcel rows 20-120 px high, each cut into parcels 20-160 px wide."""
    heights = rng.integers(20, 121, size=size // 20 + 2)
    row_edges = np.concatenate([[0], np.cumsum(heights)])
    row_edges = row_edges[: np.searchsorted(row_edges, size) + 1]
    col_edges, ndvi, brightness = [], [], []
    for _ in range(len(row_edges) - 1):
        widths = rng.integers(20, 161, size=size // 20 + 2)
        edges = np.concatenate([[0], np.cumsum(widths)])
        edges = edges[: np.searchsorted(edges, size) + 1]
        count = len(edges) - 1
        kind = rng.random(count)
        # 55 % crops (NDVI 0.5-0.88), 25 % grass (0.3-0.6), 15 % bare soil, 5 % built-up.
        value = np.where(
            kind < 0.55,
            rng.uniform(0.5, 0.88, count),
            np.where(
                kind < 0.8,
                rng.uniform(0.3, 0.6, count),
                np.where(
                    kind < 0.95, rng.uniform(0.08, 0.22, count), rng.uniform(0.02, 0.12, count)
                ),
            ),
        )
        col_edges.append(edges)
        ndvi.append(value.astype(np.float32))
        brightness.append(rng.uniform(0.03, 0.16, count).astype(np.float32))
    return Parcels(row_edges, col_edges, ndvi, brightness)


def tile_model(size: int, seed: int) -> TileModel:
    """Draw the tile's parcels and coarse noise fields from `seed`."""
    rng = np.random.default_rng(seed)
    return TileModel(
        size=size,
        parcels=_parcels(rng, size),
        lakes=_coarse(rng, size, LAKE_SPACING),
        cloud_large=_coarse(rng, size, CLOUD_LARGE_SPACING),
        cloud_small=_coarse(rng, size, CLOUD_SMALL_SPACING),
        cirrus=_coarse(rng, size, CIRRUS_SPACING),
        seed=seed,
    )


def _smooth(coarse: np.ndarray, spacing: float, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of a coarse grid at pixel coordinates (rows x cols)."""
    r = np.clip(rows / spacing, 0, coarse.shape[0] - 1.001)
    c = np.clip(cols / spacing, 0, coarse.shape[1] - 1.001)
    r0, c0 = r.astype(np.intp), c.astype(np.intp)
    fr, fc = (r - r0).astype(np.float32)[:, None], (c - c0).astype(np.float32)
    along_rows = coarse[r0] * (1 - fr) + coarse[r0 + 1] * fr
    return along_rows[:, c0] * (1 - fc) + along_rows[:, c0 + 1] * fc


def _surface(model: TileModel, top: int, bottom: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noise-free red and NIR reflectance and a water flag for rows [top, bottom) at 10 m."""
    size, parcels = model.size, model.parcels
    ndvi = np.empty((bottom - top, size), np.float32)
    bright = np.empty_like(ndvi)
    first = np.searchsorted(parcels.row_edges, top, side="right") - 1
    band = first
    while band < len(parcels.row_edges) - 1 and parcels.row_edges[band] < bottom:
        start = max(top, parcels.row_edges[band]) - top
        stop = min(bottom, parcels.row_edges[band + 1]) - top
        widths = np.diff(np.minimum(parcels.col_edges[band], size))
        ndvi[start:stop] = np.repeat(parcels.ndvi[band], widths)
        bright[start:stop] = np.repeat(parcels.brightness[band], widths)
        band += 1
    rows = np.arange(top, bottom, dtype=np.float64)
    cols = np.arange(size, dtype=np.float64)
    lake = _smooth(model.lakes, LAKE_SPACING, rows, cols) > 0.8
    river_centre = size * (0.3 + 0.05 * np.sin(rows / size * 9.0))[:, None]
    river = np.abs(cols[None, :] - river_centre) < 6 + 3 * np.sin(rows / 300.0)[:, None]
    water = lake | river
    red = bright * (1.2 - ndvi)
    nir = red * (1 + ndvi) / (1 - ndvi)
    red[water], nir[water] = 0.035, 0.015
    return red, nir, water


def _atmosphere(model: TileModel, top20: int, bottom20: int) -> tuple[np.ndarray, ...]:
    """Cloud opacity, cirrus thickness and shadow strength on 20 m cells."""
    width20 = model.size // 2
    rows = np.arange(top20, bottom20, dtype=np.float64) * 2
    cols = np.arange(width20, dtype=np.float64) * 2

    def cloudiness(r: np.ndarray, c: np.ndarray) -> np.ndarray:
        large = _smooth(model.cloud_large, CLOUD_LARGE_SPACING, r, c)
        small = _smooth(model.cloud_small, CLOUD_SMALL_SPACING, r, c)
        return np.clip((0.75 * large + 0.25 * small - CLOUD_COVER_THRESHOLD) / 0.08, 0, 1)

    opacity = cloudiness(rows, cols)
    shift_r, shift_c = SHADOW_SHIFT_20M
    shadow = cloudiness(rows - 2 * shift_r, cols - 2 * shift_c) * (1 - opacity)
    cirrus = np.clip((_smooth(model.cirrus, CIRRUS_SPACING, rows, cols) - 0.7) / 0.2, 0, 1)
    return opacity.astype(np.float32), cirrus.astype(np.float32), shadow.astype(np.float32)


def _swath_nodata(size: int, top: int, bottom: int) -> np.ndarray:
    """The right edge of the orbit swath: a slanted line, nodata beyond it (about 10 %)."""
    rows = np.arange(top, bottom)[:, None]
    return np.arange(size)[None, :] > size * 0.95 - rows * 0.1


def _upsample(cells: np.ndarray) -> np.ndarray:
    """20 m cells to 10 m pixels by replication."""
    return np.repeat(np.repeat(cells, 2, axis=0), 2, axis=1)


def tile_strip(model: TileModel, top: int, bottom: int) -> dict[str, np.ndarray]:
    """DNs of B04 and B08 for rows [top, bottom) and SCL for the matching 20 m rows."""
    red, nir, water = _surface(model, top, bottom)
    opacity20, cirrus20, shadow20 = _atmosphere(model, top // 2, bottom // 2)
    opacity, cirrus, shadow = (_upsample(a) for a in (opacity20, cirrus20, shadow20))
    rng = np.random.default_rng([model.seed, top])
    observed = {}
    for band, surface, cloud_top in (("B04", red, 0.55), ("B08", nir, 0.58)):
        value = surface * (1 - 0.65 * shadow) + 0.03 * cirrus
        value = value * (1 - opacity) + cloud_top * opacity
        value += rng.normal(0, 0.004, value.shape).astype(np.float32)
        observed[band] = np.clip(np.rint(value * 10000) + DN_OFFSET, 1, 65535).astype(np.uint16)
    nodata = _swath_nodata(model.size, top, bottom)
    for band in ("B04", "B08"):
        observed[band][nodata] = 0
    scl = np.where(nir[::2, ::2] > 2 * red[::2, ::2], 4, 5).astype(np.uint8)
    scl[water[::2, ::2]] = 6
    scl[rng.random(scl.shape) < 0.01] = 7
    scl[(shadow20 > 0.1) & (shadow20 <= 0.3)] = 2
    scl[shadow20 > 0.3] = 3
    scl[cirrus20 > 0.3] = 10
    scl[opacity20 > 0.25] = 8
    scl[opacity20 > 0.6] = 9
    scl[nodata[::2, ::2]] = 0
    observed["SCL"] = scl
    return observed


def _write_cog(scratch: Path, final: Path) -> None:
    """DEFLATE COG with 1024 px blocks and nearest overviews, as the archives publish."""
    tmp = final.with_suffix(".tmp.tif")
    with rasterio.Env(GDAL_NUM_THREADS="2"):
        rasterio.shutil.copy(
            scratch, tmp, driver="COG", COMPRESS="DEFLATE", BLOCKSIZE="1024",
            OVERVIEW_RESAMPLING="NEAREST", NUM_THREADS="2",
        )  # fmt: skip
    tmp.replace(final)


def _publish(
    scratch: dict[str, Path], paths: dict[str, Path], stamp_path: Path, stamp: dict[str, Any]
) -> None:
    """Turn each band's scratch GeoTIFF into its COG, then write the cache's stamp."""
    for band, path in scratch.items():
        _write_cog(path, paths[band])
        path.unlink()
    stamp_path.write_text(json.dumps(stamp))


def generate_tile(folder: Path, size: int, seed: int = 0) -> dict[str, Path]:
    """Write (or reuse) the tile's B04, B08 and SCL COGs in `folder`; return their paths."""
    if size % 2:
        raise ValueError(f"tile size must be even (SCL is at half resolution), got {size}")
    stamp = {"generator": GENERATOR_VERSION, "size": size, "seed": seed}
    paths = {band: folder / f"{band}.tif" for band in BANDS}
    stamp_path = folder / "tile.json"
    if stamp_path.exists() and json.loads(stamp_path.read_text()) == stamp:
        return paths
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    log.info("generating a %d x %d synthetic tile in %s", size, size, folder)
    model = tile_model(size, seed)
    transform = Affine(10.0, 0.0, ORIGIN[0], 0.0, -10.0, ORIGIN[1])
    profiles = {
        band: {
            "driver": "GTiff",
            "width": size,
            "height": size,
            "count": 1,
            "dtype": "uint16",
            "crs": f"EPSG:{EPSG}",
            "transform": transform,
            "nodata": 0,
            "tiled": True,
            "blockxsize": 512,
            "blockysize": 512,
        }
        for band in ("B04", "B08")
    }
    profiles["SCL"] = dict(
        profiles["B04"], width=size // 2, height=size // 2, dtype="uint8",
        transform=transform * Affine.scale(2),
    )  # fmt: skip
    scratch = {band: folder / f"{band}.scratch.tif" for band in BANDS}
    writers = {band: rasterio.open(scratch[band], "w", **profiles[band]) for band in BANDS}
    try:
        for top in range(0, size, STRIP_ROWS):
            bottom = min(size, top + STRIP_ROWS)
            strip = tile_strip(model, top, bottom)
            for band in ("B04", "B08"):
                writers[band].write(strip[band], 1, window=Window(0, top, size, bottom - top))
            scl_window = Window(0, top // 2, size // 2, (bottom - top) // 2)
            writers["SCL"].write(strip["SCL"], 1, window=scl_window)
    finally:
        for writer in writers.values():
            writer.close()
    _publish(scratch, paths, stamp_path, stamp)
    return paths


#: The other bands ESA's biophysical networks read, as linear mixtures of the tile's red and
#: NIR reflectance (offset, red weight, NIR weight) that keep vegetation and water apart.
BIOPHYSICAL_MIXTURES = {
    "B03": (0.03, 0.5, 0.08), "B05": (0.01, 0.6, 0.15), "B06": (0.0, 0.3, 0.55),
    "B07": (0.0, 0.15, 0.8), "B8A": (0.0, 0.0, 1.02), "B11": (0.02, 0.5, 0.4),
    "B12": (0.01, 0.6, 0.2),
}  # fmt: skip
#: Bands at 20 m (averaged 2 x 2 from the 10 m mixture); B03 stays at 10 m.
BANDS_20M = ("B05", "B06", "B07", "B8A", "B11", "B12")


def generate_biophysical_bands(folder: Path, inputs: dict[str, Path]) -> dict[str, Path]:
    """Write (or reuse) B03, B05-B07, B8A, B11 and B12 derived from the tile's B04 and B08
    (in `folder`, next to them), for the biophysical networks; return their paths."""
    paths = {band: folder / f"{band}.tif" for band in BIOPHYSICAL_MIXTURES}
    stamp_path = folder / "biophysical.json"
    stamp = {"tile": json.loads((folder / "tile.json").read_text()), "bands": BIOPHYSICAL_MIXTURES}
    if stamp_path.exists() and json.loads(stamp_path.read_text()) == json.loads(json.dumps(stamp)):
        return paths
    log.info("deriving the biophysical networks' bands in %s", folder)
    with ExitStack() as stack:
        red_src = stack.enter_context(rasterio.open(inputs["B04"]))
        nir_src = stack.enter_context(rasterio.open(inputs["B08"]))
        size, profile = red_src.width, dict(red_src.profile)
        profile.update(tiled=True, blockxsize=512, blockysize=512, compress=None)
        scratch = {band: folder / f"{band}.scratch.tif" for band in BIOPHYSICAL_MIXTURES}
        writers = {}
        for band in BIOPHYSICAL_MIXTURES:
            factor = 2 if band in BANDS_20M else 1
            writers[band] = stack.enter_context(rasterio.open(
                scratch[band], "w", **dict(profile, width=size // factor, height=size // factor,
                transform=red_src.transform * Affine.scale(factor)),
            ))  # fmt: skip
        for top in range(0, size, STRIP_ROWS):
            window = Window(0, top, size, min(STRIP_ROWS, size - top))
            red_dn, nir_dn = red_src.read(1, window=window), nir_src.read(1, window=window)
            nodata = (red_dn == 0) | (nir_dn == 0)
            red = (red_dn.astype(np.float32) - DN_OFFSET) / 10000
            nir = (nir_dn.astype(np.float32) - DN_OFFSET) / 10000
            for band, (offset, red_weight, nir_weight) in BIOPHYSICAL_MIXTURES.items():
                value = offset + red_weight * red + nir_weight * nir
                dn = np.clip(np.rint(value * 10000) + DN_OFFSET, 1, 65535)
                dn[nodata] = 0
                if band in BANDS_20M:
                    rows, cols = dn.shape[0] // 2, dn.shape[1] // 2
                    dn = np.rint(dn.reshape(rows, 2, cols, 2).mean(axis=(1, 3)))
                    dn[nodata.reshape(rows, 2, cols, 2).any(axis=(1, 3))] = 0
                    target = Window(0, top // 2, cols, rows)
                else:
                    target = window
                writers[band].write(dn.astype(np.uint16), 1, window=target)
    _publish(scratch, paths, stamp_path, stamp)
    return paths
