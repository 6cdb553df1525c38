"""Each person controls their own prompts: off, paused, their own time, quiet hours, nudges.

delivery_decision is asked each time the worker could send someone a prompt; when the answer
is to wait, the worker asks again at the instant it was given.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from learnloop.domain import schedules
from learnloop.domain.schedules import (
    InvalidSchedule,
    Schedule,
    local_day,
    local_moment,
    local_to_utc,
    parse_amount,
    require_aware,
)

MIN_PAUSE = timedelta(days=1)
MAX_PAUSE = timedelta(days=365)
DAYS_PER_UNIT = {"day": 1, "week": 7, "month": 30, "year": 365}
PRESENCE_REASONS = {"dnd": "do not disturb", "ooo": "out of office"}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
LAST_DAY_EXAMPLE = "use YYYY-MM-DD, for example until 2026-12-24"
WINDOW_CLOSED = "window closed"


class InvalidPreference(ValueError):
    """A prompt setting a person typed that cannot be followed."""


def parse_duration(text: str) -> timedelta:
    """How long to pause prompts: '3d', '2w', '1m', '10 days', '2 weeks', '1y'.

    A month is 30 days and a year 365; hours count too ('36h'), but a pause lasts from
    1 day to 1 year.
    """
    given = " ".join((text or "").lower().split())
    example = "use days, weeks or months, for example 3d, 2w or 1m"
    if not given:
        raise InvalidPreference(f"how long to pause is missing: {example}")
    amount = parse_amount(given)
    if amount is None:
        raise InvalidPreference(f"'{given[:40]}' is not a length of time: {example}")
    number, unit = amount
    duration = timedelta(hours=number) if unit == "hour" else timedelta(days=number * DAYS_PER_UNIT[unit])
    if not MIN_PAUSE <= duration <= MAX_PAUSE:
        raise InvalidPreference(
            f"a pause of '{given[:40]}' is out of range: it must be from 1 day to 1 year, for example 2w"
        )
    return duration


def pause_end(text: str, now: datetime, tz: ZoneInfo) -> datetime:
    """When a pause ends (UTC): a length of time after now ('2w'), or the end of a last day in the person's own
    zone ('until 2026-12-24', or just '2026-12-24'), from today to a year ahead."""
    require_aware(now, "now")
    given = " ".join((text or "").lower().split())
    if given.startswith("until") or _DATE.fullmatch(given):
        last_day = pause_last_day(given.removeprefix("until").strip(), now.astimezone(tz).date())
        return local_to_utc(last_day + timedelta(days=1), time(0), tz)
    return now + parse_duration(given)


def pause_last_day(text: str, today: date) -> date:
    """The last day of a pause ('2026-12-24'), from today to a year ahead."""
    if not text:
        raise InvalidPreference(f"the last day of the pause is missing: {LAST_DAY_EXAMPLE}")
    try:
        day = date.fromisoformat(text) if _DATE.fullmatch(text) else None
    except ValueError:
        day = None
    if day is None:
        raise InvalidPreference(f"'{text[:20]}' is not a date: {LAST_DAY_EXAMPLE}")
    if day < today:
        raise InvalidPreference(f"{day:%a %d %b %Y} has passed: pause until today or a later date")
    if day > today + MAX_PAUSE:
        raise InvalidPreference(f"{day:%a %d %b %Y} is more than a year ahead: a pause lasts at most a year, "
                                f"until {today + MAX_PAUSE:%Y-%m-%d}")
    return day


def describe_pause_end(until: datetime, tz: ZoneInfo, now: datetime) -> str:
    """'through Thu 24 Dec (Europe/Berlin)' for a pause ending at local midnight, else 'until Mon 16 Nov at 10:00
    (Europe/Berlin)': the person's own date and time, with the zone that says so."""
    if through_a_day(until, tz):
        return f"through {local_day(until.astimezone(tz).date() - timedelta(days=1), now, tz)} ({tz.key})"
    return f"until {local_moment(until, tz, now)}"


def through_a_day(until: datetime, tz: ZoneInfo) -> bool:
    """Whether a pause ends at local midnight: through a last day, not after a length of time."""
    return until.astimezone(tz).time() == time(0)


def parse_time_of_day(text: str) -> time:
    """A person's own prompt time; the same rules as a schedule's time of day."""
    try:
        return schedules.parse_time_of_day(text)
    except InvalidSchedule as exc:
        raise InvalidPreference(str(exc)) from None


@dataclass(frozen=True)
class QuietHours:
    """Local hours without prompts, from start up to end; they wrap midnight when start > end."""

    start: time
    end: time

    def contains(self, at: time) -> bool:
        at = at.replace(tzinfo=None, fold=0)
        if self.start < self.end:
            return self.start <= at < self.end
        return at >= self.start or at < self.end

    def end_date(self, local_date: date, at: time) -> date:
        """The date on which quiet hours that contain (local_date, at) end."""
        wraps_to_tomorrow = self.start > self.end and at.replace(tzinfo=None, fold=0) >= self.start
        return local_date + timedelta(days=1) if wraps_to_tomorrow else local_date


def parse_quiet_hours(text: str) -> QuietHours | None:
    """'22:00-07:00' (may wrap midnight), or 'off' for none."""
    given = " ".join((text or "").lower().split())
    example = "use HH:MM-HH:MM in 24-hour time, for example 22:00-07:00, or off"
    if not given:
        raise InvalidPreference(f"the quiet hours are missing: {example}")
    if given in ("off", "none"):
        return None
    start, dash, end = given.replace("–", "-").partition("-")
    if not dash:
        raise InvalidPreference(f"'{given[:40]}' is not a range of quiet hours: {example}")
    try:
        quiet = QuietHours(schedules.parse_time_of_day(start), schedules.parse_time_of_day(end))
    except InvalidSchedule:
        raise InvalidPreference(f"'{given[:40]}' is not a range of quiet hours: {example}") from None
    if quiet.start == quiet.end:
        raise InvalidPreference(
            f"quiet hours '{given[:40]}' start and end at the same time: {example}"
        )
    return quiet


@dataclass(frozen=True)
class PromptPreferences:
    enabled: bool = True
    paused_until: datetime | None = None  # UTC
    time_of_day: time | None = None  # overrides the schedule's local time for this person
    quiet_hours: QuietHours | None = None
    nudges: bool = True


class Action(enum.Enum):
    SEND = "send"
    WAIT_UNTIL = "wait_until"
    SKIP = "skip"


@dataclass(frozen=True)
class Decision:
    action: Action
    until: datetime | None = None  # UTC, with WAIT_UNTIL
    reason: str | None = None  # with SKIP

    @classmethod
    def send(cls) -> Decision:
        return cls(Action.SEND)

    @classmethod
    def wait_until(cls, until: datetime) -> Decision:
        return cls(Action.WAIT_UNTIL, until=until)

    @classmethod
    def skip(cls, reason: str) -> Decision:
        return cls(Action.SKIP, reason=reason)


def delivery_decision(
    prefs: PromptPreferences,
    *,
    due_at: datetime,
    now: datetime,
    window_end: datetime,
    tz: ZoneInfo,
    presence: str | None,
) -> Decision:
    """Whether to send someone their prompt now, wait, or skip this occurrence.

    Checked in order: prompts off, window closed, not due yet, paused, quiet hours, then
    Mattermost presence. A pause for a length of time, or quiet hours, that end before the window
    closes mean waiting until they end. A pause through a last day holds back the prompts due
    until then, as an owner's pause of those dates does, rather than posting them at midnight.
    Do not disturb and out of office skip this occurrence (the next one will try again), since
    those statuses have no known end.
    """
    for moment, name in ((due_at, "due_at"), (now, "now"), (window_end, "window_end")):
        require_aware(moment, name)
    if not prefs.enabled:
        return Decision.skip("prompts off")
    if now >= window_end:
        return Decision.skip(WINDOW_CLOSED)
    if now < due_at:
        return Decision.wait_until(due_at)
    if prefs.paused_until is not None and prefs.paused_until > now:
        if prefs.paused_until < window_end and not through_a_day(prefs.paused_until, tz):
            return Decision.wait_until(prefs.paused_until)
        return Decision.skip("paused")
    quiet = prefs.quiet_hours
    local_now = now.astimezone(tz)
    if quiet is not None and quiet.contains(local_now.time()):
        quiet_end = local_to_utc(quiet.end_date(local_now.date(), local_now.time()), quiet.end, tz)
        # In the repeated hour after the clocks fall back, quiet hours may already have ended.
        if quiet_end > now:
            if quiet_end >= window_end:
                return Decision.skip("quiet hours")
            return Decision.wait_until(quiet_end)
    reason = PRESENCE_REASONS.get((presence or "").strip().lower())
    if reason is not None:
        return Decision.skip(reason)
    return Decision.send()


def personal_due_at(schedule: Schedule, local_date: date, tz: ZoneInfo, prefs: PromptPreferences) -> datetime:
    """When this person is due the prompt for local_date: their own time of day if they set one."""
    if prefs.time_of_day is not None:
        schedule = replace(schedule, local_time=prefs.time_of_day)
    return schedules.due_at(schedule, local_date, tz)
