"""How the worker carries out each Mattermost outbox message.

Each post carries its outbox message's key (`learnloop_outbox` in its props) and a `pending_post_id` made
from it. A message tried before may already have made its post (the worker died between the call and the
record, or the call timed out after Mattermost saved it): before posting again, the handler looks for a
post carrying that key in the channel. Mattermost itself also drops a second post with the same
`pending_post_id` within about 30 seconds (server/channels/app/post.go, deduplicateCreatePost), which
covers a retry that follows a timeout closely. A reply to a slash command's `response_url` cannot be
looked for; it is recorded as soon as it is sent. Channel bookmarks are looked for by their link before any
is made, so a retry adds only those still missing.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any

from learnloop.domain.keys import fit
from learnloop.domain.preferences import Action, Decision
from learnloop.errors import GaveUp
from learnloop.jobs.outbox import BatchHandler, Handler, Message, gives_up, why_given_up
from learnloop.mattermost.client import MattermostClient, MattermostError
from learnloop.mattermost.context import Chat
from learnloop.mattermost.prompt_messages import DELIVERY_PROP, answered_prompt_props, nudge_message, prompt_post
from learnloop.mattermost.replies import allowed_response_url
from learnloop.services import reflections
from learnloop.services.chat import record_reply
from learnloop.services.outbox_kinds import (
    ANSWERED_PROMPT,
    CHANNEL_BOOKMARKS,
    CLASSIFY_POST,
    CREATE_POST,
    DELETE_POST,
    RESPOND,
    SEND_DM,
    SEND_NUDGE,
    SEND_PROMPT,
    UPDATE_POST,
    edit_key,
    edit_number,
)
from learnloop.services.prompts.delivered import (
    PromptView,
    SentPrompt,
    decide_again,
    earlier_answer,
    hold_back,
    mark_sent,
    mark_undelivered,
    prompt_for_delivery,
    prompts_for_deliveries,
)
from learnloop.storage.unit_of_work import UnitOfWork

OUTBOX_PROP = "learnloop_outbox"
LOOK_BACK = timedelta(minutes=2)
"""How long before a message was queued its post is looked for (clocks of two machines differ a little)."""
MAX_BOOKMARKS = 50
"""Bookmarks a channel may have (server/public/model/channel_bookmark.go, MaxBookmarksPerChannel)."""
ROOT_GONE = "api.post.create_post.root_id.app_error"
"""A reply whose thread root is deleted (or is itself a reply): server/channels/app/post.go, CreatePost."""
ARCHIVED = "api.post.create_post.can_not_post_to_deleted.error"
"""A post to an archived channel: server/channels/app/post.go, CreatePostAsUser."""
NO_BOOKMARKS = (403, 404, 501)
"""How a server without channel bookmarks for the bot answers (server/channels/api4/channel_bookmark.go): 501
without a license, the router's 404 before 9.5 (or with the feature flag off), 403 without the permission."""
REFUSED = 403
"""How Mattermost answers the removal of a post the bot may no longer delete (it was removed from a private
channel), and older servers that of a post already deleted too (MattermostClient.delete_post): a look at the
post tells which."""


def post_marker(key: str, signing_key: bytes) -> str:
    """What a post carries to be found again: a keyed hash of its outbox key. The key can hold a row id (a shared
    reflection's, which counts everyone's reflections), and anyone in the channel reads a post's props: an
    unkeyed hash gave the id back to whoever hashed the ids in turn."""
    return hmac.new(signing_key, key.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:32]


def find_post(client: MattermostClient, channel_id: str, since: datetime, prop: str, value: object) -> str | None:
    """A post in the channel, made since `since`, whose props carry `prop: value` (Mattermost returns up to
    1000 posts changed since then)."""
    since_ms = int((since - LOOK_BACK).timestamp() * 1000)
    for post in client.get_channel_posts_since(channel_id, since_ms):
        if post.get("delete_at") and post.get("root_id"):
            continue  # a reply deleted with its thread: not there to be found (its message posts it anew)
        if (post.get("props") or {}).get(prop) == value:
            return str(post["id"])
    return None


