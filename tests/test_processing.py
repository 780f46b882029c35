"""Per-scene processing pieces: strips, encoding, SCL masks, statistics, overviews, the
streamed COG, and the whole chain on small scenes of awkward sizes against numpy."""

from __future__ import annotations

import itertools
import math
import zlib
from pathlib import Path

import numpy as np
import pytest
import rasterio
import zstandard
from affine import Affine
from rio_cogeo.cogeo import cog_validate
from scipy import ndimage

from raw2ready.products import indices, masking
from raw2ready.products.masking import MASK_CLEAR, MASK_CLOUD, MASK_NODATA, MASK_OTHER, MASK_SHADOW
from raw2ready.products.registry import PRODUCTS
from raw2ready.raster import overviews, tiff
from raw2ready.raster import tile_chain as processing
from raw2ready.raster.cog import COGOptions, COGWriter, creation_options, tile_compressor
from raw2ready.raster.tile_chain import ProcessingOptions, RunningStatistics, encode, process_scene
from raw2ready.scene import SceneRecord

NDVI, LAI, MASK = PRODUCTS["ndvi"], PRODUCTS["lai"], PRODUCTS["mask"]
MASKED = (0, 1, 3, 8, 9, 10)
#: SCL classes of each buffered mask class, its buffer code, in the order a pixel near
#: several is claimed (the later wins): shadow, cirrus, cloud.
BUFFERED = (("shadow", (3,), 7), ("cirrus", (10,), 6), ("cloud", (8, 9), 5))


# ------------------------------------------------------------------------------- strips


@pytest.mark.parametrize(
    ("height", "block_rows"),
    [(10980, 1024), (10980, 512), (1030, 256), (777, 1), (5000, 1000), (300, 2048), (999, 3)],
)
def test_strips_cover_the_rows_once_in_even_block_multiples(height: int, block_rows: int) -> None:
    strips = list(processing._strips(height, block_rows))
    assert strips[0][0] == 0 and strips[-1][1] == height
    assert all(stop == start for (_, stop), (start, _) in itertools.pairwise(strips))
    for top, bottom in strips[:-1]:
        assert (bottom - top) % 2 == 0  # keeps 20 m SCL rows aligned
        if block_rows % 2 == 0:
            assert top % block_rows == 0 and (bottom - top) % block_rows == 0
    assert all(top % 2 == 0 for top, _ in strips)


@pytest.mark.parametrize(("rows", "parts", "step"), [(1024, 2, 64), (740, 2, 64), (100, 3, 10)])
def test_parts_split_a_strip_into_whole_chunks(rows: int, parts: int, step: int) -> None:
    pieces = processing._parts(rows, parts, step)
    assert len(pieces) <= parts
    assert pieces[0].start == 0 and pieces[-1].stop == rows
    assert all(a.stop == b.start for a, b in itertools.pairwise(pieces))
    assert all(piece.start % step == 0 for piece in pieces)


# ------------------------------------------------------------------------------- encoding


def test_encode_quantizes_and_sends_invalid_and_non_finite_pixels_to_nodata() -> None:
    values = np.array([[0.12344, -0.98765, np.nan, np.inf, 0.5, 7.0]], dtype=np.float32)
    valid = np.array([[True, True, True, True, False, True]])
    out = np.full((2, 6), 99, dtype=np.int16)
    encoded = encode(values, valid, NDVI, out=out[1:])
    assert np.shares_memory(encoded, out)
    assert out[1].tolist() == [1234, -9876, -32768, -32768, -32768, 32767]
    assert out[0].tolist() == [99] * 6  # untouched outside the slice
    lai = encode(np.array([5.9996, 0.0004], np.float32), np.array([True, True]), LAI)
    assert lai.dtype == np.int16 and lai.tolist() == [6000, 0]


def test_encode_never_writes_the_nodata_value_for_a_valid_pixel() -> None:
    values = np.array([-10.0, -3.2768, -3.2767], dtype=np.float32)
    encoded = encode(values, np.ones(3, bool), NDVI)
    assert encoded.tolist() == [-32767, -32767, -32767]


