"""The one retry policy of every request: which failures are transient, how long to wait.

Transient failures (timeouts, stalls, resets, truncated bodies, 408/425/429/5xx) are retried
with exponential backoff and jitter, honouring the server's Retry-After up to a cap.
"""

from __future__ import annotations

import email.utils
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from raw2ready.errors import DownloadError

log = logging.getLogger(__name__)

_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
#: Longest wait raw2ready accepts from a Retry-After header or the backoff, in seconds.
MAX_WAIT_SECONDS = 300.0


class TransientError(DownloadError):
    """A failure worth retrying; carries the server's Retry-After when it gave one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RestartError(TransientError):
    """The bytes fetched so far cannot be continued (object changed, bad range): start over."""


class RetryPolicy(Protocol):
    """How hard to try (DownloadOptions is one)."""

    attempts: int
    backoff_seconds: float
    sleep: Callable[[float], None]


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


def _wait(policy: RetryPolicy) -> Callable[[RetryCallState], float]:
    """Exponential backoff with jitter, or the server's Retry-After when longer."""
    backoff = wait_exponential_jitter(
        multiplier=policy.backoff_seconds, max=60, jitter=policy.backoff_seconds
    )

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        hint = getattr(error, "retry_after", None) or 0.0
        return min(max(backoff(state), hint), MAX_WAIT_SECONDS)

    return wait


def retrying(policy: RetryPolicy) -> Retrying:
    """The one retry policy of every request: TransientError retried with backoff/Retry-After."""
    return Retrying(
        retry=retry_if_exception_type(TransientError),
        stop=stop_after_attempt(policy.attempts),
        wait=_wait(policy),
        sleep=policy.sleep,
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
