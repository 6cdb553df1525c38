"""Who owns a community: owners named in the configuration, and the channel's admins."""

from __future__ import annotations

from learnloop.bootstrap import Runtime
from learnloop.mattermost.client import MattermostError


def _is_admin(member: dict, role: str) -> bool:
    return bool(member.get("scheme_admin")) or role in str(member.get("roles", "")).split()


def is_community_owner(runtime: Runtime, channel_id: str, user_id: str) -> bool:
    """Configured owners, the channel's admins, and the admins of the channel's team."""
    configured = runtime.settings.community_for_channel(channel_id)
    if configured is not None and user_id in configured.owners:
        return True
    client = runtime.mattermost()
    if client is None:
        return False
    try:
        if _is_admin(client.get_channel_member(channel_id, user_id), "channel_admin"):
            return True
    except MattermostError:
        pass
    with runtime.reader() as uow:
        community = uow.communities.by_channel(channel_id)
        team_id = community.team_id if community else None
    if not team_id:
        return False
    try:
        return _is_admin(client.get_team_member(team_id, user_id), "team_admin")
    except MattermostError:
        return False
