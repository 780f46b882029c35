"""Proof that a fetched file is the one the archive describes: its size and its checksum.

Checksums are STAC `file:checksum` multihashes (hex: function code, digest length, digest).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from raw2ready.archives.transfer.hrefs import shown_href
from raw2ready.errors import DownloadError
from raw2ready.scene import BandAsset

log = logging.getLogger(__name__)

_CHUNK = 1 << 18
#: Multihash function codes (hex varint) of `file:checksum` -> hashlib names.
_MULTIHASH = {
    "11": "sha1", "12": "sha256", "13": "sha512", "14": "sha3_512", "15": "sha3_384",
    "16": "sha3_256", "17": "sha3_224", "d501": "md5",
}  # fmt: skip


def _hasher(checksum: str) -> tuple[Any, str] | None:
    """A hashlib object and the expected hex digest of a multihash, or None if unsupported."""
    for code, name in _MULTIHASH.items():
        if checksum.startswith(code) and len(checksum) > len(code) + 2:
            length = int(checksum[len(code) : len(code) + 2], 16)
            digest = checksum[len(code) + 2 :]
            if len(digest) == 2 * length:
                return hashlib.new(name), digest.lower()
    return None


def verify(path: Path, asset: BandAsset) -> None:
    """Check size and multihash checksum (`file:size`, `file:checksum`) of a fetched file."""
    size = path.stat().st_size
    if asset.size is not None and size != asset.size:
        raise DownloadError(
            f"{shown_href(asset.href)}: got {size} bytes, the item says {asset.size}"
        )
    if not asset.checksum:
        return
    found = _hasher(asset.checksum)
    if found is None:
        log.warning("%s: checksum %s... uses an unknown hash; size checked only",
                    shown_href(asset.href), asset.checksum[:8])  # fmt: skip
        return
    digest, expected = found
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        raise DownloadError(f"{shown_href(asset.href)}: checksum mismatch (file:checksum)")
