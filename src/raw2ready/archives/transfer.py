"""Fetch a scene's band assets into the work area: resumable, verified, atomic, with retries.

Every scheme an archive uses is served: local paths and file:// (copied), http(s) (streamed
with requests; Planetary Computer blob URLs are signed just in time and CDSE product downloads
get a Keycloak bearer token, so tokens never land in inventories), s3:// (boto3,
`sources.s3`; a folder such as `s3://eodata/.../NAME.SAFE/` is fetched object by object and
packed into one zip) and sentinelhub:// (Process API, `sources.sentinelhub`). Bytes go to a
hidden `.NAME.partial` file beside the target.
Transient failures (timeouts, stalls, resets, truncated bodies, 429, 5xx) are retried with
exponential backoff and jitter, honouring Retry-After, and resume from the bytes already
there (Range, guarded by the object's ETag). A file appears under its final name only after
its size and checksum (when the item gives them) match, so a crash or a give-up never leaves
a partial file behind a real name, and a rerun fetches only what is missing.

Rasters are never read over /vsicurl: GDAL's HTTP layer, which caches failed reads and lists
directories on open, is not in the download path at all.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import json
import logging
import os
import shutil
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse, urlsplit

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from raw2ready.atomic import PARTIAL_SUFFIX
from raw2ready.config import ArchiveSection, DownloadSection
from raw2ready.errors import DownloadError
from raw2ready.scene import BandAsset, SceneRecord

if TYPE_CHECKING:
    from raw2ready.archives.cdse_auth import CdseSettings, TokenSource
    from raw2ready.archives.s3 import S3Settings
    from raw2ready.archives.sentinelhub import SentinelHubSettings

log = logging.getLogger(__name__)

_CHUNK = 1 << 18
_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
#: Longest wait raw2ready accepts from a Retry-After header or the backoff, in seconds.
MAX_WAIT_SECONDS = 300.0
#: Multihash function codes (hex varint) of `file:checksum` -> hashlib names.
_MULTIHASH = {
    "11": "sha1", "12": "sha256", "13": "sha512", "14": "sha3_512", "15": "sha3_384",
    "16": "sha3_256", "17": "sha3_224", "d501": "md5",
}  # fmt: skip
_PC_BLOB_DOMAIN = ".blob.core.windows.net"


@dataclass(frozen=True)
class DownloadOptions:
    """How hard to try, and how to reach archives that need settings (S3, Sentinel Hub)."""

    attempts: int = 5
    backoff_seconds: float = 1.0
    timeout_seconds: float = 60.0
    s3: S3Settings | None = None
    sentinelhub: SentinelHubSettings | None = None
    cdse: CdseSettings | None = None
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)

    @classmethod
    def retries_of(cls, download: DownloadSection) -> DownloadOptions:
        """Retry and timeout options alone (catalogue requests, which need no archive access)."""
        return cls(download.attempts, download.backoff_seconds, download.timeout_seconds)

    @classmethod
    def from_settings(cls, download: DownloadSection, archive: ArchiveSection) -> DownloadOptions:
        """Options from the validated `download` and `archive` sections of a campaign."""
        from raw2ready.archives.cdse_auth import CdseSettings
        from raw2ready.archives.s3 import S3Settings
        from raw2ready.archives.sentinelhub import SentinelHubSettings

        return cls(
            attempts=download.attempts,
            backoff_seconds=download.backoff_seconds,
            timeout_seconds=download.timeout_seconds,
            s3=S3Settings.from_config(archive.s3),
            sentinelhub=(
                SentinelHubSettings.from_archive(archive) if archive.kind == "sentinelhub" else None
            ),
            cdse=CdseSettings.from_config(archive.cdse),
        )


class TransientError(DownloadError):
    """A failure worth retrying; carries the server's Retry-After when it gave one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RestartError(TransientError):
    """The bytes fetched so far cannot be continued (object changed, bad range): start over."""


@dataclass
class Body:
    """One response body: where it starts in the object, the object's size, its validator."""

    start: int
    total: int | None
    validator: str | None
    chunks: Iterable[bytes]


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


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


def shown_href(href: str) -> str:
    """An href as it may appear in logs and messages: without its query (tokens live there)."""
    parts = urlsplit(href)
    return parts._replace(query="", fragment="").geturl() if parts.query else href


def _redact(text: str, url: str) -> str:
    """Remove a signed URL's query string from an error text (requests quotes URLs)."""
    query = urlsplit(url).query
    return text.replace(query, "<redacted>") if query else text


