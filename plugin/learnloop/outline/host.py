"""Outline as a WikiHost: signed webhook deliveries in, documents re-read and sections appended through its API.

Event names and payload shapes follow Outline's webhook sender (`plugins/webhooks/server/tasks/
DeliverWebhookTask.ts`, `presenters/webhook.ts`) and `server/models/WebhookSubscription.ts::signature`.

Published sections are Markdown as Outline's importer reads it (markdown-it, `html: false`, in
`shared/editor/lib/markdown/rules.ts`): every ASCII punctuation character of the author's text is
backslash-escaped, so nothing in it becomes a heading, list, link, image, emphasis, code, table or
mention, and lines keep their breaks (a backslash before the newline). Outline's Markdown has no
comments, so a section's marker is a link whose text is a zero-width space, at the end of its heading,
to `#<marker>`: invisible, and Outline's editor keeps a link's href (its serializer writes it back as
`[\u200b](#<marker>)`)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from learnloop.clock import reported
from learnloop.config import WikiConfig
from learnloop.domain.wiki_events import PageAction, PagesUnder, WikiEvent, edit_session
from learnloop.inbound import for_log
from learnloop.outline.client import OutlineClient, OutlineError
from learnloop.wikis import (
    IDENTIFY,
    BadDelivery,
    Published,
    Removed,
    Unauthorized,
    WikiError,
    check_marker,
    header,
    json_object,
    path_on,
)

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Outline-Signature"
MAX_SKEW_MS = 5 * 60 * 1000

# The document events learnloop needs; every other event Outline sends (.title_change, revisions.create,
# comments.*, users.*, ...) is answered 200 and ignored. A title change also comes as
# documents.update, which moves the page's item to its new URL. documents.update.delayed/.debounced exist
# in Outline but its webhook sender never delivers them.
ACTIONS: dict[str, PageAction] = {
    "documents.create": "created",
    "documents.publish": "created",
    "documents.update": "updated",
    "documents.move": "moved",  # to another collection or parent: the URL stays, the space may change
    "documents.delete": "deleted",  # to the trash
    "documents.permanent_delete": "deleted",  # emptied from the trash (the model is null)
    "documents.archive": "deleted",  # out of its collection, read-only: retired like a deleted page
    "documents.unpublish": "deleted",  # back to the drafts, which only its author reads: retired too
    "documents.restore": "restored",  # from the trash
    "documents.unarchive": "restored",
}
GONE_ACTIONS = frozenset({"deleted"})
COLLECTION_EVENTS: dict[str, PageAction] = {
    "collections.delete": "deleted",  # its published documents go to the trash with it
    "collections.archive": "deleted",  # its documents are archived with it
    "collections.restore": "restored",  # back from the archive, with its documents
}
"""A collection's documents change with it, without an event of their own; the API lists no trashed or archived
collection's documents, so each page learnloop follows on the wiki is checked by its id."""
WEBHOOK_EVENTS = (*ACTIONS, *COLLECTION_EVENTS)
"""The events learnloop subscribes to; every other event Outline sends is answered 200 and ignored."""
COLLECTION = "collection"
MAX_NESTED = 5000
"""The most documents nested under a moved one that are followed to their new collection."""

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
_MAX_ACTOR = 100
_MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
"""Every ASCII punctuation character: CommonMark (and markdown-it) let a backslash escape each of them."""
ZERO_WIDTH_SPACE = "\u200b"
_MARKDOWN_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]|$)")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


