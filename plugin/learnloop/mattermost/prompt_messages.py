"""What a reflection prompt, a nudge and a shared reflection look like in Mattermost."""

from __future__ import annotations

from typing import Any

from learnloop.domain import signing
from learnloop.mattermost.messages import ACTIONS_PATH, content_attachment
from learnloop.services.reflections import SharePost

REFLECT_NOW = "reflect_now"
SKIP = "prompt_skip"
SNOOZE = "prompt_snooze"
DELIVERY_PROP = "learnloop_delivery"


def _button(action: str, name: str, delivery_id: int, public_url: str, key: bytes, style: str = "default") -> dict[str, Any]:
    return {
        "id": action.replace("_", ""), "type": "button", "name": name, "style": style,
        "integration": {"url": public_url + ACTIONS_PATH,
                        "context": signing.sign({"action": action, "delivery_id": delivery_id}, key)},
    }


def prompt_post(*, channel_id: str, delivery_id: int, community_name: str, questions: list[dict[str, Any]],
                window_text: str, public_url: str, key: bytes) -> dict[str, Any]:
    asked = "\n".join(f"- {question['text']}" for question in questions)
    attachment = {
        "fallback": f"Reflection time for {community_name}: " + "; ".join(q["text"] for q in questions),
        "title": f"Time to reflect · {community_name}",
        "text": f"{asked}\n\nYour answer is private unless you choose to share it. Open until {window_text}.",
        "footer": "Change when and whether you get these: /learn prompts",
        "actions": [
            _button(REFLECT_NOW, "Reflect now", delivery_id, public_url, key, style="primary"),
            _button(SKIP, "Skip this one", delivery_id, public_url, key),
            _button(SNOOZE, "Snooze 1 day", delivery_id, public_url, key),
        ],
    }
    return {"channel_id": channel_id, "message": "", "props": {"attachments": [attachment], DELIVERY_PROP: delivery_id}}


def nudge_message(window_text: str) -> str:
    return (f"A gentle reminder: your reflection prompt is open until {window_text}. "
            "No need to answer; turn these reminders off with `/learn prompts nudges off`.")


def shared_reflection_post(post: SharePost, *, public_url: str, key: bytes) -> dict[str, Any]:
    attachment = content_attachment(item_id=post.item_id, url=post.item_url, title=f"@{post.author_name} reflected",
                                    text=post.text, public_url=public_url, key=key)
    attachment.pop("title_link", None)
    return {"channel_id": post.channel_id, "message": "", "props": {"attachments": [attachment]}}
