"""Helpers to send the recorded Mattermost requests in tests/fixtures/mattermost to the app."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

FIXTURES = Path(__file__).parent.parent / "fixtures" / "mattermost"
ROUTES = {
    "slash_command": "/mattermost/command",
    "outgoing_webhook": "/mattermost/outgoing",
    "action": "/mattermost/actions",
    "dialog": "/mattermost/dialogs",
}


def fixture_names() -> list[str]:
    return sorted(path.name for path in FIXTURES.iterdir() if path.suffix in {".form", ".json"})


def load_form(name: str, **changes: str) -> dict[str, str]:
    fields = dict(parse_qsl((FIXTURES / name).read_text().strip(), keep_blank_values=True))
    fields.update(changes)
    return fields


def load_json(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def route_for(name: str) -> str:
    return ROUTES[name.split("__", 1)[0]]


def send_form(client: FlaskClient, route: str, fields: dict[str, str], *, header_token: str | None = "same") -> TestResponse:
    """POST a form the way Mattermost does: sorted url-encoded body plus the `Token` header."""
    headers = {"Accept": "application/json", "User-Agent": "Mattermost-Bot/1.1"}
    token = fields.get("token", "") if header_token == "same" else header_token
    if route == ROUTES["slash_command"] and token is not None:
        headers["Authorization"] = f"Token {token}"
    body = urlencode(sorted(fields.items()))
    return client.post(route, data=body, headers=headers, content_type="application/x-www-form-urlencoded")


def send_fixture(client: FlaskClient, name: str, **changes: str) -> TestResponse:
    if name.endswith(".form"):
        return send_form(client, route_for(name), load_form(name, **changes))
    body = load_json(name)
    body.update(changes)
    return client.post(route_for(name), json=body, headers={"Accept": "application/json"})
