"""JSON errors for machines; every failure says what is wrong, none is a bare 500 page."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


def json_error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"error": {"status": status, "message": message}}), status


def _wants_page() -> bool:
    """A person's browser on one of the pages, rather than Mattermost or a wiki calling a hook."""
    if request.path.startswith(("/mattermost/", "/wiki/")):
        return False
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html" and request.accept_mimetypes[best] > request.accept_mimetypes["application/json"]


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> tuple[Response | str, int]:
        messages = {413: f"the request body is larger than {app.config['MAX_CONTENT_LENGTH']} bytes"}
        message = messages.get(exc.code or 0, exc.description or exc.name)
        if _wants_page():
            return render_template("message.html", heading=exc.name, text=message[:1].upper() + message[1:] + "."), \
                exc.code or 500
        return json_error(exc.code or 500, message)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        log.exception("unhandled error")
        return json_error(500, "learnloop hit an internal error; nothing was changed. The admin can find details in the log.")
