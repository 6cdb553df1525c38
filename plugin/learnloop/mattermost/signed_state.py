"""Button contexts and dialog states: signed when handed out, checked at the door when they come back.

Mattermost signs nothing it sends back, and a person can alter a button's context or a dialog's state,
so both are HMAC-signed (domain.signing). A state also names the dialog and the person it was opened
for, and a personal button (on a prompt, in a journal) the one person it is for: replayed into another
dialog, or sent by someone else, it is refused before any handler runs."""

from __future__ import annotations

import json
from typing import Any

from learnloop.domain import signing
from learnloop.inbound import parse_json

FOR_USER = "for"
DIALOG = "dialog"
USER = "user_id"


class StateRefused(ValueError):
    """A state or context that was not made for this dialog, button or person; the message says so."""


def button_context(action: str, key: bytes, *, for_user: str | None = None, **values: Any) -> dict[str, Any]:
    """A button's signed context; `for_user` makes it work for that person only."""
    payload = {"action": action, **values}
    if for_user is not None:
        payload[FOR_USER] = for_user
    return signing.sign(payload, key)


def read_button(context: object, key: bytes, clicking_user: str) -> dict[str, Any]:
    """The verified context (raises signing.BadSignature, or StateRefused for someone else's button)."""
    payload = signing.verify(context, key)
    meant_for = payload.get(FOR_USER)
    if meant_for is not None and meant_for != clicking_user:
        raise StateRefused("this button is not yours: it was sent to someone else")
    return payload


def dialog_state(dialog: str, user_id: str, key: bytes, **values: Any) -> str:
    """A dialog's signed state, bound to the dialog and the person it is opened for."""
    return json.dumps(signing.sign({DIALOG: dialog, USER: user_id, **values}, key), separators=(",", ":"))


def read_dialog_state(state: str, dialog: str, user_id: str, key: bytes) -> dict[str, Any]:
    """The verified state of a submitted dialog (raises StateRefused with a sentence for the person)."""
    try:
        payload = signing.verify(parse_json((state or "null").encode("utf-8", "surrogatepass")), key)
    except (ValueError, signing.BadSignature):
        raise StateRefused("This form could not be verified. Close it and open it again.") from None
    if payload.get(USER) != user_id:
        raise StateRefused("This form was opened by someone else. Open your own from the same place.")
    if payload.get(DIALOG) != dialog:
        raise StateRefused("This form's answers belong to another form. Close it and open it again.")
    return payload
