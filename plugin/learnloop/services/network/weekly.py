"""A weekly private message at the person's own time, the one way every weekly DM (suggestions, pages to
review) is timed: Monday at their prompt time (else 09:00) in their time zone, waiting out a pause or quiet
hours and skipping the week under do not disturb, as a prompt does (domain.network.dm_decision)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from learnloop.domain.network import DEFAULT_TIME, dm_decision, week_moment
from learnloop.domain.preferences import Action, PromptPreferences
from learnloop.domain.schedules import parse_time_of_day
from learnloop.services.prompts.timing import preferences_of, zone
from learnloop.storage.tables import Member


@dataclass(frozen=True)
class DueDM:
    user_id: str
    week: date
    """The Monday of the person's own week (by their local calendar)."""
    due_at: datetime
    tz: ZoneInfo
    preferences: PromptPreferences


def due_dm(user_id: str, member: Member | None, done_week: date | None, now: datetime,
           fallback_tz: str = "UTC") -> DueDM | None:
    """The person's weekly message once its Monday moment has passed and the week is not done yet."""
    tz = zone(member.timezone if member else None, fallback_tz)
    at = parse_time_of_day(member.time_of_day) if member is not None and member.time_of_day else DEFAULT_TIME
    moment, monday = week_moment(0, at, tz, now)
    if moment <= now and (done_week is None or done_week < monday):
        return DueDM(user_id, monday, moment, tz, preferences_of(member))
    return None


def decide(person: DueDM, presence: dict[str, str], now: datetime) -> Action:
    """SEND now, WAIT_UNTIL later today (a pause or quiet hours), or SKIP the week."""
    return dm_decision(person.preferences, person.due_at, now, person.tz, presence.get(person.user_id)).action
