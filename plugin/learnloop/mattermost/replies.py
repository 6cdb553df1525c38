"""Replies that go out later, through the worker: to a slash command's `response_url`, which only the
configured Mattermost site may name (anything else would let a request make the worker call any host)."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from learnloop.config import Settings
from learnloop.domain.keys import fit
from learnloop.inbound import for_log
from learnloop.mattermost.context import Chat
from learnloop.mattermost.messages import ephemeral
from learnloop.services.outbox_kinds import RESPOND, SEND_DM

log = logging.getLogger(__name__)
RESPONSE_PATH = "/hooks/commands/"


def allowed_response_url(settings: Settings, url: str) -> bool:
    """A `response_url` on the configured Mattermost site (same scheme, host and port), under its
    `/hooks/commands/` path, as Mattermost makes them."""
    site = settings.mattermost_url_text
    if not site or not url:
        return False
    try:
        given, home = urlsplit(url), urlsplit(site)
        return ((given.scheme, given.hostname, given.port) == (home.scheme, home.hostname, home.port)
                and given.path.startswith(home.path.rstrip("/") + RESPONSE_PATH) and not given.username)
    except ValueError:
        return False


def respond_later(chat: Chat, response_url: str | None, text: str, *, key: str, or_dm: str | None = None,
                  **extra: Any) -> bool:
    """Queue an ephemeral reply to a slash command (a dialog closes without one). False, and nothing queued,
    when there is no response URL or it is not the configured Mattermost's, unless `or_dm` names the person to
    tell in their direct message with learnloop instead; then also when Mattermost no longer takes the
    response URL (it lasts 30 minutes, and a form can stay open longer)."""
    usable = bool(response_url) and allowed_response_url(chat.settings, response_url or "")
    if response_url and not usable:
        log.warning("not replying to a response_url off the Mattermost site: %s", for_log(response_url))
    if not usable and not or_dm:
        return False
    now = chat.clock()
    with chat.uow() as uow:
        uow.outbox.enqueue(RESPOND, {"response_url": response_url if usable else "", "body": ephemeral(text, **extra),
                                     **({"or_dm": or_dm} if or_dm else {})},
                           key=fit(f"respond:{key}:{response_url}:{now.isoformat()}"), now=now)
        uow.commit()
    return True


def dm_later(chat: Chat, user_id: str, text: str, *, key: str, props: dict[str, Any] | None = None) -> None:
    """Queue a direct message to the person from learnloop: what a dialog, which closes without a reply, has
    to tell them. Queued once per key."""
    now = chat.clock()
    with chat.uow() as uow:
        uow.outbox.enqueue(SEND_DM, {"user_id": user_id, "message": text, **({"props": props} if props else {})},
                           key=fit(key), now=now)
        uow.commit()
