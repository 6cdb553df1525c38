"""Which community a channel counts towards: a configured one (its channel, or one of the `channels` the
configuration lists for it), or the channel's own."""

from __future__ import annotations

from datetime import datetime

from learnloop.config import Settings
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
