"""The server's digests of an object (raw2ready.archives.transfer.server_digests) against
digests the test computes itself with hashlib/zlib, as S3 defines them: the single-part ETag
is the MD5, the multipart ETag the MD5 of the parts' MD5s with `-<parts>`, `Content-MD5` and
`x-amz-checksum-*` the base64 of the raw digest (CRC-32 big-endian)."""

from __future__ import annotations

import base64
import hashlib
import os
import struct
import zlib
from pathlib import Path

import pytest

from raw2ready.archives.transfer.server_digests import check_signals, signals_of
from raw2ready.errors import CorruptDownloadError

MIB = 1 << 20
DATA = os.urandom(41 * MIB + 12345)


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("digests") / "object.bin"
    path.write_bytes(DATA)
    return path


def multipart_etag(data: bytes, part_size: int) -> str:
    parts = [data[i : i + part_size] for i in range(0, len(data), part_size)]
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    return f'"{digest}-{len(parts)}"'


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    "part_size",
    [8 * MIB, 16 * MIB, 5 * MIB, 15 * MIB, 7 * MIB],
    ids=["aws-cli-8MiB", "16MiB", "rclone-5MiB", "s3cmd-15MiB", "implied-7MiB"],
)
def test_multipart_etags_of_common_and_implied_part_sizes_are_proven(
    data_file: Path, part_size: int
) -> None:
    etag = multipart_etag(DATA, part_size)
    parts = etag.rstrip('"').rsplit("-", 1)[1]
    (proven,) = check_signals(data_file, {"etag": etag}, "object.bin")
    assert proven == f"multipart ETag MD5 ({parts} parts of {part_size} bytes)"


def test_a_multipart_etag_no_part_size_reproduces_is_a_mismatch(data_file: Path) -> None:
    etag = multipart_etag(DATA, 6 * MIB + 12_345)  # no uploader's size, not implied by N
    with pytest.raises(CorruptDownloadError, match="no common part size reproduces it"):
        check_signals(data_file, {"etag": etag}, "object.bin")


def whole_object_signals(data: bytes) -> dict[str, str]:
    return {
        "etag": f'"{hashlib.md5(data).hexdigest()}"',
        "content-md5": b64(hashlib.md5(data).digest()),
        "x-amz-checksum-crc32": b64(struct.pack(">I", zlib.crc32(data))),
        "x-amz-checksum-sha1": b64(hashlib.sha1(data).digest()),
        "x-amz-checksum-sha256": b64(hashlib.sha256(data).digest()),
    }


def test_whole_object_digests_are_checked(data_file: Path) -> None:
    proven = check_signals(data_file, whole_object_signals(DATA), "object.bin")
    assert sorted(proven) == sorted(
        ["ETag MD5", "Content-MD5", "x-amz-checksum-crc32", "x-amz-checksum-sha1",
         "x-amz-checksum-sha256"]
    )  # fmt: skip
    one_byte_less = whole_object_signals(DATA[:-1])
    for name, value in one_byte_less.items():
        with pytest.raises(CorruptDownloadError, match="bytes do not match the server's"):
            check_signals(data_file, {name: value}, "object.bin")


def test_what_proves_nothing_is_skipped(data_file: Path) -> None:
    signals = {
        "etag": '"v2-opaque-version-tag"',
        "x-amz-checksum-crc32": "AAAAAA==-3",  # a composite checksum of parts
        "x-amz-checksum-crc32c": "AAAAAA==",  # no CRC32C implementation at hand
    }
    assert check_signals(data_file, signals, "object.bin") == []


def test_a_range_response_gives_only_its_etag() -> None:
    headers = {"ETag": '"abc"', "Content-MD5": "x", "x-amz-checksum-sha256": "y", "Other": "z"}
    assert signals_of(headers, whole=False) == {"etag": '"abc"'}
    assert signals_of(headers, whole=True) == {
        "etag": '"abc"', "content-md5": "x", "x-amz-checksum-sha256": "y",
    }  # fmt: skip
    assert signals_of({"ETag": 'W/"weak"'}, whole=True) == {}
    assert signals_of({**headers, "Content-Encoding": "gzip"}, whole=True) == {}
