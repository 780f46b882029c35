"""Sen2Cor and SNAP in the chain, run through the test doubles in tests/doubles.

The doubles honour the real tools' documented command lines (see their docstrings); these
tests put them on PATH, run L1C -> Sen2Cor -> products + SNAP LAI -> COG -> STAC, and
compare every product with values computed from the synthetic scene's known reflectance
or read from what the double wrote.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rio_cogeo.cogeo import cog_validate
from scipy import ndimage

from raw2ready.archives.search import SearchQuery, search
from raw2ready.campaign.reprocess import layout_of, reprocess_s1_scene, reprocess_scene
from raw2ready.config import COGOptions, Settings
from raw2ready.errors import ConfigError, ExternalToolError
from raw2ready.grid import parse_tile
from raw2ready.processors.external import SEN2COR, SNAP_GPT, locate
from raw2ready.processors.sen2cor import restore_folders
from raw2ready.processors.snap import biophysical_graph, s1_grd_graph
from raw2ready.products.registry import PRODUCTS
from raw2ready.raster.band_product import band_to_cog
from raw2ready.scene import BandAsset
from raw2ready.sentinel1.backscatter import tile_region
from raw2ready.sentinel1.grd import S1Product
from raw2ready.sentinel2.safe import extract_safe
from raw2ready.stac.catalog import write_collection, write_tile_catalog

from .conftest import PROJECT, make_settings, run_cli, settings_file
from .safe_factory import (
    S1_NAME,
    SafeSpec,
    downsample,
    make_s1_grd_zip,
    make_safe_zip,
    scene_classification,
    synthetic_scene,
)
from .test_workflow import snakemake

DOUBLES = PROJECT / "tests" / "doubles"
MASKED = [0, 1, 3, 8, 9, 10]


@pytest.fixture
def doubles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Put the doubles (and this interpreter, which they run with) first on PATH."""
    monkeypatch.setenv(
        "PATH",
        os.pathsep.join([str(DOUBLES), str(Path(sys.executable).parent), os.environ["PATH"]]),
    )
    files = {
        "sen2cor_calls": tmp_path / "l2a_process_calls.txt",
        "gpt_calls": tmp_path / "gpt_calls.txt",
        "gpt_keep": tmp_path / "gpt_keep",
    }
    monkeypatch.setenv("L2A_PROCESS_DOUBLE_CALLS", str(files["sen2cor_calls"]))
    monkeypatch.setenv("GPT_DOUBLE_CALLS", str(files["gpt_calls"]))
    monkeypatch.setenv("GPT_DOUBLE_KEEP", str(files["gpt_keep"]))
    return files


