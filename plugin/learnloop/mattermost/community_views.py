"""`/learn dashboard`: a one-time link to the community's dashboard, for its members (read-only) and its
owners (who also see the feedback list and the exports).

A community whose channels have fewer than k members may never show a figure; the reply says so, with the
command that joins it up with a neighbouring channel. Mattermost's member count is read when someone opens
the dashboard, and only the number is kept."""

from __future__ import annotations

import logging

from learnloop.mattermost.client import MattermostError
from learnloop.mattermost.commands import CommandRegistry, Invocation, Reply
from learnloop.mattermost.context import Chat
from learnloop.mattermost.messages import ephemeral
from learnloop.mattermost.ownership import community_role
from learnloop.services import links
from learnloop.services.communities import fewer_members_than, look_at_community
from learnloop.storage.repositories import ChannelFacts

log = logging.getLogger(__name__)


def small_community_text(trigger: str, channels: list[ChannelFacts], k: int) -> str:
    """Why no figure appears, and what to do about it: never the count itself."""
    where = "This channel has" if len(channels) == 1 else "This community's channels have"
    return (f"Figures appear once at least {k} people take part. {where} fewer than {k} members, so on its own "
            f"this community may never show any. Suggestion: join up with a neighbouring channel as one "
            f"community. Type `{trigger} community join ~channel-name` here, with the neighbouring channel's name; "
            "owners of both channels can do it.")


def member_count(chat: Chat, channel_id: str) -> int | None:
    """Mattermost's member count of the channel; None when it cannot be read now."""
    client = chat.mattermost()
    if client is None:
        return None
    try:
        return client.get_channel_member_count(channel_id)
    except MattermostError as exc:
        log.info("could not read the member count of channel %s: %s", channel_id, exc)
        return None


def _look(invocation: Invocation) -> tuple[int, str, list[ChannelFacts]]:
    chat, request = invocation.chat, invocation.request
    count = member_count(chat, request.channel_id)
    with chat.uow() as uow:
        return look_at_community(uow, chat.settings, channel_id=request.channel_id, team_id=request.team_id or None,
                                 channel_name=request.channel_name or None, count=count, now=chat.clock())


def dashboard_command(invocation: Invocation) -> Reply:
    chat, request = invocation.chat, invocation.request
    role = community_role(chat, request.channel_id, request.user_id)
    if role is None:
        return ephemeral("Only this channel's members see its community's dashboard. It shows the community, "
                         "never a person.")
    community_id, _, channels = _look(invocation)
    with chat.uow() as uow:
        token = links.issue(uow, user_id=request.user_id, username=request.user_name or None,
                            next_path=f"/dashboard/{community_id}", now=chat.clock())
    extra = " As an owner you also see the feedback list and the exports." if role == "owner" else ""
    text = (f"[Open the dashboard]({links.signin_url(chat.settings.public_url_text, token)}) (only for you; "
            f"works once, for 10 minutes). It shows the community as a group, never one person.{extra}")
    k = chat.settings.min_group_size
    if fewer_members_than(channels, k):
        text += "\n\n" + small_community_text(invocation.trigger, channels, k)
    return ephemeral(text)


def register(commands: CommandRegistry) -> None:
    commands.subcommand(
        "dashboard", usage="dashboard", example="dashboard",
        summary="A one-time link to this community's dashboard: is it learning, from content and from each "
                "other? Group figures only, never one person.", handler=dashboard_command)
