"""Rating from inside Mattermost: `/learn rate`, `/learn share`, `/learn signin`, the rate dialog and the
rating buttons."""

from __future__ import annotations

from typing import Any

from learnloop.domain.keys import fit
from learnloop.domain.ratings import (
    MAX_COMMENT_LENGTH,
    MAX_STARS,
    MIN_STARS,
    STAR_LABELS,
    InvalidRating,
    clean_comment,
    parse_stars,
)
from learnloop.domain.urls import InvalidUrl, normalise_url
from learnloop.mattermost.client import MattermostError
from learnloop.mattermost.commands import CommandRegistry, Invocation, Reply
from learnloop.mattermost.context import Chat
from learnloop.mattermost.delivery import bot_user_id
from learnloop.mattermost.dialogs import open_dialog
from learnloop.mattermost.messages import RATE_ACTION, content_attachment, ephemeral, rating_confirmation
from learnloop.mattermost.network_messages import thank_attachment, thank_button
from learnloop.mattermost.payloads import ActionRequest, DialogSubmission
from learnloop.mattermost.replies import respond_later
from learnloop.mattermost.signed_state import dialog_state
from learnloop.services import links
from learnloop.services.communities import community_for_channel, is_direct_channel
from learnloop.services.content_kinds import classify_url
from learnloop.services.outbox_kinds import CREATE_POST
from learnloop.services.rating import Rater, RetiredItem, UnknownItem, rate_item, rate_url

RATE_USAGE = "rate <url> <1-5> [comment]"
RATE_DIALOG = "rate"
MAX_SHARE_NOTE = 1000
COMMENT_HELP = ("Private: the community's owners and the page's owners see it with the week you wrote it, never "
                "your name, your stars or the exact time.")


def parse_rate_args(args: str) -> tuple[str, str, str | None]:
    """url, stars and optional comment; `rate 4 <url>` is accepted too."""
    words = args.split(maxsplit=2)
    if len(words) < 2:
        raise InvalidRating(f"give a URL and a rating from {MIN_STARS} to {MAX_STARS}")
    first, second = words[0], words[1]
    comment = words[2] if len(words) > 2 else None

    def looks_like_stars(word: str) -> bool:
        return word.isascii() and word.isdigit() and len(word) <= 2

    if looks_like_stars(first) and not looks_like_stars(second):
        first, second = second, first
    return first, second, comment


def _rater(user_id: str, channel_id: str, team_id: str, channel_name: str) -> Rater:
    return Rater(user_id=user_id, channel_id=channel_id, team_id=team_id or None, channel_name=channel_name or None)


def rate_command(invocation: Invocation) -> Reply:
    chat, request = invocation.chat, invocation.request
    if not invocation.args:
        return _open_rate_dialog(invocation)
    try:
        raw_url, stars, comment = parse_rate_args(invocation.args)
        rater = _rater(request.user_id, request.channel_id, request.team_id, request.channel_name)
        with chat.uow() as uow:
            outcome = rate_url(uow, chat.settings, rater, raw_url, stars, comment, chat.clock())
    except RetiredItem as exc:
        return ephemeral(f"Could not rate that: {exc}.")
    except (InvalidUrl, InvalidRating) as exc:
        return ephemeral(f"Could not rate that: {exc}.\nUsage: `{invocation.trigger} {RATE_USAGE}`")
    extra = {"attachments": [thank_attachment(outcome.item_id, chat.settings.public_url_text, chat.signing_key)]} \
        if outcome.shared_by_someone_else else {}
    return ephemeral(rating_confirmation(outcome, chat.settings.min_group_size), **extra)


