"""S3 band assets (CDSE `s3://eodata`, AWS requester-pays buckets) fetched with boto3.

Endpoint, region, addressing style and requester-pays come from the campaign config
(`archive.s3`). Credentials come only from the environment (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), a named profile, or a credentials file whose *path*
the config gives: never from the config itself, never logged. botocore's own retries are
off, so one retry policy (retries.py: backoff, jitter; partial.py: resume) governs every
scheme. Products stored as folders (CDSE keeps each SAFE as `s3://eodata/.../NAME.SAFE/`) are
listed here and fetched object by object by the fetcher.

S3 is a transport backend, not a provider: it has no search of its own, the s3:// hrefs of
several archives point into it (Earth Search, CDSE STAC and OData), and its settings
(`archive.s3`) hold whatever the archive kind.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from raw2ready.archives.transfer.partial import Body
from raw2ready.archives.transfer.retries import RestartError, TransientError, retry_after_seconds
from raw2ready.archives.transfer.server_digests import signals_of
from raw2ready.config import S3Section
from raw2ready.errors import CorruptDownloadError, DownloadError

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
#: S3 error codes worth retrying besides HTTP 429/5xx.
_TRANSIENT_CODES = frozenset(
    {"SlowDown", "RequestTimeout", "RequestTimeTooSkewed", "InternalError", "ServiceUnavailable"}
)


def split_s3_href(href: str) -> tuple[str, str]:
    """(bucket, key) of an s3:// href."""
    parsed = urlparse(href)
    key = parsed.path.lstrip("/")
    if parsed.scheme != "s3" or not parsed.netloc or not key:
        raise DownloadError(f"{href}: not an s3://bucket/key URL")
    return parsed.netloc, key


def make_client(settings: S3Section, timeout: float) -> Any:
    """A boto3 S3 client for these settings; DownloadError when boto3 or credentials miss."""
    try:
        import boto3
        import botocore.session
        from botocore import UNSIGNED
        from botocore.config import Config
        from botocore.exceptions import ProfileNotFound
    except ImportError as exc:
        raise DownloadError("s3:// assets need boto3: pip install 'raw2ready[cdse]'") from exc
    core = botocore.session.Session()
    if settings.credentials_file:
        path = Path(settings.credentials_file).expanduser()
        if not path.is_file():
            raise DownloadError(f"archive.s3.credentials_file {path} does not exist")
        core.set_config_variable("credentials_file", str(path))
    if settings.profile:
        core.set_config_variable("profile", settings.profile)
    try:
        session = boto3.Session(botocore_session=core, region_name=settings.region)
        credentials = None if settings.anonymous else session.get_credentials()
    except ProfileNotFound as exc:
        raise DownloadError(f"archive.s3.profile: {exc}") from exc
    if credentials is None and not settings.anonymous:
        raise DownloadError(
            "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give "
            "archive.s3.credentials_file or archive.s3.profile (public buckets: "
            "archive.s3.anonymous: true)"
        )
    config = Config(
        retries={"max_attempts": 1, "mode": "standard"},
        connect_timeout=timeout,
        read_timeout=timeout,
        s3={"addressing_style": settings.addressing_style},
        signature_version=UNSIGNED if settings.anonymous else None,
    )
    return session.client("s3", endpoint_url=settings.endpoint_url, config=config)


def _classify(exc: Exception, href: str, offset: int) -> Exception:
    """The raw2ready error a botocore ClientError means."""
    response = getattr(exc, "response", {}) or {}
    error = response.get("Error", {})
    code = str(error.get("Code", ""))
    meta = response.get("ResponseMetadata", {})
    status = int(meta.get("HTTPStatusCode", 0) or 0)
    if status == 412 or code == "PreconditionFailed":
        return RestartError(f"{href}: the object changed since byte {offset}; starting over")
    if status == 416 or code == "InvalidRange":
        return RestartError(f"{href}: no bytes after {offset}; starting over")
    if status == 429 or status >= 500 or code in _TRANSIENT_CODES:
        retry_after = retry_after_seconds(meta.get("HTTPHeaders", {}).get("retry-after"))
        return TransientError(f"{href}: S3 {code or status}", retry_after)
    return DownloadError(f"{href}: S3 {code or status}: {error.get('Message', '')}".rstrip(": "))


@dataclass(frozen=True)
class FolderObject:
    """One object of an S3 folder: where it is, its size, its member name in the zip."""

    href: str
    size: int
    member: str

    @property
    def digest(self) -> str:
        """A file name for the object's bytes that no key can steer (its staging name)."""
        return hashlib.sha256(self.member.encode()).hexdigest()[:32]


def list_folder(client: Any, settings: S3Section, href: str) -> list[FolderObject]:
    """Every object under an s3:// folder, named `FOLDER/relative/key` (the folder's own name
    first, as in the archives' zips); errors classified like object reads."""
    from botocore.exceptions import ClientError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    bucket, prefix = split_s3_href(href)
    folder = posixpath.basename(prefix.rstrip("/"))
    request: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    if settings.requester_pays:
        request["RequestPayer"] = "requester"
    objects: list[FolderObject] = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(**request):
            for entry in page.get("Contents", []):
                key = entry["Key"]
                if key.endswith("/"):  # a folder marker, not a file
                    continue
                member = f"{folder}/{key[len(prefix) :]}"
                objects.append(FolderObject(f"s3://{bucket}/{key}", int(entry["Size"]), member))
    except ClientError as exc:
        raise _classify(exc, href, 0) from exc
    except BotoConnectionError as exc:
        raise TransientError(f"{href}: {type(exc).__name__}: {exc}") from exc
    if not objects:
        raise DownloadError(f"{href}: no objects under this folder")
    log.info("%s: %d objects", href, len(objects))
    return objects


@contextlib.contextmanager
def open_object(
    client: Any, settings: S3Section, href: str, offset: int, validator: str | None
) -> Iterator[Body]:
    """The body of an S3 object from byte `offset` (If-Match guarded), errors classified."""
    from botocore.exceptions import (
        ClientError,
        FlexibleChecksumError,
        IncompleteReadError,
        ResponseStreamingError,
    )
    from botocore.exceptions import ConnectionError as BotoConnectionError

    bucket, key = split_s3_href(href)
    request: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if offset:
        request["Range"] = f"bytes={offset}-"
        if validator:
            request["IfMatch"] = validator
    else:
        request["ChecksumMode"] = "ENABLED"  # x-amz-checksum-* of the whole object
    if settings.requester_pays:
        request["RequestPayer"] = "requester"
    try:
        response = client.get_object(**request)
        total = response.get("ContentLength")
        start = 0
        content_range = response.get("ContentRange")
        if content_range:
            span, _, size = content_range.removeprefix("bytes ").partition("/")
            start = int(span.split("-")[0])
            total = int(size) if size.isdigit() else None
        headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        signals = signals_of(headers, whole=not content_range)
        chunks = response["Body"].iter_chunks(_CHUNK)
        yield Body(start, total, response.get("ETag"), chunks, signals)
    except ClientError as exc:
        raise _classify(exc, href, offset) from exc
    except FlexibleChecksumError as exc:
        raise CorruptDownloadError(f"{href}: bytes do not match the server's checksum") from exc
    except (BotoConnectionError, IncompleteReadError, ResponseStreamingError) as exc:
        raise TransientError(f"{href}: {type(exc).__name__}: {exc}") from exc
