"""Opening an interactive dialog, which must happen while Mattermost's trigger id is still valid (a few
seconds), so it is the one call made from the web process rather than the outbox."""

from __future__ import annotations

from typing import Any

from learnloop.mattermost.client import MattermostError
from learnloop.mattermost.context import Chat
from learnloop.mattermost.messages import DIALOGS_PATH


def open_dialog(chat: Chat, trigger_id: str, form: dict[str, Any]) -> str | None:
    """Opens a dialog; returns a sentence for the person when Mattermost would not."""
    client = chat.mattermost()
    if client is None:
        return "learnloop's bot is not configured, so forms cannot open. Ask your admin to connect it."
    if not trigger_id:
        return "Mattermost did not send what is needed to open a form; try again."
    try:
        client.open_dialog(trigger_id, chat.settings.public_url_text + DIALOGS_PATH, form)
    except MattermostError as exc:
        if exc.status_code == 400:
            return "The form took too long to open and Mattermost expired it; please try again."
        return "Mattermost did not open the form (" + (f"HTTP {exc.status_code}" if exc.status_code else
                                                        "no answer") + ")."
    return None


def open_for_button(chat: Chat, trigger_id: str, form: dict[str, Any]) -> dict[str, Any]:
    """A button's answer: the dialog opens, or the clicker is told why it did not."""
    problem = open_dialog(chat, trigger_id, form)
    return {"ephemeral_text": problem} if problem else {}


def value_of(submission: dict[str, Any], name: str) -> str:
    value = submission.get(name)
    return str(value).strip() if value is not None else ""


def checked(value: object) -> bool:
    """A bool element: Mattermost sends true/false, older clients "true"/"false"; unticked may be absent."""
    return value is True or str(value).strip().lower() == "true"