def test_reflectance_applies_the_boa_offset_in_float32() -> None:
    dn = np.array([0, 1000, 1234, 11000], dtype=np.uint16)
    assert processing.reflectance(dn, -1000).dtype == np.float32
    np.testing.assert_allclose(processing.reflectance(dn, -1000), [-0.1, 0, 0.0234, 1.0])
    np.testing.assert_allclose(processing.reflectance(dn, 0), [0, 0.1, 0.1234, 1.1])


def test_indices_match_their_published_formulas() -> None:
    rng = np.random.default_rng(3)
    red = rng.uniform(0.01, 0.3, 500).astype(np.float32)
    nir = rng.uniform(0.05, 0.6, 500).astype(np.float32)
    blue = rng.uniform(0.01, 0.2, 500).astype(np.float32)
    r, n, b = red.astype(float), nir.astype(float), blue.astype(float)
    np.testing.assert_allclose(indices.ndvi(red, nir), (n - r) / (n + r), rtol=1e-5)
    savi = 1.5 * (n - r) / (n + r + 0.5)
    np.testing.assert_allclose(indices.savi(red, nir), savi, rtol=1e-5)
    lai = np.clip(-np.log((0.69 - np.minimum(savi, 0.6899)) / 0.59) / 0.91, 0, 6)
    np.testing.assert_allclose(indices.lai_savi_metric(red, nir), lai, rtol=1e-4, atol=1e-5)
    evi = np.clip(2.5 * (n - r) / (n + 6 * r - 7.5 * b + 1), -1, 1)
    np.testing.assert_allclose(indices.evi(blue, red, nir), evi, rtol=1e-5, atol=1e-6)
    boegh = np.clip(3.618 * evi - 0.118, 0, 6)
    np.testing.assert_allclose(indices.lai_evi_boegh(blue, red, nir), boegh, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------- masking


def test_classify_replicates_20m_classes_and_marks_zero_dns_as_nodata() -> None:
    scl = np.array([[4, 9], [3, 0]], dtype=np.uint8)
    red = np.full((4, 4), 1500, np.uint16)
    nir = np.full((4, 4), 2500, np.uint16)
    red[0, 1] = 0
    nir[3, 3] = 0
    lookup = masking.mask_lookup(frozenset(MASKED))
    coarse = lookup[scl]
    codes = masking.classify(coarse, 2, [red, nir])
    expected = np.array(
        [
            [MASK_CLEAR, MASK_NODATA, MASK_CLOUD, MASK_CLOUD],
            [MASK_CLEAR, MASK_CLEAR, MASK_CLOUD, MASK_CLOUD],
            [MASK_SHADOW, MASK_SHADOW, MASK_NODATA, MASK_NODATA],
            [MASK_SHADOW, MASK_SHADOW, MASK_NODATA, MASK_NODATA],
        ]
    )
    np.testing.assert_array_equal(codes, expected)
    assert coarse.tolist() == lookup[scl].tolist()  # the input is not modified


def test_mask_lookup_follows_the_configured_classes() -> None:
    lookup = masking.mask_lookup(frozenset({0, 2, 11}))
    assert lookup[2] == MASK_OTHER and lookup[11] == MASK_OTHER
    assert lookup[9] == MASK_CLEAR and lookup[0] == MASK_NODATA


# ------------------------------------------------------------------------------- statistics


def _reference_stats(values: np.ndarray, pixels: int) -> dict[str, float]:
    mean = values.mean()
    return {
        "minimum": values.min(),
        "maximum": values.max(),
        "mean": mean,
        "stddev": math.sqrt(max(0.0, (values**2).mean() - mean**2)),
        "valid_percent": 100 * values.size / pixels,
    }


@pytest.mark.parametrize("spec", [NDVI, LAI, MASK], ids=lambda spec: spec.name)
def test_statistics_of_encoded_blocks_equal_those_of_the_decoded_values(spec) -> None:
    rng = np.random.default_rng(11)
    info = np.iinfo(spec.dtype)
    blocks = [
        rng.integers(max(info.min + 1, -20000), min(info.max - 1, 20000), size=(rows, 37)).astype(
            spec.dtype
        )
        for rows in (5, 1, 12)
    ]
    blocks[0][0, :20] = spec.nodata
    blocks[1][:] = spec.nodata  # an all-nodata block counts only as pixels
    stats = RunningStatistics(moments=spec is not MASK)
    for block in blocks:
        stats.add_encoded(block, spec)
    everything = np.concatenate([block.ravel() for block in blocks])
    valid = everything[everything != spec.nodata].astype(np.float64) * spec.scale + spec.offset
    expected = _reference_stats(valid, everything.size)
    reported = stats.as_stac()
    assert reported.keys() == (
        {"minimum", "maximum", "valid_percent"} if spec is MASK else expected.keys()
    )
    for key, value in reported.items():  # as_stac rounds to 6 (percent: 4) decimals
        assert value == pytest.approx(expected[key], abs=5e-5 if key == "valid_percent" else 5e-7)


def test_statistics_of_decoded_values_still_accumulate() -> None:
    stats = RunningStatistics()
    stats.add(np.array([0.5, -0.25], np.float32), 4)
    stats.add(np.array([], np.float32), 4)
    expected = {"minimum": -0.25, "maximum": 0.5, "mean": 0.125, "stddev": 0.375}
    assert stats.as_stac() == {**expected, "valid_percent": 25.0}
    assert RunningStatistics().as_stac() == {"valid_percent": 0.0}


# ------------------------------------------------------------------------------- overviews


def _reference_average(block: np.ndarray, nodata: int) -> np.ndarray:
    rows, cols = block.shape[0] // 2, block.shape[1] // 2
    cells = block[: 2 * rows, : 2 * cols].reshape(rows, 2, cols, 2).swapaxes(1, 2)
    cells = cells.reshape(rows, cols, 4).astype(float)
    valid = cells != nodata
    count = valid.sum(axis=2)
    total = np.where(valid, cells, 0).sum(axis=2)
    with np.errstate(invalid="ignore"):
        mean = np.floor(total / count + 0.5)
    return np.where(count > 0, mean, nodata).astype(block.dtype)


def _reference_mode(block: np.ndarray, nodata: int) -> np.ndarray:
    rows, cols = block.shape[0] // 2, block.shape[1] // 2
    out = np.empty((rows, cols), block.dtype)
    for i in range(rows):
        for j in range(cols):
            cell = [block[2 * i, 2 * j], block[2 * i, 2 * j + 1]]
            cell += [block[2 * i + 1, 2 * j], block[2 * i + 1, 2 * j + 1]]
            valid = [value for value in cell if value != nodata]
            if not valid:
                out[i, j] = nodata
                continue
            counts = {value: valid.count(value) for value in valid}
            best = max(counts.values())
            out[i, j] = next(value for value in valid if counts[value] == best)
    return out


def test_average_2x2_is_the_rounded_mean_of_valid_pixels() -> None:
    rng = np.random.default_rng(5)
    block = rng.integers(-32767, 32767, size=(8, 13)).astype(np.int16)
    block[rng.random(block.shape) < 0.3] = -32768
    block[0:2, 0:2] = -32768  # a cell without any valid pixel
    block[2:4, 0:2] = [[1, 2], [2, -32768]]  # 5 / 3 rounds to 2
    np.testing.assert_array_equal(
        overviews.average_2x2(block, -32768), _reference_average(block, -32768)
    )
    clean = np.array([[1, 2, 3, 3], [2, 2, -5, -4]], np.int16)  # no nodata: integer path
    np.testing.assert_array_equal(overviews.average_2x2(clean, -32768), [[2, -1]])


def test_mode_2x2_is_the_most_frequent_valid_class() -> None:
    rng = np.random.default_rng(6)
    block = rng.choice(np.array([0, 1, 2, 3, 255], np.uint8), size=(10, 15))
    block[0:2, 0:2] = 255
    block[2:4, 0:2] = [[3, 255], [255, 255]]
    np.testing.assert_array_equal(overviews.mode_2x2(block, 255), _reference_mode(block, 255))
    # Cells that agree (the mask's first level: one 20 m SCL pixel per cell) take a shortcut.
    cells = rng.choice(np.array([0, 1, 2, 3, 255], np.uint8), size=(5, 7))
    uniform = np.repeat(np.repeat(cells, 2, axis=0), 2, axis=1)
    uniform[rng.random(uniform.shape) < 0.2] = 255
    assert overviews._uniform_cells(uniform, 255) is not None
    np.testing.assert_array_equal(overviews.mode_2x2(uniform, 255), _reference_mode(uniform, 255))


@pytest.mark.parametrize("reducer", [overviews.average_2x2, overviews.nearest_2x2])
def test_pyramid_gives_the_same_levels_for_any_block_heights(reducer) -> None:
    rng = np.random.default_rng(8)
    image = rng.integers(-1000, 1000, size=(203, 141)).astype(np.int16)
    image[rng.random(image.shape) < 0.1] = -32768
    shapes = overviews.overview_shapes(141, 203, 16)
    assert shapes == [(70, 101), (35, 50), (17, 25), (8, 12)]

    def run(heights: list[int]) -> list[np.ndarray]:
        levels: dict[int, list[np.ndarray]] = {level: [] for level in range(1, 5)}
        pyramid = overviews.Pyramid(4, reducer, -32768, lambda k, rows: levels[k].append(rows))
        top = 0
        for height in heights:
            pyramid.add(image[top : top + height])
            top += height
        assert top == image.shape[0]
        return [np.concatenate(levels[level]) for level in range(1, 5)]

    whole = run([203])
    for level, (width, height) in zip(whole, shapes, strict=True):
        assert level.shape == (height, width)
    for heights in ([64, 64, 64, 11], [1, 3, 7, 192], [33] * 6 + [5]):
        for mine, reference in zip(run(heights), whole, strict=True):
            np.testing.assert_array_equal(mine, reference)


# ------------------------------------------------------------------------------- COG layout


@pytest.mark.parametrize(
    ("compression", "bigtiff"), [("ZSTD", False), ("DEFLATE", False), ("ZSTD", True)]
)
def test_cog_writer_streams_blocks_into_a_valid_cog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compression: str, bigtiff: bool
) -> None:
    if bigtiff:  # any file above the limit is written as BigTIFF
        monkeypatch.setattr(tiff, "CLASSIC_LIMIT", 1000)
    rng = np.random.default_rng(9)
    image = rng.integers(-3000, 3000, size=(521, 700)).astype(np.int16)
    image[rng.random(image.shape) < 0.05] = NDVI.nodata
    image[100:180, 200:330] = NDVI.nodata
    transform = Affine(10, 0, 500000, 0, -10, 1600000)
    grid = {
        "width": 700,
        "height": 521,
        "crs": rasterio.CRS.from_epsg(32647),
        "transform": transform,
    }
    options = COGOptions(compression=compression, level=3, blocksize=128)
    out = tmp_path / "out" / "ndvi.tif"
    writer = COGWriter(out, NDVI, grid, options, tmp_path / "scratch")
    top = 0
    for height in (100, 37, 1, 250, 133):
        writer.write(image[top : top + height])
        top += height
    assert writer.close() == out

    valid, errors, _warnings = cog_validate(str(out), quiet=True)
    assert valid, errors
    with out.open("rb") as handle:
        assert handle.read(4) == (b"II+\0" if bigtiff else b"II*\0")
    with rasterio.open(out) as src:
        assert src.overviews(1) == [2, 4, 8]
        assert src.block_shapes == [(128, 128)]
        assert src.compression.name == compression.lower()
        assert src.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "2"
        assert src.crs.to_epsg() == 32647 and src.transform == transform
        assert src.scales == (NDVI.scale,) and src.nodata == NDVI.nodata
        assert src.descriptions == (NDVI.title,)
        assert "LAYOUT=IFDS_BEFORE_DATA" in src.get_tag_item("GDAL_STRUCTURAL_METADATA", "TIFF")
        np.testing.assert_array_equal(src.read(1), image)
    expected = image
    for level in range(3):
        expected = _reference_average(expected, NDVI.nodata)
        with rasterio.open(out, OVERVIEW_LEVEL=level) as overview:
            assert overview.nodata == NDVI.nodata
            np.testing.assert_array_equal(overview.read(1), expected)
    assert not any((tmp_path / "scratch").iterdir())


