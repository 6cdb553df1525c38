"""Who is in a community when its prompts are due. Runs are planned up to two days ahead; the worker lists the
community's members again, once a pass, when some of its prompts are due: someone who left is not prompted, someone
who joined is planned into the runs still open, and someone whose time zone changed has their prompts moved."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from learnloop.services.prompts.delivered import record_unanswered
from learnloop.services.prompts.timing import retime_waiting
from learnloop.storage.prompt_repositories import LEFT
from learnloop.storage.unit_of_work import UnitOfWork

MEMBERS_PER_READ = 500


@dataclass(frozen=True)
class MemberProfile:
    """What Mattermost tells us about a member."""

    user_id: str
    username: str | None
    timezone: str | None


def keep_profiles(uow: UnitOfWork, profiles: list[MemberProfile], now: datetime) -> None:
    """Members as Mattermost lists them now: new ones added, user names and time zones kept up to date. Someone
    whose zone changed (travel) has the prompts planned for them moved to their time where they are now."""
    ids = [profile.user_id for profile in profiles]
    known = uow.members.many(ids)
    uow.members.add_many([(p.user_id, p.username, p.timezone) for p in profiles if p.user_id not in known], now)
    moved: list[str] = []
    for profile in profiles:
        member = known.get(profile.user_id)
        if member is None:
            continue
        if profile.timezone and member.timezone != profile.timezone:
            member.timezone = profile.timezone
            moved.append(member.user_id)
        if profile.username and member.username != profile.username:
            member.username = profile.username
    uow.flush()
    for user_id in moved:
        retime_waiting(uow, user_id, now)


@dataclass(frozen=True)
class Changes:
    """How the community's members differ from what was planned for them."""

    left: list[int]
    """Due deliveries of people no longer in the community's channels."""
    newcomers: dict[int, list[MemberProfile]]
    """Per run still open, the members with no delivery in it."""
    moved: list[MemberProfile]
    """Members whose time zone changed."""


def changes(uow: UnitOfWork, community_id: int, profiles: list[MemberProfile], now: datetime) -> Changes:
    """Read-only: meant for a reader, so a large community's comparison holds no write lock."""
    by_id = {profile.user_id: profile for profile in profiles}
    left = [delivery_id for delivery_id, user_id in uow.deliveries.due_in(community_id, now) if user_id not in by_id]
    newcomers: dict[int, list[MemberProfile]] = {}
    for run_id in uow.runs.open_in(community_id, now):
        planned = uow.deliveries.users_of(run_id)
        if joined := [profile for user_id, profile in by_id.items() if user_id not in planned]:
            newcomers[run_id] = joined
    ids = list(by_id)
    moved = [by_id[member.user_id]
             for start in range(0, len(ids), MEMBERS_PER_READ)
             for member in uow.members.many(ids[start:start + MEMBERS_PER_READ]).values()
             if by_id[member.user_id].timezone and member.timezone != by_id[member.user_id].timezone]
    return Changes(left, newcomers, moved)


def apply_changes(uow: UnitOfWork, found: Changes, now: datetime) -> int:
    """Those who left are not prompted (one sent before a snooze lapses unanswered, as it was counted sent), and
    the zones changed are kept; newcomers are planned apart (runs.plan_deliveries). Commits; the prompts skipped."""
    skipped = uow.deliveries.skip_due(found.left, LEFT, now)
    record_unanswered(uow, uow.deliveries.lapse_sent_before(skipped, now), now)
    keep_profiles(uow, found.moved, now)
    uow.commit()
    return len(skipped)
