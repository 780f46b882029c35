"""Multihash checksums, the form of the STAC file extension's `file:checksum`.

A multihash is hex(varint function code) + hex(varint digest length) + hex(digest); the
function codes are those of the multiformats table (github.com/multiformats/multicodec).
Archives publish them (Earth Search: sha2-256, `1220...`) and raw2ready writes them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

#: Multihash function code -> hashlib name, for the functions hashlib has.
HASH_FUNCTIONS: dict[int, str] = {
    0x11: "sha1",
    0x12: "sha256",
    0x13: "sha512",
    0x14: "sha3_512",
    0x15: "sha3_384",
    0x16: "sha3_256",
    0x17: "sha3_224",
    0x20: "sha384",
    0xD5: "md5",
    0x1013: "sha224",
}
_CODES: dict[str, int] = {name: code for code, name in HASH_FUNCTIONS.items()}
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Multihash:
    """A decoded multihash: the hashlib name of its function and the expected hex digest."""

    function: str
    digest: str


def varint(value: int) -> bytes:
    """Unsigned LEB128 varint, as multiformats encodes codes and lengths."""
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varint(data: bytes, start: int) -> tuple[int, int] | None:
    """(value, next offset) of the varint at `start`, or None if `data` ends inside it."""
    value = shift = 0
    for offset in range(start, min(len(data), start + 9)):
        value |= (data[offset] & 0x7F) << shift
        shift += 7
        if not data[offset] & 0x80:
            return value, offset + 1
    return None


def encode(function: str, digest: bytes) -> str:
    """The hex multihash of a digest made by hashlib function `function` (e.g. 'sha256')."""
    return (varint(_CODES[function]) + varint(len(digest)) + digest).hex()


def decode(checksum: str) -> Multihash | None:
    """The function and digest of a hex multihash; None if malformed or not a hashlib function."""
    try:
        data = bytes.fromhex(checksum)
    except ValueError:
        return None
    code = _read_varint(data, 0)
    if code is None or code[0] not in HASH_FUNCTIONS:
        return None
    length = _read_varint(data, code[1])
    if length is None or len(data) - length[1] != length[0]:
        return None
    return Multihash(HASH_FUNCTIONS[code[0]], data[length[1] :].hex())


def _file_digest(path: Path, function: str) -> bytes:
    """The digest of a file's bytes, read in chunks (COGs can be hundreds of MB)."""
    digest = hashlib.new(function)
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.digest()


def file_checksum(path: Path, function: str = "sha256") -> str:
    """The `file:checksum` of a file: its multihash (sha2-256 unless told otherwise)."""
    return encode(function, _file_digest(path, function))


def file_matches(path: Path, checksum: str) -> bool | None:
    """Whether a file has this multihash checksum; None when the checksum cannot be checked."""
    expected = decode(checksum)
    if expected is None:
        return None
    return _file_digest(path, expected.function).hex() == expected.digest
