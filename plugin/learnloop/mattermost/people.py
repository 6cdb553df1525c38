"""A person's Mattermost username, for messages that name them."""

from __future__ import annotations

import logging

from learnloop.inbound import for_log
from learnloop.jobs.prompts import profiles_of
from learnloop.mattermost.client import MattermostError
from learnloop.mattermost.context import Chat

log = logging.getLogger(__name__)


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
