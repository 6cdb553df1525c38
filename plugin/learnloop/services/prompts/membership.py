"""Who is in a community when its prompts are due. Runs are planned up to two days ahead, for the members listed
then; when prompts fall due, the worker asks about those people only: someone who left is not prompted, and
someone whose time zone changed has their prompts moved. Someone who joined is planned from the next run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from learnloop.services.prompts.delivered import record_unanswered
from learnloop.services.prompts.timing import retime_waiting
from learnloop.storage.prompt_repositories import LEFT
from learnloop.storage.unit_of_work import UnitOfWork

ZONE_SPREAD = timedelta(hours=26)
"""From UTC-12 to UTC+14: how much earlier than planned a prompt may fall due for someone whose zone moved east.
The zones of the people due a prompt that soon are read again once, so that it moves in time."""


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
    """How the people whose prompts are due differ from what was planned for them."""

    left: list[int]
    """Due deliveries of people no longer in the community's channels."""
    moved: list[MemberProfile]
    """Members whose time zone changed."""
    left_nudged: list[int] = field(default_factory=list)
    """Prompts whose reminder is due, of people no longer in the community's channels."""
    zones_read: list[int] = field(default_factory=list)
    """Prompts coming due within ZONE_SPREAD whose receiver's zone was read again."""


def changes(uow: UnitOfWork, due: list[tuple[int, str]], profiles: list[MemberProfile],
            nudges: Sequence[tuple[int, str]] = (), coming: Sequence[tuple[int, str]] = ()) -> Changes:
    """Read-only. `due` and `nudges`: (delivery id, user id) of the prompts and reminders due, `coming`: of the
    prompts due within ZONE_SPREAD; `profiles`: those of their people still in the community's channels."""
    by_id = {profile.user_id: profile for profile in profiles}
    left = [delivery_id for delivery_id, user_id in due if user_id not in by_id]
    moved = [by_id[member.user_id] for member in uow.members.many(sorted(by_id)).values()
             if by_id[member.user_id].timezone and member.timezone != by_id[member.user_id].timezone]
    return Changes(left, moved, [delivery_id for delivery_id, user_id in nudges if user_id not in by_id],
                   [delivery_id for delivery_id, _ in coming])


def apply_changes(uow: UnitOfWork, found: Changes, now: datetime) -> int:
    """Those who left are not prompted (one sent before a snooze lapses unanswered, as it was counted sent) nor
    reminded, and the zones changed are kept. Commits; the prompts skipped."""
    uow.deliveries.drop_nudges(found.left_nudged, now)
    uow.deliveries.mark_zones_read(found.zones_read, now)
    skipped = uow.deliveries.skip_due(found.left, LEFT, now)
    record_unanswered(uow, uow.deliveries.lapse_sent_before(skipped, now), now)
    keep_profiles(uow, found.moved, now)
    uow.commit()
    return len(skipped)