def _local_source(href: str) -> Path | None:
    """The local path an href points to, or None for remote URLs."""
    parsed = urlparse(href)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path))
    if len(parsed.scheme) == 1:  # a Windows drive letter, not a URL scheme
        return Path(href)
    return None


def partial_path(final: Path) -> Path:
    """The hidden file a download of `final` grows in (kept across attempts and runs)."""
    return final.with_name(f".{final.name}{PARTIAL_SUFFIX}")


def _state_path(partial: Path) -> Path:
    """Sidecar remembering which href and object version a partial file belongs to."""
    return partial.with_name(f"{partial.name}.json")


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) from `bytes 100-199/1000` or `bytes */1000`."""
    if not value or not value.startswith("bytes "):
        return None, None
    span, _, total = value[6:].partition("/")
    first = int(span.split("-")[0]) if span != "*" and "-" in span else None
    return first, int(total) if total.isdigit() else None


def _wait(options: DownloadOptions) -> Callable[[RetryCallState], float]:
    """Exponential backoff with jitter, or the server's Retry-After when longer."""
    backoff = wait_exponential_jitter(
        multiplier=options.backoff_seconds, max=60, jitter=options.backoff_seconds
    )

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        hint = getattr(error, "retry_after", None) or 0.0
        return min(max(backoff(state), hint), MAX_WAIT_SECONDS)

    return wait


def retrying(options: DownloadOptions) -> Retrying:
    """The one retry policy of every request: TransientError retried with backoff/Retry-After."""
    return Retrying(
        retry=retry_if_exception_type(TransientError),
        stop=stop_after_attempt(options.attempts),
        wait=_wait(options),
        sleep=options.sleep,
        before_sleep=_log_retry,
        reraise=True,
    )


def _log_retry(state: RetryCallState) -> None:
    """One warning per failed attempt, with the wait chosen."""
    error = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    log.warning("attempt %d failed (%s); retrying in %.1f s", state.attempt_number, error, wait)


def raise_if_transient(response: requests.Response, shown: str) -> None:
    """TransientError (with the server's Retry-After) for statuses worth retrying."""
    if response.status_code in _RETRY_STATUS:
        raise TransientError(
            f"{shown}: HTTP {response.status_code}",
            retry_after_seconds(response.headers.get("Retry-After")),
        )


def is_folder_href(href: str) -> bool:
    """True for an S3 folder (`s3://bucket/prefix/`): a product stored as separate objects."""
    return href.startswith("s3://") and href.endswith("/")


