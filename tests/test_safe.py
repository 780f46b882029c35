"""SAFE products: metadata parsing on real ESA files, and archive checks that never trust a zip."""

from __future__ import annotations

import re
import stat
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio

from raw2ready.errors import ArchiveError, ItemError
from raw2ready.sentinel2.safe import (
    check_archive,
    extract_safe,
    parse_metadata,
    read_archive_metadata,
    read_product_metadata,
)

from .conftest import REAL_S2, requires_real_s2, run_cli
from .safe_factory import SafeSpec, make_safe_zip, synthetic_scene, to_dn

SAFE_METADATA = REAL_S2 / "safe_metadata"
REAL_PRODUCTS = sorted(p.name for p in SAFE_METADATA.iterdir()) if SAFE_METADATA.is_dir() else []


def _xml_value(text: str, tag: str) -> str | None:
    """An element's text found with a plain regex: an oracle independent of the parser."""
    match = re.search(rf"<{tag}[^>]*>([^<]+)</{tag}>", text)
    return match.group(1).strip() if match else None


@requires_real_s2
@pytest.mark.parametrize("product", REAL_PRODUCTS)
def test_every_real_safe_metadata_file_parses_correctly(product: str) -> None:
    folder = SAFE_METADATA / product
    mtd = next(p for p in folder.iterdir() if p.name.upper().startswith("MTD_MSIL"))
    tile_file = folder / "MTD_TL.xml"
    text = mtd.read_text(encoding="utf-8")

    meta = parse_metadata(
        mtd.read_bytes(), tile_file.read_bytes() if tile_file.exists() else None, product
    )

    assert meta.level == ("L1C" if "MSIL1C" in product else "L2A")
    assert meta.processing_baseline == _xml_value(text, "PROCESSING_BASELINE")
    assert meta.product_id == _xml_value(text, "PRODUCT_URI").removesuffix(".SAFE")
    n_number = re.search(r"_N(\d{2})(\d{2})_", meta.product_id)
    assert n_number and meta.processing_baseline == f"{n_number[1]}.{n_number[2]}"
    assert meta.tile == re.search(r"_T(\d{2}[A-Z]{3})_", product)[1]
    offsets_in_file = re.findall(r"<(?:BOA|RADIO)_ADD_OFFSET band_id=\"(\d+)\">(-?\d+)<", text)
    assert len(meta.add_offsets) == len(offsets_in_file)
    assert sorted(meta.add_offsets.values()) == sorted(int(v) for _b, v in offsets_in_file)
    # The design fact the files must agree with: offsets exactly from baseline 04.00 on (L2A).
    if meta.level == "L2A":
        major = int(meta.processing_baseline[:2])
        assert meta.applies_offset == (major >= 4)
        assert meta.quantification == float(_xml_value(text, "BOA_QUANTIFICATION_VALUE"))
        assert {"B04", "B08", "SCL"} <= set(meta.image_files)
        assert meta.image_files["B04"].endswith("_B04_10m")
        assert meta.image_files["SCL"].endswith("_SCL_20m")
    else:
        assert meta.quantification == float(_xml_value(text, "QUANTIFICATION_VALUE"))
        assert "SCL" not in meta.image_files
    record = meta.scene_record("somewhere.zip", {})
    assert record.apply_boa_offset == meta.applies_offset
    assert record.collection == f"sentinel-2-{meta.level.lower()}"
    assert record.platform == _xml_value(text, "SPACECRAFT_NAME").lower()
    if tile_file.exists():
        tile_text = tile_file.read_text(encoding="utf-8")
        sun = re.search(r"<Mean_Sun_Angle>\s*<ZENITH_ANGLE[^>]*>([^<]+)<", tile_text)
        assert meta.sun_angles is not None and meta.sun_angles.zenith == float(sun[1])
        assert meta.epsg == int(_xml_value(tile_text, "HORIZONTAL_CS_CODE").split(":")[1])
        assert set(meta.view_angles) >= {"B04", "B8A", "B12"}
    else:
        assert meta.sun_angles is None and meta.epsg is None