def share_command(invocation: Invocation) -> Reply:
    chat, request = invocation.chat, invocation.request
    words = invocation.args.split(maxsplit=1)
    if not words:
        return ephemeral(f"Which page or link? Usage: `{invocation.trigger} share <url> [why it helped]`")
    note = words[1].strip() if len(words) > 1 else ""
    if len(note) > MAX_SHARE_NOTE:
        return ephemeral(f"Keep the note under {MAX_SHARE_NOTE} characters (it has {len(note)}).")
    client = chat.mattermost()
    if client is None:
        return ephemeral(
            "Sharing needs learnloop's bot: ask your admin to set LEARNLOOP_MATTERMOST_URL and "
            f"LEARNLOOP_MATTERMOST_BOT_TOKEN. You can still rate it with `{invocation.trigger} {RATE_USAGE}`.")
    try:
        url = normalise_url(words[0])
    except InvalidUrl as exc:
        return ephemeral(f"Could not share that: {exc}.")
    try:
        elsewhere = is_direct_channel(request.channel_name) and \
            bot_user_id(chat, client) not in (request.channel_name or "").split("__")
    except MattermostError as exc:
        return ephemeral(f"learnloop could not ask Mattermost which bot it is ({exc.status_code or 'no answer'}); "
                         "nothing was shared. Try again in a moment.")
    if elsewhere:
        return ephemeral("learnloop cannot post in a direct or group message it is not part of. Share it in a "
                         "channel, or here in your direct message with learnloop. Nothing was saved.")
    now = chat.clock()
    with chat.uow() as uow:
        community_id = None if is_direct_channel(request.channel_name) else community_for_channel(
            uow, chat.settings, channel_id=request.channel_id, team_id=request.team_id or None,
            channel_name=request.channel_name or None, now=now)
        # in one's own direct message with learnloop nobody else sees it: no one to thank, nothing shared
        item, _ = uow.items.ensure(url, kind=classify_url(url, chat.settings), community_id=community_id,
                                   shared_by=None if community_id is None else request.user_id, title=None, now=now)
        text = f"Shared by @{request.user_name}" + (f": {note}" if note else "")
        attachment = content_attachment(item_id=item.id, url=item.url, title=item.title, text=text,
                                        public_url=chat.settings.public_url_text, key=chat.signing_key)
        attachment["actions"].append(thank_button(item.id, chat.settings.public_url_text, chat.signing_key))
        once = f"{request.trigger_id}:{request.user_id}" if request.trigger_id else \
            f"{item.id}:{request.user_id}:{now.isoformat()}"
        if uow.outbox.enqueue(
                CREATE_POST,
                {"channel_id": request.channel_id, "message": "", "root_id": request.root_id or None,
                 "props": {"attachments": [attachment]}, "notify": request.user_id, "shared": url},
                key=fit(f"share:{once}"), now=now):
            uow.events.append("link_shared", occurred_at=now, recorded_at=now, community_id=community_id,
                              actor_id=request.user_id, item_id=item.id, data={"via": "share_command"})
        uow.commit()
    return ephemeral(f"Thanks for sharing {url}! learnloop will post it here with rating buttons in a moment.")


def _open_rate_dialog(invocation: Invocation) -> Reply:
    chat, request = invocation.chat, invocation.request
    state = dialog_state(RATE_DIALOG, request.user_id, chat.signing_key, channel_id=request.channel_id,
                         channel_name=request.channel_name, team_id=request.team_id,
                         response_url=request.response_url)
    problem = open_dialog(chat, request.trigger_id, rate_dialog(state))
    if problem:
        return ephemeral(f"{problem} Rate directly: `{invocation.trigger} {RATE_USAGE}`.")
    return {}


def rate_dialog(state: str) -> dict[str, Any]:
    return {
        "callback_id": RATE_DIALOG,
        "title": "Rate content",
        "introduction_text": "Rate a page or link that helped you. Only you see your rating; the community sees "
                             "a score once enough people have rated.",
        "submit_label": "Rate",
        "state": state,
        "elements": [
            {"display_name": "Link", "name": "url", "type": "text", "subtype": "url",
             "placeholder": "https://wiki.example.com/Page", "max_length": 2048},
            {"display_name": "Rating", "name": "stars", "type": "select",
             "options": [{"text": f"{n} · {STAR_LABELS[n]}", "value": str(n)}
                         for n in range(MAX_STARS, MIN_STARS - 1, -1)]},
            {"display_name": "Comment for the owners", "name": "comment", "type": "textarea", "optional": True,
             "max_length": MAX_COMMENT_LENGTH, "help_text": COMMENT_HELP},
        ],
    }


