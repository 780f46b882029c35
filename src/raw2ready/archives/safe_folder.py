"""A local folder of Sentinel-2 SAFE zips as an archive: one scene record per acquisition.

Only each zip's metadata members are read at search time (after its member names pass the
zip-slip checks); the full integrity check runs in the scene job, before the product is
used. When the folder holds both the L1C and an L2A of an acquisition, the L2A wins and
Sen2Cor is never run for it; among several L2A (or L1C) the latest processing wins.
"""

from __future__ import annotations

import logging
from pathlib import Path

from raw2ready.archives.provider import SearchQuery, SearchResult
from raw2ready.archives.transfer.options import AssetSource, DownloadOptions
from raw2ready.config import ArchiveSection
from raw2ready.errors import ArchiveError, ItemError, SearchError
from raw2ready.scene import BandAsset, SceneRecord
from raw2ready.sentinel2.safe import (
    SAFE_ASSET,
    SafeMetadata,
    one_per_acquisition,
    read_archive_metadata,
)

log = logging.getLogger(__name__)

COLLECTIONS = ("sentinel-2-l1c", "sentinel-2-l2a")


def _wanted(meta: SafeMetadata, query: SearchQuery) -> bool:
    """Tile, date, cloud and level filters."""
    if meta.tile != query.tile or not query.accepts_date(meta.sensing_time.date()):
        return False
    if meta.cloud_cover is not None and meta.cloud_cover > query.max_cloud_cover:
        return False
    return meta.level == "L2A" or query.collection == "sentinel-2-l1c"


def safe_folder_search(folder: str, query: SearchQuery) -> SearchResult:
    """Scene records of the SAFE zips under `folder` (recursively) that match the query."""
    root = Path(folder)
    if not root.is_dir():
        raise SearchError(f"archive folder {folder} does not exist")
    if query.collection not in COLLECTIONS:
        raise SearchError(
            f"archive.collection '{query.collection}' is not one a SAFE folder holds; "
            f"use {' or '.join(COLLECTIONS)}"
        )
    candidates: list[SceneRecord] = []
    rejected: list[tuple[str, str]] = []
    for archive in sorted(root.rglob("*.zip")):
        try:
            meta = read_archive_metadata(archive)
            if not _wanted(meta, query):
                continue
            href = str(archive.resolve())
            asset = BandAsset(href, size=archive.stat().st_size)
            record = meta.scene_record(href, {SAFE_ASSET: asset})
        except (ArchiveError, ItemError) as exc:
            log.warning("skipping %s: %s", archive.name, exc)
            rejected.append((archive.name, str(exc)))
            continue
        candidates.append(record)
    records = one_per_acquisition(candidates)
    log.info(
        "tile %s: %d scene(s) in SAFE folder %s, %d zip(s) rejected",
        query.tile, len(records), folder, len(rejected),
    )  # fmt: skip
    return SearchResult(records, rejected)


class SafeFolder:
    """The `safe_folder` provider: its assets are local zips the transport copies."""

    def search(
        self, archive: ArchiveSection, query: SearchQuery, options: DownloadOptions
    ) -> SearchResult:
        """The folder's SAFE zips that match the query, one per acquisition."""
        return safe_folder_search(archive.url, query)

    def sources(self, archive: ArchiveSection) -> tuple[AssetSource, ...]:
        """None: local files need no source."""
        return ()
