"""Rating from inside Mattermost: `/learn rate`, `/learn share`, the rate dialog and the buttons."""

from __future__ import annotations

import json
from typing import Any

from learnloop.bootstrap import Runtime
from learnloop.domain import signing
from learnloop.domain.ratings import MAX_COMMENT_LENGTH, MAX_STARS, MIN_STARS, STAR_LABELS, InvalidRating, clean_comment, parse_stars
from learnloop.domain.urls import InvalidUrl, normalise_url
from learnloop.mattermost.client import MattermostError
from learnloop.mattermost.commands import Invocation, Reply, action, dialog, subcommand
from learnloop.mattermost.messages import (
    DIALOGS_PATH,
    RATE_ACTION,
    content_attachment,
    ephemeral,
    rating_confirmation,
)
from learnloop.services.outbox_kinds import CREATE_POST, RESPOND
from learnloop.mattermost.payloads import ActionRequest, DialogSubmission
from learnloop.services.communities import community_for_channel
from learnloop.services.content_kinds import classify_url
from learnloop.services.rating import Rater, RatingOutcome, UnknownItem, rate_item, rate_url

RATE_USAGE = "rate <url> <1-5> [comment]"
RATE_DIALOG = "rate"
MAX_SHARE_NOTE = 1000


def _looks_like_stars(word: str) -> bool:
    return word.isdigit() and len(word) <= 2


def parse_rate_args(args: str) -> tuple[str, str, str | None]:
    """url, stars and optional comment; `rate 4 <url>` is accepted too."""
    words = args.split(maxsplit=2)
    if len(words) < 2:
        raise InvalidRating(f"give a URL and a rating from {MIN_STARS} to {MAX_STARS}")
    first, second = words[0], words[1]
    comment = words[2] if len(words) > 2 else None
    if _looks_like_stars(first) and not _looks_like_stars(second):
        first, second = second, first
    return first, second, comment


def _rater(runtime: Runtime, user_id: str, channel_id: str, team_id: str, channel_name: str) -> Rater:
    return Rater(user_id=user_id, channel_id=channel_id, team_id=team_id or None, channel_name=channel_name or None)


@subcommand(
    "rate",
    usage=RATE_USAGE,
    example="rate https://wiki.example.com/Deploying 5 Saved me an hour",
    summary="Rate a page or link that helped you (1 = not useful, 5 = essential); a comment goes privately to the community's owners. Without arguments, opens a form.",
)
def rate_command(invocation: Invocation) -> Reply:
    runtime, request = invocation.runtime, invocation.request
    if not invocation.args:
        return _open_rate_dialog(invocation)
    try:
        raw_url, stars, comment = parse_rate_args(invocation.args)
        rater = _rater(runtime, request.user_id, request.channel_id, request.team_id, request.channel_name)
        with runtime.uow() as uow:
            outcome = rate_url(uow, runtime.settings, rater, raw_url, stars, comment, runtime.clock())
    except (InvalidUrl, InvalidRating) as exc:
        return ephemeral(f"Could not rate that: {exc}.\nUsage: `{request.command or '/learn'} {RATE_USAGE}`")
    return ephemeral(rating_confirmation(outcome))


@subcommand(
    "share",
    usage="share <url> [why it helped]",
    example="share https://wiki.example.com/Onboarding The checklist at the end is gold",
    summary="Post a page or link to this channel with rating buttons, so colleagues can find and rate it.",
)
def share_command(invocation: Invocation) -> Reply:
    runtime, request = invocation.runtime, invocation.request
    trigger = request.command or "/learn"
    words = invocation.args.split(maxsplit=1)
    if not words:
        return ephemeral(f"Which page or link? Usage: `{trigger} share <url> [why it helped]`")
    note = words[1].strip() if len(words) > 1 else ""
    if len(note) > MAX_SHARE_NOTE:
        return ephemeral(f"Keep the note under {MAX_SHARE_NOTE} characters (it has {len(note)}).")
    if runtime.mattermost() is None:
        return ephemeral(
            "Sharing needs learnloop's bot: ask your admin to set LEARNLOOP_MATTERMOST_URL and "
            f"LEARNLOOP_MATTERMOST_BOT_TOKEN. You can still rate it with `{trigger} {RATE_USAGE}`."
        )
    try:
        url = normalise_url(words[0])
    except InvalidUrl as exc:
        return ephemeral(f"Could not share that: {exc}.")
    now = runtime.clock()
    with runtime.uow() as uow:
        community_id = community_for_channel(
            uow, runtime.settings, channel_id=request.channel_id, team_id=request.team_id or None,
            channel_name=request.channel_name or None, now=now,
        )
        item, _ = uow.items.ensure(url, kind=classify_url(url, runtime.settings), community_id=community_id,
                                   shared_by=request.user_id, title=None, now=now)
        uow.events.append("link_shared", occurred_at=now, recorded_at=now, community_id=community_id,
                          actor_id=request.user_id, item_id=item.id, data={"via": "share_command"})
        text = f"Shared by @{request.user_name}" + (f": {note}" if note else "")
        attachment = content_attachment(item_id=item.id, url=item.url, title=item.title, text=text,
                                        public_url=runtime.settings.public_url_text, key=runtime.signing_key)
        uow.outbox.enqueue(
            CREATE_POST,
            {"channel_id": request.channel_id, "message": "", "root_id": request.root_id or None,
             "props": {"attachments": [attachment], "learnloop_item_id": item.id}},
            key=f"share:{request.trigger_id or item.id}:{request.user_id}:{now.isoformat()}", now=now,
        )
        uow.commit()
    return ephemeral(f"Thanks for sharing {url}! learnloop will post it here with rating buttons in a moment.")


