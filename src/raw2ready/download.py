"""Fetch a scene's band assets into the work area: atomically, verified, with retries.

Local paths and file:// URLs are copied; http(s) URLs are streamed with requests. Transient
failures (timeouts, resets, 429, 5xx) are retried with exponential backoff and jitter,
honouring Retry-After; a file appears under its final name only after its size and
checksum (when the item gives them) match.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import requests
from tenacity import (
    RetryCallState,
    retry,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from raw2ready.atomic import atomic_path
from raw2ready.errors import DownloadError
from raw2ready.scene import BandAsset, SceneRecord

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
#: multihash prefix of a sha2-256 digest (code 0x12, length 0x20), as in `file:checksum`.
_SHA256_MULTIHASH = "1220"


@dataclass(frozen=True)
class DownloadOptions:
    """How hard to try."""

    attempts: int = 5
    backoff_seconds: float = 1.0
    timeout_seconds: float = 60.0


class TransientError(DownloadError):
    """A failure worth retrying; carries the server's Retry-After when it gave one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _retry_after(response: requests.Response) -> float | None:
    """Seconds from a Retry-After header given as a number (HTTP dates are rare here)."""
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def verify(path: Path, asset: BandAsset) -> None:
    """Check size and sha2-256 multihash checksum of a fetched file against the item."""
    if asset.size is not None and path.stat().st_size != asset.size:
        raise DownloadError(
            f"{asset.href}: got {path.stat().st_size} bytes, the item says {asset.size}"
        )
    if asset.checksum and asset.checksum.startswith(_SHA256_MULTIHASH):
        digest = hashlib.sha256()
        with path.open("rb") as stream:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
        if _SHA256_MULTIHASH + digest.hexdigest() != asset.checksum:
            raise DownloadError(f"{asset.href}: checksum mismatch (file:checksum)")


def _local_source(href: str) -> Path | None:
    """The local path an href points to, or None for remote URLs."""
    parsed = urlparse(href)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path))
    if len(parsed.scheme) == 1:  # a Windows drive letter, not a URL scheme
        return Path(href)
    return None


def _fetch_http(href: str, target: Path, timeout: float) -> None:
    """Stream one URL to `target`; classify failures as transient or permanent."""
    try:
        with requests.get(href, stream=True, timeout=timeout) as response:
            if response.status_code in _RETRY_STATUS:
                raise TransientError(f"{href}: HTTP {response.status_code}", _retry_after(response))
            if response.status_code >= 400:
                raise DownloadError(f"{href}: HTTP {response.status_code} {response.reason}")
            expected = response.headers.get("Content-Length")
            with target.open("wb") as stream:
                for chunk in response.iter_content(_CHUNK):
                    stream.write(chunk)
            if expected is not None and target.stat().st_size != int(expected):
                raise TransientError(
                    f"{href}: connection closed after {target.stat().st_size} of {expected} bytes"
                )
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TransientError(f"{href}: {type(exc).__name__}: {exc}") from exc
    except requests.exceptions.ChunkedEncodingError as exc:
        raise TransientError(f"{href}: truncated response ({exc})") from exc


def _wait(options: DownloadOptions) -> Callable[[RetryCallState], float]:
    """Exponential backoff with jitter, or the server's Retry-After when longer."""
    backoff = wait_exponential_jitter(
        initial=options.backoff_seconds, max=60, jitter=options.backoff_seconds
    )

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        hint = getattr(error, "retry_after", None) or 0.0
        return max(backoff(state), min(hint, 300.0))

    return wait


def fetch(asset: BandAsset, final: Path, options: DownloadOptions) -> Path:
    """Fetch one asset to `final` (atomically, verified); a verified existing file is kept."""
    if final.exists():
        try:
            verify(final, asset)
            return final
        except DownloadError:
            log.warning("re-fetching %s: the existing copy fails verification", final)
    source = _local_source(asset.href)

    def attempt() -> None:
        with atomic_path(final) as temporary:
            if source is not None:
                if not source.exists():
                    raise DownloadError(f"{asset.href}: no such file")
                shutil.copyfile(source, temporary)
            else:
                _fetch_http(asset.href, temporary, options.timeout_seconds)
            verify(temporary, asset)

    retrying = retry(
        retry=retry_if_exception_type(TransientError),
        stop=stop_after_attempt(options.attempts),
        wait=_wait(options),
        before_sleep=lambda state: log.warning(
            "attempt %d failed (%s); retrying",
            state.attempt_number,
            state.outcome.exception() if state.outcome else "?",
        ),
        reraise=True,
    )(attempt)
    try:
        retrying()
    except TransientError as exc:
        raise DownloadError(f"{exc} (gave up after {options.attempts} attempts)") from exc
    return final


def download_scene(record: SceneRecord, folder: Path, options: DownloadOptions) -> dict[str, Path]:
    """Fetch every band of a scene record into `folder`; return canonical band -> local path."""
    paths: dict[str, Path] = {}
    for band, asset in sorted(record.bands.items()):
        suffix = Path(urlparse(asset.href).path).suffix or ".tif"
        paths[band] = fetch(asset, folder / f"{band}{suffix}", options)
        log.info("fetched %s %s", record.id, band)
    return paths
