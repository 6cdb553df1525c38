"""Who may see and steer a community: owners (named in the configuration, the channel's admins and the
admins of its team) and members (everyone in the channel)."""

from __future__ import annotations

from typing import Any, Literal

from learnloop.mattermost.client import MattermostError
from learnloop.mattermost.context import Chat

Role = Literal["owner", "member"]


def _is_admin(member: dict[str, Any], role: str) -> bool:
    return bool(member.get("scheme_admin")) or role in str(member.get("roles", "")).split()


def community_role(chat: Chat, channel_id: str, user_id: str) -> Role | None:
    """Configured owners, then the channel's admins and its team's admins are owners; anyone else in the
    channel is a member; None for someone outside it (or when Mattermost cannot be asked)."""
    configured = chat.settings.community_for_channel(channel_id)
    if configured is not None and user_id in configured.owners:
        return "owner"
    client = chat.mattermost()
    if client is None:
        return None
    try:
        membership = client.get_channel_member(channel_id, user_id)
    except MattermostError:
        membership = None
    if membership is not None and _is_admin(membership, "channel_admin"):
        return "owner"
    with chat.reader() as uow:
        channel = uow.communities.channel(channel_id)
        community = uow.communities.by_channel(channel_id)
        team_id = (channel.team_id if channel else None) or (community.team_id if community else None)
    if team_id:
        try:
            if _is_admin(client.get_team_member(team_id, user_id), "team_admin"):
                return "owner"
        except MattermostError:
            pass
    return "member" if membership is not None else None


def is_community_owner(chat: Chat, channel_id: str, user_id: str) -> bool:
    return community_role(chat, channel_id, user_id) == "owner"
