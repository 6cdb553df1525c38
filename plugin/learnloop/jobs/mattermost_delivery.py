"""How each Mattermost outbox message is carried out by the worker."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from learnloop.bootstrap import Runtime
from learnloop.jobs.outbox import BatchHandler, Handler
from learnloop.storage.unit_of_work import UnitOfWork
from learnloop.mattermost.client import MattermostClient
from learnloop.services.chat import record_reply
from learnloop.mattermost.prompt_messages import DELIVERY_PROP, nudge_message, prompt_post
from learnloop.services.outbox_kinds import CLASSIFY_POST, CREATE_POST, RESPOND, SEND_DM, SEND_NUDGE, SEND_PROMPT
from learnloop.services.prompt_delivery import (
    PromptView,
    SentPrompt,
    mark_sent,
    mark_undelivered,
    prompt_for_delivery,
    prompts_for_deliveries,
)


def create_post(runtime: Runtime, client: MattermostClient, payload: dict[str, Any], attempt: int) -> dict[str, Any]:
    post = client.create_post(
        payload["channel_id"], payload.get("message") or "", props=payload.get("props"),
        root_id=payload.get("root_id") or None,
    )
    return {"post_id": post.get("id")}


def respond(runtime: Runtime, client: MattermostClient, payload: dict[str, Any], attempt: int) -> None:
    client.post_to_response_url(payload["response_url"], payload["body"])


def classify_post(runtime: Runtime, client: MattermostClient, payload: dict[str, Any], attempt: int) -> dict[str, Any]:
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


HANDLERS: dict[str, Handler | BatchHandler] = {CREATE_POST: create_post, RESPOND: respond, CLASSIFY_POST: classify_post}


def _bot_user_id(runtime: Runtime, client: MattermostClient) -> str:
    configured = runtime.settings.mattermost_bot_user_id
    return configured or runtime.remember("bot_user_id", lambda: str(client.get_me()["id"]))


def _dm_channel(runtime: Runtime, client: MattermostClient, user_id: str) -> str:
    """The bot's DM channel with a person, asked of Mattermost once and then kept."""
    with runtime.reader() as uow:
        member = uow.members.get(user_id)
        cached = member.dm_channel_id if member else None
    if cached:
        return cached
    channel_id = client.create_direct_channel(_bot_user_id(runtime, client), user_id)
    with runtime.uow() as uow:
        uow.members.ensure(user_id, runtime.clock())
        uow.members.keep_dm_channels({user_id: channel_id})
        uow.commit()
    return channel_id


def _already_posted(client: MattermostClient, channel_id: str, delivery_id: int, since: datetime) -> str | None:
    """After an attempt whose outcome is unknown (the worker died mid-call), look before sending again."""
    since_ms = int(since.timestamp() * 1000)
    for post in client.get_channel_posts_since(channel_id, since_ms):
        if (post.get("props") or {}).get(DELIVERY_PROP) == delivery_id:
            return str(post["id"])
    return None


def load_prompts(runtime: Runtime, payloads: list[dict[str, Any]]) -> dict[int, PromptView]:
    """The pass's prompts, each with its cached DM channel, in one read (no write lock on SQLite)."""
    with runtime.reader() as uow:
        return prompts_for_deliveries(uow, [int(payload["delivery_id"]) for payload in payloads])


def send_prompt(runtime: Runtime, client: MattermostClient | None, payload: dict[str, Any], attempt: int,
                views: dict[int, PromptView]) -> dict[str, Any]:
    """Post one prompt. On a retry (attempt > 1) the worker may have died after posting and before recording
    it, so the DM channel is first searched for a post carrying the delivery's id."""
    assert client is not None
    delivery_id = int(payload["delivery_id"])
    view = views.get(delivery_id)
    if view is None:
        return {"skipped": "no longer queued"}
    channel_id = view.dm_channel_id or client.create_direct_channel(_bot_user_id(runtime, client), view.user_id)
    post_id = _already_posted(client, channel_id, delivery_id, view.queued_at) if attempt > 1 else None
    if post_id is None:
        body = prompt_post(channel_id=channel_id, delivery_id=delivery_id, community_name=view.community_name,
                           questions=view.questions, window_text=view.window_text(runtime),
                           public_url=runtime.settings.public_url_text, key=runtime.signing_key)
        post_id = str(client.create_post(body["channel_id"], body["message"], props=body["props"])["id"])
    return {"post_id": post_id, "delivery_id": delivery_id, "user_id": view.user_id, "channel_id": channel_id,
            "new_channel": view.dm_channel_id is None}


def record_prompts(uow: UnitOfWork, results: list[dict[str, Any]], now: datetime) -> None:
    mark_sent(uow, [SentPrompt(r["delivery_id"], r["post_id"], r["user_id"], r["channel_id"], r["new_channel"])
                    for r in results if "post_id" in r], now)


def abandon_prompts(uow: UnitOfWork, failed: list[tuple[dict[str, Any], str]], now: datetime) -> None:
    mark_undelivered(uow, [(int(payload["delivery_id"]), error) for payload, error in failed], now)


def send_nudge(runtime: Runtime, client: MattermostClient, payload: dict[str, Any], attempt: int) -> dict[str, Any]:
    delivery_id = int(payload["delivery_id"])
    with runtime.reader() as uow:
        view = prompt_for_delivery(uow, delivery_id, status="sent")
    if view is None:
        return {"skipped": "answered or closed"}
    channel_id = _dm_channel(runtime, client, view.user_id)
    post = client.create_post(channel_id, nudge_message(view.window_text(runtime)))
    return {"post_id": post.get("id")}


def send_dm(runtime: Runtime, client: MattermostClient, payload: dict[str, Any], attempt: int) -> dict[str, Any]:
    channel_id = _dm_channel(runtime, client, payload["user_id"])
    return {"post_id": client.create_post(channel_id, payload["message"]).get("id")}


HANDLERS[SEND_DM] = send_dm
HANDLERS[SEND_PROMPT] = BatchHandler(load_prompts, send_prompt, record_prompts, abandon_prompts)
HANDLERS[SEND_NUDGE] = send_nudge
