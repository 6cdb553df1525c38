"""What a reflection prompt, a nudge and a shared reflection look like in Mattermost."""

from __future__ import annotations

from typing import Any

from learnloop.mattermost.messages import ACTIONS_PATH, content_attachment, reflection_attachment
from learnloop.mattermost.reflection_words import CHOICES
from learnloop.mattermost.signed_state import button_context
from learnloop.services.reflections import SharePost

REFLECT_NOW = "reflect_now"
SKIP = "prompt_skip"
SNOOZE = "prompt_snooze"
DELIVERY_PROP = "learnloop_delivery"


def _button(action: str, name: str, delivery_id: int, user_id: str, public_url: str, key: bytes,
            style: str = "default") -> dict[str, Any]:
    """A button on a person's own prompt: it works for that person only."""
    return {
        "id": action.replace("_", ""), "type": "button", "name": name, "style": style,
        "integration": {"url": public_url + ACTIONS_PATH,
                        "context": button_context(action, key, for_user=user_id, delivery_id=delivery_id)},
    }


def who_sees(starts_at: str) -> str:
    """What the DM says of who sees an answer: what the answer form starts at, which the owners chose."""
    if starts_at == "private":
        return "Your answer is private unless you choose to share it."
    return (f"The answer form starts at *{CHOICES.get(starts_at, starts_at)}*, as your community's owners set it; "
            f"choose *{CHOICES['private']}* "
            "there to keep your answer to yourself.")


def prompt_post(*, channel_id: str, delivery_id: int, user_id: str, community_name: str,
                questions: list[dict[str, Any]], window_text: str, public_url: str, key: bytes,
                event: str | None = None, recalls_answer: bool = False,
                starts_at: str = "private") -> dict[str, Any]:
    """The prompt's DM. An event prompt names its event and date; after an event, `recalls_answer` says that
    *Reflect now* shows the person's own answer from before it (never the post: Mattermost keeps posts, in its
    exports too). `starts_at`: the answer form's preselected visibility, the schedule's default."""
    attachment = _asked(community_name, questions, event, f"{who_sees(starts_at)} Open until {window_text}.")
    if recalls_answer:
        recalled = f"*Reflect now* shows what you wrote before {event or 'the event'}."
        attachment["text"] = f"{recalled}\n\n{attachment['text']}"
    attachment["actions"] = [
        _button(REFLECT_NOW, "Reflect now", delivery_id, user_id, public_url, key, style="primary"),
        _button(SKIP, "Skip this one", delivery_id, user_id, public_url, key),
        _button(SNOOZE, "Snooze 1 day", delivery_id, user_id, public_url, key),
    ]
    return {"channel_id": channel_id, "message": "", "props": {"attachments": [attachment], DELIVERY_PROP: delivery_id}}


def answered_prompt_props(*, delivery_id: int, community_name: str, questions: list[dict[str, Any]],
                          answered: str, event: str | None = None) -> dict[str, Any]:
    """The props of a prompt's DM once answered: the same questions, then what became of the answer instead of
    the buttons."""
    return {"attachments": [_asked(community_name, questions, event, answered)],
            DELIVERY_PROP: delivery_id}


def _asked(community_name: str, questions: list[dict[str, Any]], event: str | None,
           last_line: str) -> dict[str, Any]:
    asked = "\n".join(f"- {question['text']}" for question in questions)
    return {
        "fallback": f"Reflection time for {community_name}: " + "; ".join(q["text"] for q in questions),
        "title": f"{event} · {community_name}" if event else f"Time to reflect · {community_name}",
        "text": f"{asked}\n\n{last_line}",
        "footer": "Change when and whether you get these: /learn prompts",
    }


def nudge_message(window_text: str) -> str:
    return (f"A gentle reminder: your reflection prompt is open until {window_text}. "
            "No need to answer; turn these reminders off with `/learn prompts nudges off`.")


def shared_reflection_post(post: SharePost, *, public_url: str, key: bytes) -> dict[str, Any]:
    attachment = reflection_attachment(content_attachment(
        item_id=post.item_id, url=post.item_url, title=f"@{post.author_name} reflected", text=post.text,
        public_url=public_url, key=key))
    return {"channel_id": post.channel_id, "message": "", "props": {"attachments": [attachment]}}