class OutlineHost:
    """Stateless; a client is made per call from the wiki's configuration."""

    names_pages_by_id = True

    # inbound (web process: verify and parse only, no API calls)

    def receive(self, wiki: WikiConfig, body: bytes, headers: Mapping[str, str], query: Mapping[str, str],
                now: datetime) -> list[dict[str, Any]]:
        if wiki.secret is None:
            raise Unauthorized("this wiki has no secret yet, so no delivery can be verified: run "
                               "learnloop install manifests/outline.yaml")
        verify_signature(wiki.secret_text, body, header(headers, SIGNATURE_HEADER), now)
        delivery = _parse(body)
        event = delivery["event"]
        if event in COLLECTION_EVENTS:
            return [_collection_job(delivery, COLLECTION_EVENTS[event])]
        action = ACTIONS.get(event)
        if action is None:
            log.info("wiki %s: ignored Outline event %s", wiki.name, for_log(event))
            return []
        envelope = delivery.get("payload")
        if not isinstance(envelope, dict):
            raise BadDelivery("'payload' must be an object")
        given = envelope.get("model")
        model: dict[str, Any] = given if isinstance(given, dict) else {}
        document_id = envelope.get("id") or model.get("id")
        if not isinstance(document_id, str) or not _ID.match(document_id):
            raise BadDelivery("'payload.id' must be a document id")
        return [{"event_id": delivery["id"], "document_id": document_id, "action": action,
                 "actor": _actor(model, action)}]

    # worker

    def fetch(self, wiki: WikiConfig, job: dict[str, Any], now: datetime) -> list[WikiEvent | PagesUnder]:
        """Re-read the document at the configured wiki; the delivery's own fields (its url above all) are not used
        (for a collection's change, the pages learnloop follows are checked one by one: `COLLECTION_EVENTS`).

        A document in the trash or the archive is gone: its deletion (or archiving) is recorded, any other
        event of it is not (the page would come back). A deletion of a document Outline no longer shows at all
        (emptied from the trash) is recorded by its id alone: it retires the page learnloop knows by that id."""
        if job.get("action") == IDENTIFY:
            return _identified(wiki, job, now)
        if job.get("action") == COLLECTION:
            check = job.get("check")
            if check not in GONE_ACTIONS | {"restored"}:
                raise WikiError(f"not an Outline collection job: {sorted(job)}", retryable=False)
            return [PagesUnder(wiki.name, str(job["event_id"]), f"{wiki.base_url}/doc/",
                               {"action": check, "actor": None}, ref_field="document_id",
                               retired=check == "restored")]
        document_id, action = str(job["document_id"]), job["action"]
        client = OutlineClient.for_wiki(wiki)
        document = _shown(client, document_id)
        if document is None:
            log.info("wiki %s: document %s is gone", wiki.name, document_id)
            return [_gone(wiki, job, document_id, now)] if action in GONE_ACTIONS else []
        gone = _gone_since(document)
        if (action in GONE_ACTIONS) != _hidden(document):
            return []  # back since a deletion, or hidden since any other change (a draft nobody else reads)
        url, spaces = _where(wiki, client, document, document_id)
        collection_id = document.get("collectionId")
        author = job.get("actor") or _actor(document, action)
        title = document.get("title")
        occurred_at = reported(_timestamp(gone or document.get("updatedAt")), now)
        page_id = str(document.get("id") or document_id)
        # A page is created once, though Outline sends documents.create and documents.publish for it; the
        # updates Outline's editor sends while someone types are one edit (EDIT_SESSION).
        event_id = {"created": f"{document_id}:created", "updated": edit_session(page_id, occurred_at)}.get(
            action, str(job["event_id"]))
        moved = WikiEvent(
            wiki=wiki.name,
            event_id=event_id,
            action=action,
            page_id=page_id,
            title=title if isinstance(title, str) else "",
            url=url,
            spaces=spaces,
            author=author,
            summary=None,
            occurred_at=occurred_at,
            current=True,
        )
        if action != "moved" or not isinstance(collection_id, str) or not collection_id:
            return [moved]
        return [moved, *_nested_documents(client, wiki, moved, collection_id)]

    def poll(self, wiki: WikiConfig, position: str | None, now: datetime) -> tuple[list[WikiEvent], str | None]:
        return [], position

    def publish(self, wiki: WikiConfig, *, space: str, page_title: str, heading: str, text: str, marker: str,
                last_page: str | None = None) -> Published:
        """A remembered log Outline answers 403 for (moved where the API token's user may not read or write it, or
        its access removed) is left like a deleted one; a 403 in the configured collection is the token's to fix."""
        client = OutlineClient.for_wiki(wiki)
        section = markdown_section(heading, text, marker)
        try:
            current = _last_log(client, last_page)  # published, wherever it is now: no collection needed
            if current is not None:
                return _appended(wiki, client, current, section, marker, page_title)
        except OutlineError as exc:
            if exc.status_code != 403:
                raise
            log.info("wiki %s: the API token may no longer use the learning log %s (%s)", wiki.name, last_page, exc)
        try:
            collection_id = _resolve_collection(client, space)
            existing = _find_document(client, collection_id, page_title)
            if existing is None:
                document = client.create_document(title=page_title, text=section, collection_id=collection_id,
                                                  publish=True)
                return _published(wiki, document, page_title)
            current = client.document_info(str(existing["id"]))
            if not current.get("publishedAt"):  # learnloop's log moved back to the drafts: nobody else reads it
                client.publish_document(str(current["id"]), collection_id=collection_id)
            return _appended(wiki, client, current, section, marker, page_title)
        except OutlineError as exc:
            if exc.status_code != 403:
                raise
            raise WikiError(f"learnloop's API token may not write to the Outline collection '{space}' ({exc}): its "
                            "user needs write access there", retryable=False) from None

    def remove(self, wiki: WikiConfig, *, page_ref: str, marker: str) -> Removed:
        """Write the document back without the section. Outline's `text` is its own lossless Markdown of the
        document, so the rest of the page comes back as it was."""
        check_marker(marker)
        if not _ID.match(page_ref):
            raise WikiError(f"not an Outline document id: {page_ref[:40]!r}", retryable=False)
        client = OutlineClient.for_wiki(wiki)
        try:
            document = client.document_info(page_ref)
        except OutlineError as exc:
            if exc.not_found:
                return Removed(False, gone=True)
            raise
        if _gone_since(document):
            return Removed(False, gone=True)
        text = without_markdown_section(str(document.get("text") or ""), marker)
        if text is None:
            return Removed(False)
        client.replace_document_text(page_ref, text)
        return Removed(True)


