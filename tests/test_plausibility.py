"""The data check of the BOA offset flag: dark pixels reveal whether the +1000 is there.

The sample archive stores exactly `round(10000 * reflectance) + offset` on clear pixels, with
the offset known per scene, so the check's verdicts and the products made after a wrong
flag can be compared with the truth. The real decimated 29RKH desert scene (one dark pixel)
shows the inconclusive case.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.io import MemoryFile

from raw2ready.archives.provider import SearchQuery
from raw2ready.archives.search import search
from raw2ready.archives.transfer.proof import write_proof
from raw2ready.atomic import write_json
from raw2ready.campaign.batch_job import process_batch
from raw2ready.campaign.batches import Batch
from raw2ready.campaign.downloads import MANIFEST
from raw2ready.campaign.reprocess import layout_of, reprocess_scene
from raw2ready.demo import archive as demo_archive
from raw2ready.errors import SceneDataError
from raw2ready.scene import BandAsset, SceneRecord
from raw2ready.sentinel2.plausibility import check_offset, offset_evidence

from .conftest import REAL_S2, make_settings, requires_real_s2
from .servers import flipped

SIZE = 128
BANDS = ("B02", "B04", "B08", "SCL")


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("plausibility")
    return demo_archive.write_demo_archive(root / "archive", seed=42, size=SIZE)


def band_paths(archive: Path, scene: demo_archive.DemoScene) -> dict[str, Path]:
    folder = archive.parent / demo_archive.scene_prefix(scene)
    return {band: folder / f"{band}.tif" for band in BANDS}


@pytest.mark.parametrize("scene", demo_archive.DEMO_SCENES, ids=demo_archive.item_id)
def test_the_verdict_matches_the_stored_offset(
    archive: Path, scene: demo_archive.DemoScene
) -> None:
    evidence = offset_evidence(band_paths(archive, scene))
    assert evidence.pixels >= 200
    assert evidence.carries_offset is (scene.dn_offset == 1000)


def record_of(archive: Path, scene: demo_archive.DemoScene) -> SceneRecord:
    day = scene.sensing_date
    query = SearchQuery(scene.tile, day, day, 100, "sentinel-2-l2a", frozenset(BANDS))
    (record,) = search("static_catalog", str(archive), query).records
    return record


def wrong_scenes() -> list[demo_archive.DemoScene]:
    """One scene that carries the offset and one that does not, both baseline >= 04.00."""
    carrying = next(s for s in demo_archive.DEMO_SCENES if s.dn_offset == 1000)
    clean = next(s for s in demo_archive.DEMO_SCENES if s.has_boa_offset and s.boa_offset_applied)
    return [carrying, clean]


@pytest.mark.parametrize("scene", wrong_scenes(), ids=demo_archive.item_id)
def test_a_wrong_flag_is_corrected_with_the_evidence_in_the_log(
    archive: Path, scene: demo_archive.DemoScene, caplog: pytest.LogCaptureFixture
) -> None:
    truth = record_of(archive, scene)
    assert truth.apply_boa_offset is (scene.dn_offset == 1000)
    wrong = replace(truth, apply_boa_offset=not truth.apply_boa_offset)
    with caplog.at_level(logging.WARNING, logger="raw2ready"):
        fixed = check_offset(wrong, band_paths(archive, scene))
    assert fixed.apply_boa_offset is truth.apply_boa_offset
    (message,) = [r.getMessage() for r in caplog.records if "offset" in r.getMessage()]
    assert truth.id in message
    assert "median DN" in message and "dark pixels" in message


def test_a_right_flag_is_kept(archive: Path) -> None:
    for scene in wrong_scenes():
        record = record_of(archive, scene)
        assert check_offset(record, band_paths(archive, scene)) == record


def test_baselines_before_04_are_never_changed(archive: Path) -> None:
    old = next(s for s in demo_archive.DEMO_SCENES if not s.has_boa_offset)
    record = record_of(archive, old)
    claimed = replace(record, apply_boa_offset=True)
    assert check_offset(claimed, band_paths(archive, old)) == claimed


@requires_real_s2
def test_a_scene_without_dark_pixels_is_inconclusive() -> None:
    pixels = REAL_S2 / "pixels" / "riotilerpds_S2A_29RKH_20200219_0_L2A_decimated"
    evidence = offset_evidence({band: pixels / f"{band}.tif" for band in ("B04", "B08", "SCL")})
    assert evidence.carries_offset is None
    assert evidence.median_dn is None
    assert "too few" in evidence.describe()


def ndvi_error(tmp_path: Path, archive: Path, scene: demo_archive.DemoScene, check: bool) -> float:
    """Median |NDVI - true NDVI| on clear pixels after processing with a flipped flag."""
    settings = make_settings(
        tmp_path, tiles=[scene.tile], products=["ndvi"],
        archive={"kind": "static_catalog", "url": str(archive), "check_offset_flag": check},
    )  # fmt: skip
    truth_record = record_of(archive, scene)
    wrong = replace(truth_record, apply_boa_offset=not truth_record.apply_boa_offset)
    wrong = replace(
        wrong, bands={b: BandAsset(str(p)) for b, p in band_paths(archive, scene).items()}
    )
    reprocess_scene(settings, wrong)
    with rasterio.open(layout_of(settings).product(wrong, "ndvi")) as dataset:
        stored = dataset.read(1).astype(float) * 1e-4
        valid = dataset.read_masks(1) > 0
    true = demo_archive.surface_reflectance(scene.tile, scene.date, 42, SIZE)
    expected = (true["B08"] - true["B04"]) / (true["B08"] + true["B04"])
    return float(np.median(np.abs(stored - expected)[valid]))


def test_products_follow_the_data_when_the_flag_is_wrong(archive: Path, tmp_path: Path) -> None:
    scene = wrong_scenes()[0]
    corrected = ndvi_error(tmp_path / "checked", archive, scene, check=True)
    trusted = ndvi_error(tmp_path / "trusted", archive, scene, check=False)
    assert corrected < 0.002  # quantization, clouds excluded
    assert trusted > 0.02  # the flipped flag, uncorrected, biases NDVI


HTML_PAGE = b"<html><body>503 Service Unavailable</body></html>"


def test_an_unreadable_scl_is_the_scenes_one_line_failure(archive: Path, tmp_path: Path) -> None:
    """An HTML page where the SCL should be: no RasterioIOError traceback, one line."""
    scene = wrong_scenes()[0]
    record = record_of(archive, scene)
    paths = {}
    for band, source in band_paths(archive, scene).items():
        paths[band] = tmp_path / source.name
        paths[band].write_bytes(HTML_PAGE if band == "SCL" else source.read_bytes())
    with pytest.raises(SceneDataError, match=rf"^scene {record.id}: offset check: .*SCL\.tif"):
        check_offset(record, paths)


def broken_block(source: Path) -> bytes:
    """The band re-encoded with DEFLATE, then 64 bytes flipped mid-file: it opens, and its
    reading fails in the middle (a block GDAL cannot inflate)."""
    with rasterio.open(source) as dataset:
        profile = {**dataset.profile, "compress": "deflate", "tiled": True,
                   "blockxsize": 64, "blockysize": 64}  # fmt: skip
        values = dataset.read()
    with MemoryFile() as memory:
        with memory.open(**profile) as copy:
            copy.write(values)
        return flipped(bytes(memory.read()))


def fetched_folder(archive: Path, records: list[SceneRecord], folder: Path, bad: str) -> None:
    """A download job's folder for `records` whose first scene's `bad` band cannot be read yet
    carries a proof (as a file that no decode vouched for, e.g. a SAFE member)."""
    for number, record in enumerate(records):
        scene = next(s for s in demo_archive.DEMO_SCENES if record_of(archive, s).id == record.id)
        names = {}
        for band, source in band_paths(archive, scene).items():
            target = folder / record.id / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            if number == 0 and band == bad:
                target.write_bytes(HTML_PAGE if band == "SCL" else broken_block(source))
            else:
                target.write_bytes(source.read_bytes())
            write_proof(target, str(source), ["test"])
            names[band] = target.name
        write_json(folder / record.id / MANIFEST, names)


@pytest.mark.parametrize(
    ("check", "bad", "where"), [(True, "SCL", "offset check"), (False, "B04", "reading its bands")]
)
def test_a_scene_that_cannot_be_read_fails_alone_and_the_batch_goes_on(
    archive: Path, tmp_path: Path, check: bool, bad: str, where: str
) -> None:
    tile = wrong_scenes()[0].tile
    scenes = [s for s in demo_archive.DEMO_SCENES if s.tile == tile and s.has_boa_offset][:2]
    records = [record_of(archive, scene) for scene in scenes]
    settings = make_settings(
        tmp_path, tiles=[scenes[0].tile], products=["ndvi"],
        archive={"kind": "static_catalog", "url": str(archive), "check_offset_flag": check},
    )  # fmt: skip
    layout = layout_of(settings)
    folder = tmp_path / "fetched"
    fetched_folder(archive, records, folder, bad)
    batch = Batch(records[0].tile, records[0].datetime[:4], records[0].datetime[5:7])
    outcomes = process_batch(
        settings, layout, batch, records, tmp_path / "batch.json",
        lambda s, r: reprocess_scene(s, r, fetched=folder),
    )  # fmt: skip
    assert [o.status for o in outcomes] == ["failed", "processed"]
    written = json.loads((tmp_path / "batch.json").read_text())
    assert written["scenes"][0]["error"].startswith(f"scene {records[0].id}: {where}: ")
    last = layout.scene_log(records[0]).read_text().strip().splitlines()[-1]
    assert last.startswith(f"raw2ready: error: scene {records[0].id}: {where}: ")
    assert not layout.item(records[0]).exists()
    assert layout.item(records[1]).exists()  # the other scene of the batch was made