def _calls(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _settings(tmp_path: Path, archive: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "archive": {"kind": "safe_folder", "url": str(archive), "collection": "sentinel-2-l1c"},
        "tiles": ["47PPR"],
        "products": ["ndvi", "lai", "mask", "fapar"],
        "processors": {"l2a": "sen2cor", "lai": "snap", "snap": {"resolution": 20}},
        "mask": {"scl_classes": MASKED},
    }
    values.update(overrides)
    return make_settings(tmp_path, **values)


def _query(settings: Settings) -> SearchQuery:
    return SearchQuery(
        tile="47PPR", start=settings.start, end=settings.end, max_cloud_cover=100.0,
        collection=settings.archive.collection, bands=settings.bands,
    )  # fmt: skip


def _read(path: Path) -> tuple[np.ndarray, Any]:
    with rasterio.open(path) as dataset:
        return dataset.read(1), dataset.profile | {"scales": dataset.scales}


def _average_2x2(full: np.ndarray, nodata: int) -> np.ndarray:
    """GDAL's AVERAGE overview of an integer band: the mean of each 2 x 2 cell's valid pixels
    rounded half up, nodata where none is valid (an odd last row or column is dropped)."""
    rows, cols = full.shape[0] // 2 * 2, full.shape[1] // 2 * 2
    cells = full[:rows, :cols].reshape(rows // 2, 2, cols // 2, 2).swapaxes(1, 2)
    cells = cells.reshape(rows // 2, cols // 2, 4).astype(np.float64)
    valid = cells != nodata
    count = valid.sum(axis=2)
    with np.errstate(invalid="ignore"):
        mean = np.where(valid, cells, 0).sum(axis=2) / count
    return np.where(count > 0, np.floor(mean + 0.5), nodata)


def _assert_tile_chain_layout(path: Path, cog: COGOptions, unit: str | None) -> None:
    """The layout of every product COG (int16, x 1000): strictly valid (rio cogeo validate
    --strict), internal tiles of cog.blocksize, predictor 2, the configured codec, an
    average overview pyramid down to one block, scale/offset/nodata/unit tags."""
    valid, errors, _warnings = cog_validate(str(path), strict=True, quiet=True)
    assert valid and not errors, (path.name, errors)
    blocksize, compression = cog.blocksize, cog.compression
    with rasterio.open(path) as dataset:
        assert dataset.block_shapes == [(blocksize, blocksize)]
        structure = dataset.tags(ns="IMAGE_STRUCTURE")
        assert structure["COMPRESSION"] == compression and structure["PREDICTOR"] == "2"
        assert (dataset.dtypes[0], dataset.nodata) == ("int16", -32768)
        assert (dataset.scales, dataset.offsets, dataset.units) == ((0.001,), (0.0,), (unit,))
        levels = 0  # GDAL's COG rule: halve until the image fits in one block
        while max(dataset.width, dataset.height) >> levels > blocksize:
            levels += 1
        assert len(dataset.overviews(1)) == levels
        full = dataset.read(1)
    for level in range(levels):  # each level the average of the one above, halved in size
        with rasterio.open(path, overview_level=level) as overview:
            reduced = overview.read(1)
        assert reduced.shape == (full.shape[0] // 2, full.shape[1] // 2)
        np.testing.assert_array_equal(reduced, _average_2x2(full, -32768))
        full = reduced


# ------------------------------------------------------------------ finding and calling tools


def test_missing_tools_are_named_with_every_way_to_provide_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ExternalToolError) as sen2cor:
        locate(SEN2COR, None)
    message = str(sen2cor.value)
    for part in ("Sen2Cor (L2A_Process)", "processors.sen2cor.path", "PATH", "module load sen2cor"):
        assert part in message
    with pytest.raises(
        ExternalToolError, match=r"gpt\) is not an executable file at '/nowhere/gpt'"
    ):
        locate(SNAP_GPT, "/nowhere/gpt")
    with pytest.raises(ExternalToolError, match=r"processors\.snap\.gpt"):
        locate(SNAP_GPT, None)
    assert locate(SEN2COR, str(DOUBLES / "L2A_Process")) == str(DOUBLES / "L2A_Process")


def test_missing_sen2cor_stops_the_scene_with_one_clear_line(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    archive.mkdir()
    make_safe_zip(archive)
    settings = _settings(tmp_path, archive, products=["ndvi"], processors={"l2a": "sen2cor"})
    (record,) = search("safe_folder", str(archive), _query(settings)).records
    env = {"PATH": str(tmp_path / "empty"), "HOME": str(tmp_path)}
    inventory = tmp_path / "inventory.jsonl"
    inventory.write_text(record.to_json() + "\n")
    result = run_cli(
        "process-scene", "--settings", settings_file(settings, tmp_path),
        "--inventory", str(inventory), "--scene", record.id, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("raw2ready: error: Sen2Cor (L2A_Process) is not on PATH")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "results").exists()


def test_l1c_without_sen2cor_is_a_config_error(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    archive.mkdir()
    make_safe_zip(archive)
    settings = _settings(tmp_path, archive, products=["ndvi"], processors={"l2a": "archive"})
    (record,) = search("safe_folder", str(archive), _query(settings)).records
    with pytest.raises(ConfigError, match=r"processors\.l2a: sen2cor"):
        reprocess_scene(settings, record)


def _run_double(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DOUBLES / name), *args], capture_output=True, text=True
    )


def test_l2a_process_double_refuses_what_sen2cor_refuses(tmp_path: Path) -> None:
    product = extract_safe(make_safe_zip(tmp_path, SafeSpec(aux_and_html=False)), tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir()
    bad_resolution = _run_double("L2A_Process", "--resolution", "30", str(product))
    assert bad_resolution.returncode == 2 and "invalid choice" in bad_resolution.stderr
    relative = _run_double("L2A_Process", "--output_dir", "out", str(product))
    assert relative.returncode == 2 and "absolute path" in relative.stderr
    incomplete = _run_double("L2A_Process", "--output_dir", str(out), str(product))
    assert incomplete.returncode == 1 and "AUX_DATA not found" in incomplete.stderr
    assert restore_folders(product) == [
        "AUX_DATA",
        "HTML",
        f"GRANULE/{SafeSpec().granule}/AUX_DATA",
    ]
    assert restore_folders(product) == []
    done = _run_double("L2A_Process", "--resolution", "20", "--output_dir", str(out), str(product))
    assert done.returncode == 0, done.stderr
    (l2a,) = out.glob("S2B_MSIL2A_20230615T033541_N9999_R061_T47PPR_*.SAFE")
    assert not list(l2a.rglob("R10m/*.jp2")) and list(l2a.rglob("R20m/*_SCL_20m.jp2"))


def test_graphs_chain_the_documented_operators(tmp_path: Path) -> None:
    bio = ET.fromstring(biophysical_graph("S2B", 20, ("lai", "fcover")))
    assert [n.findtext("operator") for n in bio.iter("node")] == [
        "Read", "Resample", "BiophysicalOp", "Write",
    ]  # fmt: skip
    op = next(n for n in bio.iter("node") if n.findtext("operator") == "BiophysicalOp")
    params = {p.tag: p.text for p in op.find("parameters")}
    assert params["computeLAI"] == "true" and params["computeFapar"] == "false"
    assert params["sensor"] == "S2B" and params["resolution"] == "20"
    s1 = ET.fromstring(s1_grd_graph(32647, ("VV", "VH")))
    nodes = list(s1.iter("node"))
    assert [n.findtext("operator") for n in nodes] == [
        "Read", "Apply-Orbit-File", "ThermalNoiseRemoval", "Calibration",
        "Terrain-Flattening", "Terrain-Correction", "Write",
    ]  # fmt: skip
    for previous, node in itertools.pairwise(nodes):
        assert node.find("sources/sourceProduct").get("refid") == previous.get("id")
    calibration = {p.tag: p.text for p in nodes[3].find("parameters")}
    assert calibration["outputBetaBand"] == "true"
    assert nodes[5].findtext("parameters/mapProjection") == "EPSG:32647"
    # Per tile, a Subset to the tile (with a margin) comes before the costly steps.
    region = tile_region("47PPR")
    tiled = list(ET.fromstring(s1_grd_graph(32647, ("VV",), region)).iter("node"))
    assert [n.findtext("operator") for n in tiled][3:6] == [
        "Calibration", "Subset", "Terrain-Flattening",
    ]  # fmt: skip
    assert tiled[4].findtext("parameters/geoRegion") == region
    to_utm = Transformer.from_crs(4326, 32647, always_xy=True)
    corners = [to_utm.transform(*map(float, p.split())) for p in region[9:-2].split(", ")]
    west, north = parse_tile("47PPR").upper_left
    assert [(round(x - west), round(y - north)) for x, y in corners[:4]] == [
        (-2000, 2000), (111_800, 2000), (111_800, -111_800), (-2000, -111_800),
    ]  # fmt: skip
    assert tile_region("01WCP") is None  # across the antimeridian: no subset
    # The double checks parameters against SNAP's documented ones.
    graph = tmp_path / "bad.xml"
    graph.write_text(biophysical_graph("S2A", 20, ("lai",)).replace("computeCab", "computeCabbage"))
    refused = _run_double("gpt", str(graph), "-Pinput=x", "-Ptarget=y")
    assert refused.returncode == 1 and "Unknown parameter 'computeCabbage'" in refused.stderr
    graph.write_text(biophysical_graph("S2A", 20, ("lai",)))
    unresolved = _run_double("gpt", str(graph), "-Pinput=x")
    assert unresolved.returncode == 1 and "'target' has no value" in unresolved.stderr


# ------------------------------------------------------------------ processor rasters -> COG


def test_band_to_cog_streams_a_tall_float_raster_in_strips(tmp_path: Path) -> None:
    # 2,100 rows: three strips of the writer's reads, and four overview levels at 256 px.
    rng = np.random.default_rng(5)
    values = rng.uniform(0.01, 20.0, (2100, 50)).astype(np.float32)
    values[:, :2] = -9999.0  # the source's nodata
    values[1500:1510] = 0.0  # converted to -inf below: nodata too
    source = tmp_path / "band.tif"
    with rasterio.open(
        source, "w", driver="GTiff", width=50, height=2100, count=1, dtype="float32",
        crs="EPSG:32647", transform=rasterio.Affine(10, 0, 600_000, 0, -10, 1_600_000),
        nodata=-9999.0,
    ) as dataset:  # fmt: skip
        dataset.write(values, 1)
    cloudy = np.zeros(values.shape, bool)
    cloudy[1000:1100, 10:20] = True  # across the first strip boundary
    cog = COGOptions(compression="DEFLATE", blocksize=256)
    final = tmp_path / "out" / "gamma.tif"

    with rasterio.open(source) as dataset:
        result = band_to_cog(
            dataset, final, PRODUCTS["gamma0_vv"], cog, tmp_path / "scratch",
            convert=lambda linear: 10 * np.log10(linear),
            clear=lambda window: ~cloudy[window.toslices()],
        )  # fmt: skip

    _assert_tile_chain_layout(final, cog, "dB")
    with np.errstate(divide="ignore", invalid="ignore"):
        decibels = 10 * np.log10(values.astype(np.float64))
    kept = (values != -9999.0) & (values != 0.0) & ~cloudy
    with rasterio.open(final) as ours:
        stored = ours.read(1)
        assert len(ours.overviews(1)) == 4
    assert (stored[~kept] == -32768).all()
    np.testing.assert_allclose(stored[kept], decibels[kept] * 1000, atol=0.5 + 1e-2)
    assert result.shape == (2100, 50) and result.epsg == 32647
    assert result.statistics["valid_percent"] == round(100 * kept.mean(), 4)
    assert abs(result.statistics["mean"] - decibels[kept].mean()) < 1e-3
    assert not list((tmp_path / "scratch").iterdir()), "scratch tiles removed"


# ------------------------------------------------------------------ the chain


def _expected_ndvi(seed: int = 7, size: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """NDVI of the true reflectance at the 1e-4 DN step, and clear pixels of the SCL rule with
    the default buffers (300 m around cloud at 20 m: scipy's exact distance transform)."""
    truth = synthetic_scene(size, seed).reflectance
    red, nir = np.rint(truth["B04"] * 1e4), np.rint(truth["B08"] * 1e4)
    with np.errstate(invalid="ignore", divide="ignore"):
        ndvi = (nir - red) / (nir + red)
    at20 = {band: downsample(values, 2) for band, values in truth.items()}
    classes = scene_classification(at20)
    near_cloud = ndimage.distance_transform_edt(~np.isin(classes, [8, 9]), sampling=20) <= 300
    masked = np.isin(classes, MASKED) | near_cloud
    clear = ~np.repeat(np.repeat(masked, 2, axis=0), 2, axis=1) & np.isfinite(ndvi)
    return ndvi, clear


def test_chain_l1c_sen2cor_products_snap_lai_cog_stac(
    tmp_path: Path, doubles: dict[str, Path]
) -> None:
    archive = tmp_path / "archive"
    archive.mkdir()
    # A: L1C only, from a mirror that dropped AUX_DATA/HTML (baseline 05.09, +1000 DNs).
    make_safe_zip(archive, SafeSpec(sensing=datetime(2023, 6, 15, 3, 35, 41), aux_and_html=False))
    # B: L1C and the archive's own L2A: Sen2Cor must be skipped.
    b_l1c = SafeSpec(sensing=datetime(2023, 7, 5, 3, 35, 41), absolute_orbit=33_098)
    make_safe_zip(archive, b_l1c)
    make_safe_zip(archive, SafeSpec(**{**b_l1c.__dict__, "level": "L2A"}))
    # C: an old L1C below baseline 04.00 (no offset anywhere).
    make_safe_zip(archive, SafeSpec(sensing=datetime(2021, 3, 2, 3, 35, 41), baseline="03.00"))
    settings = _settings(tmp_path, archive)
    layout = layout_of(settings)

    found = search("safe_folder", str(archive), _query(settings))
    assert [r.collection for r in found.records] == [
        "sentinel-2-l1c", "sentinel-2-l1c", "sentinel-2-l2a",
    ]  # fmt: skip
    assert [r.apply_boa_offset for r in found.records] == [False, True, True]
    expected_ndvi, clear = _expected_ndvi()
    truth_20m = {band: downsample(v, 2) for band, v in synthetic_scene().reflectance.items()}
    clear_20m = ~np.isin(scene_classification(truth_20m), MASKED)

    for record in found.records:
        reprocess_scene(settings, record)
        item = json.loads(layout.item(record).read_text())
        # NDVI's thumbnail; no overview: the chain read only B04 and B08 (SNAP reads the SAFE).
        assert set(item["assets"]) == {"ndvi", "lai", "mask", "fapar", "thumbnail"}
        for name in set(item["assets"]) - {"thumbnail"}:
            assert cog_validate(str(layout.product(record, name)), quiet=True)[0], name
        ndvi, _profile = _read(layout.product(record, "ndvi"))
        valid = ndvi != -32768
        assert np.array_equal(valid, clear), record.id
        np.testing.assert_allclose(ndvi[valid] * 1e-4, expected_ndvi[valid], atol=0.5e-4 + 1e-6)
        # SNAP LAI: the double's own float output, x1000 as int16, SCL-masked at 20 m.
        lai, lai_profile = _read(layout.product(record, "lai"))
        assert lai_profile["dtype"] == "int16" and lai_profile["scales"] == (0.001,)
        assert lai_profile["transform"].a == 20.0
        with rasterio.open(doubles["gpt_keep"] / "biophysical.lai.img") as snap_lai:
            raw = snap_lai.read(1)
        stored = lai != -32768
        assert stored.sum() > 100 and np.array_equal(stored, clear_20m & np.isfinite(raw))
        np.testing.assert_allclose(lai[stored], raw[stored] * 1000, atol=0.5 + 1e-3)  # quantum
        assert item["assets"]["lai"]["raster:bands"][0]["scale"] == 0.001
        for name, unit in (("lai", "m2/m2"), ("fapar", None)):
            _assert_tile_chain_layout(layout.product(record, name), settings.cog, unit)
        lineage = item["properties"]["processing:lineage"]
        assert "ESA SNAP gpt" in lineage
        if record.collection == "sentinel-2-l1c":
            assert "by Sen2Cor (L2A_Process)" in lineage
            assert item["properties"]["s2:processing_baseline"] == "99.99"
        else:
            assert lineage.startswith("From L2A SAFE") and "Sen2Cor" not in lineage
        assert not layout.scratch(record).exists()
        assert not layout.downloads(record).exists()

    sen2cor_calls = _calls(doubles["sen2cor_calls"])
    assert len(sen2cor_calls) == 2, sen2cor_calls
    assert all("--resolution 10 --output_dir /" in call for call in sen2cor_calls)
    assert not any("20230705" in call for call in sen2cor_calls)
    assert len(_calls(doubles["gpt_calls"])) == 3

    # A rerun finds Sen2Cor's L2A under work/l2a and does not call it again.
    reprocess_scene(settings, found.records[1])
    assert len(_calls(doubles["sen2cor_calls"])) == 2

    summary = write_tile_catalog("47PPR", [layout.item(r) for r in found.records], layout)
    collection = write_collection(settings.campaign, [summary], layout)
    assert summary.items == 3 and summary.baselines == ["05.09", "99.99"]
    assert json.loads(collection.read_text())["extent"]["temporal"]["interval"][0][0].startswith(
        "2021-03-02"
    )


def test_snap_products_get_the_tile_chain_layout_with_overviews(
    tmp_path: Path, doubles: dict[str, Path]
) -> None:
    # A 600 px L2A scene: SNAP's 20 m FCOVER is 300 px, more than one 256 px block.
    archive = tmp_path / "archive"
    archive.mkdir()
    make_safe_zip(archive, SafeSpec(level="L2A", size=600))
    settings = _settings(
        tmp_path, archive, products=["fcover"], processors={"lai": "snap"},
        cog={"blocksize": 256, "compression": "DEFLATE"},
    )  # fmt: skip
    (record,) = search("safe_folder", str(archive), _query(settings)).records
    reprocess_scene(settings, record)
    product = layout_of(settings).product(record, "fcover")
    _assert_tile_chain_layout(product, settings.cog, None)
    with (
        rasterio.open(product) as ours,
        rasterio.open(doubles["gpt_keep"] / "biophysical.fcover.img") as snap,
    ):
        assert ours.overviews(1) == [2] and ours.shape == snap.shape == (300, 300)
        stored, raw = ours.read(1), snap.read(1)
    kept = stored != -32768
    assert kept.sum() > 1000
    np.testing.assert_allclose(stored[kept], raw[kept] * 1000, atol=0.5 + 1e-3)  # quantum


def test_s1_grd_chain_stores_gamma0_db_x1000_per_tile(
    tmp_path: Path, doubles: dict[str, Path]
) -> None:
    settings = make_settings(
        tmp_path, tiles=["47PPR"], cog={"blocksize": 256, "compression": "DEFLATE"}
    )
    layout = layout_of(settings)
    archive = str(make_s1_grd_zip(tmp_path))
    record = S1Product.from_name(S1_NAME).record("47PPR", archive, BandAsset(archive))
    reprocess_s1_scene(settings, record)
    item_path = layout.item(record)
    assert item_path.parent.parts[-6:-4] == ("sentinel-1", "47PPR")

    item = json.loads(item_path.read_text())
    assert item["properties"]["constellation"] == "sentinel-1"
    assert item["properties"]["sar:polarizations"] == ["VV", "VH"]
    assert "s2:processing_baseline" not in item["properties"]
    assert "Subset to the tile" in item["properties"]["processing:lineage"]
    assert set(item["assets"]) == {"gamma0_vv", "gamma0_vh"}
    calls = _calls(doubles["gpt_calls"])
    assert len(calls) == 1 and "-Pinput=" in calls[0] and "manifest.safe" in calls[0]
    west, _north = parse_tile("47PPR").upper_left
    for pol in ("VV", "VH"):
        asset = item["assets"][f"gamma0_{pol.lower()}"]
        product = (item_path.parent / asset["href"]).resolve()
        assert cog_validate(str(product), quiet=True)[0]
        with (
            rasterio.open(product) as ours,
            rasterio.open(doubles["gpt_keep"] / f"s1_grd.Gamma0_{pol}.img") as snap,
        ):
            stored = ours.read(1)
            assert ours.dtypes[0] == "int16" and ours.scales == (0.001,)
            assert ours.transform.a == 10.0 and (ours.transform.c - west) % 10 == 0
            assert ours.crs.to_epsg() == 32647
            linear = snap.read(1, window=snap.window(*ours.bounds))
        assert linear.shape == stored.shape
        positive = linear > 0
        assert positive.sum() > 1000 and (~positive).sum() > 0
        expected = 10 * np.log10(linear[positive].astype(np.float64)) * 1000
        np.testing.assert_allclose(stored[positive], expected, atol=0.5 + 1e-2)  # quantum
        assert (stored[~positive] == -32768).all()
        assert asset["raster:bands"][0]["unit"] == "dB"
        _assert_tile_chain_layout(product, settings.cog, "dB")


def test_workflow_runs_sen2cor_only_for_l1c_without_l2a(
    tmp_path: Path, doubles: dict[str, Path]
) -> None:
    archive = tmp_path / "archive"
    archive.mkdir()
    only_l1c = SafeSpec(aux_and_html=False)
    with_l2a = SafeSpec(sensing=datetime(2023, 7, 5, 3, 35, 41), absolute_orbit=33_098)
    for spec in (only_l1c, with_l2a, SafeSpec(**{**with_l2a.__dict__, "level": "L2A"})):
        make_safe_zip(archive, spec)
    config = {
        "campaign": "safe",
        "archive": {"kind": "safe_folder", "url": str(archive), "collection": "sentinel-2-l1c"},
        "tiles": ["47PPR"], "start": "2023-01-01", "end": "2023-12-31",
        "products": ["ndvi", "lai", "mask", "fcover"],
        "processors": {"l2a": "sen2cor", "lai": "snap"},
        "cog": {"blocksize": 256},
    }  # fmt: skip
    (tmp_path / "safe.yaml").write_text(json.dumps(config))

    result = snakemake(tmp_path, tmp_path / "safe.yaml")

    assert result.returncode == 0, result.stderr[-4000:]
    assert "rule sen2cor:" in result.stderr and result.stderr.count("rule sen2cor:") == 1
    (call,) = _calls(doubles["sen2cor_calls"])
    assert only_l1c.name in call
    items = sorted((tmp_path / "results/stac/47PPR").rglob("S2B_*.json"))
    assert [p.stem[:26] for p in items] == [
        "S2B_MSIL1C_20230615T033541",
        "S2B_MSIL2A_20230705T033541",
    ]
    for path in items:
        assert set(json.loads(path.read_text())["assets"]) == {
            "ndvi", "lai", "mask", "fcover", "thumbnail",
        }  # fmt: skip
    assert (tmp_path / "results/stac/collection.json").is_file()
    assert not list((tmp_path / "work").glob("l2a/*/*")), "Sen2Cor's L2A is a temporary output"
    rerun = snakemake(tmp_path, tmp_path / "safe.yaml", "-n")
    assert rerun.returncode == 0 and "Nothing to be done" in rerun.stdout + rerun.stderr