def _nested_documents(client: OutlineClient, wiki: WikiConfig, moved: WikiEvent,
                      collection_id: str) -> list[WikiEvent]:
    """The documents nested under a moved one went with it (Outline sends one documents.move): each, as its
    collection's tree shows it now, in the moved document's collection (`WikiEvent.follow_only`)."""
    try:
        tree = client.collection_documents(collection_id)
    except OutlineError as exc:
        if exc.retryable:
            raise
        log.warning("could not read Outline collection %s's documents: %s", collection_id, exc)
        return []
    found: list[WikiEvent] = []
    for node in _descendants(_node(tree, moved.page_id)):
        node_id, path, title = node.get("id"), node.get("url"), node.get("title")
        if isinstance(node_id, str) and _ID.match(node_id) and isinstance(path, str) and path.startswith("/") \
                and not path.startswith("//") and len(found) < MAX_NESTED:
            found.append(WikiEvent(
                wiki=wiki.name, event_id=f"{moved.event_id}:{node_id}", action="moved", page_id=node_id,
                title=title if isinstance(title, str) else "", url=wiki.base_url + path, spaces=moved.spaces,
                author=None, summary=None, occurred_at=moved.occurred_at, current=True, follow_only=True))
    return found


def _children(node: Mapping[str, Any]) -> list[dict[str, Any]]:
    children = node.get("children")
    return [child for child in children if isinstance(child, dict)] if isinstance(children, list) else []


def _node(tree: list[dict[str, Any]], node_id: str) -> dict[str, Any] | None:
    """The node of a collection's document tree with this id."""
    stack = list(tree)
    while stack:
        node = stack.pop()
        if node.get("id") == node_id:
            return node
        stack.extend(_children(node))
    return None


def _descendants(node: dict[str, Any] | None) -> list[dict[str, Any]]:
    found, stack = [], _children(node) if node else []
    while stack:
        child = stack.pop()
        found.append(child)
        stack.extend(_children(child))
    return found


def _collection_job(delivery: dict[str, Any], check: PageAction) -> dict[str, Any]:
    envelope = delivery.get("payload")
    collection_id = envelope.get("id") if isinstance(envelope, dict) else None
    if not isinstance(collection_id, str) or not _ID.match(collection_id):
        raise BadDelivery("'payload.id' must be a collection id")
    return {"event_id": delivery["id"], "collection_id": collection_id, "action": COLLECTION, "check": check}


# signature