def test_sound_archive_passes_and_extracts_complete(tmp_path: Path) -> None:
    archive = make_safe_zip(tmp_path)
    report = check_archive(archive)
    with zipfile.ZipFile(archive) as zf:
        manifest = zf.read(f"{report.product}/manifest.safe").decode()
        files = [i for i in zf.infolist() if not i.is_dir()]
    assert report.verified == manifest.count("<checksum") == len(files) - 1
    assert report.algorithms == ("MD5",)

    product = extract_safe(archive, tmp_path / "out")
    assert product == tmp_path / "out" / report.product
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [report.product]
    assert read_product_metadata(product) == read_archive_metadata(archive)


def test_sha3_manifests_as_esa_writes_them_are_verified(tmp_path: Path) -> None:
    report = check_archive(make_safe_zip(tmp_path, SafeSpec(level="L2A", checksum="SHA3-256")))
    assert report.algorithms == ("SHA3-256",) and report.verified > 20


def test_jp2_bands_read_back_the_encoded_reflectance(tmp_path: Path) -> None:
    spec = SafeSpec()
    product = extract_safe(make_safe_zip(tmp_path, spec), tmp_path / "out")
    meta = read_product_metadata(product)
    paths = meta.band_paths(product)
    truth = synthetic_scene(spec.size).reflectance["B04"]
    with rasterio.open(paths["B04"]) as dataset:
        assert dataset.driver == "JP2OpenJPEG"
        assert dataset.crs.to_epsg() == meta.epsg == 32647
        np.testing.assert_array_equal(dataset.read(1), to_dn(truth, offset=True))
    assert meta.applies_offset and meta.add_offsets["B8A"] == -1000


