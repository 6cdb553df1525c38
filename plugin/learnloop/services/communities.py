"""Which community a channel belongs to: a configured one, or the channel as its own."""

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
    """The id of the channel's community, created on first sight."""
    return uow.communities.ensure(channel_id, team_id, community_name(settings, channel_id, channel_name), now)