def sign(secret: str, body: bytes, timestamp_ms: int) -> str:
    """The header value Outline sends: `t=<ms>,s=<hex HMAC-SHA256(secret, "<t>.<body>")>`."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp_ms},s={digest}"


def verify_signature(secret: str, body: bytes, header: str | None, now: datetime) -> None:
    if not header:
        raise Unauthorized(f"missing {SIGNATURE_HEADER} header (give the webhook a signing secret in Outline)")
    parts: dict[str, str] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            parts.setdefault(key.strip(), value.strip())
    stamp, signature = parts.get("t", ""), parts.get("s", "")
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 15 or not _HEX.match(signature):
        raise Unauthorized(f"malformed {SIGNATURE_HEADER} header")
    expected = sign(secret, body, int(stamp)).rpartition("s=")[2]
    if not hmac.compare_digest(expected.encode(), signature.lower().encode()):
        raise Unauthorized("bad signature")
    skew = int(now.timestamp() * 1000) - int(stamp)
    if abs(skew) > MAX_SKEW_MS:
        raise Unauthorized(f"stale delivery: signed {abs(skew) // 1000}s {'ago' if skew > 0 else 'in the future'}, "
                           f"more than {MAX_SKEW_MS // 60000} minutes")


# helpers



def _parse(body: bytes) -> dict[str, Any]:
    delivery = json_object(body)
    if not isinstance(delivery.get("event"), str) or not delivery["event"]:
        raise BadDelivery("'event' must be a string")
    if not isinstance(delivery.get("id"), str) or not _ID.match(delivery["id"]):
        raise BadDelivery("'id' must be the delivery id")
    return delivery


def _where(wiki: WikiConfig, client: OutlineClient, document: Mapping[str, Any],
           document_id: str) -> tuple[str, tuple[str, ...]]:
    """The document's URL at the configured wiki, and its spaces: its collection's id and name."""
    path = document.get("url")
    if not isinstance(path, str) or not path.startswith("/") or path.startswith("//"):
        raise WikiError(f"Outline documents.info: document {document_id} has no relative url", retryable=False)
    collection_id = document.get("collectionId")
    spaces: tuple[str, ...] = ()
    if isinstance(collection_id, str) and collection_id:
        spaces = (collection_id, *_collection_name(client, collection_id))
    return wiki.base_url + path, spaces


def _identified(wiki: WikiConfig, job: Mapping[str, Any], now: datetime) -> list[WikiEvent | PagesUnder]:
    """The document at an item's URL, `/doc/<slug>-<urlId>`: documents.info takes that last part as the id, as
    Outline's own links do (`SLUG_URL_REGEX` in shared/utils/UrlHelper.ts, `Document.findByPk`). A document in
    the trash, the archive or the drafts is gone; a URL Outline shows no document at names no page."""
    url = str(job.get("url") or "")
    path = path_on(wiki, url) or ""
    slug = path.removeprefix("/doc/").split("/")[0] if path.startswith("/doc/") else ""
    if not _ID.match(slug):
        return []
    client = OutlineClient.for_wiki(wiki)
    document = _shown(client, slug)
    if document is None:
        return []
    page_id, title = document.get("id"), document.get("title")
    if not isinstance(page_id, str) or not _ID.match(page_id):
        raise WikiError(f"Outline documents.info: document {slug} has no id", retryable=False)
    found = WikiEvent(wiki=wiki.name, event_id=str(job["event_id"]), action="deleted", page_id=page_id, title="",
                      url="", spaces=(), author=None, summary=None, occurred_at=now, old_url=url, follow_only=True)
    if _hidden(document):
        return [found]
    where, spaces = _where(wiki, client, document, page_id)
    return [replace(found, action="moved", url=where, spaces=spaces, title=title if isinstance(title, str) else "",
                    current=True)]


def _shown(client: OutlineClient, document_id: str) -> dict[str, Any] | None:
    """documents.info; None when Outline shows no such document (emptied from the trash, or never there)."""
    try:
        return client.document_info(document_id)
    except OutlineError as exc:
        if not exc.not_found:
            raise
        return None


def _hidden(document: Mapping[str, Any]) -> bool:
    """In the trash, archived, or a draft: gone for learnloop."""
    return _gone_since(document) is not None or not document.get("publishedAt")


def _gone_since(document: Mapping[str, Any]) -> str | None:
    """When the document went to the trash or the archive; None while it is in its collection."""
    for key in ("deletedAt", "archivedAt"):
        value = document.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _gone(wiki: WikiConfig, job: Mapping[str, Any], document_id: str, now: datetime) -> WikiEvent:
    actor = job.get("actor")
    return WikiEvent(wiki=wiki.name, event_id=str(job["event_id"]), action="deleted", page_id=document_id, title="",
                     url="", spaces=(), author=actor if isinstance(actor, str) and actor else None, summary=None,
                     occurred_at=now)


def _actor(model: Mapping[str, Any], action: str) -> str | None:
    """Who made the change: the last editor, or the creator of a new page."""
    order = ("createdBy", "updatedBy") if action == "created" else ("updatedBy", "createdBy")
    for key in order:
        user = model.get(key)
        if isinstance(user, dict) and isinstance(user.get("name"), str) and user["name"].strip():
            return user["name"].strip()[:_MAX_ACTOR]
    return None


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _collection_name(client: OutlineClient, collection_id: str) -> tuple[str, ...]:
    """The collection's name too, so owners can map a space by id or by name."""
    try:
        name = client.collection_info(collection_id).get("name")
    except OutlineError as exc:
        if exc.retryable:
            raise
        log.warning("could not read Outline collection %s: %s", collection_id, exc)
        return ()
    return (name,) if isinstance(name, str) and name and name != collection_id else ()


