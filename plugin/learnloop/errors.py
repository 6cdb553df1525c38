"""What a call to a host (Mattermost, a wiki) can fail with, as the worker's outbox reads it."""

from __future__ import annotations

from collections.abc import Mapping


class HostError(Exception):
    """A host's API failed. `retryable` says whether trying again later can help; `retry_after` (seconds) is
    set when the host asked to be left alone for a while (HTTP 429)."""

    retry_after: float | None = None

    @property
    def retryable(self) -> bool:
        return True


def retry_after(status: int, headers: Mapping[str, str], default: float) -> float | None:
    """How long a host that answered 429 asked to be left alone, in seconds: Retry-After, else
    X-RateLimit-Reset (seconds until the limit resets, not an epoch), else `default`; None for any other status."""
    if status != 429:
        return None
    for name in ("Retry-After", "X-RateLimit-Reset"):
        try:
            return max(0.0, float(headers[name]))
        except (KeyError, TypeError, ValueError):
            continue
    return default
