"""Time, as every part of learnloop asks for it: a callable, so tests can move it by hand."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(hours=1)
"""How far ahead of learnloop's clock another system's clock may run."""


def reported(at: datetime | None, now: datetime) -> datetime:
    """A time another system (Mattermost, a wiki) gives for something that has happened: believed from 1970 up
    to CLOCK_SKEW past `now`, else `now`. A time far ahead would put activity into weeks still to come, and a
    year past 9999 in another time zone cannot be read back from PostgreSQL."""
    if at is None or at.tzinfo is None or not _EPOCH <= at <= now + CLOCK_SKEW:
        return now
    return at