def _open_rate_dialog(invocation: Invocation) -> Reply:
    runtime, request = invocation.runtime, invocation.request
    trigger = request.command or "/learn"
    client = runtime.mattermost()
    if client is None or not request.trigger_id:
        return ephemeral(f"Usage: `{trigger} {RATE_USAGE}`")
    state = signing.sign(
        {"dialog": RATE_DIALOG, "user_id": request.user_id, "channel_name": request.channel_name,
         "team_id": request.team_id, "response_url": request.response_url},
        runtime.signing_key,
    )
    try:
        client.open_dialog(request.trigger_id, runtime.settings.public_url_text + DIALOGS_PATH, rate_dialog(state))
    except MattermostError as exc:
        if exc.status_code == 400:
            return ephemeral(
                f"The form took too long to open and Mattermost expired it. Type `{trigger} rate` again, "
                f"or rate directly: `{trigger} {RATE_USAGE}`."
            )
        reason = f"HTTP {exc.status_code}" if exc.status_code else "no answer"
        return ephemeral(f"Mattermost did not open the form ({reason}). Rate directly: `{trigger} {RATE_USAGE}`.")
    return {}


def rate_dialog(state: dict[str, Any]) -> dict[str, Any]:
    return {
        "callback_id": RATE_DIALOG,
        "title": "Rate content",
        "introduction_text": "Rate a page or link that helped you. Only you see your rating; the community sees a score.",
        "submit_label": "Rate",
        "state": json.dumps(state, separators=(",", ":")),
        "elements": [
            {"display_name": "Link", "name": "url", "type": "text", "subtype": "url",
             "placeholder": "https://wiki.example.com/Page", "max_length": 2048},
            {"display_name": "Rating", "name": "stars", "type": "select",
             "options": [{"text": f"{n} · {STAR_LABELS[n]}", "value": str(n)} for n in range(MAX_STARS, MIN_STARS - 1, -1)]},
            {"display_name": "Comment for the owners", "name": "comment", "type": "textarea", "optional": True,
             "max_length": MAX_COMMENT_LENGTH,
             "help_text": "Private: only the community's owners see it, to improve the content."},
        ],
    }


@dialog(RATE_DIALOG)
def handle_rate_dialog(runtime: Runtime, submission: DialogSubmission) -> dict[str, Any] | None:
    """Mattermost's dialog contract: 200 with {"errors": {field: message}} to keep the form open."""
    try:
        state = signing.verify(json.loads(submission.state or "null"), runtime.signing_key)
    except (ValueError, signing.BadSignature):
        return {"error": "This form could not be verified. Close it and type /learn rate again."}
    if state.get("user_id") != submission.user_id:
        return {"error": "This form was opened by someone else. Type /learn rate to open your own."}
    values = submission.submission
    errors: dict[str, str] = {}
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
    if errors:
        return {"errors": errors}
    rater = _rater(runtime, submission.user_id, submission.channel_id, str(state.get("team_id") or ""),
                   str(state.get("channel_name") or ""))
    with runtime.uow() as uow:
        outcome = rate_url(uow, runtime.settings, rater, url, stars, comment, runtime.clock())
    _confirm_later(runtime, state, outcome)
    return None


def _confirm_later(runtime: Runtime, state: dict[str, Any], outcome: RatingOutcome) -> None:
    """A dialog closes without a reply; the confirmation goes to the command's response_url."""
    response_url = str(state.get("response_url") or "")
    if not response_url:
        return
    now = runtime.clock()
    with runtime.uow() as uow:
        uow.outbox.enqueue(
            RESPOND, {"response_url": response_url, "body": ephemeral(rating_confirmation(outcome))},
            key=f"respond:{response_url}:{outcome.item_id}:{now.isoformat()}", now=now,
        )
        uow.commit()


@action(RATE_ACTION)
def handle_rate_button(runtime: Runtime, action: ActionRequest, context: dict[str, Any]) -> dict[str, Any]:
    """A click rates for the clicking user only; the answer is ephemeral, the post is unchanged."""
    rater = _rater(runtime, action.user_id, action.channel_id, action.team_id, action.channel_name)
    try:
        with runtime.uow() as uow:
            outcome = rate_item(uow, runtime.settings, rater, int(context["item_id"]), context["stars"], None,
                                runtime.clock())
    except UnknownItem:
        return {"ephemeral_text": "This item is no longer in learnloop, so it cannot be rated."}
    except (InvalidRating, KeyError, TypeError, ValueError):
        return {"ephemeral_text": "This button is not a valid rating."}
    return {"ephemeral_text": rating_confirmation(outcome)}



@subcommand(
    "signin",
    usage="signin",
    example="signin",
    summary="A one-time link that signs you in to learnloop's pages, so your ratings from the wiki are yours too.",
)
def signin_command(invocation: Invocation) -> Reply:
    from learnloop.services import signin

    runtime, request = invocation.runtime, invocation.request
    with runtime.uow() as uow:
        token = signin.issue(uow, user_id=request.user_id, username=request.user_name or None, next_path="/",
                             now=runtime.clock())
    link = f"{runtime.settings.public_url_text}/signin/{token}"
    return ephemeral(f"[Sign in to learnloop]({link}) (only for you; works once, for 10 minutes).")
