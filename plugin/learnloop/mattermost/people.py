"""People and channels as Mattermost describes them now: profiles (zone, active or not), statuses, usernames for
messages that name them, and which channels are archived."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from learnloop.chunks import chunks
from learnloop.inbound import for_log
from learnloop.mattermost.client import MattermostClient, MattermostError
from learnloop.mattermost.context import Chat
from learnloop.services.prompts.membership import MemberProfile
from learnloop.services.prompts.setup import check_timezone

log = logging.getLogger(__name__)

USERS_PER_CALL = 200


def user_timezone(user: dict[str, Any]) -> str | None:
    """Mattermost keeps the zone as strings: automatic unless the person set one by hand. Mattermost does not
    check them: a name that is no time zone (a folder of the database such as "Europe", or too long) is
    None, and the person is prompted at the schedule's time zone."""
    zone = user.get("timezone") or {}
    automatic = str(zone.get("useAutomaticTimezone", "true")).lower() == "true"
    name = (zone.get("automaticTimezone") if automatic else zone.get("manualTimezone")) or None
    return name if isinstance(name, str) and check_timezone(name) is None else None


def member_profiles(client: MattermostClient, channel_id: str) -> list[MemberProfile]:
    """People in the channel, without bots and deactivated accounts."""
    return profiles_of(client, list(client.iter_channel_member_ids(channel_id)))


def profiles_of(client: MattermostClient, user_ids: list[str]) -> list[MemberProfile]:
    """These people as Mattermost describes them now, without bots and deactivated accounts."""
    asked, profiles = set(user_ids), []
    for chunk in chunks(user_ids, USERS_PER_CALL):
        profiles += [MemberProfile(user["id"], user.get("username"), user_timezone(user))
                     for user in client.get_users_by_ids(chunk)
                     if user.get("id") in asked and not user.get("is_bot") and not user.get("delete_at")]
    return profiles


def deactivated(client: MattermostClient | None, user_ids: list[str]) -> set[str]:
    """Those of these people Mattermost no longer has as active, as profiles_of leaves them out: it takes a
    direct message to a deactivated account, which nobody reads. Nobody when it cannot say."""
    if client is None or not user_ids:
        return set()
    try:
        return set(user_ids) - {profile.user_id for profile in profiles_of(client, user_ids)}
    except MattermostError as exc:
        log.warning("could not ask whose accounts are deactivated, so none is left out: %s", exc)
        return set()


def community_profiles(client: MattermostClient, channel_ids: list[str]) -> list[MemberProfile]:
    """People in any of a community's channels that are not archived, each once."""
    found: dict[str, MemberProfile] = {}
    for channel_id in open_channels(client, channel_ids):
        for profile in member_profiles(client, channel_id):
            found.setdefault(profile.user_id, profile)
    return list(found.values())


def open_channels(client: MattermostClient, channel_ids: list[str]) -> list[str]:
    """These channels without the archived ones (delete_at set): Mattermost keeps an archived channel's members,
    but nothing can be posted there any more, so nobody is prompted for it."""
    found = []
    for channel_id in channel_ids:
        if client.get_channel(channel_id).get("delete_at"):
            log.info("channel %s is archived, so its members are not prompted", channel_id)
        else:
            found.append(channel_id)
    return found


def due_profiles(client: MattermostClient, channel_ids: list[str], user_ids: list[str]) -> list[MemberProfile]:
    """Of these people, those still in one of the channels, as Mattermost describes them now."""
    return profiles_of(client, sorted(in_channels(client, channel_ids, user_ids)))


def in_channels(client: MattermostClient, channel_ids: list[str], user_ids: list[str]) -> set[str]:
    """Those of these people who are in one of the channels now: one call per channel for USERS_PER_CALL of them."""
    inside: set[str] = set()
    for channel_id in channel_ids:
        for chunk in chunks(user_ids, USERS_PER_CALL):
            inside.update(str(m.get("user_id")) for m in client.get_channel_members_by_ids(channel_id, chunk))
    return inside


def statuses(client: MattermostClient | None, user_ids: Iterable[str]) -> dict[str, str]:
    ids = list(user_ids)
    if client is None or not ids:
        return {}
    statuses: dict[str, str] = {}
    try:
        for chunk in chunks(ids, USERS_PER_CALL):
            statuses.update(client.get_users_statuses(chunk))
    except MattermostError as exc:
        log.warning("could not read statuses, sending without them: %s", exc)
    return statuses


def username_of(chat: Chat, user_id: str) -> str | None:
    """What learnloop keeps of the person's username, else what Mattermost says; None when neither can say."""
    with chat.reader() as uow:
        member = uow.members.get(user_id)
    if member is not None and member.username:
        return member.username
    client = chat.mattermost()
    if client is None:
        return None
    try:
        return str(client.get_user(user_id).get("username") or "") or None
    except MattermostError as exc:
        log.warning("Mattermost could not name user %s: %s", for_log(user_id), exc)
        return None


def usernames_of(chat: Chat, user_ids: list[str]) -> list[str] | None:
    """These people's usernames as Mattermost gives them, in order, without bots and deactivated accounts; None
    when Mattermost cannot be asked."""
    client = chat.mattermost()
    if client is None:
        return None
    try:
        return sorted(p.username for p in profiles_of(client, user_ids) if p.username)
    except MattermostError as exc:
        log.warning("Mattermost could not name %d people: %s", len(user_ids), exc)
        return None
