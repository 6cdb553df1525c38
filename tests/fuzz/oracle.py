"""What a reply means: a server error, a refusal (an error status, or the 200 that Mattermost's dialogs and
buttons need for a refusal to be shown), and what must hold for every case."""

from __future__ import annotations

import json
from typing import Any

from tests.fuzz.send import Sent

BUTTON_REFUSALS = ("This button is not yours", "This button belongs to a feature", "This button is not a valid",
                   "This item is no longer in learnloop", "This prompt is not yours", "This prompt is already",
                   "That is not one of your reflections")
"""The first words of a button's ephemeral answer when it did nothing."""


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def refused(sent: Sent) -> bool:
    reply = sent.reply
    if reply.status >= 400 or reply.status in (301, 308):  # werkzeug's redirects to a path without // or with a /
        return True
    if reply.status != 200:
        return False
    answer = _json(reply.body)
    if not isinstance(answer, dict):
        return False
    if sent.case.route == "/mattermost/dialogs":
        return "error" in answer or "errors" in answer
    if sent.case.route == "/mattermost/actions":
        return str(answer.get("ephemeral_text", "")).startswith(BUTTON_REFUSALS)
    return False


def problems(sent: Sent) -> list[str]:
    """Everything wrong with how the service answered this case (empty when all is well)."""
    found = []
    if sent.reply.status >= 500:
        found.append(f"answered {sent.reply.status}")
    was_refused = refused(sent)
    if sent.case.must_refuse and not was_refused:
        found.append(f"accepted ({sent.reply.status}) though it must be refused")
    if sent.wrote and (was_refused or sent.case.no_write):
        found.append(f"changed the database though it was {'refused' if was_refused else 'a cancellation'}")
    return found


def describe(sent: Sent) -> str:
    case = sent.case
    return (f"{case.method} {case.path[:200]!r} [{case.note}] headers={case.headers!r} body={case.body[:400]!r} -> "
            f"{sent.reply.status} {sent.reply.body[:400]!r}")