def _resolve_collection(client: OutlineClient, space: str) -> str:
    """A collection id as configured, or the id of the collection with that name (or urlId)."""
    if _UUID.match(space):
        return space
    wanted = space.strip().casefold()
    for collection in client.collections():
        if wanted in (str(collection.get("name", "")).strip().casefold(), str(collection.get("urlId", "")).casefold()):
            return str(collection["id"])
    raise WikiError(f"Outline has no collection named '{space}' that the API token can see", retryable=False)


def _last_log(client: OutlineClient, document_id: str | None) -> dict[str, Any] | None:
    """The document learnloop last published to under the configured collection and title, in whichever
    collection and under whichever title it is now; None when it is in the trash, the archive or the drafts, or
    gone."""
    if not document_id or not _ID.match(document_id):
        return None
    document = _shown(client, document_id)
    return None if document is None or _hidden(document) else document


def _appended(wiki: WikiConfig, client: OutlineClient, current: Mapping[str, Any], section: str, marker: str,
              page_title: str) -> Published:
    if marker_target(marker) in str(current.get("text") or ""):
        return _published(wiki, current, page_title)  # a retry after a lost answer: it is there
    document = client.append_to_document(str(current["id"]), "\n\n" + section)
    return _published(wiki, {**current, **document}, page_title)


def _find_document(client: OutlineClient, collection_id: str, title: str) -> dict[str, Any] | None:
    """The document of that title in the collection, or a draft of it: Outline lists the API user's own drafts
    too, and a document moved back to the drafts is the draft of whoever did it (learnloop's API key is an
    admin's, who may have)."""
    wanted = title.strip().casefold()
    for document in client.search_titles(title, collection_id=collection_id):
        if (str(document.get("title", "")).strip().casefold() == wanted
                and document.get("collectionId", collection_id) == collection_id and document.get("id")
                and not document.get("deletedAt") and not document.get("archivedAt")):
            return document
    return None


def _published(wiki: WikiConfig, document: Mapping[str, Any], page_title: str) -> Published:
    path, document_id = document.get("url"), document.get("id")
    if not isinstance(path, str) or not path.startswith("/") or path.startswith("//"):
        raise WikiError("Outline did not return the document's url", retryable=False)
    if not isinstance(document_id, str) or not _ID.match(document_id):
        raise WikiError("Outline did not return the document's id", retryable=False)
    title = document.get("title")
    return Published(wiki.base_url + path, title if isinstance(title, str) and title else page_title, document_id)


def escape_markdown(line: str) -> str:
    """One line of text that Markdown shows as written."""
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", line)


def markdown_text(text: str) -> str:
    """The author's text as Markdown that renders literally: paragraphs stay paragraphs, line breaks are hard
    breaks, leading white space goes (it would make code blocks)."""
    paragraphs = re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n").replace("\r", "\n").strip())
    rendered = []
    for paragraph in paragraphs:
        lines = [escape_markdown(line.strip()) for line in paragraph.split("\n") if line.strip()]
        if lines:
            rendered.append("\\\n".join(lines))
    return "\n\n".join(rendered)


def without_markdown_section(text: str, marker: str) -> str | None:
    """The Markdown without the section whose heading carries the marker's link (to the next heading of the
    same or a higher level, fenced code skipped); None if no line carries it."""
    target = marker_target(marker)
    lines = text.split("\n")
    levels: list[int | None] = []
    fence: str | None = None
    for line in lines:
        opening = _FENCE.match(line)
        if fence is not None:
            levels.append(None)
            if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence):
                fence = None
            continue
        if opening:
            fence = opening.group(1)
        heading = _MARKDOWN_HEADING.match(line) if not opening else None
        levels.append(len(heading.group(1)) if heading else None)
    at = next((i for i, line in enumerate(lines) if target in line), None)
    if at is None:
        return None
    start = next((i for i in range(at, -1, -1) if levels[i] is not None), at)
    level = levels[start] or 2
    end = next((i for i in range(at + 1, len(lines)) if (levels[i] or 7) <= level), len(lines))
    kept = "\n".join(lines[:start]).rstrip(), "\n".join(lines[end:]).strip("\n")
    return "\n\n".join(part for part in kept if part.strip())


def marker_target(marker: str) -> str:
    """What finds the marker's link in Outline's Markdown of a document, however it writes the link's text."""
    return f"(#{check_marker(marker)})"


def marker_link(marker: str) -> str:
    return f"[{ZERO_WIDTH_SPACE}](#{check_marker(marker)})"


def markdown_section(heading: str, text: str, marker: str) -> str:
    """`## heading` carrying the marker, then the text; nothing from the heading or the text is markup."""
    title = escape_markdown(" ".join(heading.split())) or "Reflection"
    return f"## {title} {marker_link(marker)}\n\n{markdown_text(text)}\n"
