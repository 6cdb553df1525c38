"""Who owns a community: owners named in the configuration, and the channel's admins."""

from __future__ import annotations

from learnloop.bootstrap import Runtime
from learnloop.mattermost.client import MattermostError


def is_community_owner(runtime: Runtime, channel_id: str, user_id: str) -> bool:
    configured = runtime.settings.community_for_channel(channel_id)
    if configured is not None and user_id in configured.owners:
        return True
    client = runtime.mattermost()
    if client is None:
        return False
    try:
        member = client.get_channel_member(channel_id, user_id)
    except MattermostError:
        return False
    roles = str(member.get("roles", "")).split()
    return bool(member.get("scheme_admin")) or "channel_admin" in roles
