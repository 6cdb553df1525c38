"""What the network's side says in Mattermost: the weekly digest post, the suggestions DM, the recognition
and thank-you DMs, and the buttons that go with them."""

from __future__ import annotations

from typing import Any

from learnloop.domain.markdown import plain
from learnloop.mattermost.messages import ACTIONS_PATH, content_attachment, describe_item, reflection_attachment
from learnloop.mattermost.signed_state import button_context
from learnloop.services.dashboard import REFLECTION_TITLE, TopItem
from learnloop.services.network.digest import Digest
from learnloop.services.network.recognition import Milestone

THANK_ACTION = "thank"
SUGGESTIONS_OFF_ACTION = "suggestions_off"
RECOGNITION_OFF_ACTION = "recognition_off"


def _button(name: str, label: str, public_url: str, context: dict[str, Any]) -> dict[str, Any]:
    return {"id": name.replace("_", ""), "type": "button", "name": label,
            "integration": {"url": public_url + ACTIONS_PATH, "context": context}}


def thank_button(item_id: int, public_url: str, key: bytes) -> dict[str, Any]:
    """Sends the clicking rater's named thank-you to whoever shared the item."""
    return _button(THANK_ACTION, "Thank the person who shared it", public_url,
                   button_context(THANK_ACTION, key, item_id=item_id))


def thank_attachment(item_id: int, public_url: str, key: bytes) -> dict[str, Any]:
    return {"fallback": "Thank the person who shared it", "text": "Did it help? The person who shared it gets a "
            "private thank-you with your name, only if you click.", "actions": [thank_button(item_id, public_url, key)]}


def _item_attachment(item: TopItem, public_url: str, key: bytes, pretext: str | None = None) -> dict[str, Any]:
    assert item.item_id is not None
    attachment = content_attachment(item_id=item.item_id, url=item.url, title=item.title, text="",
                                    public_url=public_url, key=key)
    if item.kind == "reflection":
        attachment = reflection_attachment(attachment)
    return {**attachment, "pretext": pretext} if pretext else attachment


def _listed(items: list[TopItem]) -> list[str]:
    return [f"- {describe_item(item.url, item.title)}" for item in items]


def digest_post(digest: Digest, k: int, public_url: str, key: bytes) -> dict[str, Any]:
    """The CREATE_POST payload of a community's weekly digest."""
    lines = [f"#### This week in {plain(digest.community)} ({digest.first_day:%d %b} to {digest.last_day:%d %b})"]
    if digest.new_pages:
        lines += ["**New wiki pages**", *_listed(digest.new_pages)]
    if digest.updated_pages:
        lines += ["**Wiki pages substantially updated**", *_listed(digest.updated_pages)]
    if digest.stage is not None:
        lines.append(f"_Where the community stands: **{digest.stage.name}**, {digest.stage.reason}. "
                     f"Next step: {digest.stage.next_step}_")
    attachments = [
        _item_attachment(item, public_url, key, f"**What helped most this week**, best first (pages whose "
                                                f"score moved, which takes {k} people)" if n == 0 else None)
        for n, item in enumerate(digest.top)]
    attachments += [
        _item_attachment(item, public_url, key, "**Shared reflections people rated**" if n == 0 else None)
        for n, item in enumerate(digest.reflections)]
    return {"channel_id": digest.channel_id, "message": "\n".join(lines),
            "props": {"attachments": attachments, "learnloop_digest": str(digest.first_day)}}


def suggestions_dm(user_id: str, items: list[TopItem], public_url: str, key: bytes) -> dict[str, Any]:
    """The SEND_DM payload of a person's weekly suggestions."""
    stop = {"fallback": "Stop these suggestions: /learn digest me off",
            "text": "You asked for these weekly. Nobody is named: each comes from what several people found "
                    "useful together.",
            "actions": [_button(SUGGESTIONS_OFF_ACTION, "Stop these suggestions", public_url,
                                button_context(SUGGESTIONS_OFF_ACTION, key, for_user=user_id))]}
    return {"user_id": user_id,
            "message": "**You might also find these useful**: people who found the same things useful as you "
                       "rated them highly.",
            "props": {"attachments": [_item_attachment(item, public_url, key) for item in items] + [stop]}}


def _what(title: str | None, url: str, kind: str) -> str:
    if kind == "reflection":
        return "the reflection you shared"  # its address is for rating, with no page behind it
    return describe_item(url, None if title == REFLECTION_TITLE else title)


def milestone_dm(milestone: Milestone, public_url: str, key: bytes) -> dict[str, Any]:
    """The SEND_DM payload telling a sharer how many people found what they shared useful."""
    stop = _button(RECOGNITION_OFF_ACTION, "Turn these notes off", public_url,
                   button_context(RECOGNITION_OFF_ACTION, key, for_user=milestone.sharer))
    return {"user_id": milestone.sharer,
            "message": f"{milestone.people} people have found {_what(milestone.title, milestone.url, milestone.kind)}"
                       " useful. Thank you for sharing it!",
            "props": {"attachments": [{"fallback": "Turn these notes off: /learn recognition off",
                                       "text": "Only you see this note; nobody is named.", "actions": [stop]}]}}


def thanks_dm(rater_name: str | None, sharer: str, title: str | None, url: str, kind: str) -> dict[str, Any]:
    """The SEND_DM payload of a thank-you the rater chose to send with their name; unsigned when Mattermost
    could not name them (never "@someone", which would mention whoever has that username)."""
    off = "Turn thank-you notes off with `/learn recognition off`."
    if rater_name is None:
        return {"user_id": sharer,
                "message": f"A colleague thanks you for sharing {_what(title, url, kind)}: it helped them. ({off})"}
    return {"user_id": sharer,
            "message": f"@{rater_name} thanks you for sharing {_what(title, url, kind)}: it helped them. "
                       f"(They chose to send their name. {off})"}
