"""Single Mattermost requests in the fuzz world, for the tests that check one thing at a time."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from learnloop.mattermost.signed_state import button_context, dialog_state
from tests.fuzz import world
from tests.fuzz.cases import FORM

RESPONSE_URL = "http://mattermost.fuzz/hooks/commands/fuzz0000000000000000000001"


def slash(client: FlaskClient, user: str, text: str, channel: str = world.CHANNEL, **fields: str) -> TestResponse:
    form = {"token": world.COMMAND_TOKEN, "user_id": user, "user_name": "ann", "channel_id": channel,
            "channel_name": "fuzzers", "team_id": world.TEAM, "command": "/learn", "text": text,
            "trigger_id": "trigger", "response_url": RESPONSE_URL, **fields}
    return client.post("/mattermost/command", data=urlencode(form), content_type=FORM,
                       headers={"Authorization": f"Token {world.COMMAND_TOKEN}"})


def action(user: str, context: Any, **fields: Any) -> dict[str, Any]:
    return {"user_id": user, "user_name": "ann", "channel_id": world.CHANNEL, "channel_name": "fuzzers",
            "team_id": world.TEAM, "post_id": "post00000000000000000000001", "trigger_id": "trigger", "type": "button",
            "context": context, **fields}


def button(name: str, *, for_user: str | None = None, **values: Any) -> dict[str, Any]:
    return button_context(name, world.SIGNING_KEY, for_user=for_user, **values)


def state(dialog: str, user: str, **values: Any) -> str:
    return dialog_state(dialog, user, world.SIGNING_KEY, **values)


def dialog(callback_id: str, user: str, signed_state: Any, submission: dict[str, Any] | None = None,
           **fields: Any) -> dict[str, Any]:
    return {"type": "dialog_submission", "callback_id": callback_id, "state": signed_state, "user_id": user,
            "channel_id": world.CHANNEL, "team_id": world.TEAM, "submission": submission or {}, "cancelled": False,
            **fields}


def owner_state(dialog_id: str, user: str = world.OWNER) -> str:
    """The state learnloop gives an owner's prompt set-up or event dialog in the world's community channel."""
    return state(dialog_id, user, channel_id=world.CHANNEL, team_id=world.TEAM, channel_name="fuzzers",
                 timezone="Europe/Berlin", response_url=RESPONSE_URL)


def sign_in(client: FlaskClient, user: str) -> None:
    """Sign `user` in to the pages in this client's cookie jar, the way a browser follows the bot's link."""
    text = slash(client, user, "signin").get_json()["text"]
    token = text.split("?token=", 1)[1].split(")", 1)[0]
    page = client.get(f"/signin?token={token}").get_data(as_text=True)
    nonce = page.split('name="nonce" value="', 1)[1].split('"', 1)[0]
    assert client.post("/signin", data={"token": token, "nonce": nonce}).status_code == 303