def post_once(client: MattermostClient, message: Message, channel_id: str, text: str, signing_key: bytes, *,
              props: dict[str, Any] | None = None, root_id: str | None = None) -> str:
    """Post for this outbox message unless an earlier attempt already did; the post's id."""
    marker = post_marker(message.key, signing_key)
    if message.attempts > 1:
        found = find_post(client, channel_id, message.created_at, OUTBOX_PROP, marker)
        if found:
            return found
    post = client.create_post(channel_id, text, props={**(props or {}), OUTBOX_PROP: marker}, root_id=root_id,
                              pending_post_id=f"learnloop:{marker}")
    return str(post.get("id"))


class _NoBookmarks(Exception):
    """This channel cannot take the bookmarks; the message says why."""


def bookmark_links(client: MattermostClient, channel_id: str, links: list[dict[str, Any]]) -> list[str]:
    """Bookmark each link the channel does not have yet (by its URL, whoever added it); the ids made."""
    try:
        existing = client.get_channel_bookmarks(channel_id)
    except MattermostError as exc:
        if exc.status_code in NO_BOOKMARKS:
            raise _NoBookmarks(str(exc)) from exc
        raise
    have = {str(b.get("link_url") or "").rstrip("/") for b in existing if not b.get("delete_at")}
    missing = [link for link in links if str(link["link_url"]).rstrip("/") not in have]
    if len(existing) + len(missing) > MAX_BOOKMARKS:
        raise _NoBookmarks(f"the channel has {len(existing)} of its {MAX_BOOKMARKS} bookmarks")
    made = []
    for link in missing:
        try:
            made.append(str(client.create_channel_bookmark(channel_id, display_name=link["display_name"],
                                                           link_url=link["link_url"], emoji=link.get("emoji"))["id"]))
        except MattermostError as exc:
            if exc.status_code in NO_BOOKMARKS:
                raise _NoBookmarks(str(exc)) from exc
            raise
    return made


def bot_user_id(chat: Chat, client: MattermostClient) -> str:
    configured = chat.settings.mattermost_bot_user_id
    return configured or str(chat.remember("bot_user_id", lambda: str(client.get_me()["id"])))


def dm_channel(chat: Chat, client: MattermostClient, user_id: str) -> str:
    """The bot's DM channel with a person, asked of Mattermost once and then kept with their settings, if they
    have any: a message never stores anyone (one on its way while its receiver erased their data would store
    them again)."""
    with chat.reader() as uow:
        member = uow.members.get(user_id)
        cached = member.dm_channel_id if member else None
    if cached:
        return cached
    channel_id = client.create_direct_channel(bot_user_id(chat, client), user_id)
    if member is not None:
        with chat.uow() as uow:
            uow.members.keep_dm_channels({user_id: channel_id})
            uow.commit()
    return channel_id


def not_posted_because(error: MattermostError) -> str:
    """Why a share was given up, and what its sharer can do, as Mattermost's answer says."""
    answer = f"HTTP {error.status_code}" if error.status_code else "no answer"
    if error.retry_after is not None:
        return f"Mattermost was too busy to take learnloop's post for a day ({answer}). Share it again."
    if error.error_id == ARCHIVED:
        return "that channel is archived, so nothing can be posted there. Share it in another channel."
    if error.status_code == 403:
        return (f"Mattermost refused learnloop's post in that channel ({answer}). If it is a private channel, add "
                "learnloop's bot to it and share again.")
    return (f"Mattermost refused learnloop's post in that channel ({answer}). Share it again; if it is refused "
            "again, tell your Mattermost admin.")


def post_stays_text(site: str | None, post_id: str, community: object) -> str:
    """What the author of a deleted reflection is told when its channel post stays."""
    name = str(community) if isinstance(community, str) and community else ""
    where = name if name.startswith("~") else f"the {name} channel" if name else "your community's channel"
    link = f" ({site}/_redirect/pl/{post_id})" if site else ""
    return (f"The post of the reflection you deleted is still in {where}{link}: Mattermost no longer lets learnloop "
            "delete posts there (it may have been removed from the channel). A channel admin can delete it in "
            "Mattermost; so can you, if you are one.")


