"""Hrefs as the transport meets them: local or remote, S3 folders, and how they may be shown.

Query strings are where signed URLs keep their tokens, so they never reach a log or a message.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse, urlsplit


def shown_href(href: str) -> str:
    """An href as it may appear in logs and messages: without its query (tokens live there)."""
    parts = urlsplit(href)
    return parts._replace(query="", fragment="").geturl() if parts.query else href


def redact(text: str, url: str) -> str:
    """Remove a signed URL's query string from an error text (requests quotes URLs)."""
    query = urlsplit(url).query
    return text.replace(query, "<redacted>") if query else text


def local_source(href: str) -> Path | None:
    """The local path an href points to, or None for remote URLs."""
    parsed = urlparse(href)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path))
    if len(parsed.scheme) == 1:  # a Windows drive letter, not a URL scheme
        return Path(href)
    return None


def is_folder_href(href: str) -> bool:
    """True for an S3 folder (`s3://bucket/prefix/`): a product stored as separate objects."""
    return href.startswith("s3://") and href.endswith("/")
