"""Downloads against a fault-injecting HTTP server on 127.0.0.1 (tests/servers.py).

Transient faults (503, 429 + Retry-After, connection reset, truncated body, stall) are
retried and the file completes, resuming with Range where bytes arrived; permanent faults end
in one clear DownloadError and nothing under the final name; a rerun fetches only what is
missing. Waits go through an injected sleep, so Retry-After is checked without waiting.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import pytest

from raw2ready.archives.transfer import DownloadOptions, download_scene, fetch
from raw2ready.archives.transfer.partial import partial_path
from raw2ready.archives.transfer.retries import MAX_WAIT_SECONDS, retry_after_seconds
from raw2ready.errors import DownloadError
from raw2ready.scene import BandAsset, SceneRecord

from .conftest import make_settings, run_cli, settings_file
from .servers import FAULT_AFTER, FaultyFileServer

SIZE = 2 * 1024 * 1024 + 123  # > 2 x FAULT_AFTER: faults strike mid-body, also after a resume
BLOB = os.urandom(SIZE)


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
    assert [p.name for p in tmp_path.iterdir()] == ["B04.tif"]
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
    changed = os.urandom(SIZE)
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
    blobs = {band: os.urandom(SIZE) for band in ("B04", "B08", "SCL")}
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
        assert sorted(p.name for p in folder.iterdir()) == ["B04.tif", "B08.tif", "SCL.tif"]


def test_process_scene_job_fails_with_one_line_and_leaves_no_product(tmp_path: Path) -> None:
    """The job the workflow runs: permanent 503s -> exit 1, one line, no outputs."""
    blobs = {band: os.urandom(2048) for band in ("B04", "B08", "SCL")}
    with FaultyFileServer({f"/{b}.tif": d for b, d in blobs.items()}) as server:
        server.script("/B04.tif", *["503"] * 10)
        settings = make_settings(
            tmp_path, tiles=["47PPR"], products=["ndvi"],
            download={"attempts": 2, "backoff_seconds": 0, "timeout_seconds": 2},
        )  # fmt: skip
        record = _record(server, blobs)
        inventory = tmp_path / "inventory.jsonl"
        inventory.write_text(record.to_json() + "\n")
        result = run_cli(
            "process-scene", "--settings", settings_file(settings, tmp_path),
            "--inventory", str(inventory), "--scene", record.id,
        )  # fmt: skip
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
    source = tmp_path / "src.tif"
    source.write_bytes(b"abc")
    final = tmp_path / "out" / "B04.tif"
    fetch(BandAsset(str(source), 3, sha256_multihash(b"abc")), final, options()[0])
    assert final.read_bytes() == b"abc"
    with pytest.raises(DownloadError, match="no such file"):
        fetch(BandAsset(str(tmp_path / "missing.tif")), tmp_path / "x.tif", options()[0])
