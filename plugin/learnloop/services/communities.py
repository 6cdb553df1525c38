"""Which community a channel counts towards: a configured one (its channel, or one of the `channels` the
configuration lists for it), or the channel's own."""

from __future__ import annotations

from datetime import datetime

from learnloop.config import Settings
from learnloop.storage.repositories import ChannelFacts
from learnloop.storage.unit_of_work import UnitOfWork


def community_name(settings: Settings, channel_id: str, channel_name: str | None) -> str:
    configured = settings.community_for_channel(channel_id)
    if configured is not None:
        return configured.name
    return f"~{channel_name}" if channel_name else f"channel {channel_id}"


def community_for_channel(
    uow: UnitOfWork, settings: Settings, *, channel_id: str, team_id: str | None, channel_name: str | None,
    now: datetime,
) -> int:
    """The id of the community the channel counts towards, created on first sight."""
    configured = settings.community_for_channel(channel_id)
    return uow.communities.ensure(channel_id, team_id, community_name(settings, channel_id, channel_name), now,
                                  channel_name=channel_name, home=configured.channel_id if configured else None)


def fewer_members_than(channels: list[ChannelFacts], k: int) -> bool:
    """Whether Mattermost's member counts of every channel of a community add up to fewer than k. A count
    includes the channel's bots, and someone in two channels counts twice, so a community said to have fewer
    than k members has; one whose channels were never counted is not said to."""
    counts = [channel.member_count for channel in channels]
    return bool(counts) and all(count is not None for count in counts) and sum(c or 0 for c in counts) < k


def look_at_community(uow: UnitOfWork, settings: Settings, *, channel_id: str, team_id: str | None,
                      channel_name: str | None, count: int | None, now: datetime) -> tuple[int, str, list[ChannelFacts]]:
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
