"""`/learn journal [page]`: a person's own reflections, a page at a time, shown to them alone, with edit and
delete."""

from __future__ import annotations

from typing import Any

from learnloop.domain.schedules import local_day, positive_int
from learnloop.domain.wording import counted
from learnloop.mattermost.commands import CommandRegistry, Invocation, Reply
from learnloop.mattermost.context import Chat
from learnloop.mattermost.dialogs import open_for_button, value_of
from learnloop.mattermost.messages import ACTIONS_PATH, ephemeral
from learnloop.mattermost.payloads import ActionRequest, DialogSubmission
from learnloop.mattermost.reflect_views import post_builder, publishable, share_buttons
from learnloop.mattermost.reflection_words import where_it_is
from learnloop.mattermost.replies import dm_later
from learnloop.mattermost.signed_state import button_context, dialog_state
from learnloop.mattermost.wiki_removal_views import offer_by_dm, places
from learnloop.services import reflections
from learnloop.services.communities import community_zone
from learnloop.services.prompts.timing import zone
from learnloop.services.reflections import InvalidReflection, NotYours, ReflectionView

EDIT_ACTION, DELETE_ACTION = "journal_edit", "journal_delete"
EDIT_DIALOG, DELETE_DIALOG = "journal_edit", "journal_delete"


def journal_command(invocation: Invocation) -> Reply:
    chat, request, trigger = invocation.chat, invocation.request, invocation.trigger
    asked = invocation.args.strip()
    page = (positive_int(asked) or 0) if asked else 1
    with chat.reader() as uow:
        found = reflections.journal(uow, request.user_id, chat.signing_key, page)
        wikis = {entry.community_id: publishable(chat, uow, entry.community_id) for entry in found.entries}
        member = uow.members.get(request.user_id)
        tz = zone(member.timezone if member else None, community_zone(uow, chat.settings,
                                                                      channel_id=request.channel_id))
    now = chat.clock()
    if not found.entries and page == 1:
        return ephemeral(f"Your journal is empty. `{trigger} reflect <text>` starts it.")
    if not found.entries:
        return ephemeral(f"`{trigger} journal` shows your newest {reflections.JOURNAL_SIZE} reflections; "
                         f"`{trigger} journal 2` the {reflections.JOURNAL_SIZE} before them, and so on. "
                         f"Your journal has {counted(found.pages, 'page', 'pages')}.")
    return ephemeral(_heading(found, trigger),
                     attachments=[_entry(chat, request.user_id, entry, wikis[entry.community_id],
                                         local_day(entry.created_at.astimezone(tz).date(), now, tz))
                                  for entry in found.entries])


def _heading(found: reflections.JournalPage, trigger: str) -> str:
    if found.pages == 1:
        latest = "Your last reflection" if len(found.entries) == 1 else f"Your last {len(found.entries)} reflections"
        return f"{latest} (only you see this):"
    if found.page == found.pages:
        return f"Page {found.page} of {found.pages} of your reflections, the oldest (only you see this):"
    return (f"Page {found.page} of {found.pages} of your reflections, newest first (only you see this); "
            f"`{trigger} journal {found.page + 1}` shows older ones:")


def _entry(chat: Chat, user_id: str, entry: ReflectionView, can_publish: bool, day: str) -> dict[str, Any]:
    """The entry with Edit and Delete, and for a private one of a community the buttons that share it."""
    def button(name: str, action_name: str, style: str = "default") -> dict[str, Any]:
        return {"id": action_name.replace("_", ""), "type": "button", "name": name, "style": style,
                "integration": {"url": chat.settings.public_url_text + ACTIONS_PATH, "context": button_context(
                    action_name, chat.signing_key, for_user=user_id,
                    reflection=reflections.handle_of(entry.id, chat.signing_key))}}

    sharing = share_buttons(chat, entry, user_id, can_share=True, can_publish=can_publish)["actions"] \
        if entry.visibility == "private" and entry.community_id is not None else []
    where = where_it_is(entry.visibility, entry.attribution, entry.published_url)
    return {"fallback": entry.text[:100], "title": f"{day} · {where}",
            "text": entry.text,
            "actions": [button("Edit", EDIT_ACTION), button("Delete", DELETE_ACTION, "danger"), *sharing]}


def _own_entry(chat: Chat, request: ActionRequest, context: dict[str, Any]) -> ReflectionView | Reply:
    """The clicking person's reflection the button names, or the reply that it is not theirs."""
    try:
        with chat.reader() as uow:
            own = reflections.own_id(uow, request.user_id, context.get("reflection"), chat.signing_key)
            return reflections.read_own(uow, request.user_id, own, chat.signing_key)
    except NotYours as exc:
        return {"ephemeral_text": f"{str(exc).capitalize()}."}


