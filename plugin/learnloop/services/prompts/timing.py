"""When a prompt is due for one person: the schedule, their time zone and their own settings."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from learnloop.domain.preferences import PromptPreferences, parse_quiet_hours, personal_due_at
from learnloop.domain.schedules import Schedule, parse_time_of_day
from learnloop.storage.tables import Delivery, Member, PromptSchedule
from learnloop.storage.unit_of_work import UnitOfWork

NUDGE_BEFORE_CLOSE = timedelta(hours=2)
MIN_WINDOW_FOR_NUDGE = timedelta(hours=4)
NUDGE_AFTER_PROMPT = timedelta(hours=1)
"""The least time between a prompt and its reminder: a prompt held back (quiet hours, a pause, do not disturb)
until near or past its reminder's time gets none, rather than one a minute after it. Less than the two hours
a reminder follows a prompt sent on time in the shortest window that has one, so that one keeps it."""


def schedule_of(row: PromptSchedule) -> Schedule:
    return Schedule(rrule=row.rrule, local_time=parse_time_of_day(row.local_time),
                    window=timedelta(minutes=row.window_minutes))


def zone(name: str | None, fallback: str) -> ZoneInfo:
    for candidate in (name, fallback, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder of the database, or too long
                continue
    return ZoneInfo("UTC")


def preferences_of(member: Member | None) -> PromptPreferences:
    if member is None:
        return PromptPreferences()
    return PromptPreferences(
        enabled=member.prompts_enabled,
        paused_until=member.paused_until,
        time_of_day=parse_time_of_day(member.time_of_day) if member.time_of_day else None,
        quiet_hours=parse_quiet_hours(member.quiet_hours) if member.quiet_hours else None,
        nudges=member.nudges,
    )


def due_and_window(row: PromptSchedule, local_date: date, tz: ZoneInfo,
                   member_prefs: PromptPreferences) -> tuple[datetime, datetime]:
    schedule = schedule_of(row)
    if row.event_part is not None:  # before or after an event: when its owners chose, for everyone, wherever
        member_prefs, tz = replace(member_prefs, time_of_day=None), zone(None, row.timezone)
    due = personal_due_at(schedule, local_date, tz, member_prefs)
    return due, due + schedule.window


def nudge_at(due: datetime, window_end: datetime) -> datetime | None:
    if window_end - due < MIN_WINDOW_FOR_NUDGE:
        return None
    return window_end - NUDGE_BEFORE_CLOSE


def personal_schedule_due(uow: UnitOfWork, delivery: Delivery, now: datetime) -> datetime | None:
    """A planned delivery's due time again, after the person changed their own time of day or time zone. One moved
    to a time already past, answers and all (someone who flew east), keeps the answer time it had: it is asked now,
    not lost."""
    run = uow.runs.get(delivery.run_id)
    row = uow.schedules.get(run.schedule_id) if run else None
    member = uow.members.get(delivery.user_id)
    if run is None or row is None:
        return None
    due, window_end = due_and_window(row, run.local_date, zone(member.timezone if member else None, row.timezone),
                                      preferences_of(member))
    if window_end <= now < delivery.window_end:
        window_end = delivery.window_end
    delivery.window_end = window_end
    delivery.nudge_at = nudge_at(due, window_end) if (member is None or member.nudges) else None
    return due


def retime_waiting(uow: UnitOfWork, user_id: str, now: datetime) -> None:
    """The person's prompts planned and not yet sent, due or not, move with their time of day or time zone (not
    one sent and snoozed: it stays a day after it was snoozed; nor one whose window closed: it expires)."""
    for delivery in uow.deliveries.waiting_for(user_id, now):
        due = personal_schedule_due(uow, delivery, now)
        if due is not None:
            delivery.due_at, delivery.updated_at = due, now
