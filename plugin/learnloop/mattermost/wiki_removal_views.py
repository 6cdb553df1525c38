"""Taking a published reflection off the wiki: the offer its author gets when they delete it (from the journal,
or with all their data), with two buttons: remove it through learnloop, or leave it and be told where it stays.

The buttons carry the sections' places and markers, signed and for the author alone, and never the text:
after an erase nothing else in learnloop remembers where the sections are."""

from __future__ import annotations

from typing import Any

from learnloop.chunks import chunks
from learnloop.mattermost.commands import CommandRegistry, Reply
from learnloop.mattermost.context import Chat
from learnloop.mattermost.messages import ACTIONS_PATH
from learnloop.mattermost.payloads import ActionRequest
from learnloop.mattermost.replies import dm_later
from learnloop.mattermost.signed_state import button_context
from learnloop.services import reflections
from learnloop.services.reflections import PublishedSection

REMOVE_ACTION, KEEP_ACTION = "wiki_remove", "wiki_keep"
SECTIONS_PER_BUTTON = 20
"""A button's signed context holds this many sections at most; more get more buttons."""
NOT_SECTIONS = "This button names no wiki section learnloop published; nothing was changed."


def places(pages: list[tuple[str, str]]) -> str:
    """Where sections are, page by page (each a title and a URL): “title” (url), with how many when several."""
    counted: dict[tuple[str, str], int] = {}
    for page in pages:
        counted[page] = counted.get(page, 0) + 1
    return "; ".join(f"“{title}” ({url})" + (f", {count} sections" if count > 1 else "")
                     for (title, url), count in counted.items())


def pages_of(sections: list[PublishedSection]) -> list[tuple[str, str]]:
    return [(section.title, section.url) for section in sections]


def removal_offer(chat: Chat, user_id: str, sections: list[PublishedSection]) -> list[dict[str, Any]]:
    """The attachments that offer to remove the sections (one pair of buttons per SECTIONS_PER_BUTTON)."""
    def button(name: str, action: str, style: str, **values: Any) -> dict[str, Any]:
        return {"id": action.replace("_", ""), "type": "button", "name": name, "style": style,
                "integration": {"url": chat.settings.public_url_text + ACTIONS_PATH,
                                "context": button_context(action, chat.signing_key, for_user=user_id, **values)}}

    one = len(sections) == 1
    attachments = []
    for chunk in chunks(sections, SECTIONS_PER_BUTTON):
        attachments.append({
            "fallback": f"Still on the wiki: {places(pages_of(chunk))}",
            "text": f"Still on the wiki: {places(pages_of(chunk))}",
            "actions": [
                button("Also remove it from the wiki" if one else "Also remove them from the wiki", REMOVE_ACTION,
                       "danger", sections=[section.to_payload() for section in chunk]),
                button("Leave it there" if one else "Leave them there", KEEP_ACTION, "default",
                       places=[{"title": s.title, "url": s.url} for s in chunk]),
            ]})
    return attachments


def offer_by_dm(chat: Chat, user_id: str, text: str, sections: list[PublishedSection], *, key: str) -> None:
    """Send the offer as a direct message (a dialog closes without a reply of its own)."""
    dm_later(chat, user_id, text, key=key, props={"attachments": removal_offer(chat, user_id, sections)})


def _sections(context: dict[str, Any]) -> list[PublishedSection] | None:
    raw = context.get("sections")
    if not isinstance(raw, list) or not 0 < len(raw) <= SECTIONS_PER_BUTTON:
        return None
    try:
        return [PublishedSection.from_payload(item) for item in raw]
    except ValueError:
        return None


def handle_remove(chat: Chat, request: ActionRequest, context: dict[str, Any]) -> Reply:
    sections = _sections(context)
    if sections is None:
        return {"ephemeral_text": NOT_SECTIONS}
    with chat.uow() as uow:
        queued = reflections.queue_removal(uow, sections, notify=request.user_id, now=chat.clock())
    it = "it" if len(sections) == 1 else "them"
    if not queued:
        return {"ephemeral_text": f"You asked already: learnloop is removing {it}, or has, and tells you how it went."}
    return {"ephemeral_text": f"Removing {it} from {places(pages_of(sections))}. learnloop sends you a message when "
                              "it is done, or if the wiki refuses."}


def handle_keep(chat: Chat, request: ActionRequest, context: dict[str, Any]) -> Reply:
    raw = context.get("places")
    if not isinstance(raw, list) or not raw or not all(
            isinstance(p, dict) and isinstance(p.get("title"), str) and isinstance(p.get("url"), str) for p in raw):
        return {"ephemeral_text": NOT_SECTIONS}
    shown = places([(str(p["title"]), str(p["url"])) for p in raw])
    it, stays = ("it", "It stays") if len(raw) == 1 else ("them", "They stay")
    return {"ephemeral_text": f"{stays} on the wiki: {shown}. You can remove {it} there yourself at any time, or "
                              "with the button above while this message is here."}


def register(commands: CommandRegistry) -> None:
    commands.action(REMOVE_ACTION, handle_remove)
    commands.action(KEEP_ACTION, handle_keep)