def handle_rate_dialog(chat: Chat, submission: DialogSubmission, state: dict[str, Any]) -> Reply | None:
    """Mattermost's dialog contract: 200 with {"errors": {field: message}} to keep the form open."""
    values = submission.submission
    errors: dict[str, str] = {}
    url = stars = comment = None
    try:
        url = normalise_url(str(values.get("url") or ""))
    except InvalidUrl as exc:
        errors["url"] = str(exc)
    try:
        stars = parse_stars(values.get("stars") or "")
    except InvalidRating as exc:
        errors["stars"] = str(exc)
    try:
        comment = clean_comment(str(values.get("comment") or ""))
    except InvalidRating as exc:
        errors["comment"] = str(exc)
    if errors or url is None:
        return {"errors": errors}
    # the channel the command was typed in, signed: the submission names the channel on screen when it is sent
    rater = _rater(submission.user_id, str(state.get("channel_id") or ""), str(state.get("team_id") or ""),
                   str(state.get("channel_name") or ""))
    try:
        with chat.uow() as uow:
            outcome = rate_url(uow, chat.settings, rater, url, stars, comment, chat.clock())
    except RetiredItem as exc:
        return {"errors": {"url": str(exc)}}
    respond_later(chat, str(state.get("response_url") or ""),
                  rating_confirmation(outcome, chat.settings.min_group_size), key=f"rated:{outcome.item_id}")
    return None


def handle_rate_button(chat: Chat, action: ActionRequest, context: dict[str, Any]) -> Reply:
    """A click rates for the clicking user only; the answer is ephemeral, the post is unchanged."""
    rater = _rater(action.user_id, action.channel_id, action.team_id, action.channel_name)
    try:
        with chat.uow() as uow:
            outcome = rate_item(uow, chat.settings, rater, int(context["item_id"]), context["stars"], None,
                                chat.clock())
    except RetiredItem:
        return {"ephemeral_text": "This page was deleted from its wiki, so it can no longer be rated."}
    except UnknownItem:
        return {"ephemeral_text": "This item is no longer in learnloop, so it cannot be rated."}
    except (InvalidRating, KeyError, TypeError, ValueError):
        return {"ephemeral_text": "This button is not a valid rating."}
    return {"ephemeral_text": rating_confirmation(outcome, chat.settings.min_group_size)}


def signin_command(invocation: Invocation) -> Reply:
    chat, request = invocation.chat, invocation.request
    with chat.uow() as uow:
        token = links.issue(uow, user_id=request.user_id, username=request.user_name or None, next_path="/",
                            now=chat.clock())
    return ephemeral(f"[Sign in to learnloop]({links.signin_url(chat.settings.public_url_text, token)}) "
                     "(only for you; works once, for 10 minutes).")


def register(commands: CommandRegistry) -> None:
    commands.subcommand(
        "rate", usage=RATE_USAGE, example="rate https://wiki.example.com/Deploying 5 Saved me an hour",
        summary="Rate a page or link that helped you (1 = not useful, 5 = essential); a comment goes privately "
                "to the community's owners and the page's owners. Without arguments, opens a form.",
        handler=rate_command)
    commands.subcommand(
        "share", usage="share <url> [why it helped]",
        example="share https://wiki.example.com/Onboarding The checklist at the end is gold",
        summary="Post a page or link to this channel with rating buttons, so colleagues can find and rate it.",
        handler=share_command)
    commands.subcommand(
        "signin", usage="signin", example="signin",
        summary="A one-time link that signs you in to learnloop's pages, so your ratings from the wiki are "
                "yours too.", handler=signin_command)
    commands.dialog(RATE_DIALOG, handle_rate_dialog)
    commands.action(RATE_ACTION, handle_rate_button)
