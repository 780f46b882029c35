"""Fetch a scene's band assets into the work area: resumable, verified, atomic, with retries.

The shared transport serves local paths and file:// (copied), http(s) (streamed with
requests, `http.py`) and s3:// (boto3, `s3.py`; a folder such as `s3://eodata/.../NAME.SAFE/`
is fetched object by object and packed into one zip). Hrefs an archive must sign, authorize
or produce itself go to that archive's source (`DownloadOptions.sources`), which calls this
transport back with its hooks. Bytes go to a hidden `.NAME.partial` file beside the target.
Transient failures are retried (`retries.py`) and resume from the bytes already there (Range,
guarded by the object's ETag). A file appears under its final name only after every
integrity signal there is holds (`verify.py`: the item's size and checksum, the server's
digests, a full decode of rasters), and a proof beside it (`proof.py`) records that; bytes
that fail are deleted and fetched once more. So a crash or a give-up never leaves a partial
file behind a real name, and a rerun reuses only proven files and fetches the rest.

Rasters are never read over /vsicurl: GDAL's HTTP layer, which caches failed reads and lists
directories on open, is not in the download path at all.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests

from raw2ready.archives.transfer.decode import is_raster
from raw2ready.archives.transfer.hrefs import is_folder_href, local_source, shown_href
from raw2ready.archives.transfer.http import HttpAccess, open_http
from raw2ready.archives.transfer.options import DownloadOptions
from raw2ready.archives.transfer.pace import paced
from raw2ready.archives.transfer.partial import (
    Body,
    discard,
    partial_path,
    remember,
    remembered_signals,
    resume_point,
    state_path,
)
from raw2ready.archives.transfer.proof import forget, is_proven, write_proof
from raw2ready.archives.transfer.retries import RestartError, TransientError, retrying
from raw2ready.archives.transfer.s3 import list_folder, make_client, open_object
from raw2ready.archives.transfer.verify import verify
from raw2ready.config import S3Section
from raw2ready.errors import CorruptDownloadError, DownloadError
from raw2ready.scene import BandAsset, SceneRecord

log = logging.getLogger(__name__)

#: Writes the file behind an href into a path itself (an archive API, not a byte stream).
Writer = Callable[[str, Path], None]


class Fetcher:
    """Fetches band assets with the shared transport; one per scene, to reuse connections.

    `access` signs or authorizes HTTP requests; `write` replaces the byte transfer for hrefs
    only an archive's API can produce. Both come from an archive's source; plain hrefs need
    neither.
    """

    def __init__(
        self,
        options: DownloadOptions,
        access: HttpAccess | None = None,
        write: Writer | None = None,
    ) -> None:
        self.options = options
        self.access = access
        self.write = write
        self._session: requests.Session | None = None
        self._s3_client: Any = None

    # ---- one asset ---------------------------------------------------------------------------

    def fetch(self, asset: BandAsset, final: Path) -> Path:
        """Fetch one asset to `final` (verified, atomically, with its proof); a file already
        there is kept only when its proof holds, else fetched again.

        Bytes that contradict an integrity signal are deleted and fetched once more; a file
        that fails twice fails with one line (the archive itself serves it so).
        """
        if is_proven(final):
            return final
        if final.exists():
            log.warning("re-fetching %s: it has no valid proof of integrity", final)
            forget(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        if is_folder_href(asset.href):
            return self._fetch_folder(asset.href, final)
        partial = partial_path(final)
        for attempt in (1, 2):
            try:
                checked = retrying(self.options)(self._attempt, asset, partial, is_raster(final))
                break
            except CorruptDownloadError as exc:
                discard(partial)
                if attempt == 2:
                    raise CorruptDownloadError(f"{exc} (failed twice)") from exc
                log.warning("%s; deleted, fetching it again", exc)
            except TransientError as exc:
                kept = partial.stat().st_size if partial.exists() else 0
                raise DownloadError(
                    f"{exc} (gave up after {self.options.attempts} attempts; {kept} bytes kept "
                    "for the next run)"
                ) from exc
        os.replace(partial, final)
        state_path(partial).unlink(missing_ok=True)
        write_proof(final, asset.href, checked)
        return final

    def _fetch_folder(self, href: str, final: Path) -> Path:
        """An S3 folder as one stored zip at `final`, its objects fetched one by one.

        Each object is fetched (retried, resumable, size-checked) into a hidden staging
        folder under a name derived from its key, so no key can place a file anywhere; the
        keys become the zip's member names under the folder's own name, where the SAFE
        checks (zip-slip, CRC, manifest checksums) judge them like those of any archive.
        """
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
        write_proof(final, href, [f"{len(objects)} proven objects"])
        shutil.rmtree(staging, ignore_errors=True)
        log.info("%s: %d objects packed into %s", href, len(objects), final.name)
        return final

    def _attempt(self, asset: BandAsset, partial: Path, decode: bool) -> list[str]:
        """One try: transfer (resuming when possible), then verify the whole file against
        every integrity signal; return what was checked."""
        resumed_from = 0
        try:
            resumed_from, signals = self._transfer(asset.href, partial)
            return verify(partial, asset, signals, decode)
        except RestartError:
            discard(partial)
            raise
        except TransientError:
            raise
        except DownloadError as exc:
            discard(partial)
            if resumed_from and isinstance(exc, CorruptDownloadError):
                raise RestartError(f"{exc} after resuming; fetching it whole") from exc
            raise

    def _transfer(self, href: str, partial: Path) -> tuple[int, dict[str, str]]:
        """Bring `href`'s bytes into `partial`; return the offset it resumed from and the
        object's integrity signals (from the response, or remembered from the first one)."""
        source = local_source(href)
        if source is not None:
            if not source.is_file():
                raise DownloadError(f"{href}: no such file")
            shutil.copyfile(source, partial)
            return 0, {}
        if self.write is not None:
            self.write(href, partial)
            return 0, {}
        scheme = urlparse(href).scheme
        opener: Callable[[str, int, str | None], contextlib.AbstractContextManager[Body]]
        if scheme in ("http", "https"):
            opener = self._http_body
        elif scheme == "s3":
            opener = self._s3_body
        else:
            raise DownloadError(
                f"{shown_href(href)}: no transport for '{scheme}' hrefs (does archive.kind "
                "name the archive these scenes came from?)"
            )
        offset, validator = resume_point(href, partial)
        with opener(href, offset, validator) as body:
            if body.start != offset:
                if body.start != 0:
                    raise RestartError(f"{shown_href(href)}: server resumed at {body.start}")
                if offset:
                    log.info("%s: the server sent the whole object; restarting", shown_href(href))
            signals = body.signals
            if body.start:  # a range repeats only the ETag; the rest came with the first bytes
                signals = {**remembered_signals(partial), **body.signals}
            remember(partial, href, body.validator, signals)
            chunks = paced(
                body.chunks, shown_href(href), self.options.min_rate_bytes_per_s,
                self.options.rate_grace_seconds,
            )  # fmt: skip
            with partial.open("r+b" if body.start else "wb") as out:
                out.seek(body.start)
                out.truncate()
                for chunk in chunks:
                    out.write(chunk)
        size = partial.stat().st_size
        if body.total is not None and size > body.total:
            raise RestartError(f"{shown_href(href)}: {size} bytes, more than the {body.total} sent")
        if body.total is not None and size < body.total:
            raise TransientError(
                f"{shown_href(href)}: connection ended after {size} of {body.total} bytes"
            )
        return body.start, signals

    # ---- HTTP and S3 --------------------------------------------------------------------------

    @property
    def session(self) -> requests.Session:
        """One HTTP session per fetcher (connection reuse)."""
        if self._session is None:
            self._session = requests.Session()
        return self._session

    def _http_body(
        self, href: str, offset: int, validator: str | None
    ) -> contextlib.AbstractContextManager[Body]:
        """GET `href` from `offset` with the archive's access hooks, if any."""
        return open_http(
            self.session, href, offset, validator, self.options.timeout_seconds, self.access
        )

    def _s3_settings(self) -> S3Section:
        """The campaign's S3 settings (defaults: plain AWS)."""
        return self.options.s3 or S3Section()

    def _s3(self) -> Any:
        """One boto3 client per fetcher."""
        if self._s3_client is None:
            self._s3_client = make_client(self._s3_settings(), self.options.timeout_seconds)
        return self._s3_client

    @contextlib.contextmanager
    def _s3_body(self, href: str, offset: int, validator: str | None) -> Iterator[Body]:
        """GET an s3:// object from `offset` with the campaign's S3 settings."""
        with open_object(self._s3(), self._s3_settings(), href, offset, validator) as body:
            yield body


def fetch(asset: BandAsset, final: Path, options: DownloadOptions) -> Path:
    """Fetch one asset to `final` (atomically, verified); a verified existing file is kept."""
    return _fetch_with(Fetcher(options), asset, final)


def download_scene(record: SceneRecord, folder: Path, options: DownloadOptions) -> dict[str, Path]:
    """Fetch every band of a scene record into `folder`; return canonical band -> local path."""
    fetcher = Fetcher(options)
    paths: dict[str, Path] = {}
    for band, asset in sorted(record.bands.items()):
        suffix = Path(urlparse(asset.href).path).suffix or ".tif"
        paths[band] = _fetch_with(fetcher, asset, folder / f"{band}{suffix}")
        log.info("fetched %s %s", record.id, band)
    return paths


def _fetch_with(fetcher: Fetcher, asset: BandAsset, final: Path) -> Path:
    """The asset fetched by the archive source serving its href, else by `fetcher` alone."""
    source = fetcher.options.source_for(asset.href)
    if source is not None:
        return source.fetch(asset, final, fetcher.options)
    return fetcher.fetch(asset, final)
