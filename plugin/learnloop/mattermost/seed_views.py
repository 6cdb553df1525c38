"""`/learn seed`: the starter kit for a community's owners (a starter prompt, a starter shelf of pages to rate,
the dashboard and the top pages bookmarked in the channel), and the dashboard's next steps done for an owner
through the same services and outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from learnloop.domain import learning_metrics as stages
from learnloop.mattermost import seed_messages
from learnloop.mattermost.commands import CommandRegistry, Invocation, Reply
from learnloop.mattermost.context import Chat
from learnloop.mattermost.dialogs import checked, open_dialog, value_of
from learnloop.mattermost.messages import ephemeral
from learnloop.mattermost.ownership import OWNERS, for_owners, owns_channel
from learnloop.mattermost.payloads import DialogSubmission
from learnloop.mattermost.prompt_commands import can_publish, setup_reply
from learnloop.mattermost.reflection_words import visibility_options
from learnloop.mattermost.replies import respond_later
from learnloop.mattermost.signed_state import dialog_state
from learnloop.services import seeding
from learnloop.services.communities import community_for_channel, community_zone
from learnloop.services.outbox_kinds import CHANNEL_BOOKMARKS, CREATE_POST
from learnloop.services.prompts import setup
from learnloop.services.prompts.templates import TEMPLATES, WHAT_SO_WHAT
from learnloop.services.seeding import (
    BOOKMARKS,
    SHELF,
    Outcome,
    Seeded,
    ShelfItem,
    Step,
)

SEED_DIALOG = "seed"
NO_PROMPT = "none"
DIALOG_FIELDS = ("prompt", "repeat", "time", "timezone", "visibility", "shelf", "bookmarks")
NOT_AN_OWNER = (f"Only this community's owners ({OWNERS}) can seed it. What you can do: share a page that helped "
                "you with `/learn share <link>`.")
NO_BOT = ("learnloop's bot is not configured, so nothing can be posted in the channel yet. Ask your admin to set "
          "LEARNLOOP_MATTERMOST_URL and LEARNLOOP_MATTERMOST_BOT_TOKEN.")


def seed_dialog(state: str, timezone: str, publish: bool) -> dict[str, Any]:
    prompts = [{"text": f"{t.label} ({t.rhythm})", "value": t.name} for t in TEMPLATES.values()]
    return {
        "callback_id": SEED_DIALOG, "title": "Starter kit", "submit_label": "Start", "state": state,
        "introduction_text": "Stock the shelves of a new community: a reflection prompt each member gets privately, "
                             "a post of your wiki's best and newest pages with rating buttons, and the dashboard "
                             "and top pages as channel bookmarks. Each part is optional.",
        "elements": [
            {"display_name": "Starter prompt", "name": "prompt", "type": "radio", "default": WHAT_SO_WHAT.name,
             "options": [*prompts, {"text": "No prompt for now", "value": NO_PROMPT}]},
            {"display_name": "Repeat", "name": "repeat", "type": "text", "optional": True, "max_length": 150,
             "placeholder": "the prompt's own rhythm",
             "help_text": "Empty keeps the prompt's rhythm. Or: weekdays, weekly mon, every 2 weeks fri"},
            {"display_name": "Local time", "name": "time", "type": "text", "default": "16:30", "max_length": 150,
             "help_text": "24-hour HH:MM, each member's own time"},
            {"display_name": "Community time zone", "name": "timezone", "type": "text", "default": timezone,
             "max_length": 150, "help_text": "Used for members whose Mattermost time zone is unknown"},
            {"display_name": "Who sees answers", "name": "visibility", "type": "radio", "default": "private",
             "options": visibility_options(publish), "help_text": "Each person can still choose per answer."},
            {"display_name": "Starter shelf", "name": "shelf", "type": "bool", "default": "true", "optional": True,
             "placeholder": "Post the wiki's best and newest pages here, with rating buttons"},
            {"display_name": "Channel bookmarks", "name": "bookmarks", "type": "bool", "default": "true",
             "optional": True, "placeholder": "Bookmark the dashboard and the top pages in this channel"},
        ],
    }


def seed_command(invocation: Invocation) -> Reply:
    chat, request = invocation.chat, invocation.request
    if not owns_channel(chat, request):
        return ephemeral(NOT_AN_OWNER)
    with chat.reader() as uow:
        timezone = community_zone(uow, chat.settings, channel_id=request.channel_id)
    state = dialog_state(SEED_DIALOG, request.user_id, chat.signing_key, channel_id=request.channel_id,
                         team_id=request.team_id, channel_name=request.channel_name, timezone=timezone,
                         response_url=request.response_url)
    problem = open_dialog(chat, request.trigger_id, seed_dialog(state, timezone, can_publish(chat, request.channel_id)))
    return ephemeral(problem) if problem else {}


def _on_fields(errors: dict[str, str]) -> dict[str, str]:
    """The set-up service's errors on this dialog's fields (its question fields are the template's)."""
    found: dict[str, str] = {}
    for name, message in errors.items():
        field = name if name in DIALOG_FIELDS else "prompt"
        found[field] = f"{found[field]}; {message}" if field in found else message
    return found


def _learning_logs(chat: Chat) -> frozenset[str]:
    return frozenset(c.learning_log_title.casefold() for c in chat.settings.communities)


def _at(moment: datetime | None, timezone: str) -> str:
    zone = ZoneInfo(timezone) if not setup.check_timezone(timezone) else ZoneInfo("UTC")
    return f"{moment.astimezone(zone):%H:%M}" if moment else ""


def _nothing_to_shelve(chat: Chat, channel_id: str) -> str:
    k = chat.settings.min_group_size
    if not can_publish(chat, channel_id):
        return (f"no wiki space is mapped to this community yet (your admin maps them in learnloop.toml), and nothing "
                f"here has been rated by {k} people. Share a page that helped you with `/learn share <link>` instead.")
    return (f"none of this community's wiki pages was created or substantially improved lately, and nothing has been "
            f"rated by {k} people yet. Share a page that helped you with `/learn share <link>` instead.")


def _said(outcome: Outcome, queued: str, again: str, timezone: str) -> str:
    if outcome.status == "queued":
        return queued
    return (f"{again} was queued at {_at(outcome.at, timezone)}, so nothing new was posted; a fresh one can go out "
            f"after {_at(outcome.again_after, timezone)}.")


def _shelf_said(chat: Chat, channel_id: str, seeded: Seeded, where: str, timezone: str) -> str:
    outcome = seeded.outcomes[SHELF]
    if outcome.status == "empty":
        return "No starter shelf: " + _nothing_to_shelve(chat, channel_id)
    return _said(outcome, f"A starter shelf of {len(seeded.shelf)} pages will be posted {where} in a moment, with "
                          "rating buttons.", "A starter shelf", timezone)


def _bookmarks_said(seeded: Seeded, where: str, timezone: str) -> str:
    pages = min(len(seeded.shelf), seed_messages.BOOKMARKED_PAGES)
    what = "the dashboard" + (f" and {pages} top pages" if pages else "")
    return _said(seeded.outcomes[BOOKMARKS],
                 f"{what[:1].upper()}{what[1:]} will be bookmarked {where}; where this Mattermost has no channel "
                 "bookmarks (before 9.5, or without a license), one post listing them is pinned instead.",
                 "The bookmarks", timezone)


def _shelf_step(chat: Chat, channel_id: str, name: str) -> Step:
    settings = chat.settings
    return Step(SHELF, CREATE_POST, lambda items: seed_messages.shelf_post(
        channel_id, name, items, public_url=settings.public_url_text, key=chat.signing_key,
        k=settings.min_group_size))


def _bookmarks_step(chat: Chat, channel_id: str, name: str, community_id: int) -> Step:
    return Step(BOOKMARKS, CHANNEL_BOOKMARKS, lambda items: seed_messages.bookmarks(
        channel_id, name, community_id, items, public_url=chat.settings.public_url_text))


def handle_seed(chat: Chat, submission: DialogSubmission, state: dict[str, Any]) -> Reply | None:
    """Every wrong field at once, and nothing saved, before anything is stored."""
    values = submission.submission
    channel_id = str(state["channel_id"])
    publish = can_publish(chat, channel_id)
    errors: dict[str, str] = {}
    choice = value_of(values, "prompt") or NO_PROMPT
    template = TEMPLATES.get(choice)
    if template is None and choice != NO_PROMPT:
        errors["prompt"] = "choose one of the starter prompts, or 'No prompt for now'"
    prompt = None
    if template is not None:
        prompt = template.setup(repeat=value_of(values, "repeat") or None, local_time=value_of(values, "time"),
                                timezone=value_of(values, "timezone") or "UTC",
                                visibility=value_of(values, "visibility") or "private")
        try:
            setup.validate(prompt, can_publish=publish)
        except setup.InvalidSetup as exc:
            errors.update(_on_fields(exc.errors))
    shelf_on, bookmarks_on = checked(values.get("shelf")), checked(values.get("bookmarks"))
    if not errors and prompt is None and not shelf_on and not bookmarks_on:
        errors["prompt"] = "nothing was chosen: pick a starter prompt, the starter shelf or the bookmarks"
    if errors:
        return {"errors": errors}
    now, timezone = chat.clock(), str(state.get("timezone") or "UTC")
    with chat.uow() as uow:
        community_id = community_for_channel(uow, chat.settings, channel_id=channel_id,
                                             team_id=state.get("team_id") or None,
                                             channel_name=state.get("channel_name") or None, now=now)
        community = uow.communities.get(community_id)
        name = community.name if community else channel_id
        steps = ([_shelf_step(chat, channel_id, name)] if shelf_on else []) + \
            ([_bookmarks_step(chat, channel_id, name, community_id)] if bookmarks_on else [])
        try:
            seeded = seeding.seed(uow, community_id=community_id, k=chat.settings.min_group_size, steps=steps,
                                  prompt=prompt, created_by=submission.user_id, now=now, can_publish=publish,
                                  skip_titles=_learning_logs(chat))
        except setup.InvalidSetup as exc:
            return {"errors": _on_fields(exc.errors)}
    lines = ["**Starter kit**"]
    if seeded.prompt is not None:
        lines.append("- Prompt: " + setup_reply(seeded.prompt))
    if shelf_on:
        lines.append("- " + _shelf_said(chat, channel_id, seeded, "in this channel", timezone))
    if bookmarks_on:
        lines.append("- " + _bookmarks_said(seeded, "in this channel", timezone))
    respond_later(chat, state.get("response_url"), "\n".join(lines), key=f"seed:{community_id}")
    return None


# ------------------------------------------------------------------------------ the dashboard's next steps

def step_label(action: str, community_name: str) -> str:
    """What the dashboard's button for a stage's next step says."""
    where = community_name if community_name.startswith("~") else f"the {community_name} channel"
    return {
        stages.STARTER_SHELF: f"Post a starter shelf in {where}",
        stages.INVITE_SHARING: f"Post an invitation to share what helped, in {where}",
        stages.ASK_QUESTION: f"Post a discussion question in {where}",
        stages.WEEKLY_PROMPT: "Set up a weekly reflection prompt (What? So what? Now what?)",
        stages.INVITE_PUBLISHING: f"Invite authors in {where} to publish to the learning log",
    }.get(action, "")


def step_possible(chat: Chat, channel_id: str, action: str) -> str | None:
    """Why a step cannot be done for this community, or None."""
    if action == stages.INVITE_PUBLISHING and not can_publish(chat, channel_id):
        return "This community has no wiki space to publish to yet; your admin maps one in learnloop.toml."
    if action != stages.WEEKLY_PROMPT and chat.mattermost() is None:
        return NO_BOT
    return None


def run_step(chat: Chat, community_id: int, action: str, user_id: str) -> str:
    """Do a stage's next step for an owner (who the caller has checked) through the seeding service and the
    outbox, as `/learn seed` does; what was done or queued, in a sentence for the page."""
    with chat.uow() as uow:
        community = uow.communities.get(community_id)
        if community is None:
            return "This community is not known to learnloop any more; nothing was done."
        channel_id, name = community.channel_id, community.name
        problem = step_possible(chat, channel_id, action)
        if problem:
            return problem + " Nothing was done."
        configured = chat.settings.community_for_channel(channel_id)
        timezone = community_zone(uow, chat.settings, community_id)
        where = f"in {name}" if name.startswith("~") else f"in the {name} channel"
        public_url, key = chat.settings.public_url_text, chat.signing_key
        posts = {
            stages.STARTER_SHELF: _shelf_step(chat, channel_id, name),
            stages.INVITE_SHARING: Step(stages.INVITE_SHARING, CREATE_POST,
                                        lambda items: seed_messages.invitation_to_share(channel_id)),
            stages.ASK_QUESTION: Step(stages.ASK_QUESTION, CREATE_POST, lambda items: seed_messages.discussion_question(
                channel_id, items, public_url=public_url, key=key)),
            stages.INVITE_PUBLISHING: Step(stages.INVITE_PUBLISHING, CREATE_POST,
                                           lambda items: seed_messages.invitation_to_publish(
                                               channel_id, configured.learning_log_title if configured else "")),
        }
        step = posts.get(action)
        prompt = WHAT_SO_WHAT.setup(timezone=timezone) if action == stages.WEEKLY_PROMPT else None
        if step is None and prompt is None:
            raise ValueError(f"'{action}' is not a next step")
        seeded = seeding.seed(uow, community_id=community_id, k=chat.settings.min_group_size,
                              steps=[step] if step else [], prompt=prompt, created_by=user_id, now=chat.clock(),
                              can_publish=can_publish(chat, channel_id), skip_titles=_learning_logs(chat))
    if seeded.prompt is not None:
        return setup_reply(seeded.prompt)
    if action == stages.STARTER_SHELF:
        return _shelf_said(chat, channel_id, seeded, where, timezone)
    queued = {
        stages.INVITE_SHARING: f"An invitation to share what helped will be posted {where} in a moment.",
        stages.ASK_QUESTION: f"A discussion question{_about(seeded.shelf)} will be posted {where} in a moment.",
        stages.INVITE_PUBLISHING: f"An invitation to publish reflections to the learning log will be posted {where} "
                                  "in a moment.",
    }
    return _said(seeded.outcomes[action], queued[action], "The same post", timezone)


def _about(items: list[ShelfItem]) -> str:
    return f" about “{items[0].title}”" if items else ""


def register(commands: CommandRegistry) -> None:
    commands.subcommand(
        "seed", usage="seed", example="seed",
        summary="Owners: the starter kit for a new community: a reflection prompt, a shelf of your wiki's best "
                "and newest pages to rate, and the dashboard bookmarked in the channel.", handler=seed_command)
    commands.dialog(SEED_DIALOG, for_owners(handle_seed))
