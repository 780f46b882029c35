"""How to download: retries, timeouts, S3 settings, and the sources archives add.

A source is an archive's own fetch for the hrefs it serves (Planetary Computer blobs are
signed, CDSE downloads carry a bearer token, Sentinel Hub bands come from its Process API);
each one calls the shared transport. The transport never imports an archive: the archive
registry (archives/registry.py) installs the one resolver that turns a campaign's archive
section into its sources, and `from_settings` asks it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from raw2ready.config import ArchiveSection, DownloadSection, S3Section
from raw2ready.scene import BandAsset


class AssetSource(Protocol):
    """An archive's own fetch for the hrefs it serves, built for one campaign's archive."""

    def serves(self, href: str) -> bool:
        """True for the hrefs this source fetches (the transport fetches the others)."""
        ...

    def fetch(self, asset: BandAsset, final: Path, options: DownloadOptions) -> Path:
        """Fetch `asset` to `final`, verified and atomically, through the shared transport."""
        ...


#: Turns an archive section into the sources its scenes' hrefs need.
SourceResolver = Callable[[ArchiveSection], tuple[AssetSource, ...]]
_resolvers: list[SourceResolver] = []


def install_source_resolver(resolver: SourceResolver) -> None:
    """Set how archive sections become sources (the archive registry calls this, once)."""
    _resolvers[:] = [resolver]


@dataclass(frozen=True)
class DownloadOptions:
    """How hard to try, how slow a body may be (a floor on its average rate after a grace
    period; 0: none), how to reach S3, and the sources of hrefs the transport cannot fetch
    alone."""

    attempts: int = 5
    backoff_seconds: float = 1.0
    timeout_seconds: float = 60.0
    min_rate_bytes_per_s: float = 0.0
    rate_grace_seconds: float = 30.0
    s3: S3Section | None = None
    sources: tuple[AssetSource, ...] = ()
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)

    @classmethod
    def retries_of(cls, download: DownloadSection) -> DownloadOptions:
        """Retry and timeout options alone (catalogue requests, which need no archive access)."""
        return cls(download.attempts, download.backoff_seconds, download.timeout_seconds)

    @classmethod
    def from_settings(cls, download: DownloadSection, archive: ArchiveSection) -> DownloadOptions:
        """Options from the validated `download` and `archive` sections of a campaign."""
        return cls(
            attempts=download.attempts,
            backoff_seconds=download.backoff_seconds,
            timeout_seconds=download.timeout_seconds,
            min_rate_bytes_per_s=download.min_rate_bytes_per_s,
            rate_grace_seconds=download.rate_grace_seconds,
            s3=archive.s3,
            sources=tuple(source for resolve in _resolvers for source in resolve(archive)),
        )

    def source_for(self, href: str) -> AssetSource | None:
        """The source that fetches `href`, or None when the shared transport does it alone."""
        return next((source for source in self.sources if source.serves(href)), None)
