"""Errors: a page that says what to do next for a person's browser, JSON for machines (Mattermost, the
wikis). None is a bare 500."""

from __future__ import annotations

import logging

from flask import Flask, Response, render_template, request
from werkzeug.exceptions import HTTPException

from learnloop.inbound import json_error

log = logging.getLogger(__name__)
NEXT_STEPS = {
    401: "Sign in first: type /learn signin in Mattermost and open the link it gives you.",
    403: "Only people this page is meant for can open it. If that is you, ask in your community's channel.",
    404: "There is nothing at this address. Links from learnloop's bot lead to the right place.",
    405: "This address cannot be opened like that.",
    410: "Type /learn dashboard in one of the community's channels for the dashboard it counts towards now.",
    413: "What was sent is too large.",
}


def wants_page() -> bool:
    """A person's browser on one of the pages, rather than Mattermost or a wiki calling a hook."""
    if request.path.startswith(("/mattermost/", "/wiki/")):
        return False
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html" and request.accept_mimetypes[best] >= request.accept_mimetypes["application/json"]


def message_page(heading: str, text: str, status: int, *, next_step: str | None = None) -> tuple[str, int]:
    return render_template("message.html", heading=heading, text=text, next_step=next_step), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> tuple[Response | str, int]:
        status = exc.code or 500
        messages = {413: f"the request body is larger than {request.max_content_length} bytes"}
        message = messages.get(status, exc.description or exc.name)
        if wants_page():
            text = message[:1].upper() + message[1:]
            text += "" if text.endswith((".", "!", "?")) else "."
            gives_one = "/learn " in message  # says what to type already: a generic step would contradict it
            return message_page(exc.name, text, status, next_step=None if gives_one else NEXT_STEPS.get(status))
        return json_error(status, message)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response | str, int]:
        log.exception("unhandled error")
        text = "learnloop hit an internal error; nothing was changed. The admin can find details in the log."
        if wants_page():
            return message_page("Something went wrong", text, 500, next_step="Try again in a minute.")
        return json_error(500, text)
