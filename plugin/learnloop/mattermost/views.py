"""Inbound Mattermost routes. Verify first, answer fast, leave slow work to the worker's outbox.

Request formats: shared/reference/mattermost-integration.md §2a-2d, §2h.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from learnloop.bootstrap import Runtime
from learnloop.domain import signing
from learnloop.domain.tokens import matches_any
from learnloop.mattermost import prompt_views, rating_views, wiki_views  # noqa: F401  (they register commands)
from learnloop.mattermost.commands import ACTIONS, DIALOGS, dispatch
from learnloop.mattermost.messages import ephemeral
from learnloop.mattermost.payloads import (
    MAX_POST_LENGTH,
    ActionRequest,
    DialogSubmission,
    OutgoingWebhookPost,
    PayloadError,
    SlashCommand,
    parse,
)
from learnloop.services.chat import ChatPost, ingest_post
from learnloop.web.errors import json_error
from learnloop.web.form_body import FormBodyError, is_urlencoded_post, urlencoded_fields

log = logging.getLogger(__name__)
bp = Blueprint("mattermost", __name__, url_prefix="/mattermost")


def _runtime() -> Runtime:
    return current_app.extensions["learnloop"]


def _form_or_json() -> dict[str, Any] | None:
    """The request's fields: a form-encoded POST body (what Mattermost sends), a JSON object, or the query
    string and form merged (the first value of each field, query string first). Raises FormBodyError."""
    if is_urlencoded_post(request):
        return urlencoded_fields(request)
    if request.is_json:
        body = request.get_json(silent=True)
        return body if isinstance(body, dict) else None
    return request.values.to_dict()


def _command_token_ok(runtime: Runtime, form: dict[str, Any]) -> bool:
    """The form token must match; a `Token` Authorization header, when sent, must match too."""
    accepted = runtime.settings.mattermost_command_tokens
    if not matches_any(form.get("token"), accepted):
        return False
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "token":
        return matches_any(value.strip(), accepted)
    return True


@bp.route("/command", methods=["POST", "GET"])
def command() -> tuple[Response, int]:
    runtime = _runtime()
    try:
        form = _form_or_json()
    except FormBodyError as exc:
        return json_error(400, f"malformed slash command: {exc}")
    if form is None:
        return json_error(400, "expected a form-encoded slash command request")
    if not _command_token_ok(runtime, form):
        return json_error(401, "the slash command token is not one of LEARNLOOP_MATTERMOST_COMMAND_TOKENS")
    if len(form.get("text") or "") > MAX_POST_LENGTH:
        return jsonify(ephemeral(f"That is longer than Mattermost's {MAX_POST_LENGTH} characters; nothing was saved.")), 200
    try:
        slash = parse(SlashCommand, form)
    except PayloadError as exc:
        return json_error(400, f"malformed slash command: {exc}")
    return jsonify(dispatch(runtime, slash)), 200


@bp.post("/actions")
def actions() -> tuple[Response, int]:
    runtime = _runtime()
    body = request.get_json(silent=True)
    try:
        action = parse(ActionRequest, body)
        context = signing.verify(action.context, runtime.signing_key)
    except PayloadError as exc:
        return json_error(400, f"malformed action request: {exc}")
    except signing.BadSignature as exc:
        log.warning("refused an action with a bad context from user %s: %s", (body or {}).get("user_id"), exc)
        return json_error(403, f"refused: {exc}")
    handler = ACTIONS.get(str(context.get("action")))
    if handler is None:
        return jsonify({"ephemeral_text": "This button belongs to a feature this learnloop does not have."}), 200
    return jsonify(handler(runtime, action, context)), 200


@bp.post("/dialogs")
def dialogs() -> tuple[Response, int]:
    runtime = _runtime()
    try:
        submission = parse(DialogSubmission, request.get_json(silent=True))
    except PayloadError as exc:
        return json_error(400, f"malformed dialog submission: {exc}")
    if submission.cancelled:
        return Response(status=200), 200
    handler = DIALOGS.get(submission.callback_id)
    if handler is None:
        return jsonify({"error": "This form belongs to a feature this learnloop does not have."}), 200
    reply = handler(runtime, submission)
    return (jsonify(reply), 200) if reply else (Response(status=200), 200)


@bp.post("/outgoing")
def outgoing() -> tuple[Response, int]:
    runtime = _runtime()
    try:
        body = _form_or_json()
    except FormBodyError as exc:
        return json_error(400, f"malformed outgoing webhook: {exc}")
    if body is None:
        return json_error(400, "expected a form-encoded or JSON outgoing webhook request")
    if not matches_any(body.get("token"), runtime.settings.mattermost_webhook_tokens):
        return json_error(401, "the outgoing webhook token is not one of LEARNLOOP_MATTERMOST_WEBHOOK_TOKENS")
    try:
        payload = parse(OutgoingWebhookPost, body)
    except PayloadError as exc:
        return json_error(400, f"malformed outgoing webhook: {exc}")
    if payload.user_id == runtime.settings.mattermost_bot_user_id:
        return jsonify({}), 200
    now = runtime.clock()
    post = ChatPost(
        post_id=payload.post_id, channel_id=payload.channel_id, team_id=payload.team_id or None,
        channel_name=payload.channel_name or None, user_id=payload.user_id, user_name=payload.user_name or None,
        text=payload.text, occurred_at=payload.occurred_at(milliseconds=request.is_json, fallback=now),
    )
    with runtime.uow() as uow:
        ingest_post(uow, runtime.settings, post, now, can_classify=runtime.mattermost() is not None)
    return jsonify({}), 200
