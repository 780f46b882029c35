"""Downloads against a fault-injecting HTTP server on 127.0.0.1 (tests/servers.py).

Transient faults (503, 429 + Retry-After, connection reset, truncated body, stall) are
retried and the file completes, resuming with Range where bytes arrived; permanent faults end
in one clear DownloadError and nothing under the final name; a rerun fetches only what is
missing. Waits go through an injected sleep, so Retry-After is checked without waiting.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import logging
import os
import subprocess
from pathlib import Path

import pytest
from rasterio.io import MemoryFile

from raw2ready.archives.transfer import DownloadOptions, download_scene, fetch
from raw2ready.archives.transfer.partial import partial_path
from raw2ready.archives.transfer.proof import proof_path
from raw2ready.archives.transfer.retries import MAX_WAIT_SECONDS, retry_after_seconds
from raw2ready.errors import CorruptDownloadError, DownloadError
from raw2ready.scene import BandAsset, SceneRecord

from .conftest import make_settings, run_cli, settings_file
from .rasters import geotiff_bytes
from .servers import FAULT_AFTER, FaultyFileServer, flipped

#: A real band file, > 2 x FAULT_AFTER: faults strike mid-body, also after a resume.
BLOB = geotiff_bytes(0, side=1100)
SIZE = len(BLOB)


def sha256_multihash(data: bytes) -> str:
    return "1220" + hashlib.sha256(data).hexdigest()


class SleepLog:
    """Records the waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def options(attempts: int = 6, timeout: float = 1.0) -> tuple[DownloadOptions, SleepLog]:
    sleep = SleepLog()
    return DownloadOptions(attempts, 0.01, timeout, sleep=sleep), sleep


@pytest.fixture
def server() -> FaultyFileServer:
    with FaultyFileServer({"/B04.tif": BLOB}) as running:
        yield running


def asset(server: FaultyFileServer, path: str = "/B04.tif", data: bytes = BLOB) -> BandAsset:
    return BandAsset(f"{server.url}{path}", size=len(data), checksum=sha256_multihash(data))


@pytest.mark.parametrize("fault", ["503", "429:1", "reset", "truncate", "stall"])
def test_a_transient_fault_is_retried_and_the_file_completes(
    server: FaultyFileServer, tmp_path: Path, fault: str
) -> None:
    server.script("/B04.tif", fault)
    final = tmp_path / "B04.tif"
    opts, _sleep = options()
    assert fetch(asset(server), final, opts) == final
    assert final.read_bytes() == BLOB
    assert not partial_path(final).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["B04.tif", "B04.tif.proof.json"]
    assert len(server.requests_for("/B04.tif")) == 2


