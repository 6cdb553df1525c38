"""Which community a channel counts towards (a configured one, the one it joined, or the channel as its own),
and channels joining one community together or leaving it.

Joining: `/learn community join ~other` makes this channel's community (every channel counting towards it)
part of the other channel's community from then on. Its history moves with it: events, items, ratings,
feedback, reflections, page announcements and prompt schedules belong to the joined community at once, and
the emptied community is retired, so no figure of its own is shown again (were it shown, the joined
community's figures minus the other's would give it).

The weekly rollups merge too, with one limit (domain.disclosure.merge_after): up to the last week either
community had already released a figure for, a measure keeps the weeks of the community that released more
of it, and the other's weeks stay out. Figures seen before the join are never recomputed with the other
community's people in them, so no figure remembered from before can be subtracted from one after to show what
the few people of a small community did. Where neither had released anything (two small channels joining up,
the usual case), or one released only weeks before the other took part, every week merges, and the joined
community shows exactly what one community with all the events would. The weeks left out are dropped with
the retired community's rollups; the events themselves move. The co-ratings behind suggestions are counted
again in the joined community for the people who found something of the emptied one useful, and the emptied
one's go.

The prompt schedules that moved stop (the joined community's prompts reach the channel from then on, and its
own would otherwise reach every channel of the joined community unasked), and so does its weekly digest (the
joined community has one, posted in the channel it started in); the owners are told.

Leaving: a channel that joined goes back to being its own community from then on, with nothing of what it
did while joined: that history stays with the joined community. The channel a community started in cannot
leave it, and channels named in the configuration follow the configuration only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from learnloop.config import Settings
from learnloop.services.network import co_ratings
from learnloop.services.prompts.delivered import stop_unsent
from learnloop.services.rollups import merge_rollups, release_until, shown_prior
from learnloop.storage.repositories import ChannelFacts
from learnloop.storage.tables import Community
from learnloop.storage.unit_of_work import UnitOfWork


class CommunityChangeRefused(ValueError):
    """A join or leave that cannot be done; the message says why, for the person who asked."""


_GROUP_MESSAGE = re.compile("[0-9a-f]{40}")


def community_name(settings: Settings, channel_id: str, channel_name: str | None) -> str | None:
    """The name the configuration or the channel gives; None when the request did not carry the channel's name."""
    configured = settings.community_for_channel(channel_id)
    if configured is not None:
        return configured.name
    return f"~{channel_name}" if channel_name else None


def community_for_channel(
    uow: UnitOfWork, settings: Settings, *, channel_id: str, team_id: str | None, channel_name: str | None,
    now: datetime,
) -> int:
    """The id of the community the channel counts towards, created on first sight."""
    configured = settings.community_for_channel(channel_id)
    return uow.communities.ensure(channel_id, team_id, community_name(settings, channel_id, channel_name), now,
                                  channel_name=channel_name, home=configured.channel_id if configured else None)


def is_direct_channel(channel_name: str | None) -> bool:
    """Whether a channel is a direct message (named `<user id>__<user id>`) or a group message (named by the
    40-character SHA-1 of its members' ids, Mattermost's model.GetGroupNameFromUserIds), which are no community."""
    name = channel_name or ""
    return name.startswith("@") or "__" in name or _GROUP_MESSAGE.fullmatch(name) is not None


def current_community(uow: UnitOfWork, community_id: int | None) -> int | None:
    """The community, or the one its channels joined since (where a retired community's history lives now)."""
    community = uow.communities.get(community_id) if community_id is not None else None
    return community.joined_into if community is not None and community.joined_into is not None else community_id


def community_zone(uow: UnitOfWork, settings: Settings, community_id: int | None = None, *,
                   channel_id: str | None = None) -> str:
    """The time zone a community's own times are read in (its digest, its owners' forms, the starter kit, a member
    whose zone is not known yet): its owners' latest repeating prompt's, else the one configured for its channel,
    else UTC. Given `channel_id` instead, the community that channel counts towards (the channel's configured
    zone while learnloop has no community for it yet)."""
    community = uow.communities.get(community_id) if community_id is not None \
        else uow.communities.by_channel(channel_id) if channel_id else None
    repeating = [row for row in uow.schedules.for_community(community.id) if row.event_part is None] \
        if community else []
    if repeating:
        return repeating[-1].timezone
    configured = settings.community_for_channel(community.channel_id if community else channel_id or "")
    return configured.timezone if configured else "UTC"


class JoinedElsewhere(LookupError):
    """Nothing is shown or done for a community on its own once its channels joined another (or it is gone)."""


def standing_community(uow: UnitOfWork, community_id: int) -> Community:
    """The community, standing alone; JoinedElsewhere (which names where) otherwise."""
    community = uow.communities.get(community_id)
    if community is not None and community.joined_into is None:
        return community
    joined = uow.communities.get(community.joined_into) if community and community.joined_into else None
    raise JoinedElsewhere(f"this community's channels joined {joined.name if joined else 'another'}, where its "
                          "history counts now: nothing is shown or done for it on its own")


def fewer_members_than(channels: list[ChannelFacts], k: int) -> bool:
    """Whether Mattermost's member counts of every channel of a community add up to fewer than k. A count
    includes the channel's bots, and someone in two channels counts twice, so a community said to have fewer
    than k members has; one whose channels were never counted is not said to."""
    counts = [channel.member_count for channel in channels]
    return bool(counts) and all(count is not None for count in counts) and sum(c or 0 for c in counts) < k