def test_cog_writer_leaves_nothing_when_discarded(tmp_path: Path) -> None:
    grid = {"width": 300, "height": 300, "crs": None, "transform": Affine(1, 0, 0, 0, -1, 0)}
    out = tmp_path / "mask.tif"
    writer = COGWriter(out, MASK, grid, COGOptions(blocksize=256), tmp_path / "scratch")
    writer.write(np.zeros((100, 300), np.uint8))
    writer.discard()
    assert not out.exists() and not any((tmp_path / "scratch").iterdir())


# ------------------------------------------------------------------------------- whole chain


def _scene(
    folder: Path, width: int, height: int, seed: int = 1, swir: bool = False
) -> dict[str, Path]:
    """A small L2A scene: fields, water, a cloud with its shadow, a nodata edge, SCL at 20 m
    (and with `swir`, B11 and B12 at 20 m, their own nodata pixels included)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width]
    field = ((rows // 23 + cols // 31) % 4).astype(np.float32)
    red = 0.04 + 0.03 * field + rng.normal(0, 0.004, (height, width))
    nir = 0.15 + 0.1 * field + rng.normal(0, 0.004, (height, width))
    water = (cols - width / 3) ** 2 + (rows - height / 2) ** 2 < (height / 6) ** 2
    red[water], nir[water] = 0.03, 0.01
    green = 0.03 + 0.5 * red + 0.1 * nir
    green[water] = 0.05
    scl = np.where(field[::2, ::2] > 1, 4, 5).astype(np.uint8)
    scl[water[::2, ::2]] = 6
    cy, cx = height // 4, 2 * width // 3
    cloud = (rows[::2, ::2] * 2 - cy) ** 2 + (cols[::2, ::2] * 2 - cx) ** 2 < (height / 8) ** 2
    shadow = np.roll(cloud, (6, 6), axis=(0, 1)) & ~cloud
    scl[cloud], scl[shadow] = 9, 3
    scl[rng.random(scl.shape) < 0.01] = 10
    edge = cols > width - 1 - rows // 4
    dn = {}
    for band, value in (("B03", green), ("B04", red), ("B08", nir)):
        digital = np.clip(np.rint(value * 10000) + 1000, 1, 65535).astype(np.uint16)
        digital[edge] = 0
        dn[band] = digital
    scl[edge[::2, ::2]] = 0
    dn["B02"] = np.clip(dn["B04"].astype(int) - 150, 0, None).astype(np.uint16)
    if swir:
        for band, base in (("B11", 0.12), ("B12", 0.06)):
            value = base + 0.05 * field[::2, ::2] + rng.normal(0, 0.01, scl.shape)
            value[water[::2, ::2]] = 0.005
            digital = np.clip(np.rint(value * 10000) + 1000, 1, 65535).astype(np.uint16)
            digital[edge[::2, ::2] | (rng.random(scl.shape) < 0.002)] = 0
            dn[band] = digital
    transform = Affine(10, 0, 600000, 0, -10, 1600020)
    paths = {}
    for band, data in (*dn.items(), ("SCL", scl)):
        paths[band] = folder / f"{band}.tif"
        scale = 2 if band in ("SCL", "B11", "B12") else 1
        profile = {"tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "DEFLATE"}
        with rasterio.open(
            paths[band],
            "w",
            driver="GTiff",
            width=data.shape[1],
            height=data.shape[0],
            count=1,
            dtype=data.dtype,
            crs="EPSG:32647",
            nodata=0,
            transform=transform @ Affine.scale(scale),
            **profile,
        ) as dst:
            dst.write(data, 1)
    return paths


def _record(apply_offset: bool = True) -> SceneRecord:
    return SceneRecord(
        id="S2B_47PPR_20240115_0_L2A", tile="47PPR", datetime="2024-01-15T03:51:21Z",
        platform="sentinel-2b", processing_baseline="05.10", apply_boa_offset=apply_offset,
        cloud_cover=None, collection="sentinel-2-l2a", source_href="test",
    )  # fmt: skip


def buffered_codes(
    scl: np.ndarray, buffers: masking.BufferDistances, pixel: float = 20.0
) -> np.ndarray:
    """Mask codes of a whole SCL array with buffers: each buffered class's exact Euclidean
    distance transform (scipy) over the whole array, thresholded at its distance in metres,
    drawn on the clear pixels."""
    codes = masking.mask_lookup(frozenset(MASKED))[scl]
    clear = codes == MASK_CLEAR
    for name, classes, code in BUFFERED:
        metres = getattr(buffers, name)
        present = np.isin(scl, classes)
        if metres == 0 or not present.any():
            continue
        near = ndimage.distance_transform_edt(~present, sampling=pixel) <= metres
        codes[near & clear] = code
    return codes


def _expected(
    paths: dict[str, Path],
    offset: int,
    model: str,
    buffers: masking.BufferDistances | None = None,
) -> dict[str, np.ndarray]:
    """Every index, LAI and the mask codes computed independently in float64."""
    bands = {band: rasterio.open(path).read(1) for band, path in paths.items()}
    scl = np.repeat(np.repeat(bands["SCL"], 2, 0), 2, 1)
    buffers = buffers or masking.BufferDistances()
    codes = np.repeat(np.repeat(buffered_codes(bands["SCL"], buffers), 2, 0), 2, 1)
    red, nir, blue, green = (
        (bands[b].astype(float) + offset) / 10000 for b in ("B04", "B08", "B02", "B03")
    )
    nodata = np.logical_or.reduce([bands[band] == 0 for band in bands if band != "SCL"])
    clear = (codes == MASK_CLEAR) & ~nodata
    assert (clear <= ~np.isin(scl, MASKED)).all()
    with np.errstate(invalid="ignore", divide="ignore"):  # at nodata pixels only
        ndvi = np.clip((nir - red) / (nir + red), -1, 1)
        ndwi = np.clip((green - nir) / (green + nir), -1, 1)
    evi = np.clip(2.5 * (nir - red) / (nir + 6 * red - 7.5 * blue + 1), -1, 1)
    savi = 1.5 * (nir - red) / (nir + red + 0.5)
    if model == "evi_boegh":
        lai = np.clip(3.618 * evi - 0.118, 0, 6)
    else:
        lai = np.clip(-np.log((0.69 - np.minimum(savi, 0.6899)) / 0.59) / 0.91, 0, 6)
    codes[nodata] = MASK_NODATA
    return {
        "ndvi": ndvi, "evi": evi, "savi": savi, "ndwi": ndwi, "lai": lai, "mask": codes,
        "clear": clear,
    }  # fmt: skip


#: Every product the tile chain computes, with its step (the scale of its int16 encoding).
STEPS = {"ndvi": 1e-4, "lai": 1e-3, "evi": 1e-4, "savi": 1e-4, "ndwi": 1e-4}


@pytest.mark.parametrize(
    ("width", "height", "model", "apply_offset"),
    [(530, 1062, "savi_metric", True), (1100, 386, "evi_boegh", False)],
)
def test_process_scene_matches_an_independent_computation(
    tmp_path: Path, width: int, height: int, model: str, apply_offset: bool
) -> None:
    paths = _scene(tmp_path / "in", width, height)
    products = ("ndvi", "lai", "mask", "evi", "savi", "ndwi")
    outputs = {name: tmp_path / "out" / f"{name}.tif" for name in products}
    options = ProcessingOptions(products=products, lai_model=model, cog=COGOptions(blocksize=256))
    results = process_scene(_record(apply_offset), paths, outputs, options, tmp_path / "scratch")

    expected = _expected(paths, -1000 * apply_offset, model)
    clear = expected["clear"]
    assert 0.3 < clear.mean() < 0.95
    for name, quantum in STEPS.items():
        with rasterio.open(outputs[name]) as src:
            stored = src.read(1)
            assert src.scales == (PRODUCTS[name].scale,) and src.nodata == -32768
            assert src.overviews(1) == [2, 4, 8]  # down to one 256 px block
        np.testing.assert_allclose(
            stored[clear] * quantum, expected[name][clear], atol=quantum / 2 + 2e-6
        )
        assert (stored[~clear] == -32768).all()
        decoded = stored[clear] * quantum
        stats = results[name].statistics
        assert stats["valid_percent"] == pytest.approx(100 * clear.mean(), abs=1e-4)
        assert stats["mean"] == pytest.approx(decoded.mean(), abs=1e-6)
        assert stats["minimum"] == pytest.approx(decoded.min(), abs=1e-9)
        assert stats["maximum"] == pytest.approx(decoded.max(), abs=1e-9)
    with rasterio.open(outputs["mask"]) as src:
        np.testing.assert_array_equal(src.read(1), expected["mask"])
    for name, path in outputs.items():
        assert cog_validate(str(path), quiet=True)[0], name
        assert results[name].shape == (height, width)
    assert not any((tmp_path / "scratch").iterdir())  # no level files left behind


def test_process_scene_does_not_depend_on_strip_chunk_or_thread_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _scene(tmp_path / "in", 600, 1030)
    paths.pop("B02")
    products = ("ndvi", "lai", "mask")

    def run(label: str, threads: int) -> tuple[dict[str, bytes], dict]:
        options = ProcessingOptions(products, cog=COGOptions(blocksize=256, threads=threads))
        outputs = {name: tmp_path / label / f"{name}.tif" for name in products}
        results = process_scene(_record(), paths, outputs, options, tmp_path / "scratch")
        files = {name: path.read_bytes() for name, path in outputs.items()}
        return files, {name: result.statistics for name, result in results.items()}

    reference_files, reference_stats = run("default", 2)
    monkeypatch.setattr(processing, "STRIP_ROWS", 256)
    monkeypatch.setattr(processing, "CHUNK_ROWS", 10)
    monkeypatch.setattr(overviews, "CHUNK_ROWS", 6)
    for threads in (1, 3):
        files, stats = run(f"small{threads}", threads)
        assert files == reference_files  # byte for byte, overviews included
        for name, values in stats.items():
            assert values == pytest.approx(reference_stats[name], rel=1e-12)


def test_process_scene_leaves_no_product_when_a_band_is_unreadable(tmp_path: Path) -> None:
    paths = _scene(tmp_path / "in", 300, 300)
    paths["B08"].write_bytes(b"not a tiff")
    outputs = {name: tmp_path / "out" / f"{name}.tif" for name in ("ndvi", "mask")}
    with pytest.raises(processing.ProcessingError, match="cannot read a band"):
        process_scene(_record(), paths, outputs, ProcessingOptions(("ndvi", "mask")), tmp_path)
    assert not any(path.exists() for path in outputs.values())


def test_process_scene_rejects_bands_on_different_grids(tmp_path: Path) -> None:
    paths = _scene(tmp_path / "in", 300, 300)
    other = _scene(tmp_path / "other", 320, 300)
    paths["B08"] = other["B08"]
    with pytest.raises(processing.ProcessingError, match="does not share the grid"):
        process_scene(
            _record(), paths, {"ndvi": tmp_path / "n.tif"}, ProcessingOptions(("ndvi",)), tmp_path
        )


@pytest.mark.parametrize("compression", ["ZSTD", "DEFLATE"])
def test_tile_compressor_round_trips_and_caps_the_deflate_level(compression: str) -> None:
    options = COGOptions(compression=compression, level=12)
    data = np.arange(20000, dtype=np.int16).tobytes()
    packed = tile_compressor(options)(data)
    assert len(packed) < len(data)
    if compression == "DEFLATE":
        assert zlib.decompress(packed) == data
        assert creation_options(NDVI, options)["LEVEL"] == "9"
    else:
        assert zstandard.ZstdDecompressor().decompress(packed) == data
    assert creation_options(MASK, options)["PREDICTOR"] == "NO"


# ------------------------------------------------------------------------------- buffers


@pytest.mark.parametrize("metres", [20, 45, 90, 300, 1000])
def test_disk_dilation_equals_scipys_exact_distance_transform(metres: float) -> None:
    rng = np.random.default_rng(int(metres))
    smooth = ndimage.gaussian_filter(rng.random((300, 410)), 4)
    present = smooth > np.quantile(smooth, 0.98)  # a few clouds
    present[0, 0] = present[-1, -1] = True  # classes touching the block's edges
    squared = masking.BufferDistances(cloud=metres).radii(20.0)[MASK_CLOUD]
    expected = ndimage.distance_transform_edt(~present, sampling=20.0) <= metres
    assert expected.mean() < 1
    assert expected.sum() > 1.5 * present.sum()
    np.testing.assert_array_equal(masking.dilate_disk(present, squared), expected)


def test_buffers_are_drawn_on_clear_pixels_only_and_cloud_claims_first() -> None:
    scl = np.full((9, 9), 4, np.uint8)
    scl[4, 2], scl[4, 6], scl[0, 8], scl[8, 0] = 9, 3, 0, 1
    buffers = masking.BufferDistances(cloud=40, shadow=40)
    radii = buffers.radii(20.0)
    codes = masking.mask_lookup(frozenset(MASKED))[scl]
    result = masking.buffer_codes(codes, radii, slice(0, 9))
    np.testing.assert_array_equal(result, buffered_codes(scl, buffers))
    assert result[4, 4] == masking.MASK_CLOUD_BUFFER  # 40 m from both: the cloud's
    assert result[4, 5] == masking.MASK_SHADOW_BUFFER
    assert result[0, 8] == MASK_NODATA and result[8, 0] == MASK_OTHER


def test_buffers_cross_strip_edges_without_seams(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _scene(tmp_path / "in", 600, 1030)
    with rasterio.open(paths["SCL"], "r+") as scl:  # a second cloud across the strip edge
        classes = scl.read(1)
        rows, cols = np.mgrid[0 : scl.height, 0 : scl.width]
        classes[(rows - 128) ** 2 + (cols - 80) ** 2 < 20**2] = 8
        scl.write(classes, 1)
    monkeypatch.setattr(processing, "STRIP_ROWS", 256)
    monkeypatch.setattr(processing, "CHUNK_ROWS", 10)
    buffers = masking.BufferDistances(cloud=300, cirrus=40, shadow=90)
    options = ProcessingOptions(("mask",), buffers=buffers, cog=COGOptions(blocksize=256))
    output = tmp_path / "mask.tif"
    process_scene(_record(), paths, {"mask": output}, options, tmp_path / "scratch")

    expected = _expected(paths, -1000, "savi_metric", buffers)["mask"]
    with rasterio.open(output) as src:
        stored = src.read(1)
    # The strip edge at row 256 cuts through the cloud and its buffer.
    for row in (255, 256):
        assert (expected[row] == MASK_CLOUD).sum() > 40
        assert (expected[row] == masking.MASK_CLOUD_BUFFER).sum() > 40
    for code in (masking.MASK_CLOUD_BUFFER, masking.MASK_CIRRUS_BUFFER):
        assert (expected == code).any()
    np.testing.assert_array_equal(stored, expected)


def test_20m_bands_are_replicated_like_the_scl_for_ndmi_and_nbr(tmp_path: Path) -> None:
    paths = _scene(tmp_path / "in", 530, 1062, swir=True)
    products = ("ndmi", "nbr", "ndvi", "mask")
    outputs = {name: tmp_path / "out" / f"{name}.tif" for name in products}
    options = ProcessingOptions(products, cog=COGOptions(blocksize=256))
    process_scene(_record(), paths, outputs, options, tmp_path / "scratch")

    dn = {}
    for band, path in paths.items():
        with rasterio.open(path) as src:
            values = src.read(1)
        dn[band] = np.repeat(np.repeat(values, 2, 0), 2, 1) if src.width < 530 else values
    surface = {band: (values.astype(np.float64) - 1000) / 10000 for band, values in dn.items()}
    nodata = np.logical_or.reduce([dn[band] == 0 for band in dn if band != "SCL"])
    codes = np.repeat(
        np.repeat(
            buffered_codes(rasterio.open(paths["SCL"]).read(1), masking.BufferDistances()), 2, 0
        ),
        2,
        1,
    )
    clear = (codes == MASK_CLEAR) & ~nodata
    assert (dn["B11"] == 0).sum() > (dn["B08"] == 0).sum()  # B11's own nodata counts
    nir = surface["B08"]
    for name, swir in (("ndmi", surface["B11"]), ("nbr", surface["B12"])):
        with rasterio.open(outputs[name]) as src:
            stored = src.read(1)
            assert src.res == (10.0, 10.0)
        with np.errstate(divide="ignore", invalid="ignore"):  # at nodata pixels only
            expected = np.clip((nir - swir) / (nir + swir), -1, 1)
        np.testing.assert_allclose(stored[clear] * 1e-4, expected[clear], atol=0.5e-4 + 2e-6)
        assert (stored[~clear] == -32768).all()
        assert np.ptp(stored[clear]) > 1000
