"""HTTP(S) bodies for the transport: streamed with requests, resumed with Range/If-Range.

An archive whose hrefs need more than a plain GET (a signed URL, a bearer token) gives an
`HttpAccess`; the transport asks it for the URL and headers of each request and, after a
401 or 403, whether renewing its credentials makes a retry worthwhile.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Protocol

import requests
import urllib3

from raw2ready.archives.transfer.hrefs import redact, shown_href
from raw2ready.archives.transfer.partial import Body, content_range
from raw2ready.archives.transfer.retries import RestartError, TransientError, raise_if_transient
from raw2ready.archives.transfer.server_digests import signals_of
from raw2ready.errors import DownloadError

_CHUNK = 1 << 18


class HttpAccess(Protocol):
    """What an archive adds to the HTTP requests for its hrefs (signing, credentials)."""

    def request(self, href: str) -> tuple[str, dict[str, str]]:
        """The URL to GET for `href` and the extra headers to send."""
        ...

    def refused(self, href: str, status: int) -> str | None:
        """After a 401/403: renew what was refused and say why a retry may pass; else None."""
        ...


@contextlib.contextmanager
def open_http(
    session: requests.Session,
    href: str,
    offset: int,
    validator: str | None,
    timeout: float,
    access: HttpAccess | None = None,
) -> Iterator[Body]:
    """GET `href` from `offset` (If-Range guarded); classify failures."""
    url, extra = access.request(href) if access is not None else (href, {})
    headers = {"Accept-Encoding": "identity", **extra}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if validator:
            headers["If-Range"] = validator
    try:
        with session.get(url, headers=headers, stream=True, timeout=timeout) as response:
            yield _body(response, href, offset, access)
    except (
        requests.ConnectionError,
        requests.Timeout,
        requests.exceptions.ChunkedEncodingError,
    ) as exc:
        message = redact(f"{type(exc).__name__}: {exc}", url)
        raise TransientError(f"{shown_href(href)}: {message}") from exc


def _body(response: requests.Response, href: str, offset: int, access: HttpAccess | None) -> Body:
    """The body of a response, or the error its status means."""
    status = response.status_code
    shown = shown_href(href)
    raise_if_transient(response, shown)
    if status in (401, 403) and access is not None:
        reason = access.refused(href, status)
        if reason:
            raise TransientError(f"{shown}: HTTP {status} ({reason})")
    if status == 416:
        _first, total = content_range(response.headers.get("Content-Range"))
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
        first, total = content_range(response.headers.get("Content-Range"))
        start = first if first is not None else offset
    else:
        start, total = 0, int(length) if length and length.isdigit() else None
    signals = signals_of(response.headers, whole=status == 200)
    return Body(start, total, validator, _arriving(response), signals)


def _arriving(response: requests.Response) -> Iterator[bytes]:
    """The body in pieces as they arrive (at most _CHUNK bytes), so that a slow body shows its
    pace (iter_content waits for whole chunks); requests' errors as iter_content raises them."""
    raw = response.raw
    try:
        while chunk := raw.read1(_CHUNK, decode_content=True):
            yield chunk
    except urllib3.exceptions.ProtocolError as exc:
        raise requests.exceptions.ChunkedEncodingError(exc) from exc
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise requests.ConnectionError(exc) from exc
