"""From schedules to runs to one delivery per member, each due at the member's own local time.

Runs are planned a couple of days ahead by the community's calendar, because a member
fourteen hours ahead of the community reaches the same local date long before it does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from learnloop.domain.schedules import Schedule, local_occurrences, parse_time_of_day
from learnloop.domain.preferences import personal_due_at
from learnloop.services.prompt_settings import preferences_of
from learnloop.storage.tables import Delivery, PromptSchedule
from learnloop.storage.unit_of_work import UnitOfWork

PLAN_AHEAD_DAYS = 2
NUDGE_BEFORE_CLOSE = timedelta(hours=2)
MIN_WINDOW_FOR_NUDGE = timedelta(hours=4)


@dataclass(frozen=True)
class MemberProfile:
    """What Mattermost tells us about a member when a run is planned."""

    user_id: str
    username: str | None
    timezone: str | None


def schedule_of(row: PromptSchedule) -> Schedule:
    return Schedule(rrule=row.rrule, local_time=parse_time_of_day(row.local_time),
                    window=timedelta(minutes=row.window_minutes))


def zone(name: str | None, fallback: str) -> ZoneInfo:
    for candidate in (name, fallback, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def plan_runs(uow: UnitOfWork, now: datetime) -> list[int]:
    """Create the runs that fall due up to PLAN_AHEAD_DAYS ahead; each local date once, ever.

    After downtime the missed dates are planned too; their deliveries are sent if still
    inside the answer window and expire otherwise (see deliveries.expire_closed)."""
    created: list[int] = []
    for row in uow.schedules.active():
        community_today = now.astimezone(zone(row.timezone, "UTC")).date()
        start = max(row.anchor_date, (row.planned_through or row.anchor_date - timedelta(days=1)) + timedelta(days=1))
        end = community_today + timedelta(days=PLAN_AHEAD_DAYS)
        if start > end:
            continue
        for local_date in local_occurrences(schedule_of(row), row.anchor_date, start, end + timedelta(days=1)):
            run = uow.runs.ensure(row.id, local_date, now)
            created.append(run.id)
        row.planned_through = end
    uow.commit()
    return created


def _due_and_window(row: PromptSchedule, local_date: date, tz: ZoneInfo, member_prefs) -> tuple[datetime, datetime]:
    schedule = schedule_of(row)
    due = personal_due_at(schedule, local_date, tz, member_prefs)
    return due, due + schedule.window


def _nudge_at(due: datetime, window_end: datetime) -> datetime | None:
    if window_end - due < MIN_WINDOW_FOR_NUDGE:
        return None
    return window_end - NUDGE_BEFORE_CLOSE


def plan_deliveries(uow: UnitOfWork, run_id: int, members: list[MemberProfile], now: datetime, *,
                    complete: bool = True) -> int:
    """One delivery per member of the run's community; planning the same run again adds only newcomers.

    Set-based (a few statements whatever the number of members), and the worker plans a large
    community in chunks, one transaction each (`complete=False` until the last), so no single
    transaction holds SQLite's write lock for long."""
    run = uow.runs.get(run_id)
    if run is None:
        return 0
    row = uow.schedules.get(run.schedule_id)
    assert row is not None
    ids = [profile.user_id for profile in members]
    known = uow.members.many(ids)
    uow.members.add_many([(p.user_id, p.username, p.timezone) for p in members if p.user_id not in known], now)
    for profile in members:
        member = known.get(profile.user_id)
        if member is None:
            continue
        if profile.timezone and member.timezone != profile.timezone:
            member.timezone = profile.timezone
        if profile.username and member.username != profile.username:
            member.username = profile.username
    uow.flush()
    known = uow.members.many(ids)
    planned = uow.deliveries.planned_users(run.id, ids)
    rows = []
    for user_id in dict.fromkeys(ids):
        if user_id in planned:
            continue
        member = known[user_id]
        due, window_end = _due_and_window(row, run.local_date, zone(member.timezone, row.timezone),
                                          preferences_of(member))
        rows.append({"run_id": run.id, "user_id": user_id, "due_at": due, "window_end": window_end,
                     "updated_at": now, "nudge_at": _nudge_at(due, window_end) if member.nudges else None})
    uow.deliveries.add_many(rows)
    if complete:
        run.members_planned = True
    uow.commit()
    return len(rows)


def personal_schedule_due(uow: UnitOfWork, delivery: Delivery) -> datetime | None:
    """A planned delivery's due time again, after the person changed their own time of day."""
    run = uow.runs.get(delivery.run_id)
    row = uow.schedules.get(run.schedule_id) if run else None
    member = uow.members.get(delivery.user_id)
    if run is None or row is None:
        return None
    due, window_end = _due_and_window(row, run.local_date, zone(member.timezone if member else None, row.timezone),
                                      preferences_of(member))
    delivery.window_end = window_end
    delivery.nudge_at = _nudge_at(due, window_end) if (member is None or member.nudges) else None
    return due
