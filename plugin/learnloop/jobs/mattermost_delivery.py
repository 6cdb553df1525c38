"""How each Mattermost outbox message is carried out by the worker."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from learnloop.bootstrap import Runtime
from learnloop.jobs.outbox import Handler
from learnloop.mattermost.client import MattermostClient
from learnloop.services.chat import record_reply
from learnloop.services.outbox_kinds import CLASSIFY_POST, CREATE_POST, RESPOND


def create_post(runtime: Runtime, client: MattermostClient, payload: dict[str, Any]) -> dict[str, Any]:
    post = client.create_post(
        payload["channel_id"], payload.get("message") or "", props=payload.get("props"),
        root_id=payload.get("root_id") or None,
    )
    return {"post_id": post.get("id")}


def respond(runtime: Runtime, client: MattermostClient, payload: dict[str, Any]) -> None:
    client.post_to_response_url(payload["response_url"], payload["body"])


def classify_post(runtime: Runtime, client: MattermostClient, payload: dict[str, Any]) -> dict[str, Any]:
    """The outgoing webhook does not say whether a post is a thread reply; the post itself does."""
    post = client.get_post(payload["post_id"])
    root_id = post.get("root_id") or ""
    if not root_id:
        return {"reply": False}
    root_author = client.get_post(root_id).get("user_id")
    with runtime.uow() as uow:
        recorded = record_reply(
            uow, post_id=payload["post_id"], root_id=root_id, root_author_id=root_author,
            community_id=payload["community_id"], user_id=payload["user_id"],
            occurred_at=datetime.fromisoformat(payload["occurred_at"]), now=runtime.clock(),
        )
    return {"reply": recorded}


HANDLERS: dict[str, Handler] = {CREATE_POST: create_post, RESPOND: respond, CLASSIFY_POST: classify_post}