def _zip_with(path: Path, entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for info, data in entries:
            zf.writestr(info, data)
    return path


def _link(name: str, target: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


ROOT = "S2B_MSIL1C_20230615T033541_N0509_R061_T47PPR_20230615T052513.SAFE"


@pytest.mark.parametrize(
    ("entries", "reason"),
    [
        ([(f"{ROOT}/MTD_MSIL1C.xml", b"<x/>"), ("../evil.txt", b"x")], "'..' component"),
        (
            [(f"{ROOT}/MTD_MSIL1C.xml", b"<x/>"), (f"{ROOT}/GRANULE/../../../evil", b"x")],
            "'..' component",
        ),
        ([(f"{ROOT}/a", b"x"), ("/tmp/raw2ready-evil.txt", b"x")], "absolute path"),
        ([(f"{ROOT}/a", b"x"), (_link(f"{ROOT}/HTML", "/etc"), b"/etc")], "outside the product"),
        (
            [(f"{ROOT}/a", b"x"), (_link(f"{ROOT}/DATA", "../../outside"), b"../../outside")],
            "outside the product",
        ),
        ([(f"{ROOT}/a", b"x"), ("other/b", b"x")], "exactly one top-level"),
        ([(f"{ROOT}/a", b"x"), (f"{ROOT}/a", b"y")], "appears twice"),
        ([(f"{ROOT}/a", b"x"), (f"{ROOT}/a/b", b"y")], "cannot be written"),
        (
            [(f"{ROOT}/GRANULE/x", b"x"), (_link(f"{ROOT}/GRANULE", "HTML"), b"HTML")],
            "cannot be created",
        ),
    ],
    ids=[
        "dotdot",
        "nested-dotdot",
        "absolute",
        "abs-link",
        "escaping-link",
        "two-roots",
        "dup",
        "file-and-folder",
        "link-over-folder",
    ],
)
def test_zip_slip_archives_are_rejected_and_leave_nothing(
    tmp_path: Path, entries: list[tuple[zipfile.ZipInfo | str, bytes]], reason: str
) -> None:
    archive = _zip_with(tmp_path / "evil.zip", entries)
    destination = tmp_path / "out"
    with pytest.raises(ArchiveError, match=re.escape(reason)) as caught:
        extract_safe(archive, destination)
    assert "evil.zip" in str(caught.value)
    assert list(destination.iterdir()) == []
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "outside").exists()
    assert not Path("/tmp/raw2ready-evil.txt").exists()


def test_links_inside_the_product_are_kept_as_links(tmp_path: Path) -> None:
    archive = _zip_with(
        tmp_path / "linked.zip",
        [
            (f"{ROOT}/HTML/index.html", b"<html/>"),
            (_link(f"{ROOT}/index.html", "HTML/index.html"), b"HTML/index.html"),
        ],
    )
    product = extract_safe(archive, tmp_path / "out")
    assert (product / "index.html").is_symlink()
    assert (product / "index.html").read_bytes() == b"<html/>"


def test_truncated_zip_is_rejected_and_leaves_nothing(tmp_path: Path) -> None:
    good = make_safe_zip(tmp_path)
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size * 2 // 3])
    destination = tmp_path / "out"
    with pytest.raises(ArchiveError, match="truncated or corrupt"):
        extract_safe(truncated, destination)
    assert list(destination.iterdir()) == []
    with pytest.raises(ArchiveError, match="truncated or corrupt"):
        check_archive(truncated)


def test_corrupt_member_fails_its_crc(tmp_path: Path) -> None:
    good = make_safe_zip(tmp_path)
    with zipfile.ZipFile(good) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith("_B04.jp2"))
    data = bytearray(good.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    middle = start + info.compress_size // 2
    data[middle : middle + 8] = bytes(255 - b for b in data[middle : middle + 8])
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(bytes(data))
    destination = tmp_path / "out"
    with pytest.raises(ArchiveError, match=r"_B04\.jp2' is corrupt"):
        extract_safe(corrupt, destination)
    assert list(destination.iterdir()) == []


def _rewrite_manifest(source: Path, target: Path, edit: object) -> Path:
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("/manifest.safe"):
                data = edit(data.decode()).encode()  # type: ignore[operator]
            zout.writestr(info, data)
    return target


def test_wrong_manifest_checksum_is_rejected_and_leaves_nothing(tmp_path: Path) -> None:
    good = make_safe_zip(tmp_path)

    def break_b08(text: str) -> str:
        pattern = r'(href="\./[^"]*_B08\.jp2"/>\s*<checksum checksumName="MD5">)([0-9a-f]{32})'
        match = re.search(pattern, text)
        assert match, "the factory's manifest must list B08"
        wrong = "0" * 32 if match[2] != "0" * 32 else "1" * 32
        return text[: match.start(2)] + wrong + text[match.end(2) :]

    bad = _rewrite_manifest(good, tmp_path / "badsum.zip", break_b08)
    destination = tmp_path / "out"
    with pytest.raises(ArchiveError, match=r"_B08\.jp2' fails its manifest\.safe MD5 checksum"):
        extract_safe(bad, destination)
    assert list(destination.iterdir()) == []
    with pytest.raises(ArchiveError, match="MD5 checksum"):
        check_archive(bad)


def test_manifest_listing_a_missing_file_is_rejected(tmp_path: Path) -> None:
    good = make_safe_zip(tmp_path)
    bad = _rewrite_manifest(
        good,
        tmp_path / "missing.zip",
        lambda text: text.replace("./INSPIRE.xml", "./GRANULE/NOT_THERE.jp2"),
    )
    with pytest.raises(ArchiveError, match=r"lists 'GRANULE/NOT_THERE\.jp2' but the archive lacks"):
        check_archive(bad)


def test_metadata_with_a_dtd_is_refused() -> None:
    xml = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    with pytest.raises(ArchiveError, match="DTD"):
        parse_metadata(xml, None, "bomb.xml")


def test_unsupported_offset_is_refused(tmp_path: Path) -> None:
    good = make_safe_zip(tmp_path, SafeSpec(level="L2A"))
    meta = read_archive_metadata(good)
    odd = type(meta)(**{**meta.__dict__, "add_offsets": {**meta.add_offsets, "B04": -2000}})
    with pytest.raises(ItemError, match="add offset -2000 for B04"):
        odd.scene_record("x", {})


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=cwd, env={"PATH": "/usr/bin:/bin", "TMPDIR": str(cwd)})


def test_safe_check_command(tmp_path: Path) -> None:
    good = make_safe_zip(tmp_path)
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(good.read_bytes()[:5000])
    slip = _zip_with(tmp_path / "slip.zip", [(f"{ROOT}/a", b"x"), ("../evil.txt", b"x")])
    before = sorted(tmp_path.rglob("*"))

    ok = _cli("safe-check", str(good), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "sound" in ok.stdout and "MD5" in ok.stdout

    for archive, reason in ((truncated, "truncated or corrupt"), (slip, "zip-slip")):
        bad = _cli("safe-check", str(archive), cwd=tmp_path)
        assert bad.returncode == 1
        assert reason in bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr
        assert "Traceback" not in bad.stderr
    assert sorted(tmp_path.rglob("*")) == before
