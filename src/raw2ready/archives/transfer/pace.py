"""A minimum transfer rate: a body that drips (1 byte per second never trips a per-read
timeout) is cut once its average rate, after a grace period, falls below the floor; the
retry policy then resumes it from the bytes that arrived."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

from raw2ready.archives.transfer.retries import TransientError


def paced(
    chunks: Iterable[bytes],
    shown: str,
    min_rate: float,
    grace_seconds: float,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[bytes]:
    """Yield `chunks`; TransientError when, after `grace_seconds`, fewer than `min_rate`
    bytes per second arrived on average (min_rate 0: no floor)."""
    started = clock()
    received = 0
    for chunk in chunks:
        received += len(chunk)
        yield chunk
        elapsed = clock() - started
        if min_rate and elapsed > grace_seconds and received < min_rate * elapsed:
            raise TransientError(
                f"{shown}: {received} bytes in {elapsed:.0f} s, below "
                f"download.min_rate_bytes_per_s ({min_rate:g})"
            )
