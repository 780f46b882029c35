"""Proof that a fetched file is the one the archive describes: its size and its checksum.

Checksums are STAC `file:checksum` multihashes (hex: function code, digest length, digest).
"""

from __future__ import annotations

import logging
from pathlib import Path

from raw2ready.archives.transfer.hrefs import shown_href
from raw2ready.checksums import file_matches
from raw2ready.errors import DownloadError
from raw2ready.scene import BandAsset

log = logging.getLogger(__name__)


def verify(path: Path, asset: BandAsset) -> None:
    """Check size and multihash checksum (`file:size`, `file:checksum`) of a fetched file."""
    size = path.stat().st_size
    if asset.size is not None and size != asset.size:
        raise DownloadError(
            f"{shown_href(asset.href)}: got {size} bytes, the item says {asset.size}"
        )
    if not asset.checksum:
        return
    matches = file_matches(path, asset.checksum.lower())
    if matches is None:
        log.warning("%s: checksum %s... uses an unknown hash; size checked only",
                    shown_href(asset.href), asset.checksum[:8])  # fmt: skip
        return
    if not matches:
        raise DownloadError(f"{shown_href(asset.href)}: checksum mismatch (file:checksum)")
