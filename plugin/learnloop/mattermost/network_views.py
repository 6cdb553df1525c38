"""`/learn digest` (owners: the community's weekly digest; anyone: their own suggestions), `/learn recognition`
(anyone: notes when what they shared helped), and the thank-you and switch-off buttons."""

from __future__ import annotations

from typing import Any

from learnloop.mattermost.commands import CommandRegistry, Invocation, Reply
from learnloop.mattermost.context import Chat
from learnloop.mattermost.messages import ephemeral, refused_value
from learnloop.mattermost.network_messages import (
    RECOGNITION_OFF_ACTION,
    SUGGESTIONS_OFF_ACTION,
    THANK_ACTION,
    digest_post,
    thanks_dm,
)
from learnloop.mattermost.ownership import OWNERS, owns_channel
from learnloop.mattermost.payloads import ActionRequest
from learnloop.mattermost.people import username_of
from learnloop.services.network import digest, recognition, suggestions

DIGEST_USAGE = "digest on <day> <HH:MM> | off | preview | me on | me off"
ON_OFF = {"on": True, "off": False}


def digest_command(invocation: Invocation) -> Reply:
    chat, request, trigger = invocation.chat, invocation.request, invocation.trigger
    words = invocation.args.lower().split()
    if words[:1] == ["me"]:
        return _suggestions(chat, request.user_id, words[1:], trigger)
    if not words or words[0] not in ("on", "off", "preview"):
        return ephemeral(f"Usage: `{trigger} {DIGEST_USAGE}`, for example `{trigger} digest on fri 09:00`. "
                         f"For your own weekly suggestions: `{trigger} digest me on`.")
    with chat.reader() as uow:
        elsewhere = digest.posted_elsewhere(uow, chat.settings, request.channel_id)
    if elsewhere is not None:
        name, home = elsewhere
        return ephemeral(f"The weekly digest of **{name}** is posted in {home}, the channel it started in: its owners "
                         f"there ({OWNERS}) switch it on or off and preview it. Nothing changed.")
    if not owns_channel(chat, request):
        refused = (f"Only this community's owners ({OWNERS}) preview its weekly digest: the preview is for deciding "
                   "whether and when it is posted in this channel, which is theirs to decide. Once it is on, "
                   "everyone here sees it in the channel." if words[0] == "preview" else
                   f"Only this community's owners ({OWNERS}) switch its weekly digest on or off.")
        return ephemeral(f"{refused} Your own weekly suggestions: `{trigger} digest me on`.")
    community_id = invocation.community_id()
    now, k = chat.clock(), chat.settings.min_group_size
    with chat.uow() as uow:
        if words[0] == "on":
            try:
                first = digest.switch_on(uow, chat.settings, community_id, " ".join(words[1:]), now)
            except ValueError as exc:
                return refused_value(exc, f"{trigger} digest on <day> <HH:MM>", f"{trigger} digest on fri 09:00")
            return ephemeral(f"The weekly digest is on: the first comes {first}. A week with nothing to say "
                             f"posts nothing. Preview it with `{trigger} digest preview`.")
        if words[0] == "off":
            was_on = digest.switch_off(uow, community_id)
            return ephemeral("The weekly digest is off." if was_on else "The weekly digest was already off.")
        found = digest.preview(uow, chat.settings, community_id, now, k)
    if found.empty:
        return ephemeral("Nothing to post so far: no content at least "
                         f"{k} people rated, no new or substantially updated wiki page, no shared reflection "
                         "rated in the last seven days. A week like this posts nothing.")
    post = digest_post(found, k, chat.settings.public_url_text, chat.signing_key)
    return ephemeral("**Preview, only for you** (the last seven days so far):\n" + post["message"],
                     props=post["props"])


def _suggestions(chat: Chat, user_id: str, words: list[str], trigger: str) -> Reply:
    if len(words) != 1 or words[0] not in ON_OFF:
        return ephemeral(f"Use `{trigger} digest me on` or `{trigger} digest me off`.")
    with chat.uow() as uow:
        suggestions.switch(uow, user_id, ON_OFF[words[0]], chat.clock())
    if ON_OFF[words[0]]:
        return ephemeral("On: each Monday at your own time you get a private message with a few items that "
                         "people who found the same things useful rated highly. Nobody is named. Stop with "
                         f"`{trigger} digest me off` or the button on the message.")
    return ephemeral("Off: no more weekly suggestions.")


def recognition_command(invocation: Invocation) -> Reply:
    chat, trigger = invocation.chat, invocation.trigger
    word = invocation.args.strip().lower()
    if word not in ON_OFF:
        return ephemeral(f"Use `{trigger} recognition off` to stop notes when what you shared helped people "
                         f"(and thank-you notes), `{trigger} recognition on` to have them again.")
    with chat.uow() as uow:
        recognition.switch(uow, invocation.request.user_id, ON_OFF[word], chat.clock())
    return ephemeral("On: you hear privately when what you shared helped people, and get thank-you notes."
                     if ON_OFF[word] else "Off: no notes when what you shared helped people, no thank-you notes.")


def send_thanks(chat: Chat, rater_id: str, given_name: str | None, item_id: int) -> bool:
    """A rater's named thank-you, from a button in chat or the checkbox on a wiki page; False when they had
    thanked for this item already. Raises recognition.ThanksRefused."""
    name = given_name or username_of(chat, rater_id)
    with chat.uow() as uow:
        return recognition.thank(uow, item_id, rater_id, chat.clock(),
                                 lambda sharer, title, url, kind: thanks_dm(name, sharer, title, url, kind))


def handle_thank(chat: Chat, action: ActionRequest, context: dict[str, Any]) -> Reply:
    try:
        queued = send_thanks(chat, action.user_id, action.user_name, int(context["item_id"]))
    except recognition.ThanksRefused as exc:
        return {"ephemeral_text": f"No thank-you sent: {exc}."}
    except (KeyError, TypeError, ValueError):
        return {"ephemeral_text": "This button is not a valid thank-you."}
    if not queued:
        return {"ephemeral_text": "You have thanked them for this already."}
    return {"ephemeral_text": "Thank you: your thanks go, with your name, to the person who shared it, unless "
                              "they turned thank-you notes off (they alone see it)."}


def handle_suggestions_off(chat: Chat, action: ActionRequest, _context: dict[str, Any]) -> Reply:
    with chat.uow() as uow:
        suggestions.switch(uow, action.user_id, False, chat.clock())
    return {"ephemeral_text": "Off: no more weekly suggestions. `/learn digest me on` brings them back."}


def handle_recognition_off(chat: Chat, action: ActionRequest, _context: dict[str, Any]) -> Reply:
    with chat.uow() as uow:
        recognition.switch(uow, action.user_id, False, chat.clock())
    return {"ephemeral_text": "Off: no more of these notes, and no thank-you notes. `/learn recognition on` "
                              "brings them back."}


def register(commands: CommandRegistry) -> None:
    commands.subcommand(
        "digest", usage=DIGEST_USAGE, example="digest on fri 09:00",
        summary="Owners: a weekly digest in this channel of what helped most, new wiki pages and rated "
                "reflections. Anyone: `digest me on` for a private weekly list of things you might also find "
                "useful.", handler=digest_command)
    commands.subcommand(
        "recognition", usage="recognition on|off", example="recognition off",
        summary="Private notes when what you shared helped people (never who), and thank-you notes.",
        handler=recognition_command)
    commands.action(THANK_ACTION, handle_thank)
    commands.action(SUGGESTIONS_OFF_ACTION, handle_suggestions_off)
    commands.action(RECOGNITION_OFF_ACTION, handle_recognition_off)
