"""Inbound Mattermost routes. Verify first, answer fast, leave slow work to the worker's outbox.

Request formats: mattermost.payloads. Bodies are read with learnloop.inbound (strict UTF-8, bounded JSON),
and nothing is stored before the token or the signed context has been checked."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, jsonify, request

from learnloop.domain import signing
from learnloop.domain.tokens import matches_any
from learnloop.inbound import BadBody, for_log, json_body, json_error, request_fields
from learnloop.mattermost.commands import CommandRegistry
from learnloop.mattermost.context import Chat
from learnloop.mattermost.messages import ephemeral
from learnloop.mattermost.ownership import MembershipUnknown
from learnloop.mattermost.payloads import (
    MAX_POST_LENGTH,
    ActionRequest,
    DialogSubmission,
    OutgoingWebhookPost,
    PayloadError,
    SlashCommand,
    parse,
)
from learnloop.mattermost.signed_state import StateRefused, read_button, read_dialog_state
from learnloop.services.chat import ChatPost, ingest_post

log = logging.getLogger(__name__)


def _command_token_ok(chat: Chat, form: dict[str, Any]) -> bool:
    """The form token must match; a `Token` Authorization header, when sent, must match too."""
    accepted = chat.settings.mattermost_command_tokens
    if not matches_any(str(form.get("token") or ""), accepted):
        return False
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "token":
        return matches_any(value.strip(), accepted)
    return True


def blueprint(chat: Chat, commands: CommandRegistry) -> Blueprint:
    bp = Blueprint("mattermost", __name__, url_prefix="/mattermost")

    @bp.route("/command", methods=["POST", "GET"])
    def command() -> tuple[Response, int]:
        try:
            form = request_fields(request)
        except BadBody as exc:
            return json_error(400, f"malformed slash command: {exc}")
        if not _command_token_ok(chat, form):
            return json_error(401, "the slash command token is not one of LEARNLOOP_MATTERMOST_COMMAND_TOKENS")
        if len(str(form.get("text") or "")) > MAX_POST_LENGTH:
            return jsonify(ephemeral(f"That is longer than Mattermost's {MAX_POST_LENGTH} characters; "
                                     "nothing was saved.")), 200
        try:
            slash = parse(SlashCommand, form)
        except PayloadError as exc:
            return json_error(400, f"malformed slash command: {exc}")
        try:
            return jsonify(commands.dispatch(chat, slash)), 200
        except MembershipUnknown as exc:
            return jsonify(ephemeral(str(exc))), 200

    @bp.post("/actions")
    def actions() -> tuple[Response, int]:
        try:
            action = parse(ActionRequest, json_body(request))
            context = read_button(action.context, chat.signing_key, action.user_id)
        except (BadBody, PayloadError) as exc:
            return json_error(400, f"malformed action request: {exc}")
        except signing.BadSignature as exc:
            log.warning("refused an action with a bad context from user %s: %s", for_log(action.user_id), exc)
            return json_error(403, f"refused: {exc}")
        except StateRefused as exc:
            log.info("refused a button from user %s: %s", for_log(action.user_id), exc)
            return jsonify({"ephemeral_text": f"{str(exc)[:1].upper()}{str(exc)[1:]}."}), 200
        handler = commands.actions.get(str(context.get("action")))
        if handler is None:
            return jsonify({"ephemeral_text": "This button belongs to a feature this learnloop does not have."}), 200
        try:
            return jsonify(handler(chat, action, context)), 200
        except MembershipUnknown as exc:
            return jsonify({"ephemeral_text": str(exc)}), 200

    @bp.post("/dialogs")
    def dialogs() -> tuple[Response, int]:
        try:
            submission = parse(DialogSubmission, json_body(request))
        except (BadBody, PayloadError) as exc:
            return json_error(400, f"malformed dialog submission: {exc}")
        if submission.cancelled:
            return Response(status=200), 200
        handler = commands.dialogs.get(submission.callback_id)
        if handler is None:
            return jsonify({"error": "This form belongs to a feature this learnloop does not have."}), 200
        try:
            state = read_dialog_state(submission.state, submission.callback_id, submission.user_id,
                                      chat.signing_key)
        except StateRefused as exc:
            return jsonify({"error": str(exc)}), 200
        try:
            reply = handler(chat, submission, state)
        except MembershipUnknown as exc:
            return jsonify({"error": str(exc)}), 200
        return (jsonify(reply), 200) if reply else (Response(status=200), 200)

    @bp.post("/outgoing")
    def outgoing() -> tuple[Response, int]:
        try:
            body = request_fields(request)
        except BadBody as exc:
            return json_error(400, f"malformed outgoing webhook: {exc}")
        if not matches_any(str(body.get("token") or ""), chat.settings.mattermost_webhook_tokens):
            return json_error(401, "the outgoing webhook token is not one of LEARNLOOP_MATTERMOST_WEBHOOK_TOKENS")
        try:
            payload = parse(OutgoingWebhookPost, body)
        except PayloadError as exc:
            return json_error(400, f"malformed outgoing webhook: {exc}")
        if payload.user_id == chat.settings.mattermost_bot_user_id:
            return jsonify({}), 200
        now = chat.clock()
        post = ChatPost(
            post_id=payload.post_id, channel_id=payload.channel_id, team_id=payload.team_id or None,
            channel_name=payload.channel_name or None, user_id=payload.user_id, user_name=payload.user_name or None,
            text=payload.text, occurred_at=payload.occurred_at(milliseconds=request.is_json, fallback=now),
        )
        with chat.uow() as uow:
            ingest_post(uow, chat.settings, post, now, can_classify=chat.mattermost() is not None)
        return jsonify({}), 200

    return bp
