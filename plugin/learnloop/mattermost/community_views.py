"""`/learn dashboard`: a one-time link to the community's dashboard, for its members (read-only) and its
owners (who also see the feedback list and the exports). `/learn community`: which channels form the
community and its owners by name, and for owners `join ~channel` (one community with a neighbouring channel)
and `leave`.

A community whose channels have fewer than k members can never show a figure; both say so, with the command
that joins it up. Mattermost's member count is read when someone opens the dashboard or looks at the
community, and only the number is kept."""

from __future__ import annotations

import logging
import re

from learnloop.mattermost.client import MattermostError
from learnloop.mattermost.commands import CommandRegistry, Invocation, Reply
from learnloop.mattermost.context import Chat
from learnloop.mattermost.messages import ephemeral
from learnloop.mattermost.ownership import OWNERS, community_role, owner_usernames, role_in_channel
from learnloop.services import links
from learnloop.services.communities import (
    CommunityChangeRefused,
    channel_label,
    fewer_members_than,
    join,
    leave,
    look_at_community,
)
from learnloop.storage.repositories import ChannelFacts

log = logging.getLogger(__name__)

CHANNEL_NAME = re.compile(r"~?([a-z0-9][a-z0-9_-]{0,63})")


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
    role = role_in_channel(chat, request)
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


def _show(invocation: Invocation) -> Reply:
    if role_in_channel(invocation.chat, invocation.request) is None:
        return ephemeral("Only this channel's members can ask which channels form its community.")
    community_id, name, channels = _look(invocation)
    trigger, k = invocation.trigger, invocation.chat.settings.min_group_size
    lines = [f"This channel counts towards **{name}**, made of {', '.join(map(channel_label, channels))}."
             if len(channels) > 1 else f"This channel is its own community, **{name}**.",
             _owners_text(invocation.chat, community_id)]
    if fewer_members_than(channels, k):
        lines.append(small_community_text(trigger, channels, k))
    lines.append(f"Owners can join it up with a neighbouring channel as one community (`{trigger} community join "
                 f"~channel-name`); a channel that joined goes back to being its own community with "
                 f"`{trigger} community leave`.")
    return ephemeral("\n\n".join(lines))


def _owners_text(chat: Chat, community_id: int) -> str:
    """Whom a member can ask: the channel admins and configured owners, by name; team admins are not listed
    (that would mean reading the whole team)."""
    names = owner_usernames(chat, community_id)
    if names is None:
        return f"Its owners are {OWNERS}; learnloop could not ask Mattermost for their names just now."
    if not names:
        return ("It has no channel admin or owner named in learnloop's configuration with an active account; its "
                "team's admins count as its owners.")
    return f"Its owners, whom to ask about it: {', '.join('@' + n for n in names)}. Its team's admins count too."


