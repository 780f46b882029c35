"""Search the campaign's archive for a tile: the registered provider of `archive.kind`
searches, and every provider ends in the same canonical records (provider.py)."""

from __future__ import annotations

import logging

from raw2ready.archives.duplicates import newest_per_acquisition
from raw2ready.archives.provider import SearchQuery, SearchResult
from raw2ready.archives.registry import provider_for
from raw2ready.archives.transfer.options import DownloadOptions
from raw2ready.config import ArchiveSection

log = logging.getLogger(__name__)


def search_archive(
    archive: ArchiveSection, query: SearchQuery, options: DownloadOptions | None = None
) -> SearchResult:
    """Search the configured archive (the validated `archive` section) for one tile.

    `options` sets the retries of archives whose search requests use the transport's retry
    policy (CDSE OData); defaults otherwise. Duplicate acquisitions are resolved here, for
    every provider (duplicates.py), and reported among the rejected items.
    """
    found = provider_for(archive.kind).search(archive, query, options or DownloadOptions())
    records, duplicates = newest_per_acquisition(found.records)
    for scene, reason in duplicates:
        log.warning("skipping %s: %s", scene, reason)
    result = SearchResult(records, [*found.rejected, *duplicates])
    log.info(
        "tile %s: %d scene(s), %d rejected, %s..%s",
        query.tile, len(result.records), len(result.rejected), query.start, query.end,
    )  # fmt: skip
    return result


def search(kind: str, url: str, query: SearchQuery, page_size: int = 200) -> SearchResult:
    """Search an archive given by kind and URL alone (defaults for everything else)."""
    return search_archive(ArchiveSection(kind, url, page_size=page_size), query)