@pytest.mark.parametrize("fault", ["truncate", "stall"])
def test_an_interrupted_body_resumes_with_range(
    server: FaultyFileServer, tmp_path: Path, fault: str
) -> None:
    server.script("/B04.tif", fault)
    fetch(asset(server), tmp_path / "B04.tif", options()[0])
    first, second = server.requests_for("/B04.tif")
    assert "Range" not in first.headers
    start = int(second.headers["Range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < start <= FAULT_AFTER
    assert second.headers["If-Range"].startswith('"')  # the ETag of the first response
    assert (tmp_path / "B04.tif").read_bytes() == BLOB


def test_every_fault_in_a_row_still_completes(server: FaultyFileServer, tmp_path: Path) -> None:
    server.script("/B04.tif", "503", "429:2", "reset", "truncate", "stall")
    opts, sleep = options(attempts=6)
    fetch(asset(server), tmp_path / "B04.tif", opts)
    assert (tmp_path / "B04.tif").read_bytes() == BLOB
    assert len(server.requests_for("/B04.tif")) == 6
    assert len(sleep.waits) == 5
    assert sleep.waits[1] >= 2.0  # the 429's Retry-After, not the 0.01 s backoff


def test_retry_after_is_honoured_and_capped(server: FaultyFileServer, tmp_path: Path) -> None:
    server.script("/B04.tif", "429:7", "429:100000")
    opts, sleep = options()
    fetch(asset(server), tmp_path / "B04.tif", opts)
    assert sleep.waits[0] >= 7.0
    assert sleep.waits[1] == MAX_WAIT_SECONDS


def test_retry_after_parses_seconds_and_http_dates() -> None:
    assert retry_after_seconds("12") == 12.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_permanent_http_error_fails_at_once_without_a_file(
    server: FaultyFileServer, tmp_path: Path
) -> None:
    final = tmp_path / "B04.tif"
    missing = BandAsset(f"{server.url}/nowhere.tif")
    with pytest.raises(DownloadError, match=r"/nowhere.tif: HTTP 404") as error:
        fetch(missing, final, options()[0])
    assert "\n" not in str(error.value)
    assert len(server.requests_for("/nowhere.tif")) == 1
    assert list(tmp_path.iterdir()) == []


def test_endless_503_gives_up_with_a_clear_message(
    server: FaultyFileServer, tmp_path: Path
) -> None:
    server.script("/B04.tif", *["503"] * 10)
    final = tmp_path / "B04.tif"
    with pytest.raises(DownloadError, match=r"B04.tif: HTTP 503 \(gave up after 3 attempts"):
        fetch(asset(server), final, options(attempts=3)[0])
    assert len(server.requests_for("/B04.tif")) == 3
    assert not final.exists()


def test_a_body_that_fails_verification_never_gets_the_final_name(
    server: FaultyFileServer, tmp_path: Path
) -> None:
    wrong = BandAsset(f"{server.url}/B04.tif", size=SIZE, checksum=sha256_multihash(b"other"))
    final = tmp_path / "B04.tif"
    with pytest.raises(DownloadError, match="checksum mismatch"):
        fetch(wrong, final, options()[0])
    assert list(tmp_path.iterdir()) == []


def test_sha3_checksums_as_cdse_gives_them_are_verified(
    server: FaultyFileServer, tmp_path: Path
) -> None:
    sha3 = "1620" + hashlib.sha3_256(BLOB).hexdigest()
    fetch(BandAsset(f"{server.url}/B04.tif", SIZE, sha3), tmp_path / "ok.tif", options()[0])
    bad = "1620" + hashlib.sha3_256(b"x").hexdigest()
    with pytest.raises(DownloadError, match="checksum mismatch"):
        fetch(BandAsset(f"{server.url}/B04.tif", SIZE, bad), tmp_path / "bad.tif", options()[0])
    assert not (tmp_path / "bad.tif").exists()


def test_a_partial_of_a_changed_object_is_fetched_again_whole(
    server: FaultyFileServer, tmp_path: Path
) -> None:
    """If-Range carries the old ETag; the server answers 200 with the new object."""
    server.script("/B04.tif", *["truncate"] + ["503"] * 5)
    final = tmp_path / "B04.tif"
    with pytest.raises(DownloadError):
        fetch(BandAsset(f"{server.url}/B04.tif"), final, options(attempts=2)[0])
    assert partial_path(final).stat().st_size > 0
    server.faults.clear()
    changed = geotiff_bytes(1, side=1100)
    server.files["/B04.tif"] = changed
    fetch(BandAsset(f"{server.url}/B04.tif"), final, options()[0])
    last = server.requests_for("/B04.tif")[-1]
    assert last.headers["Range"] != "bytes=0-"
    assert final.read_bytes() == changed


def _record(server: FaultyFileServer, blobs: dict[str, bytes]) -> SceneRecord:
    return SceneRecord(
        id="S2A_47PPR_20230105_0_L2A", tile="47PPR", datetime="2023-01-05T03:41:21Z",
        platform="sentinel-2a", processing_baseline="05.09", apply_boa_offset=True,
        cloud_cover=1.0, collection="sentinel-2-l2a", source_href="test",
        bands={
            band: BandAsset(f"{server.url}/{band}.tif", len(data), sha256_multihash(data))
            for band, data in blobs.items()
        },
    )  # fmt: skip


def test_rerun_after_a_failure_fetches_only_what_is_missing(tmp_path: Path) -> None:
    blobs = {band: geotiff_bytes(seed, 1100) for seed, band in enumerate(("B04", "B08", "SCL"))}
    files = {f"/{band}.tif": data for band, data in blobs.items()}
    folder = tmp_path / "downloads"
    with FaultyFileServer(files) as server:
        record = _record(server, blobs)
        server.script("/B08.tif", "truncate", *["503"] * 10)
        with pytest.raises(DownloadError, match=r"B08.tif: HTTP 503 \(gave up after 3"):
            download_scene(record, folder, options(attempts=3)[0])
        assert (folder / "B04.tif").read_bytes() == blobs["B04"]
        assert not (folder / "B08.tif").exists()
        assert not (folder / "SCL.tif").exists()
        kept = partial_path(folder / "B08.tif").stat().st_size
        assert 0 < kept < SIZE

        server.faults.clear()
        server.requests.clear()
        paths = download_scene(record, folder, options()[0])

        assert {band: path.read_bytes() for band, path in paths.items()} == blobs
        assert server.requests_for("/B04.tif") == []
        (b08,) = server.requests_for("/B08.tif")
        assert b08.headers["Range"] == f"bytes={kept}-"
        (scl,) = server.requests_for("/SCL.tif")
        assert "Range" not in scl.headers
        names = sorted(p.name for p in folder.iterdir())
        assert names == sorted(f"{b}.tif{s}" for b in blobs for s in ("", ".proof.json"))


def process_scene_job(tmp_path: Path, record: SceneRecord) -> subprocess.CompletedProcess[str]:
    """`raw2ready process-scene` of one scene, as the workflow runs it (2 attempts)."""
    settings = make_settings(
        tmp_path, tiles=["47PPR"], products=["ndvi"],
        download={"attempts": 2, "backoff_seconds": 0, "timeout_seconds": 2},
    )  # fmt: skip
    inventory = tmp_path / "inventory.jsonl"
    inventory.write_text(record.to_json() + "\n")
    return run_cli(
        "process-scene", "--settings", settings_file(settings, tmp_path),
        "--inventory", str(inventory), "--scene", record.id,
    )  # fmt: skip


def test_process_scene_job_fails_with_one_line_and_leaves_no_product(tmp_path: Path) -> None:
    """The job the workflow runs: permanent 503s -> exit 1, one line, no outputs."""
    blobs = {band: os.urandom(2048) for band in ("B04", "B08", "SCL")}
    with FaultyFileServer({f"/{b}.tif": d for b, d in blobs.items()}) as server:
        server.script("/B04.tif", *["503"] * 10)
        result = process_scene_job(tmp_path, _record(server, blobs))
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("raw2ready: error: ")
    assert "B04.tif: HTTP 503 (gave up after 2 attempts" in last
    assert "Traceback" not in result.stderr
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert not [p for p in files if p.suffix == ".tif"]
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").rglob("*.json"))


def test_retries_are_logged_without_query_strings(
    server: FaultyFileServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server.script("/B04.tif", "503")
    signed_like = BandAsset(f"{server.url}/B04.tif?sig=SECRET-TOKEN&se=2099")
    with caplog.at_level(logging.WARNING, logger="raw2ready"):
        fetch(signed_like, tmp_path / "B04.tif", options()[0])
    assert "attempt 1 failed" in caplog.text
    assert "SECRET-TOKEN" not in caplog.text


def test_local_files_are_copied_and_verified(tmp_path: Path) -> None:
    source = tmp_path / "src.dat"
    source.write_bytes(b"abc")
    final = tmp_path / "out" / "metadata.dat"
    fetch(BandAsset(str(source), 3, sha256_multihash(b"abc")), final, options()[0])
    assert final.read_bytes() == b"abc"
    with pytest.raises(DownloadError, match="no such file"):
        fetch(BandAsset(str(tmp_path / "missing.tif")), tmp_path / "x.tif", options()[0])


# ---- integrity: nothing unproven is used or reused ---------------------------------------------


def unchecked(server: FaultyFileServer, path: str = "/B04.tif") -> BandAsset:
    """An asset as most Earth Search items give it: no file:checksum, no file:size."""
    return BandAsset(f"{server.url}{path}")


def proof(final: Path) -> dict:
    return json.loads(proof_path(final).read_text())


def test_flipped_bytes_that_decode_are_caught_by_the_etag_and_fetched_again(
    server: FaultyFileServer, tmp_path: Path
) -> None:
    """Uncompressed pixels with flipped bytes decode fine: only the server's MD5 ETag (of the
    original) tells; the copy is deleted and the second fetch is the real file."""
    with MemoryFile(flipped(BLOB)) as memory, memory.open() as damaged:  # it does decode
        assert damaged.read(1).shape == (1100, 1100)
    server.script("/B04.tif", "corrupt")
    final = tmp_path / "B04.tif"
    fetch(unchecked(server), final, options()[0])
    assert final.read_bytes() == BLOB
    assert len(server.requests_for("/B04.tif")) == 2
    recorded = proof(final)
    assert recorded["size"] == SIZE
    assert recorded["checksum"] == sha256_multihash(BLOB)
    assert "ETag MD5" in recorded["checked"]
    assert any(check.startswith("full decode") for check in recorded["checked"])


def test_a_file_corrupt_twice_fails_with_one_line_and_leaves_nothing(
    server: FaultyFileServer, tmp_path: Path
) -> None:
    server.script("/B04.tif", "corrupt", "corrupt")
    final = tmp_path / "B04.tif"
    with pytest.raises(CorruptDownloadError, match=r"B04.tif: bytes do not match the server's "
                       r"ETag MD5 \(failed twice\)") as error:  # fmt: skip
        fetch(unchecked(server), final, options()[0])
    assert "\n" not in str(error.value)
    assert list(tmp_path.iterdir()) == []


def test_content_md5_catches_what_an_opaque_etag_cannot(
    server: FaultyFileServer, tmp_path: Path
) -> None:
    server.etags["/B04.tif"] = '"v1-opaque"'
    server.headers["/B04.tif"] = {
        "Content-MD5": base64.b64encode(hashlib.md5(BLOB).digest()).decode()
    }
    server.script("/B04.tif", "corrupt")
    final = tmp_path / "B04.tif"
    fetch(unchecked(server), final, options()[0])
    assert final.read_bytes() == BLOB
    assert len(server.requests_for("/B04.tif")) == 2
    assert "Content-MD5" in proof(final)["checked"]
    assert "ETag MD5" not in proof(final)["checked"]


def test_x_amz_checksum_sha256_is_checked(server: FaultyFileServer, tmp_path: Path) -> None:
    server.etags["/B04.tif"] = '"opaque"'
    server.headers["/B04.tif"] = {
        "x-amz-checksum-sha256": base64.b64encode(hashlib.sha256(BLOB).digest()).decode()
    }
    server.script("/B04.tif", "corrupt")
    fetch(unchecked(server), tmp_path / "B04.tif", options()[0])
    assert (tmp_path / "B04.tif").read_bytes() == BLOB
    assert "x-amz-checksum-sha256" in proof(tmp_path / "B04.tif")["checked"]


def s3_multipart_etag(data: bytes, part_size: int) -> str:
    """The ETag S3 gives a multipart upload: MD5 of the parts' MD5s, then -<parts>."""
    parts = [data[i : i + part_size] for i in range(0, len(data), part_size)]
    inner = hashlib.md5(b"".join(hashlib.md5(part).digest() for part in parts)).hexdigest()
    return f'"{inner}-{len(parts)}"'


def test_a_multipart_etag_is_accepted_when_right(server: FaultyFileServer, tmp_path: Path) -> None:
    server.etags["/B04.tif"] = s3_multipart_etag(BLOB, 1 << 20)  # parts of 1 MiB
    final = tmp_path / "B04.tif"
    fetch(unchecked(server), final, options()[0])
    assert final.read_bytes() == BLOB
    parts = -(-SIZE // (1 << 20))
    assert f"multipart ETag MD5 ({parts} parts of 1048576 bytes)" in proof(final)["checked"]


def test_a_multipart_etag_is_rejected_when_wrong(server: FaultyFileServer, tmp_path: Path) -> None:
    server.etags["/B04.tif"] = s3_multipart_etag(flipped(BLOB), 1 << 20)
    final = tmp_path / "B04.tif"
    with pytest.raises(CorruptDownloadError, match="multipart ETag MD5"):
        fetch(unchecked(server), final, options()[0])
    assert len(server.requests_for("/B04.tif")) == 2
    assert not final.exists()


def test_an_html_page_with_200_is_refetched(server: FaultyFileServer, tmp_path: Path) -> None:
    server.script("/B04.tif", "html")
    fetch(unchecked(server), tmp_path / "B04.tif", options()[0])
    assert (tmp_path / "B04.tif").read_bytes() == BLOB


def test_a_corrupt_compressed_block_fails_the_decode(tmp_path: Path) -> None:
    """Flipped bytes in a compressed block: no checksum, no ETag; the decode finds them."""
    compressed = geotiff_bytes(3, side=1100, compress="deflate")
    assert len(compressed) < 0.75 * SIZE  # really compressed: flipped bytes break a code
    with FaultyFileServer({"/B04.tif": compressed}) as server:
        server.etags["/B04.tif"] = '"opaque"'
        server.script("/B04.tif", "corrupt", "corrupt")
        with pytest.raises(CorruptDownloadError, match=r"B04.tif: does not decode \(.*Decod"):
            fetch(unchecked(server), tmp_path / "B04.tif", options()[0])
    assert list(tmp_path.iterdir()) == []


def test_a_drip_trips_the_minimum_rate_and_resumes(
    server: FaultyFileServer, tmp_path: Path
) -> None:
    server.script("/B04.tif", "drip")
    slow, _sleep = options(timeout=5.0)  # longer than the drip interval: the rate trips
    slow = dataclasses.replace(slow, min_rate_bytes_per_s=10_000, rate_grace_seconds=1.5)
    final = tmp_path / "B04.tif"
    fetch(asset(server), final, slow)
    assert final.read_bytes() == BLOB
    first, second = server.requests_for("/B04.tif")
    assert "Range" not in first.headers
    assert int(second.headers["Range"].removeprefix("bytes=").rstrip("-")) >= 1


def test_an_endless_drip_fails_with_the_rate_in_the_message(
    server: FaultyFileServer, tmp_path: Path
) -> None:
    server.script("/B04.tif", "drip", "drip")
    slow = dataclasses.replace(options(attempts=2, timeout=5.0)[0], min_rate_bytes_per_s=10_000,
                               rate_grace_seconds=1)  # fmt: skip
    with pytest.raises(DownloadError, match=r"below download.min_rate_bytes_per_s \(10000\) "
                       r"\(gave up after 2 attempts"):  # fmt: skip
        fetch(asset(server), tmp_path / "B04.tif", slow)


def test_a_rerun_refetches_files_without_a_valid_proof(
    server: FaultyFileServer, tmp_path: Path
) -> None:
    """A file left by an older run (no proof) or changed since its proof is fetched again;
    a proven one is kept without a request."""
    final = tmp_path / "B04.tif"
    final.write_bytes(flipped(BLOB))  # the right size, no proof: as the old code left it
    fetch(unchecked(server), final, options()[0])
    assert final.read_bytes() == BLOB
    assert len(server.requests_for("/B04.tif")) == 1

    fetch(unchecked(server), final, options()[0])
    assert len(server.requests_for("/B04.tif")) == 1  # proven: reused

    final.write_bytes(flipped(BLOB))  # the disk changed it after its proof
    fetch(unchecked(server), final, options()[0])
    assert final.read_bytes() == BLOB
    assert len(server.requests_for("/B04.tif")) == 2


def test_a_rerun_after_the_archive_is_fixed_fetches_again(tmp_path: Path) -> None:
    """The archive served corrupt bytes twice: the scene failed with one line naming the file, no
    file kept; once the archive is fixed, the rerun fetches them and succeeds."""
    blobs = {band: geotiff_bytes(seed, 600) for seed, band in enumerate(("B04", "SCL"))}
    folder = tmp_path / "downloads"
    with FaultyFileServer({f"/{b}.tif": d for b, d in blobs.items()}) as server:
        record = _record(server, {})
        record = dataclasses.replace(
            record, bands={b: BandAsset(f"{server.url}/{b}.tif") for b in blobs}
        )
        server.script("/SCL.tif", "html", "html")
        with pytest.raises(DownloadError, match=r"/SCL.tif: does not decode .*\(failed twice\)$"):
            download_scene(record, folder, options()[0])
        assert not (folder / "SCL.tif").exists()
        server.requests.clear()
        paths = download_scene(record, folder, options()[0])
        assert {band: path.read_bytes() for band, path in paths.items()} == blobs
        assert server.requests_for("/B04.tif") == []  # proven in the first run
        assert len(server.requests_for("/SCL.tif")) == 1


def test_process_scene_with_an_html_page_for_a_band_fails_that_scene_in_one_line(
    tmp_path: Path,
) -> None:
    blobs = {band: geotiff_bytes(seed, 300) for seed, band in enumerate(("B04", "B08", "SCL"))}
    with FaultyFileServer({f"/{b}.tif": d for b, d in blobs.items()}) as server:
        server.script("/SCL.tif", *["html"] * 4)
        record = dataclasses.replace(
            _record(server, {}), bands={b: BandAsset(f"{server.url}/{b}.tif") for b in blobs}
        )
        result = process_scene_job(tmp_path, record)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"raw2ready: error: scene {record.id}: http://")
    assert "/SCL.tif: " in last
    assert "does not decode" in last and last.endswith("(failed twice)")
