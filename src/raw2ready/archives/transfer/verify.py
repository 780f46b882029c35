"""Proof that a fetched file is the one the archive describes: every integrity signal there is.

The item's `file:size` and `file:checksum` (a multihash: function code, digest length,
digest), the server's digests of the object (ETag MD5, Content-MD5, x-amz-checksum-*:
`server_digests.py`) and, for rasters, a full decode (`decode.py`). Any contradiction is a
CorruptDownloadError: the fetcher deletes the bytes and fetches them again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from raw2ready.archives.transfer.decode import decode_fully
from raw2ready.archives.transfer.hrefs import shown_href
from raw2ready.archives.transfer.server_digests import check_signals
from raw2ready.checksums import file_matches
from raw2ready.errors import CorruptDownloadError
from raw2ready.scene import BandAsset

log = logging.getLogger(__name__)


def verify(
    path: Path,
    asset: BandAsset,
    signals: Mapping[str, str] | None = None,
    decode: bool = False,
) -> list[str]:
    """Check a fetched file against every signal; return what was checked."""
    shown = shown_href(asset.href)
    checked = []
    size = path.stat().st_size
    if asset.size is not None:
        if size != asset.size:
            raise CorruptDownloadError(f"{shown}: got {size} bytes, the item says {asset.size}")
        checked.append("file:size")
    if asset.checksum:
        matches = file_matches(path, asset.checksum.lower())
        if matches is None:
            log.warning("%s: checksum %s... uses an unknown hash; not checked",
                        shown, asset.checksum[:8])  # fmt: skip
        elif not matches:
            raise CorruptDownloadError(f"{shown}: checksum mismatch (file:checksum)")
        else:
            checked.append("file:checksum")
    checked += check_signals(path, signals or {}, shown)
    if decode:
        checked.append(decode_fully(path, shown))
    return checked