def _join(invocation: Invocation, target: str) -> Reply:
    chat, request, trigger = invocation.chat, invocation.request, invocation.trigger
    found = CHANNEL_NAME.fullmatch(target.strip().lower())
    if found is None:
        return ephemeral(f"Name the neighbouring channel as it appears after `~`, for example `{trigger} community "
                         "join ~data-team`.")
    name = found.group(1)
    if name == request.channel_name.lower():
        return ephemeral("A channel cannot join itself: name a neighbouring channel.")
    if not request.team_id:
        return ephemeral("Channels join up within a team: type this in a team's channel, not a direct message.")
    if role_in_channel(chat, request) != "owner":
        return ephemeral(f"Only this community's owners ({OWNERS}) can join this channel up with another. Nothing "
                         "changed.")
    client = chat.mattermost()
    if client is None:
        return ephemeral("learnloop cannot reach Mattermost to find that channel: ask an admin to check its bot "
                         "settings.")
    try:
        other = client.get_channel_by_name(request.team_id, name)
    except MattermostError as exc:
        if exc.status_code in (403, 404):
            return ephemeral(f"learnloop does not know ~{name}: there is no such channel in this team that it can "
                             "see. Check the name (as it appears after `~`).")
        return ephemeral("Mattermost did not answer in time; nothing changed. Please try again in a moment.")
    other_id = other.get("id") if isinstance(other, dict) else None
    if not isinstance(other_id, str) or not other_id:
        return ephemeral("Mattermost did not say which channel that is; nothing changed. Please try again.")
    if other_id == request.channel_id:
        return ephemeral("A channel cannot join itself: name a neighbouring channel.")
    if community_role(chat, other_id, request.user_id) != "owner":
        return ephemeral(f"You need to be an owner of ~{name}'s community too ({OWNERS}) to join this channel "
                         "to it; nothing changed.")
    with chat.uow() as uow:
        try:
            joined = join(uow, chat.settings, channel_id=request.channel_id, team_id=request.team_id,
                          channel_name=request.channel_name or None, other_channel_id=other_id,
                          other_channel_name=name, k=chat.settings.min_group_size, key=chat.signing_key,
                          now=chat.clock())
        except CommunityChangeRefused as exc:
            return ephemeral(f"{exc} Nothing changed.")
    moved = " and ".join(map(channel_label, joined.moved))
    done = (f"Done: {moved} now {'count' if len(joined.moved) > 1 else 'counts'} towards **{joined.name}**, "
            f"made of {', '.join(map(channel_label, joined.channels))}. Ratings, shares, prompts and replies "
            "count there from now on, and the history moved there too (weeks either community had already shown "
            "figures for stay as they were shown, so nobody's part can be worked out by comparing). Feedback "
            f"comments left here now reach {joined.name}'s owners.")
    lines = [done]
    if joined.prompts_stopped:
        lines.append(f"The prompts set up here are stopped ({joined.prompts_stopped}): {joined.name}'s prompts "
                     f"reach this channel from its next prompt planned, within two days (`{trigger} prompts`).")
    if joined.digest_stopped:
        home = channel_label(joined.channels[0])
        lines.append(f"The weekly digest set up here is off: {joined.name} has one digest, posted in {home} when its "
                     f"owners there switch it on (`{trigger} digest on fri 09:00` in {home}).")
    lines.append(f"To undo: `{trigger} community leave` in a channel that joined; what it did until then stays "
                 f"with {joined.name}.")
    return ephemeral("\n\n".join(lines))


def _leave(invocation: Invocation) -> Reply:
    chat, request = invocation.chat, invocation.request
    if role_in_channel(chat, request) != "owner":
        return ephemeral(f"Only this community's owners ({OWNERS}) can take this channel out of it. Nothing changed.")
    with chat.uow() as uow:
        try:
            left = leave(uow, chat.settings, channel_id=request.channel_id, channel_name=request.channel_name or None,
                         now=chat.clock())
        except CommunityChangeRefused as exc:
            return ephemeral(f"{exc} Nothing changed.")
    return ephemeral(f"Done: this channel is its own community again from now on. What it did while part of "
                     f"{left.left_name} stays with {left.left_name}: that history does not move back.")


def community_command(invocation: Invocation) -> Reply:
    action, _, rest = invocation.args.partition(" ")
    action = action.lower()
    if not action:
        return _show(invocation)
    if action == "join":
        return _join(invocation, rest)
    if action == "leave" and not rest.strip():
        return _leave(invocation)
    trigger = invocation.trigger
    return ephemeral(f"Try `{trigger} community` (which channels form this community), `{trigger} community join "
                     f"~channel-name` or `{trigger} community leave`.")


def register(commands: CommandRegistry) -> None:
    commands.subcommand(
        "dashboard", usage="dashboard", example="dashboard",
        summary="A one-time link to this community's dashboard: is it learning, from content and from each "
                "other? Group figures only, never one person.", handler=dashboard_command)
    commands.subcommand(
        "community", usage="community [join ~channel | leave]", example="community join ~data-team",
        summary="Which channels form this community, and its owners. Owners can join it up with a neighbouring "
                "channel as one community (a community needs enough members to show figures), or take a channel "
                "that joined back out.", handler=community_command)
