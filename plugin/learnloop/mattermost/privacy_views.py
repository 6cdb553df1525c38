"""`/learn privacy` and `/learn mydata [delete]`: what learnloop keeps about a person, all of it to take
away, and all of it erased at their word."""

from __future__ import annotations

from typing import Any

from learnloop.mattermost.commands import CommandRegistry, Invocation, Reply
from learnloop.mattermost.context import Chat
from learnloop.mattermost.dialogs import checked, open_dialog
from learnloop.mattermost.messages import ephemeral
from learnloop.mattermost.payloads import DialogSubmission
from learnloop.mattermost.replies import respond_later
from learnloop.mattermost.signed_state import dialog_state
from learnloop.mattermost.wiki_messages import announcer
from learnloop.mattermost.wiki_removal_views import pages_of, places, removal_offer
from learnloop.services import links, personal_data

ERASE_DIALOG = "mydata_delete"


def privacy_text(chat: Chat, trigger: str) -> str:
    k, days = chat.settings.min_group_size, chat.settings.retention_days
    return "\n".join([
        "**What learnloop keeps, and who sees what**",
        "- Your ratings and comments, your reflections (encrypted: private ones are readable by you alone), your "
        "prompt settings, and events such as \"rated a page\" that feed the community's dashboard.",
        "- Your community sees group figures only. No figure describes fewer than "
        f"{k} people; a page's score shows once {k} people have rated it and the week has ended.",
        "- Owners see comments left for them by page and week: never who wrote them, their stars or the exact time.",
        f"- Events and sent messages are deleted after {days} days.",
        f"- `{trigger} mydata` shows what is stored about you and gives you all of it as a file; "
        f"`{trigger} mydata delete` erases it.",
        f"The whole story: {chat.settings.public_url_text}/privacy",
    ])


def privacy_command(invocation: Invocation) -> Reply:
    return ephemeral(privacy_text(invocation.chat, invocation.trigger))


def mydata_command(invocation: Invocation) -> Reply:
    chat, request = invocation.chat, invocation.request
    word = invocation.args.strip().lower()
    if word == "delete":
        state = dialog_state(ERASE_DIALOG, request.user_id, chat.signing_key, username=request.user_name,
                             response_url=request.response_url)
        problem = open_dialog(chat, request.trigger_id, erase_dialog(state))
        return ephemeral(problem) if problem else {}
    if word:
        return ephemeral(f"Use `{invocation.trigger} mydata` to see and download your data, or "
                         f"`{invocation.trigger} mydata delete` to erase it.")
    now = chat.clock()
    with chat.uow() as uow:
        token = links.issue(uow, user_id=request.user_id, username=request.user_name or None, next_path="/",
                            now=now, purpose="mydata")
        found = personal_data.summary(uow, request.user_id, request.user_name or None)  # with that link
    kept = personal_data.described(found.counts, unnamed=False)
    named = personal_data.described(found.counts, unnamed=True)
    lines = ["**What learnloop keeps about you** (only you see this):",
             *(f"- {line}" for line in kept or ["nothing"]),
             *([f"- and your name on: {', '.join(named)}"] if named else []),
             f"[Download all of it]({links.url(chat.settings.public_url_text, 'mydata', token)}) (one JSON file, with "
             "your reflections in clear; the link is yours alone and works once, for 10 minutes).",
             f"`{invocation.trigger} mydata delete` erases everything that names you."]
    return ephemeral("\n".join(lines))


KEEP_OFF = "keep_off"
STAY_OFF = "`/learn prompts off` and `/learn recognition off` turn them off"


def erase_dialog(state: str) -> dict[str, Any]:
    return {"callback_id": ERASE_DIALOG, "title": "Erase your data?", "submit_label": "Erase everything",
            "state": state,
            "elements": [{"display_name": "Afterwards", "name": KEEP_OFF, "type": "bool", "default": "false",
                          "optional": True, "placeholder": "Keep prompts and recognition notes off",
                          "help_text": "learnloop then keeps that one choice of yours, and nothing else."}],
            "introduction_text": "This erases, for good: your ratings (a page's score lets go of yours when it next "
                                 "moves), your comments, your reflections, your settings and the events that "
                                 "name you. Prompts and recognition notes you turned off are then on again, as for "
                                 "anyone learnloop knows nothing of, unless you tick the box below. The posts of "
                                 "your shared reflections are removed from their channels, with any replies to "
                                 "them, except in a channel where Mattermost no longer lets learnloop delete posts "
                                 "(a channel admin can); other posts already "
                                 "made in channels stay in Mattermost. The community's weekly counts stay; they "
                                 "hold no names. Reflections you published to the wiki stay there unless you "
                                 "remove them: learnloop offers that once your data is erased."}


def handle_erase(chat: Chat, submission: DialogSubmission, state: dict[str, Any]) -> Reply | None:
    keep_off = checked(submission.submission.get(KEEP_OFF))
    with chat.uow() as uow:
        erased = personal_data.erase(uow, submission.user_id, state.get("username") or None, chat.clock(),
                                      chat.signing_key, announcer(chat), keep_off=keep_off)
    text = _erased_text(erased)
    if keep_off:
        text += (" Kept, as you asked: only that your prompts and recognition notes stay off (`/learn prompts on` "
                 "and `/learn recognition on` bring them back).")
    elif not erased.nothing:
        text += f" Prompts and recognition notes reach you again while you are in a community's channels: {STAY_OFF}."
    found = {section.url for section in erased.wiki_sections}
    unmarked = [url for url in erased.wiki_pages if url not in found]
    if erased.wiki_sections:
        text += (f" Reflections you published stay on the wiki unless you remove them: "
                 f"{places(pages_of(erased.wiki_sections))}.")
    if unmarked:
        text += (" These pages hold reflections you published before learnloop marked its sections; remove them "
                 "there: " + ", ".join(unmarked))
    offer = removal_offer(chat, submission.user_id, erased.wiki_sections) if erased.wiki_sections else []
    respond_later(chat, state.get("response_url"), text, key="erased", or_dm=submission.user_id if offer else None,
                  **({"attachments": offer} if offer else {}))
    return None


def _erased_text(erased: personal_data.Erased) -> str:
    if erased.nothing:
        return "learnloop had nothing stored about you; nothing was erased."
    gone, unnamed = (personal_data.described(erased.counts, unnamed=flag) for flag in (False, True))
    return " ".join([*([f"Erased: {', '.join(gone)}."] if gone else []),
                     *([f"No longer naming you: {', '.join(unnamed)}."] if unnamed else [])])


def register(commands: CommandRegistry) -> None:
    commands.subcommand("privacy", usage="privacy", example="privacy",
                        summary="What learnloop keeps about you, who sees what, and for how long.",
                        handler=privacy_command)
    commands.subcommand("mydata", usage="mydata [delete]", example="mydata",
                        summary="What is stored about you, a one-time link to download all of it, or (`delete`) "
                                "erase it.", handler=mydata_command)
    commands.dialog(ERASE_DIALOG, handle_erase)