def handlers(chat: Chat, client: MattermostClient) -> dict[str, Handler]:
    """The Mattermost kinds of outbox message, each bound to what it uses."""

    def create_post(message: Message) -> dict[str, Any]:
        payload = message.payload
        root_id = payload.get("root_id") or None

        def post(root: str | None) -> str:
            return post_once(client, message, payload["channel_id"], payload.get("message") or "",
                             chat.signing_key, props=payload.get("props"), root_id=root)

        try:
            try:
                post_id = post(root_id)
            except MattermostError as exc:
                if root_id is None or exc.error_id != ROOT_GONE:
                    raise
                post_id = post(None)  # its thread was deleted: in the channel itself instead
        except MattermostError as exc:
            if gives_up(message, exc, chat.clock()):
                given_up(message, exc)
                raise GaveUp(why_given_up(exc)) from exc
            raise
        reflection_id = reflections.shared_by_key(message.key)
        if reflection_id is not None:
            with chat.uow() as uow:
                if not reflections.posted(uow, reflection_id, post_id, chat.clock()):
                    return {"post_id": post_id, "removal": "queued: its reflection was deleted meanwhile"}
        return {"post_id": post_id}

    def delete_post(message: Message) -> dict[str, Any]:
        """Delete a post learnloop made; one deleted already counts as done. Without its id (an earlier try to
        make it had no answer), the post is looked for by the marker its message gave it. A post Mattermost
        still shows after refusing its removal is given up, and whoever asked for the removal hears where it
        stays (an erase names nobody: the log line says it)."""
        payload = message.payload
        post_id = payload.get("post_id") or find_post(
            client, str(payload["channel_id"]), datetime.fromisoformat(str(payload["since"])), OUTBOX_PROP,
            post_marker(str(payload["post_key"]), chat.signing_key))
        if not post_id:
            return {"skipped": "no post was made"}
        try:
            client.delete_post(post_id)
        except MattermostError as exc:
            if exc.status_code == 404 or (exc.status_code == REFUSED and post_gone(post_id)):
                return {"skipped": "the post was deleted already"}
            if exc.status_code == REFUSED:
                post_stays(message, post_id)
                raise GaveUp(f"Mattermost refused to delete post {post_id} ({exc.status_code}) and still has it: "
                             "a channel admin must delete it") from exc
            raise
        return {"deleted": post_id}

    def post_gone(post_id: str) -> bool:
        """Whether Mattermost no longer has the post: 404 for one deleted or never made, 403 for one in a channel
        the bot may not read (server/channels/app/post.go, GetPostIfAuthorized)."""
        try:
            return bool(client.get_post(post_id).get("delete_at"))
        except MattermostError as exc:
            if exc.status_code in (403, 404):
                return exc.status_code == 404
            raise

    def post_stays(message: Message, post_id: str) -> None:
        """Tell whoever deleted the reflection that its post is still in the channel, unless they erased their
        data meanwhile (the erase queued the removal again, naming nobody)."""
        notify = message.payload.get("notify")
        if not isinstance(notify, str) or not notify:
            return
        with chat.uow() as uow:
            current = uow.outbox.by_key(message.key) if uow.outbox.still_queued(message.key) else None
            if current is None or (current.payload or {}).get("notify") != notify:
                return
            uow.outbox.enqueue(SEND_DM, {"user_id": notify, "message": post_stays_text(
                chat.settings.mattermost_url_text, post_id, message.payload.get("community"))},
                key=fit(f"post-stays:{message.key}"), now=chat.clock())
            uow.commit()

    def given_up(message: Message, error: MattermostError) -> None:
        """Nobody will see this post: a shared reflection goes back to what nobody else sees, and whoever
        shared a link hears why it is not in the channel."""
        reflection_id = reflections.shared_by_key(message.key)
        notify, shared = message.payload.get("notify"), message.payload.get("shared")
        with chat.uow() as uow:
            if not uow.outbox.still_queued(message.key):
                return
            if reflection_id is not None:
                reflections.never_posted(uow, reflection_id, chat.clock())
            if isinstance(notify, str) and notify:
                uow.outbox.enqueue(SEND_DM, {"user_id": notify, "message": f"Your share of {shared} was not posted: "
                                             + not_posted_because(error)},
                                   key=fit(f"not-posted:{message.key}"), now=chat.clock())
            uow.commit()

    def update_post(message: Message) -> dict[str, Any]:
        """Bring a post learnloop made up to date (a page announcement after later edits, a shared reflection its
        author edited): once the first post is out, patch it; the same patch twice changes nothing. The message
        may name the post (`post_id`), for when the first one is no longer kept."""
        key = str(message.payload["post_key"])
        edit = edit_number(message.key, key)
        with chat.reader() as uow:
            first = uow.outbox.by_key(key)
            state = (first.status, dict(first.result or {})) if first is not None else None
            later = edit is not None and uow.outbox.by_key(edit_key(key, edit + 1)) is not None
        if later:  # it carries the whole post as it is now: this one, retried after it, would undo it
            return {"skipped": "a later edit brings the post up to date"}
        named = message.payload.get("post_id")
        if state is None and named:
            state = ("sent", {"post_id": named})
        if state is None or state[0] == "failed":
            return {"skipped": "the first post was never made"}
        if state[0] != "sent" or not state[1].get("post_id"):
            raise MattermostError("the first post is not out yet", status_code=None, call="PUT /posts/{id}/patch")
        props = {**message.payload["props"], OUTBOX_PROP: post_marker(key, chat.signing_key)}
        client.patch_post(str(state[1]["post_id"]), props=props)
        return {"post_id": state[1]["post_id"]}

    def respond(message: Message) -> None:
        url, body, person = str(message.payload.get("response_url") or ""), message.payload["body"], \
            message.payload.get("or_dm")
        dm = person if isinstance(person, str) and person else None
        if allowed_response_url(chat.settings, url):
            try:
                client.post_to_response_url(url, body)
                return
            except MattermostError as exc:  # expired after 30 minutes: the person's DM, if there is one to use
                if exc.retryable or dm is None:
                    raise
        elif dm is None:
            raise MattermostError("not the configured Mattermost's response_url", status_code=400,
                                  call="POST response_url")
        attachments = body.get("attachments")
        post_once(client, message, dm_channel(chat, client, dm), str(body.get("text") or ""),
                  chat.signing_key, props={"attachments": attachments} if attachments else None)

    def classify_post(message: Message) -> dict[str, Any]:
        """The outgoing webhook does not say whether a post is a thread reply; the post itself does."""
        payload = message.payload
        post = client.get_post(payload["post_id"])
        root_id = post.get("root_id") or ""
        if not root_id:
            return {"reply": False}
        root_author = client.get_post(root_id).get("user_id")
        with chat.uow() as uow:
            if not uow.outbox.still_queued(message.key):
                return {"reply": False, "skipped": "its author erased their data meanwhile"}
            recorded = record_reply(
                uow, post_id=payload["post_id"], root_id=root_id, root_author_id=root_author,
                community_id=payload["community_id"], user_id=payload["user_id"],
                occurred_at=datetime.fromisoformat(payload["occurred_at"]), now=chat.clock())
        return {"reply": recorded}

    def channel_bookmarks(message: Message) -> dict[str, Any]:
        """Bookmark links in a channel; where Mattermost has no channel bookmarks for the bot (or no room), post
        them once and pin that post instead (pinning again changes nothing)."""
        payload = message.payload
        channel_id = str(payload["channel_id"])
        try:
            made = bookmark_links(client, channel_id, payload["links"])
            return {"bookmarks": made, "already": len(payload["links"]) - len(made)}
        except _NoBookmarks as exc:
            reason = str(exc)
        post_id = post_once(client, message, channel_id, str(payload["fallback_message"]), chat.signing_key)
        client.pin_post(post_id)
        return {"pinned_post_id": post_id, "reason": reason[:300]}

    def send_dm(message: Message) -> dict[str, Any]:
        channel_id = dm_channel(chat, client, message.payload["user_id"])
        return {"post_id": post_once(client, message, channel_id, message.payload["message"], chat.signing_key,
                                     props=message.payload.get("props"))}

    def send_nudge(message: Message) -> dict[str, Any]:
        with chat.reader() as uow:
            view = prompt_for_delivery(uow, int(message.payload["delivery_id"]), status="sent")
        if view is None:
            return {"skipped": "answered or closed"}
        if not view.preferences.nudges:
            return {"skipped": "nudges off"}
        decision = decide_again(view, chat.clock())
        if decision.action != Action.SEND:  # its one chance: a nudge is keyed by its prompt, never queued again
            return {"skipped": decision.reason or "not now"}
        channel_id = dm_channel(chat, client, view.user_id)
        return {"post_id": post_once(client, message, channel_id, nudge_message(view.local_window_end),
                                     chat.signing_key)}

    def answered_prompt(message: Message) -> dict[str, Any]:
        """The prompt's post says it was answered, and how, in place of its buttons."""
        with chat.reader() as uow:
            view = prompt_for_delivery(uow, int(message.payload["delivery_id"]), status=None)
        if view is None:
            return {"skipped": "its receiver erased their data meanwhile"}
        post_id = str(message.payload["post_id"])
        client.patch_post(post_id, props=answered_prompt_props(
            delivery_id=view.delivery_id, community_name=view.community_name, questions=view.questions,
            answered=str(message.payload["text"]), event=view.event))
        return {"post_id": post_id}

    def load_prompts(messages: list[Message]) -> dict[int, PromptView]:
        """The pass's prompts, each with its cached DM channel, in one read (no write lock on SQLite)."""
        with chat.reader() as uow:
            return prompts_for_deliveries(uow, [int(m.payload["delivery_id"]) for m in messages])

    def send_prompt(message: Message, views: dict[int, PromptView]) -> dict[str, Any]:
        """Post one prompt, unless `decide_again` keeps it back. On a retry the worker may have died after posting
        and before recording it, so the DM channel is first searched for a post carrying the delivery's id."""
        delivery_id = int(message.payload["delivery_id"])
        view = views.get(delivery_id)
        if view is None:
            return {"skipped": "no longer queued"}
        decision = decide_again(view, chat.clock())
        if decision.action != Action.SEND and message.attempts <= 1:  # never tried: nothing to look for
            return held_back(delivery_id, decision)
        channel_id = view.dm_channel_id or client.create_direct_channel(bot_user_id(chat, client), view.user_id)
        post_id = find_post(client, channel_id, message.created_at, DELIVERY_PROP, delivery_id) \
            if message.attempts > 1 else None
        if post_id is None:
            if decision.action != Action.SEND:
                return held_back(delivery_id, decision)
            body = prompt_post(channel_id=channel_id, delivery_id=delivery_id, user_id=view.user_id,
                               community_name=view.community_name, questions=view.questions,
                               window_text=view.local_window_end, public_url=chat.settings.public_url_text,
                               key=chat.signing_key, event=view.event,
                               recalls_answer=earlier_answer(view, chat.signing_key) is not None,
                               starts_at=view.default_visibility)
            marker = post_marker(message.key, chat.signing_key)
            post_id = str(client.create_post(body["channel_id"], body["message"], props=body["props"],
                                             pending_post_id=f"learnloop:{marker}")["id"])
        return {"post_id": post_id, "delivery_id": delivery_id, "user_id": view.user_id, "channel_id": channel_id,
                "new_channel": view.dm_channel_id is None}

    def held_back(delivery_id: int, decision: Decision) -> dict[str, Any]:
        """Not posted after all (`decide_again`): why, or until when it waits."""
        return {"delivery_id": delivery_id, "held": decision.reason or "waiting",
                "until": decision.until.isoformat() if decision.until else None}

    def record_prompts(uow: UnitOfWork, results: list[dict[str, Any]], now: datetime) -> None:
        mark_sent(uow, [SentPrompt(r["delivery_id"], r["post_id"], r["user_id"], r["channel_id"], r["new_channel"])
                        for r in results if "post_id" in r], now)
        hold_back(uow, {r["delivery_id"]: Decision.wait_until(datetime.fromisoformat(r["until"])) if r["until"]
                        else Decision.skip(r["held"]) for r in results if "held" in r}, now)

    def abandon_prompts(uow: UnitOfWork, failed: list[tuple[dict[str, Any], str]], now: datetime) -> None:
        mark_undelivered(uow, [(int(payload["delivery_id"]), error) for payload, error in failed], now)

    return {
        CREATE_POST: create_post, UPDATE_POST: update_post, DELETE_POST: delete_post, RESPOND: respond,
        CLASSIFY_POST: classify_post, SEND_DM: send_dm, SEND_NUDGE: send_nudge, CHANNEL_BOOKMARKS: channel_bookmarks,
        ANSWERED_PROMPT: answered_prompt,
        SEND_PROMPT: BatchHandler(load_prompts, send_prompt, record_prompts, abandon_prompts),
    }
