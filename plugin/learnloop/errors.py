"""What a call to a host (Mattermost, a wiki) can fail with, as the worker's outbox reads it."""

from __future__ import annotations


class HostError(Exception):
    """A host's API failed. `retryable` says whether trying again later can help; `retry_after` (seconds) is
    set when the host asked to be left alone for a while (HTTP 429)."""

    retry_after: float | None = None

    @property
    def retryable(self) -> bool:
        return True
