"""What every archive implements: search a tile into canonical scene records, and fetch.

A `Provider` searches (`search` -> `SearchResult`: records plus rejected items with reasons)
and hands the shared transport the sources its hrefs need (`sources` -> objects whose
`fetch(asset, final, options)` returns a verified local file, calling the transport with
the provider's signing, credentials or API). Archives whose hrefs any transport can read
return no sources. Each provider is one module, registered once in registry.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

from raw2ready.archives.transfer.options import AssetSource, DownloadOptions
from raw2ready.config import ArchiveSection
from raw2ready.scene import SceneRecord


@dataclass(frozen=True)
class SearchQuery:
    """What to look for: one tile, a date range, a cloud limit, the bands the products need."""

    tile: str
    start: date
    end: date
    max_cloud_cover: float
    collection: str
    bands: frozenset[str]

    @property
    def interval(self) -> str:
        """RFC 3339 interval covering whole days, inclusive of `end`."""
        return f"{self.start.isoformat()}T00:00:00Z/{self.end.isoformat()}T23:59:59.999Z"

    def accepts_date(self, day: date) -> bool:
        """True when `day` lies in the query's inclusive range."""
        return self.start <= day <= self.end


@dataclass(frozen=True)
class SearchResult:
    """Scene records found, and items rejected with the reason."""

    records: list[SceneRecord]
    rejected: list[tuple[str, str]]


class Provider(Protocol):
    """One archive kind: how to search it and how its hrefs are fetched."""

    def search(
        self, archive: ArchiveSection, query: SearchQuery, options: DownloadOptions
    ) -> SearchResult:
        """The scene records of one tile (exact tile, date and cloud checks included)."""
        ...

    def sources(self, archive: ArchiveSection) -> tuple[AssetSource, ...]:
        """The sources that fetch this archive's special hrefs; () when the transport can."""
        ...