def handle_edit(chat: Chat, request: ActionRequest, context: dict[str, Any]) -> Reply:
    entry = _own_entry(chat, request, context)
    if not isinstance(entry, ReflectionView):
        return entry
    state = dialog_state(EDIT_DIALOG, request.user_id, chat.signing_key, username=request.user_name or None,
                         reflection=reflections.handle_of(entry.id, chat.signing_key))
    form = {"callback_id": EDIT_DIALOG, "title": "Edit reflection", "submit_label": "Save", "state": state,
            "elements": [{"display_name": "Your reflection", "name": "text", "type": "textarea", "default": entry.text,
                          "max_length": reflections.MAX_REFLECTION_LENGTH}]}
    return open_for_button(chat, request.trigger_id, form)


def handle_edit_submit(chat: Chat, submission: DialogSubmission, state: dict[str, Any]) -> Reply | None:
    username = state.get("username")
    now = chat.clock()
    try:
        with chat.uow() as uow:
            own = reflections.own_id(uow, submission.user_id, state.get("reflection"), chat.signing_key)
            edited = reflections.edit(uow, submission.user_id, own, value_of(submission.submission, "text"), now,
                                      chat.signing_key, author_name=username if isinstance(username, str) else None,
                                      post_builder=post_builder(chat))
    except InvalidReflection as exc:
        return {"errors": {"text": str(exc)}}
    except NotYours as exc:
        return {"error": str(exc)}
    told = _edited_elsewhere(edited)
    if told:
        dm_later(chat, submission.user_id, told, key=f"edited:{edited.id}:{now.isoformat()}")
    return None


def _edited_elsewhere(entry: ReflectionView) -> str | None:
    """What the person is told of an edit to a reflection others see (a dialog closes without a reply)."""
    if entry.post_updated:
        return "Edit saved. learnloop updates its post in your community's channel to match."
    if entry.visibility == "community":
        return ("Edit saved in your journal. Its post in your community's channel was not updated: it was never "
                "made, or is too old for learnloop to find.")
    if entry.published_url:
        return (f"Edit saved in your journal. Its section on the wiki keeps the earlier text; change it on the page: "
                f"{entry.published_url}")
    return None


def handle_delete(chat: Chat, request: ActionRequest, context: dict[str, Any]) -> Reply:
    entry = _own_entry(chat, request, context)
    if not isinstance(entry, ReflectionView):
        return entry
    with chat.reader() as uow:
        post_goes = reflections.post_goes_with_it(uow, entry.id)
    state = dialog_state(DELETE_DIALOG, request.user_id, chat.signing_key,
                         reflection=reflections.handle_of(entry.id, chat.signing_key))
    form = {"callback_id": DELETE_DIALOG, "title": "Delete reflection?", "submit_label": "Delete", "state": state,
            "introduction_text": "It is removed from your journal for good. " + _what_stays(entry, post_goes),
            "elements": []}
    return open_for_button(chat, request.trigger_id, form)


def _what_stays(entry: ReflectionView, post_goes: bool) -> str:
    if entry.section is not None:
        return (f"Its section on the wiki page {places([(entry.section.title, entry.section.url)])} stays unless you "
                "remove it: learnloop offers that next.")
    if entry.published_url:
        return f"Its section on the wiki stays: {entry.published_url}."
    if entry.visibility == "wiki":
        return "It is not on the wiki yet, and now will not be."
    if entry.visibility == "community" and post_goes:
        return "Its post in your community's channel is removed too, with any replies to it."
    if entry.visibility == "community":
        return ("Its post in your community's channel was made too long ago for learnloop to find: a channel admin "
                "can delete it.")
    return ""


def handle_delete_submit(chat: Chat, submission: DialogSubmission, state: dict[str, Any]) -> Reply | None:
    try:
        with chat.uow() as uow:
            own = reflections.own_id(uow, submission.user_id, state.get("reflection"), chat.signing_key)
            gone = reflections.delete(uow, submission.user_id, own, chat.clock())
    except NotYours as exc:
        return {"error": str(exc)}
    if gone.section is not None:
        offer_by_dm(chat, submission.user_id,
                    f"Deleted from your journal. Its section is still on the wiki page "
                    f"{places([(gone.section.title, gone.section.url)])}.",
                    [gone.section], key=f"deleted:{gone.id}")
    elif gone.published_url:
        dm_later(chat, submission.user_id, f"Deleted from your journal. Its section stays on {gone.published_url}: "
                 "it was published before learnloop marked its sections, so remove it on the page.",
                 key=f"deleted:{gone.id}")
    return None


def register(commands: CommandRegistry) -> None:
    commands.subcommand("journal", usage="journal [page]", example="journal 2",
                        summary=f"Your own reflections, newest first, {reflections.JOURNAL_SIZE} a page, only visible "
                                "to you, with edit and delete.",
                        handler=journal_command)
    commands.action(EDIT_ACTION, handle_edit)
    commands.action(DELETE_ACTION, handle_delete)
    commands.dialog(EDIT_DIALOG, handle_edit_submit)
    commands.dialog(DELETE_DIALOG, handle_delete_submit)
