"""Partial files: where a download grows, what it belongs to, and where it can resume.

Bytes go to a hidden `.NAME.partial` file beside the target; a JSON sidecar remembers the
href and the object's validator (ETag or Last-Modified), so a later attempt or run resumes
only the same version of the same object.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from raw2ready.archives.transfer.hrefs import shown_href
from raw2ready.atomic import PARTIAL_SUFFIX

log = logging.getLogger(__name__)


@dataclass
class Body:
    """One response body: where it starts in the object, the object's size, its validator,
    and the integrity signals its response gave (server_digests.py)."""

    start: int
    total: int | None
    validator: str | None
    chunks: Iterable[bytes]
    signals: dict[str, str] = field(default_factory=dict)


def partial_path(final: Path) -> Path:
    """The hidden file a download of `final` grows in (kept across attempts and runs)."""
    return final.with_name(f".{final.name}{PARTIAL_SUFFIX}")


def state_path(partial: Path) -> Path:
    """Sidecar remembering which href and object version a partial file belongs to."""
    return partial.with_name(f"{partial.name}.json")


def remember(partial: Path, href: str, validator: str | None, signals: dict[str, str]) -> None:
    """Record which href and object version the partial file now holds bytes of, and the
    object's integrity signals (a resumed range response repeats only its ETag)."""
    state = {"href": href, "validator": validator, "signals": signals}
    state_path(partial).write_text(json.dumps(state))


def remembered_signals(partial: Path) -> dict[str, str]:
    """The integrity signals recorded for a partial file's object (none if unreadable)."""
    try:
        signals = json.loads(state_path(partial).read_text()).get("signals") or {}
    except (OSError, ValueError, AttributeError):
        return {}
    return {str(key): str(value) for key, value in signals.items()}


def discard(partial: Path) -> None:
    """Forget a partial file and its sidecar."""
    partial.unlink(missing_ok=True)
    state_path(partial).unlink(missing_ok=True)


def resume_point(href: str, partial: Path) -> tuple[int, str | None]:
    """(offset, validator) to resume a partial file of this href, or (0, None)."""
    sidecar = state_path(partial)
    if not partial.exists() or not sidecar.exists():
        return 0, None
    try:
        state = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return 0, None
    if state.get("href") != href:
        return 0, None
    offset = partial.stat().st_size
    if offset:
        log.info("%s: resuming after %d bytes", shown_href(href), offset)
    return offset, state.get("validator")


def content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) from `bytes 100-199/1000` or `bytes */1000`."""
    if not value or not value.startswith("bytes "):
        return None, None
    span, _, total = value[6:].partition("/")
    first = int(span.split("-")[0]) if span != "*" and "-" in span else None
    return first, int(total) if total.isdigit() else None
