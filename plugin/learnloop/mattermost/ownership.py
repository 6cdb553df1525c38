"""Who may see and steer a community: owners (named in the configuration, the channel's admins and the
admins of its team) and members (everyone in the channel). Which pages each owner hears about is
services.page_owners'."""

from __future__ import annotations

import logging
from typing import Any, Literal

from learnloop.mattermost.client import MattermostClient, MattermostError
from learnloop.mattermost.commands import DialogHandler, Reply
from learnloop.mattermost.context import Chat
from learnloop.mattermost.payloads import DialogSubmission, SlashCommand
from learnloop.mattermost.people import deactivated, usernames_of
from learnloop.services.communities import is_direct_channel

log = logging.getLogger(__name__)

Role = Literal["owner", "member"]


class MembershipUnknown(Exception):
    """Mattermost could not say whether someone is in a channel (it is down, or rate limits us): the answer is
    "try again", not "you are not a member"."""

    def __init__(self, error: MattermostError) -> None:
        answer = f"it answered {error.status_code}" if error.status_code else "it did not answer"
        super().__init__(f"learnloop could not ask Mattermost whether you are in this channel ({answer}); nothing "
                         "was changed. Try again in a moment.")


def _is_admin(member: dict[str, Any], role: str) -> bool:
    return bool(member.get("scheme_admin")) or role in str(member.get("roles", "")).split()


def community_role(chat: Chat, channel_id: str, user_id: str, team_id: str | None = None) -> Role | None:
    """Configured owners, then the channel's admins and its team's admins are owners; anyone else in the
    channel is a member; None for someone outside it (or when Mattermost cannot be asked). `team_id` is the
    channel's team as the request names it, for a channel learnloop has not recorded yet."""
    configured = chat.settings.community_for_channel(channel_id)
    if configured is not None and user_id in configured.owners:
        return "owner"
    client = chat.mattermost()
    if client is None:
        return None
    try:
        membership = client.get_channel_member(channel_id, user_id)
    except MattermostError as exc:
        if exc.retryable:
            raise MembershipUnknown(exc) from exc
        if exc.status_code != 404:  # not "not in the channel": the bot's token, or an odd answer
            log.warning("could not read a membership of channel %s, so it counts as none: %s", channel_id, exc)
        membership = None
    if membership is not None and _is_admin(membership, "channel_admin"):
        return "owner"
    with chat.reader() as uow:
        channel = uow.communities.channel(channel_id)
        community = uow.communities.by_channel(channel_id)
        team_id = (channel.team_id if channel else None) or (community.team_id if community else None) or team_id
    if team_id:
        try:
            if _is_admin(client.get_team_member(team_id, user_id), "team_admin"):
                return "owner"
        except MattermostError as exc:
            if exc.retryable:
                raise MembershipUnknown(exc) from exc
    return "member" if membership is not None else None


def channel_team(channel_name: str | None, team_id: str | None) -> str | None:
    """The team a request names for its channel, none for a direct or group message: Mattermost names the team
    on screen there, whose admins own no one's conversation."""
    return None if is_direct_channel(channel_name) else team_id or None


def is_community_owner(chat: Chat, channel_id: str, user_id: str, team_id: str | None = None) -> bool:
    return community_role(chat, channel_id, user_id, team_id) == "owner"


def role_in_channel(chat: Chat, request: SlashCommand) -> Role | None:
    """The role in the community of the channel a slash command was typed in, of whoever typed it."""
    team_id = channel_team(request.channel_name, request.team_id)
    return community_role(chat, request.channel_id, request.user_id, team_id)


def owns_channel(chat: Chat, request: SlashCommand) -> bool:
    return role_in_channel(chat, request) == "owner"


OWNERS = "its channel admins, its team's admins, or owners named in learnloop's configuration"
"""Who owns a community, as every reply that names its owners says it (community_role decides it)."""
NO_LONGER_AN_OWNER = (f"Only this community's owners ({OWNERS}) can send this form, and Mattermost no longer "
                      "counts you as one; nothing was saved.")


def for_owners(handler: DialogHandler) -> DialogHandler:
    """An owner's form, checked again when it is sent: its signed state never expires, and whoever opened it may
    have stopped being an owner since."""

    def checked(chat: Chat, submission: DialogSubmission, state: dict[str, Any]) -> Reply | None:
        if not is_community_owner(chat, str(state.get("channel_id") or ""), submission.user_id,
                                  channel_team(state.get("channel_name"), state.get("team_id"))):
            return {"error": NO_LONGER_AN_OWNER}
        return handler(chat, submission, state)

    return checked


def community_owners(chat: Chat, community_id: int) -> list[str]:
    """The owners a community's messages go to: those the configuration names for any of its channels, and the
    admins of its channels as Mattermost lists them, without deactivated accounts (a message to one is never
    read). Team admins own it too, but are not listed here (that would mean reading every member of the team):
    they hear about pages they are named for."""
    client = chat.mattermost()
    found = _listed_owners(chat, client, community_id)
    return sorted(set(found) - deactivated(client, found))


def owner_usernames(chat: Chat, community_id: int) -> list[str] | None:
    """`community_owners` by username, from the one question to Mattermost that tells both who is still active and
    what they are called; None when Mattermost cannot be asked."""
    return usernames_of(chat, _listed_owners(chat, chat.mattermost(), community_id))


def _listed_owners(chat: Chat, client: MattermostClient | None, community_id: int) -> list[str]:
    """The configured owners and the channel admins of a community, deactivated or not, without the bot."""
    with chat.reader() as uow:
        channels = [c.channel_id for c in uow.communities.channels(community_id)]
        community = uow.communities.get(community_id)
    if community is not None and community.channel_id not in channels:
        channels.insert(0, community.channel_id)
    found: set[str] = set()
    for channel_id in channels:
        configured = chat.settings.community_for_channel(channel_id)
        found.update(configured.owners if configured else [])
    if client is not None:
        for channel_id in channels:
            try:
                found.update(m["user_id"] for m in client.iter_channel_members(channel_id)
                             if _is_admin(m, "channel_admin"))
            except MattermostError as exc:
                log.warning("could not list the admins of channel %s: %s", channel_id, exc)
    return sorted(found - {chat.settings.mattermost_bot_user_id or ""})
