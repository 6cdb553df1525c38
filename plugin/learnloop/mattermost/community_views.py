"""`/learn dashboard`: a one-time link to the community's dashboard, for its members (read-only) and its
owners (who also see the feedback list and the exports)."""

from __future__ import annotations

from learnloop.mattermost.commands import CommandRegistry, Invocation, Reply
from learnloop.mattermost.messages import ephemeral
from learnloop.mattermost.ownership import community_role
from learnloop.services import links
from learnloop.services.communities import community_for_channel


def dashboard_command(invocation: Invocation) -> Reply:
    chat, request = invocation.chat, invocation.request
    role = community_role(chat, request.channel_id, request.user_id)
    if role is None:
        return ephemeral("Only this channel's members see its community's dashboard. It shows the community, "
                         "never a person.")
    now = chat.clock()
    with chat.uow() as uow:
        community_id = community_for_channel(uow, chat.settings, channel_id=request.channel_id,
                                             team_id=request.team_id or None, channel_name=request.channel_name or None,
                                             now=now)
        uow.commit()
        token = links.issue(uow, user_id=request.user_id, username=request.user_name or None,
                            next_path=f"/dashboard/{community_id}", now=now)
    extra = " As an owner you also see the feedback list and the exports." if role == "owner" else ""
    return ephemeral(f"[Open the dashboard]({links.signin_url(chat.settings.public_url_text, token)}) (only for you; "
                     f"works once, for 10 minutes). It shows the community as a group, never one person.{extra}")


def register(commands: CommandRegistry) -> None:
    commands.subcommand(
        "dashboard", usage="dashboard", example="dashboard",
        summary="A one-time link to this community's dashboard: is it learning, from content and from each "
                "other? Group figures only, never one person.", handler=dashboard_command)
