"""What a server says about an object's bytes, and whether a file agrees with it.

HTTP and S3 responses carry digests beside the body: an ETag that is the object's MD5 (single
part upload: 32 hex digits) or the MD5 of its parts' MD5s (multipart: `<hex>-N`, checked when
a common part size reproduces it), a `Content-MD5` header, and S3's `x-amz-checksum-*`
headers. A corrupting proxy or disk changes the bytes but not these, so they catch what a
length check cannot. Opaque ETags (not MD5-shaped, weak `W/`) prove nothing and are skipped.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import math
import re
import zlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from raw2ready.errors import CorruptDownloadError

log = logging.getLogger(__name__)

_MIB = 1 << 20
_CHUNK = _MIB
#: Part sizes of common uploaders (AWS CLI/boto3 8 MiB, s3cmd 15 MiB, rclone 5 MiB, ...).
COMMON_PART_SIZES = tuple(n * _MIB for n in (8, 16, 5, 15, 32, 64, 50, 100, 128, 256, 512, 1024))
_SINGLE_MD5 = re.compile(r"^[0-9a-f]{32}$")
_MULTIPART_MD5 = re.compile(r"^([0-9a-f]{32})-([0-9]+)$")

#: Response headers that describe the whole object, lower-case.
WHOLE_OBJECT_HEADERS = frozenset(
    {"content-md5", "x-amz-checksum-crc32", "x-amz-checksum-sha1", "x-amz-checksum-sha256"}
)


def signals_of(headers: Mapping[str, str | None], whole: bool) -> dict[str, str]:
    """The integrity signals of a response: its ETag, and when the body is the whole object
    (not a range), its whole-object digest headers. Keys are lower-case header names."""
    lowered = {key.lower(): value for key, value in headers.items() if value}
    if lowered.get("content-encoding", "identity").lower() != "identity":
        return {}  # the digests describe the encoded bytes, not the decoded file
    signals = {}
    etag = lowered.get("etag")
    if etag and not etag.startswith("W/"):
        signals["etag"] = etag
    if whole:
        signals.update({name: lowered[name] for name in WHOLE_OBJECT_HEADERS if name in lowered})
    return signals


def check_signals(path: Path, signals: Mapping[str, str], shown: str) -> list[str]:
    """Check a file against a response's signals; return what was proven (e.g. `ETag MD5`).

    Raises CorruptDownloadError when a signal contradicts the bytes.
    """
    proven = []
    for name, value in sorted(signals.items()):
        what = _check_one(path, name, value.strip())
        if what is None:
            continue
        label, matches = what
        if not matches:
            raise CorruptDownloadError(f"{shown}: bytes do not match the server's {label}")
        proven.append(label)
    return proven


def _check_one(path: Path, name: str, value: str) -> tuple[str, bool] | None:
    """(label, whether the file matches) for one signal, or None if it proves nothing."""
    if name == "etag":
        return _check_etag(path, value.strip('"').lower())
    if name == "content-md5":
        return "Content-MD5", _b64(value) == _digest(path, hashlib.md5)
    algorithm = name.removeprefix("x-amz-checksum-")
    if "-" in value:  # a composite checksum of parts, not of the object
        return None
    if algorithm == "crc32":
        return "x-amz-checksum-crc32", _b64(value) == _crc32(path)
    if algorithm in ("sha1", "sha256"):
        function = getattr(hashlib, algorithm)
        return f"x-amz-checksum-{algorithm}", _b64(value) == _digest(path, function)
    return None


def _check_etag(path: Path, etag: str) -> tuple[str, bool] | None:
    """An MD5-shaped ETag checked: single part, or multipart with an inferable part size."""
    if _SINGLE_MD5.match(etag):
        return "ETag MD5", _digest(path, hashlib.md5).hex() == etag
    multipart = _MULTIPART_MD5.match(etag)
    if multipart is None:
        return None
    expected, parts = multipart.group(1), int(multipart.group(2))
    size = path.stat().st_size
    for part_size in part_size_candidates(size, parts):
        if _multipart_md5(path, part_size) == expected:
            log.debug("%s: multipart ETag matches with %d-byte parts", path.name, part_size)
            return f"multipart ETag MD5 ({parts} parts of {part_size} bytes)", True
    return f"multipart ETag MD5 ({parts} parts, no common part size reproduces it)", False


def part_size_candidates(size: int, parts: int) -> list[int]:
    """Part sizes that split `size` bytes into exactly `parts` parts: the common uploaders'
    first, then the sizes `parts` itself implies (size / parts, rounded up to 1 MiB or 1 MB)."""
    if parts < 1 or size < parts:
        return []
    implied = math.ceil(size / parts)
    guesses: Iterable[int] = (
        *COMMON_PART_SIZES,
        implied,
        math.ceil(implied / _MIB) * _MIB,
        math.ceil(implied / 1_000_000) * 1_000_000,
    )
    fitting: list[int] = []
    for guess in guesses:
        if guess > 0 and math.ceil(size / guess) == parts and guess not in fitting:
            fitting.append(guess)
    return fitting


def _multipart_md5(path: Path, part_size: int) -> str:
    """The S3 multipart ETag digest: MD5 of the concatenated MD5s of the parts."""
    digests = bytearray()
    with path.open("rb") as stream:
        while part := stream.read(part_size):
            digests += hashlib.md5(part).digest()
    return hashlib.md5(bytes(digests)).hexdigest()


def _digest(path: Path, function: Callable[[], Any]) -> bytes:
    """A hashlib digest of a file, read in chunks."""
    digest = function()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.digest()


def _crc32(path: Path) -> bytes:
    """The CRC-32 of a file, big-endian, as S3 encodes it."""
    value = 0
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            value = zlib.crc32(chunk, value)
    return value.to_bytes(4, "big")


def _b64(value: str) -> bytes | None:
    """Bytes of a base64 header value, or None when it is not base64."""
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        return None
