"""`/learn journal`: a person's own recent reflections, shown to them alone, with edit and delete."""

from __future__ import annotations

from typing import Any

from learnloop.mattermost.commands import CommandRegistry, Invocation, Reply
from learnloop.mattermost.context import Chat
from learnloop.mattermost.dialogs import open_for_button, value_of
from learnloop.mattermost.messages import ACTIONS_PATH, ephemeral
from learnloop.mattermost.payloads import ActionRequest, DialogSubmission
from learnloop.mattermost.replies import respond_later
from learnloop.mattermost.signed_state import button_context, dialog_state
from learnloop.services import reflections
from learnloop.services.reflections import InvalidReflection, NotYours, ReflectionView

EDIT_ACTION, DELETE_ACTION = "journal_edit", "journal_delete"
EDIT_DIALOG, DELETE_DIALOG = "journal_edit", "journal_delete"


def journal_command(invocation: Invocation) -> Reply:
    chat, request = invocation.chat, invocation.request
    with chat.reader() as uow:
        entries = reflections.journal(uow, request.user_id, chat.signing_key)
    if not entries:
        return ephemeral(f"Your journal is empty. `{invocation.trigger} reflect <text>` starts it.")
    return ephemeral(f"Your last {len(entries)} reflections (only you see this):",
                     attachments=[_entry(chat, request.user_id, entry) for entry in entries])


def _entry(chat: Chat, user_id: str, entry: ReflectionView) -> dict[str, Any]:
    def button(name: str, action_name: str, style: str = "default") -> dict[str, Any]:
        return {"id": action_name.replace("_", ""), "type": "button", "name": name, "style": style,
                "integration": {"url": chat.settings.public_url_text + ACTIONS_PATH, "context": button_context(
                    action_name, chat.signing_key, for_user=user_id, reflection_id=entry.id)}}

    return {"fallback": entry.text[:100], "title": f"{entry.created_at:%a %d %b %Y} · {_where(entry)}",
            "text": entry.text, "actions": [button("Edit", EDIT_ACTION), button("Delete", DELETE_ACTION, "danger")]}


def _where(entry: ReflectionView) -> str:
    if entry.visibility != "wiki":
        return entry.visibility
    named = "with your name" if entry.attribution != "anonymous" else "without your name"
    return f"wiki ({named})" + (f": {entry.published_url}" if entry.published_url else "")


def handle_edit(chat: Chat, request: ActionRequest, context: dict[str, Any]) -> Reply:
    try:
        with chat.reader() as uow:
            entry = reflections.read_own(uow, request.user_id, int(context["reflection_id"]), chat.signing_key)
    except NotYours as exc:
        return {"ephemeral_text": f"{str(exc).capitalize()}."}
    state = dialog_state(EDIT_DIALOG, request.user_id, chat.signing_key, reflection_id=entry.id)
    form = {"callback_id": EDIT_DIALOG, "title": "Edit reflection", "submit_label": "Save", "state": state,
            "elements": [{"display_name": "Your reflection", "name": "text", "type": "textarea", "default": entry.text,
                          "max_length": reflections.MAX_REFLECTION_LENGTH}]}
    return open_for_button(chat, request.trigger_id, form)


def handle_edit_submit(chat: Chat, submission: DialogSubmission, state: dict[str, Any]) -> Reply | None:
    try:
        with chat.uow() as uow:
            reflections.edit(uow, submission.user_id, int(state["reflection_id"]),
                             value_of(submission.submission, "text"), chat.clock(), chat.signing_key)
    except InvalidReflection as exc:
        return {"errors": {"text": str(exc)}}
    except NotYours as exc:
        return {"error": str(exc)}
    return None


def handle_delete(chat: Chat, request: ActionRequest, context: dict[str, Any]) -> Reply:
    state = dialog_state(DELETE_DIALOG, request.user_id, chat.signing_key, reflection_id=int(context["reflection_id"]),
                         response_url=None)
    form = {"callback_id": DELETE_DIALOG, "title": "Delete reflection?", "submit_label": "Delete", "state": state,
            "introduction_text": "It is removed from your journal for good. A post already shared in a channel "
                                 "stays there; a section published to the wiki stays on its page.",
            "elements": []}
    return open_for_button(chat, request.trigger_id, form)


def handle_delete_submit(chat: Chat, submission: DialogSubmission, state: dict[str, Any]) -> Reply | None:
    try:
        with chat.uow() as uow:
            gone = reflections.delete(uow, submission.user_id, int(state["reflection_id"]))
    except NotYours as exc:
        return {"error": str(exc)}
    if gone.published_url:
        respond_later(chat, state.get("response_url"), f"Deleted. Its section is still on {gone.published_url}; "
                      "remove it there if you want it gone from the wiki too.", key=f"deleted:{gone.id}")
    return None


def register(commands: CommandRegistry) -> None:
    commands.subcommand("journal", usage="journal", example="journal",
                        summary="Your own recent reflections, only visible to you, with edit and delete.",
                        handler=journal_command)
    commands.action(EDIT_ACTION, handle_edit)
    commands.action(DELETE_ACTION, handle_delete)
    commands.dialog(EDIT_DIALOG, handle_edit_submit)
    commands.dialog(DELETE_DIALOG, handle_delete_submit)
