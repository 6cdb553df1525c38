"""Each person controls their own prompts: on/off, pause, their own time, quiet hours, nudges."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from learnloop.domain.preferences import parse_quiet_hours, parse_time_of_day, pause_end
from learnloop.services.prompts.timing import nudge_at, retime_waiting, zone
from learnloop.storage.unit_of_work import UnitOfWork


def set_enabled(uow: UnitOfWork, user_id: str, enabled: bool, now: datetime) -> None:
    member = uow.members.ensure(user_id, now)
    member.prompts_enabled, member.updated_at = enabled, now
    if enabled:
        member.paused_until = None
    uow.commit()


def pause(uow: UnitOfWork, user_id: str, text: str, now: datetime,
          fallback_zone: str = "UTC") -> tuple[datetime, ZoneInfo]:
    """Pause for a length of time or through a last day (raises InvalidPreference); returns when prompts resume,
    and the person's zone (the fallback's while Mattermost's is not known) that a last day was read in."""
    known = uow.members.get(user_id)
    tz = zone(known.timezone if known else None, fallback_zone)
    until = pause_end(text, now, tz)
    member = uow.members.ensure(user_id, now)
    member.paused_until, member.updated_at = until, now
    uow.commit()
    return until, tz


def resume(uow: UnitOfWork, user_id: str, now: datetime) -> bool:
    """Ends a pause (and turns prompts on); False when they were neither paused nor off: nothing changed."""
    member = uow.members.get(user_id)
    paused = member is not None and member.paused_until is not None and member.paused_until > now
    if member is None or not (paused or not member.prompts_enabled):
        return False
    member.paused_until, member.prompts_enabled, member.updated_at = None, True, now
    uow.commit()
    return True


def set_time_of_day(uow: UnitOfWork, user_id: str, text: str | None, now: datetime) -> str | None:
    """`None` goes back to each schedule's own time. Prompts already planned but not yet sent move too."""
    value = parse_time_of_day(text).strftime("%H:%M") if text else None
    member = uow.members.ensure(user_id, now)
    member.time_of_day, member.updated_at = value, now
    retime_waiting(uow, user_id, now)
    uow.commit()
    return value


def set_quiet_hours(uow: UnitOfWork, user_id: str, text: str, now: datetime) -> str | None:
    quiet = parse_quiet_hours(text)
    member = uow.members.ensure(user_id, now)
    member.quiet_hours = f"{quiet.start:%H:%M}-{quiet.end:%H:%M}" if quiet else None
    member.updated_at = now
    uow.commit()
    return member.quiet_hours


def set_nudges(uow: UnitOfWork, user_id: str, enabled: bool, now: datetime) -> None:
    """Off drops the reminders of every prompt not yet answered; on gives those not yet sent theirs again, as
    planning them does (one sent meanwhile stays without: whether its reminder went out is not known)."""
    member = uow.members.ensure(user_id, now)
    turned_on = enabled and not member.nudges
    member.nudges, member.updated_at = enabled, now
    if not enabled:
        uow.deliveries.clear_nudges(user_id, now)
    elif turned_on:
        for delivery in uow.deliveries.waiting_for(user_id, now):
            delivery.nudge_at, delivery.updated_at = nudge_at(delivery.due_at, delivery.window_end), now
    uow.commit()