def channel_label(channel: ChannelFacts) -> str:
    return f"~{channel.name}" if channel.name else "a channel whose name learnloop has not seen yet"


def look_at_community(
    uow: UnitOfWork, settings: Settings, *, channel_id: str, team_id: str | None, channel_name: str | None,
    count: int | None, now: datetime,
) -> tuple[int, str, list[ChannelFacts]]:
    """The channel's community (created on first sight), its name and its channels, keeping Mattermost's member
    count of the channel when one was read."""
    community_id = community_for_channel(uow, settings, channel_id=channel_id, team_id=team_id,
                                         channel_name=channel_name, now=now)
    if count is not None:
        uow.communities.set_member_count(channel_id, count, now)
    community = uow.communities.get(community_id)
    channels = uow.communities.channels(community_id)
    uow.commit()
    return community_id, community.name if community else "", channels


@dataclass(frozen=True)
class Joined:
    community_id: int
    name: str
    moved: list[ChannelFacts]
    """The channels that joined."""
    channels: list[ChannelFacts]
    """Every channel of the joined community now."""
    prompts_stopped: int
    digest_stopped: bool
    """The joining community's weekly digest was on (it is off now)."""


def _configured(settings: Settings, channels: list[ChannelFacts]) -> ChannelFacts | None:
    return next((c for c in channels if settings.community_for_channel(c.channel_id) is not None), None)


def join(uow: UnitOfWork, settings: Settings, *, channel_id: str, team_id: str | None, channel_name: str | None,
         other_channel_id: str, other_channel_name: str, k: int, key: bytes, now: datetime) -> Joined:
    """Make the channel's community part of the other channel's (the module says what happens to its history),
    in one transaction. Refused, with nothing changed, for the same channel, a channel learnloop does not
    know, two channels already of one community, or channels whose community the configuration sets."""
    if channel_id == other_channel_id:
        raise CommunityChangeRefused("A channel cannot join itself: name a neighbouring channel.")
    community_for_channel(uow, settings, channel_id=channel_id, team_id=team_id, channel_name=channel_name, now=now)
    if settings.community_for_channel(other_channel_id) is not None:
        community_for_channel(uow, settings, channel_id=other_channel_id, team_id=team_id,
                              channel_name=other_channel_name, now=now)
    source, target = uow.communities.by_channel(channel_id), uow.communities.by_channel(other_channel_id)
    assert source is not None
    if target is None:
        raise CommunityChangeRefused(
            f"learnloop does not know ~{other_channel_name} yet: it knows a channel once someone there rates or "
            "shares something or opens the dashboard.")
    if source.id == target.id:
        raise CommunityChangeRefused(f"This channel and ~{other_channel_name} are already one community.")
    uow.joins.lock(source.id, target.id)
    again = [uow.communities.by_channel(channel) for channel in (channel_id, other_channel_id)]
    if [community.id if community else None for community in again] != [source.id, target.id]:
        raise CommunityChangeRefused("These channels' communities changed a moment ago: try again.")
    moving = uow.communities.channels(source.id)
    configured = _configured(settings, moving)
    if configured is not None:
        raise CommunityChangeRefused(
            f"{channel_label(configured)} belongs to a community set in learnloop's configuration: an admin can "
            "add channels to it there (`channels = [...]` under its [[communities]] entry).")
    digest_stopped = source.digest_weekday is not None
    stopped = uow.joins.stop_schedules(source.id)
    stop_unsent(uow, stopped, now)
    raters = uow.network.useful_raters(source.id)
    uow.joins.move_history(source.id, target.id)
    co_ratings.join_up(uow, key, source.id, target.id, raters)
    uow.joins.move_channels(source.id, target.id)
    uow.joins.retire(source.id, target.id, now)
    merge_rollups(uow.rollups, source.id, target.id, k, release_until(now))
    uow.rollups.rebase_scores(target.id, shown_prior(uow.rollups, target.id, k), now)
    uow.communities.name_channel(other_channel_id, other_channel_name)
    channels = uow.communities.channels(target.id)
    uow.commit()
    return Joined(target.id, target.name, moving, channels, len(stopped), digest_stopped)


@dataclass(frozen=True)
class Left:
    left_name: str
    """The community the channel was part of."""
    community_id: int
    """The channel's own community from now on."""


def leave(uow: UnitOfWork, settings: Settings, *, channel_id: str, channel_name: str | None,
          now: datetime) -> Left:
    """The channel becomes its own community again from now on, in one transaction; what it did while
    joined stays with the community it leaves. Refused, with nothing changed, where there is nothing to
    leave, for the channel the community started in, and for channels the configuration places."""
    if settings.community_for_channel(channel_id) is not None:
        raise CommunityChangeRefused(
            "This channel's community is set in learnloop's configuration: an admin can change it there.")
    joined = uow.communities.by_channel(channel_id)
    if joined is None:
        raise CommunityChangeRefused("learnloop does not know this channel yet: there is nothing to leave.")
    if joined.channel_id == channel_id:
        alone = len(uow.communities.channels(joined.id)) == 1
        raise CommunityChangeRefused(
            "This channel is its own community: there is nothing to leave." if alone else
            f"This is the channel {joined.name} started in, so it cannot leave; its other channels can.")
    uow.joins.lock(joined.id)
    own = uow.communities.ensure_home(channel_id, None, community_name(settings, channel_id, channel_name), now)
    uow.joins.revive(own)
    uow.joins.move_channel(channel_id, own, now)
    uow.commit()
    return Left(joined.name, own)
