"""Tests of multihash checksums (raw2ready.checksums) against hashlib and the multiformats specs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from raw2ready import checksums

from .conftest import REAL_S2, requires_real_s2

DATA = b"The quick brown fox jumps over the lazy dog"
# Rows of the official multicodec table (github.com/multiformats/multicodec, table.csv), tag
# `multihash`: name -> code, and the hashlib name of the same function.
MULTICODEC_TABLE = {
    "sha1": (0x11, "sha1"),
    "sha2-256": (0x12, "sha256"),
    "sha2-512": (0x13, "sha512"),
    "sha3-512": (0x14, "sha3_512"),
    "sha3-384": (0x15, "sha3_384"),
    "sha3-256": (0x16, "sha3_256"),
    "sha3-224": (0x17, "sha3_224"),
    "sha2-384": (0x20, "sha384"),
    "md5": (0xD5, "md5"),
    "sha2-224": (0x1013, "sha224"),
}
# Examples of the unsigned-varint spec (github.com/multiformats/unsigned-varint, README).
VARINT_EXAMPLES = {
    1: "01",
    127: "7f",
    128: "8001",
    255: "ff01",
    300: "ac02",
    16384: "808001",
}


def test_function_codes_are_those_of_the_multicodec_table() -> None:
    assert dict(MULTICODEC_TABLE.values()) == checksums.HASH_FUNCTIONS


@pytest.mark.parametrize(("value", "encoded"), VARINT_EXAMPLES.items())
def test_varint_follows_the_unsigned_varint_spec(value: int, encoded: str) -> None:
    assert checksums.varint(value).hex() == encoded


def test_sha256_of_a_file_is_1220_and_the_hashlib_digest(tmp_path: Path) -> None:
    path = tmp_path / "fox.txt"
    path.write_bytes(DATA)
    expected = "1220" + hashlib.sha256(DATA).hexdigest()
    assert checksums.file_checksum(path) == expected
    # the published sha2-256 of this sentence (FIPS 180 test vectors in wide use)
    assert expected.endswith("d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592")


@pytest.mark.parametrize(("name", "row"), MULTICODEC_TABLE.items())
def test_every_function_round_trips_and_verifies(
    tmp_path: Path, name: str, row: tuple[int, str]
) -> None:
    code, hashlib_name = row
    path = tmp_path / "data.bin"
    path.write_bytes(DATA)
    digest = hashlib.new(hashlib_name, DATA).digest()
    multihash = checksums.file_checksum(path, hashlib_name)
    header = checksums.varint(code) + checksums.varint(len(digest))
    assert multihash == (header + digest).hex(), name
    assert checksums.decode(multihash) == checksums.Multihash(hashlib_name, digest.hex())
    assert checksums.file_matches(path, multihash) is True
    assert checksums.file_matches(path, multihash.upper()) is True
    path.write_bytes(DATA + b".")
    assert checksums.file_matches(path, multihash) is False


@pytest.mark.parametrize(
    "checksum",
    [
        "",
        "zz",
        "12",  # code without a length
        "1220abcd",  # digest shorter than its length says
        "1202abcdef",  # digest longer than its length says
        "1e20" + "00" * 32,  # blake3: a multihash function hashlib does not have
        "d5",  # the md5 code cut short: its varint is d5 01
    ],
)
def test_unusable_checksums_decode_to_none(tmp_path: Path, checksum: str) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(DATA)
    assert checksums.decode(checksum) is None
    assert checksums.file_matches(path, checksum) is None


@requires_real_s2
def test_real_earth_search_checksums_decode_as_sha256() -> None:
    # `file:checksum` values of a real Earth Search v1 sentinel-2-c1-l2a item.
    item = REAL_S2 / "stac_items/es1__sentinel-2-c1-l2a__S2B_T20EPT_20250731T131905_L2A.json"
    assets = json.loads(item.read_text())["assets"]
    values = [asset["file:checksum"] for asset in assets.values() if "file:checksum" in asset]
    assert values
    for value in values:
        decoded = checksums.decode(value)
        assert decoded is not None and decoded.function == "sha256"
        assert len(decoded.digest) == 64
