"""What a call to a host (Mattermost, a wiki) can fail with, as the worker's outbox reads it."""

from __future__ import annotations

import math
from collections.abc import Mapping


class HostError(Exception):
    """A host's API failed. `retryable` says whether trying again later can help; `retry_after` (seconds) is
    set when the host asked to be left alone for a while (HTTP 429). `refused`: the host answered that it would
    not do it, so nothing was done; False when that is not known (no answer, a timeout, a 5xx)."""

    retry_after: float | None = None
    refused: bool = False

    @property
    def retryable(self) -> bool:
        return True


class GaveUp(HostError):
    """A failure its handler gave up on and recorded what that means: the outbox gives the message up too,
    whatever time it decides at."""

    @property
    def retryable(self) -> bool:
        return False


def refusal(status: int | None) -> bool:
    """An HTTP answer saying no: a 4xx, but not 408 (a timeout, after which whether the host acted is not known)."""
    return status is not None and 400 <= status < 500 and status != 408


MAX_RETRY_AFTER = 3600.0
"""The longest a host's 429 holds its messages back: a value beyond it (or an HTTP date, or an epoch) is not
taken as seconds to wait."""


def retry_after(status: int, headers: Mapping[str, str], default: float) -> float | None:
    """How long a host that answered 429 asked to be left alone, in seconds: Retry-After, else
    X-RateLimit-Reset (seconds until the limit resets), else `default`, never more than MAX_RETRY_AFTER; None
    for any other status."""
    if status != 429:
        return None
    for name in ("Retry-After", "X-RateLimit-Reset"):
        try:
            seconds = float(headers[name])
        except (KeyError, TypeError, ValueError):
            continue
        if math.isfinite(seconds):
            return min(max(0.0, seconds), MAX_RETRY_AFTER)
    return default