class Fetcher:
    """Fetches band assets of any supported scheme; one per scene, to reuse connections."""

    def __init__(self, options: DownloadOptions) -> None:
        self.options = options
        self._session: requests.Session | None = None
        self._s3_client: Any = None
        self._cdse_tokens: TokenSource | None = None

    # ---- one asset ---------------------------------------------------------------------------

    def fetch(self, asset: BandAsset, final: Path) -> Path:
        """Fetch one asset to `final` (verified, atomically); a verified existing file is kept."""
        if final.exists():
            try:
                verify(final, asset)
                return final
            except DownloadError:
                log.warning("re-fetching %s: the existing copy fails verification", final)
                final.unlink()
        final.parent.mkdir(parents=True, exist_ok=True)
        if is_folder_href(asset.href):
            return self._fetch_folder(asset.href, final)
        partial = partial_path(final)
        try:
            retrying(self.options)(self._attempt, asset, partial)
        except TransientError as exc:
            kept = partial.stat().st_size if partial.exists() else 0
            raise DownloadError(
                f"{exc} (gave up after {self.options.attempts} attempts; {kept} bytes kept "
                "for the next run)"
            ) from exc
        os.replace(partial, final)
        _state_path(partial).unlink(missing_ok=True)
        return final

    def _fetch_folder(self, href: str, final: Path) -> Path:
        """An S3 folder as one stored zip at `final`, its objects fetched one by one.

        Each object is fetched (retried, resumable, size-checked) into a hidden staging
        folder under a name derived from its key, so no key can place a file anywhere; the
        keys become the zip's member names under the folder's own name, where the SAFE
        checks (zip-slip, CRC, manifest checksums) judge them like those of any archive.
        """
        from raw2ready.archives.s3 import list_folder

        try:
            objects = retrying(self.options)(list_folder, self._s3(), self._s3_settings(), href)
        except TransientError as exc:
            raise DownloadError(f"{exc} (gave up after {self.options.attempts} attempts)") from exc
        staging = final.with_name(f".{final.name}.objects")
        staged = [
            self.fetch(BandAsset(item.href, item.size), staging / item.digest) for item in objects
        ]
        partial = partial_path(final)
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for item, path in zip(objects, staged, strict=True):
                archive.write(path, item.member)
        os.replace(partial, final)
        shutil.rmtree(staging, ignore_errors=True)
        log.info("%s: %d objects packed into %s", href, len(objects), final.name)
        return final

    def _attempt(self, asset: BandAsset, partial: Path) -> None:
        """One try: transfer (resuming when possible), then verify the whole file."""
        resumed_from = 0
        try:
            resumed_from = self._transfer(asset.href, partial)
            verify(partial, asset)
        except RestartError:
            self._discard(partial)
            raise
        except TransientError:
            raise
        except DownloadError as exc:
            self._discard(partial)
            if resumed_from:
                raise RestartError(f"{exc} after resuming; fetching it whole") from exc
            raise

    @staticmethod
    def _discard(partial: Path) -> None:
        """Forget a partial file and its sidecar."""
        partial.unlink(missing_ok=True)
        _state_path(partial).unlink(missing_ok=True)

    def _transfer(self, href: str, partial: Path) -> int:
        """Bring `href`'s bytes into `partial`; return the offset it resumed from."""
        source = _local_source(href)
        if source is not None:
            if not source.is_file():
                raise DownloadError(f"{href}: no such file")
            shutil.copyfile(source, partial)
            return 0
        scheme = urlparse(href).scheme
        if scheme == "sentinelhub":
            from raw2ready.archives.sentinelhub import fetch_band

            fetch_band(href, partial, self._sentinelhub_settings(href), self.options)
            return 0
        if scheme in ("http", "https"):
            opener: Callable[[str, int, str | None], contextlib.AbstractContextManager[Body]]
            opener = self._http_body
        elif scheme == "s3":
            opener = self._s3_body
        else:
            raise DownloadError(f"{shown_href(href)}: unsupported URL scheme '{scheme}'")
        offset, validator = self._resume_point(href, partial)
        with opener(href, offset, validator) as body:
            if body.start != offset:
                if body.start != 0:
                    raise RestartError(f"{shown_href(href)}: server resumed at {body.start}")
                if offset:
                    log.info("%s: the server sent the whole object; restarting", shown_href(href))
            _state_path(partial).write_text(json.dumps({"href": href, "validator": body.validator}))
            with partial.open("r+b" if body.start else "wb") as out:
                out.seek(body.start)
                out.truncate()
                for chunk in body.chunks:
                    out.write(chunk)
        size = partial.stat().st_size
        if body.total is not None and size > body.total:
            raise RestartError(f"{shown_href(href)}: {size} bytes, more than the {body.total} sent")
        if body.total is not None and size < body.total:
            raise TransientError(
                f"{shown_href(href)}: connection ended after {size} of {body.total} bytes"
            )
        return body.start

    @staticmethod
    def _resume_point(href: str, partial: Path) -> tuple[int, str | None]:
        """(offset, validator) to resume a partial file of this href, or (0, None)."""
        state_path = _state_path(partial)
        if not partial.exists() or not state_path.exists():
            return 0, None
        try:
            state = json.loads(state_path.read_text())
        except (OSError, ValueError):
            return 0, None
        if state.get("href") != href:
            return 0, None
        offset = partial.stat().st_size
        if offset:
            log.info("%s: resuming after %d bytes", shown_href(href), offset)
        return offset, state.get("validator")

    # ---- HTTP ---------------------------------------------------------------------------------

    @property
    def session(self) -> requests.Session:
        """One HTTP session per fetcher (connection reuse)."""
        if self._session is None:
            self._session = requests.Session()
        return self._session

    @staticmethod
    def _signed(href: str) -> str:
        """The URL to request: Planetary Computer blob URLs get a fresh SAS token."""
        if urlparse(href).netloc.endswith(_PC_BLOB_DOMAIN):
            from raw2ready.archives.planetary_computer import sign

            return sign(href)
        return href

    @contextlib.contextmanager
    def _http_body(self, href: str, offset: int, validator: str | None) -> Iterator[Body]:
        """GET `href` from `offset` (If-Range guarded); classify failures."""
        url = self._signed(href)
        headers = {"Accept-Encoding": "identity", **self._authorization(href)}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if validator:
                headers["If-Range"] = validator
        timeout = self.options.timeout_seconds
        try:
            with self.session.get(url, headers=headers, stream=True, timeout=timeout) as response:
                yield self._http_response(response, href, url, offset)
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
        ) as exc:
            message = _redact(f"{type(exc).__name__}: {exc}", url)
            raise TransientError(f"{shown_href(href)}: {message}") from exc

    def _http_response(self, response: requests.Response, href: str, url: str, offset: int) -> Body:
        """The body of a response, or the error its status means."""
        status = response.status_code
        shown = shown_href(href)
        raise_if_transient(response, shown)
        cdse = self.options.cdse
        if status == 401 and self._cdse_tokens is not None and cdse and cdse.serves(href):
            self._cdse_tokens.expire()
            raise TransientError(f"{shown}: HTTP 401 (access token expired or revoked; renewing)")
        if status == 403 and url != href:
            from raw2ready.archives.planetary_computer import forget_token

            forget_token(href)
            raise TransientError(f"{shown}: HTTP 403 with a signed URL (token expired?)")
        if status == 416:
            _first, total = _content_range(response.headers.get("Content-Range"))
            if total == offset:
                return Body(offset, offset, None, ())
            raise RestartError(f"{shown}: HTTP 416 at byte {offset} (object is {total} bytes)")
        if status >= 400:
            raise DownloadError(f"{shown}: HTTP {status} {response.reason}")
        etag = response.headers.get("ETag")
        validator = etag if etag and not etag.startswith("W/") else None
        validator = validator or response.headers.get("Last-Modified")
        length = response.headers.get("Content-Length")
        if status == 206:
            first, total = _content_range(response.headers.get("Content-Range"))
            start = first if first is not None else offset
        else:
            start, total = 0, int(length) if length and length.isdigit() else None
        return Body(start, total, validator, response.iter_content(_CHUNK))

    def _authorization(self, href: str) -> dict[str, str]:
        """A bearer token header for CDSE product downloads (Keycloak), else nothing."""
        cdse = self.options.cdse
        if cdse is None or not cdse.serves(href):
            return {}
        if self._cdse_tokens is None:
            from raw2ready.archives.cdse_auth import TokenSource

            self._cdse_tokens = TokenSource(cdse, self.session, self.options.timeout_seconds)
        return {"Authorization": f"Bearer {self._cdse_tokens.access_token()}"}

    # ---- S3 and Sentinel Hub -----------------------------------------------------------------

    def _s3_settings(self) -> S3Settings:
        """The campaign's S3 settings (defaults: plain AWS)."""
        from raw2ready.archives.s3 import S3Settings

        return self.options.s3 or S3Settings()

    def _s3(self) -> Any:
        """One boto3 client per fetcher."""
        from raw2ready.archives.s3 import make_client

        if self._s3_client is None:
            self._s3_client = make_client(self._s3_settings(), self.options.timeout_seconds)
        return self._s3_client

    @contextlib.contextmanager
    def _s3_body(self, href: str, offset: int, validator: str | None) -> Iterator[Body]:
        """GET an s3:// object from `offset` with the campaign's S3 settings."""
        from raw2ready.archives.s3 import open_object

        with open_object(self._s3(), self._s3_settings(), href, offset, validator) as body:
            yield body

    def _sentinelhub_settings(self, href: str) -> SentinelHubSettings:
        """The Sentinel Hub settings a sentinelhub:// href needs."""
        if self.options.sentinelhub is None:
            raise DownloadError(
                f"{href}: Sentinel Hub assets need archive.kind 'sentinelhub' in the config"
            )
        return self.options.sentinelhub


def fetch(asset: BandAsset, final: Path, options: DownloadOptions) -> Path:
    """Fetch one asset to `final` (atomically, verified); a verified existing file is kept."""
    return Fetcher(options).fetch(asset, final)


def download_scene(record: SceneRecord, folder: Path, options: DownloadOptions) -> dict[str, Path]:
    """Fetch every band of a scene record into `folder`; return canonical band -> local path."""
    fetcher = Fetcher(options)
    paths: dict[str, Path] = {}
    for band, asset in sorted(record.bands.items()):
        suffix = Path(urlparse(asset.href).path).suffix or ".tif"
        paths[band] = fetcher.fetch(asset, folder / f"{band}{suffix}")
        log.info("fetched %s %s", record.id, band)
    return paths
