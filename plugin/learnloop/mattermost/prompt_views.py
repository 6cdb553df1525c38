"""Reflection prompts in Mattermost: `/learn prompts ...`, `/learn reflect`, `/learn journal`,
the setup, event, reflect and journal dialogs, and the buttons on a prompt."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from learnloop.bootstrap import Runtime
from learnloop.domain import signing
from learnloop.domain.preferences import InvalidPreference
from learnloop.domain.schedules import InvalidSchedule
from learnloop.mattermost.client import MattermostError
from learnloop.mattermost.commands import Invocation, Reply, action, dialog, subcommand
from learnloop.mattermost.messages import DIALOGS_PATH, ephemeral
from learnloop.mattermost.ownership import is_community_owner
from learnloop.mattermost.payloads import ActionRequest, DialogSubmission
from learnloop.mattermost.prompt_messages import REFLECT_NOW, SKIP, SNOOZE, shared_reflection_post
from learnloop.services import prompt_delivery, prompt_schedules, prompt_settings, reflections
from learnloop.services.communities import community_for_channel
from learnloop.services.outbox_kinds import RESPOND
from learnloop.services.prompt_planning import schedule_of
from learnloop.services.reflections import InvalidReflection, NotYours, ReflectionView

SETUP_DIALOG, EVENT_DIALOG, REFLECT_DIALOG, EDIT_DIALOG, DELETE_DIALOG = (
    "prompt_setup", "prompt_event", "reflect", "journal_edit", "journal_delete")
SHARE_ACTION, EDIT_ACTION, DELETE_ACTION = "reflection_share", "journal_edit", "journal_delete"
VISIBILITY_OPTIONS = [
    {"text": "Private journal (only you)", "value": "private"},
    {"text": "Share with my community", "value": "community"},
    {"text": "Publish to the wiki", "value": "wiki"},
]
VISIBILITY_WORDS = {"private": "kept in your private journal", "community": "shared with your community",
                    "wiki": "marked for the wiki"}
WIKI_NOT_YET = ("It goes on your community's learning-log page in the wiki; learnloop sends you the link "
                "once it is there.")


def _trigger(invocation: Invocation) -> str:
    return invocation.request.command or "/learn"


def _state(runtime: Runtime, **values: Any) -> str:
    return json.dumps(signing.sign(values, runtime.signing_key), separators=(",", ":"))


def _read_state(runtime: Runtime, submission: DialogSubmission) -> dict[str, Any] | None:
    try:
        state = signing.verify(json.loads(submission.state or "null"), runtime.signing_key)
    except (ValueError, signing.BadSignature):
        return None
    return state if state.get("user_id") == submission.user_id else None


def _open(runtime: Runtime, trigger_id: str, form: dict[str, Any]) -> str | None:
    """Opens a dialog; returns a sentence for the person when Mattermost would not."""
    client = runtime.mattermost()
    if client is None:
        return "learnloop's bot is not configured, so forms cannot open. Ask your admin to connect it."
    if not trigger_id:
        return "Mattermost did not send what is needed to open a form; try again."
    try:
        client.open_dialog(trigger_id, runtime.settings.public_url_text + DIALOGS_PATH, form)
    except MattermostError as exc:
        if exc.status_code == 400:
            return "The form took too long to open and Mattermost expired it; please try again."
        return "Mattermost did not open the form (" + (f"HTTP {exc.status_code}" if exc.status_code else "no answer") + ")."
    return None


def _open_for_button(runtime: Runtime, request: ActionRequest, form: dict[str, Any]) -> dict[str, Any]:
    """A button's answer: the dialog opens, or the clicker is told why it did not."""
    problem = _open(runtime, request.trigger_id, form)
    return {"ephemeral_text": problem} if problem else {}


def _respond_later(runtime: Runtime, response_url: str | None, text: str) -> None:
    if not response_url:
        return
    now = runtime.clock()
    with runtime.uow() as uow:
        uow.outbox.enqueue(RESPOND, {"response_url": response_url, "body": ephemeral(text)},
                           key=f"respond:{response_url}:{now.isoformat()}", now=now)
        uow.commit()


def _post_builder(runtime: Runtime):
    return lambda post: shared_reflection_post(post, public_url=runtime.settings.public_url_text,
                                               key=runtime.signing_key)


# ---------------------------------------------------------------- /learn prompts

PROMPTS_HELP = (
    "`{t} prompts` shows your settings. Yours to change: `{t} prompts off`, `{t} prompts on`, "
    "`{t} prompts pause 2w`, `{t} prompts resume`, `{t} prompts time 16:30` (or `time default`), "
    "`{t} prompts quiet 22:00-07:00` (or `quiet off`), `{t} prompts nudges off`. "
    "Community owners: `{t} prompts setup`, `{t} prompts event`, `{t} prompts stop <number>`."
)


@subcommand("prompts", usage="prompts [setup|event|off|on|pause 2w|resume|time 16:30|quiet 22:00-07:00|nudges off]",
            example="prompts pause 2w",
            summary="Your reflection prompts: when, whether, quiet hours. Owners set up what the community is asked.")
def prompts_command(invocation: Invocation) -> Reply:
    runtime, request = invocation.runtime, invocation.request
    word, _, rest = invocation.args.partition(" ")
    word, rest, now, user = word.lower(), rest.strip(), runtime.clock(), request.user_id
    t = _trigger(invocation)
    try:
        with runtime.uow() as uow:
            if word == "":
                return ephemeral(_status_text(runtime, uow, request.channel_id, user, t))
            if word in ("off", "on"):
                prompt_settings.set_enabled(uow, user, word == "on", now)
                return ephemeral("Prompts are on." if word == "on" else
                                 f"Prompts are off: nobody will ask you anything. `{t} prompts on` turns them back on.")
            if word == "pause":
                until = prompt_settings.pause(uow, user, rest, now)
                return ephemeral(f"Paused until {until:%a %d %b %Y} (UTC). `{t} prompts resume` ends the pause early.")
            if word == "resume":
                prompt_settings.resume(uow, user, now)
                return ephemeral("Welcome back: prompts resume from the next one.")
            if word == "time":
                value = prompt_settings.set_time_of_day(uow, user, None if rest.lower() in ("", "default") else rest, now)
                return ephemeral(f"Your prompts now come at {value}, your local time." if value else
                                 "Your prompts now come at each community's own time.")
            if word == "quiet":
                value = prompt_settings.set_quiet_hours(uow, user, rest or "off", now)
                return ephemeral(f"Quiet hours {value}: prompts falling then wait until they end." if value else
                                 "Quiet hours are off.")
            if word == "nudges":
                if rest.lower() not in ("on", "off"):
                    return ephemeral(f"Use `{t} prompts nudges on` or `{t} prompts nudges off`.")
                prompt_settings.set_nudges(uow, user, rest.lower() == "on", now)
                return ephemeral("Reminders are on: one private nudge before a prompt closes." if rest.lower() == "on"
                                 else "No more reminders.")
    except (InvalidPreference, InvalidSchedule) as exc:
        return ephemeral(f"{exc}.")
    if word in ("setup", "event", "stop"):
        return _owner_command(invocation, word, rest)
    return ephemeral(f"`{t} prompts {word[:30]}` is not something learnloop knows. " + PROMPTS_HELP.format(t=t))


def _status_text(runtime: Runtime, uow, channel_id: str, user_id: str, t: str) -> str:
    prefs = prompt_settings.preferences_of(uow.members.get(user_id))
    lines = ["**Your prompts**: " + ("on" if prefs.enabled else "off")]
    if prefs.paused_until and prefs.paused_until > runtime.clock():
        lines.append(f"- paused until {prefs.paused_until:%a %d %b %Y}")
    lines.append(f"- time: {prefs.time_of_day:%H:%M} your local time" if prefs.time_of_day else
                 "- time: each community's own time")
    if prefs.quiet_hours:
        lines.append(f"- quiet hours: {prefs.quiet_hours.start:%H:%M}-{prefs.quiet_hours.end:%H:%M}")
    lines.append("- reminders: " + ("one nudge before a prompt closes" if prefs.nudges else "off"))
    community = uow.communities.by_channel(channel_id)
    schedules = uow.schedules.for_community(community.id) if community else []
    if schedules:
        lines.append("\n**This channel's prompts**")
        for row in schedules:
            asked = "; ".join(q["text"] for q in row.questions)
            label = f" ({row.label})" if row.label else ""
            lines.append(f"{row.id}. {schedule_of(row).describe()}{label}, {row.timezone}: {asked}")
    lines.append("\n" + PROMPTS_HELP.format(t=t))
    return "\n".join(lines)


def _owner_command(invocation: Invocation, word: str, rest: str) -> Reply:
    runtime, request = invocation.runtime, invocation.request
    if not is_community_owner(runtime, request.channel_id, request.user_id):
        return ephemeral("Only this community's owners (the channel's admins, or owners named by your admin) "
                         "can change its prompts. Your own settings: `/learn prompts`.")
    configured = runtime.settings.community_for_channel(request.channel_id)
    timezone = configured.timezone if configured else "UTC"
    state = _state(runtime, user_id=request.user_id, channel_id=request.channel_id, team_id=request.team_id,
                   channel_name=request.channel_name, timezone=timezone, response_url=request.response_url)
    if word == "stop":
        return _stop_schedule(runtime, request, rest)
    form = setup_dialog(state, timezone) if word == "setup" else event_dialog(state)
    problem = _open(runtime, request.trigger_id, form)
    return ephemeral(problem) if problem else {}


def _stop_schedule(runtime: Runtime, request, rest: str) -> Reply:
    if not rest.isdigit():
        return ephemeral("Which one? `/learn prompts` lists this channel's prompts with their numbers.")
    with runtime.uow() as uow:
        community = uow.communities.by_channel(request.channel_id)
        stopped = community is not None and prompt_schedules.stop(uow, community.id, int(rest), runtime.clock())
    return ephemeral(f"Prompt {rest} is stopped; nobody will be asked it again." if stopped else
                     f"This channel has no prompt number {rest}.")


def _text(name: str, label: str, *, optional: bool = True, default: str = "", placeholder: str = "",
          help_text: str = "", max_length: int = 150) -> dict[str, Any]:
    return {"display_name": label, "name": name, "type": "text", "optional": optional, "default": default,
            "placeholder": placeholder, "help_text": help_text, "max_length": max_length}


def _visibility(default: str) -> dict[str, Any]:
    return {"display_name": "Who sees answers", "name": "visibility", "type": "radio", "default": default,
            "options": VISIBILITY_OPTIONS, "help_text": "Each person can still choose per answer."}


def setup_dialog(state: str, timezone: str) -> dict[str, Any]:
    return {
        "callback_id": SETUP_DIALOG, "title": "Reflection prompts", "submit_label": "Save", "state": state,
        "introduction_text": "Ask your community a question on a schedule. Each member gets it as a private "
                             "message at their own local time, and decides per answer who sees it.",
        "elements": [
            _text("question1", "Question", optional=False, default="What did you learn this week?", max_length=300),
            _text("question2", "Second question", max_length=300),
            _text("question3", "Third question", max_length=300),
            _text("scale_question", "1-5 scale question", placeholder="How useful was this week for learning?",
                  max_length=300),
            _text("repeat", "Repeat", optional=False, default="weekly fri",
                  help_text="daily, weekdays, weekly fri, every 2 weeks mon, monthly first monday"),
            _text("time", "Local time", optional=False, default="16:30", help_text="24-hour HH:MM, each member's own time"),
            _text("window", "Answer window", optional=False, default="16h", help_text="for example 16h, 2d"),
            _text("timezone", "Community time zone", optional=False, default=timezone,
                  help_text="Used for members whose Mattermost time zone is unknown"),
            _visibility("private"),
        ],
    }


def event_dialog(state: str) -> dict[str, Any]:
    return {
        "callback_id": EVENT_DIALOG, "title": "Prompts for an event", "submit_label": "Save", "state": state,
        "introduction_text": "One-off questions the day before an event and/or on the day itself.",
        "elements": [
            _text("label", "Event", optional=False, placeholder="Kubernetes training", max_length=80),
            _text("date", "Date", optional=False, placeholder="2026-12-03", help_text="YYYY-MM-DD"),
            {"display_name": "When", "name": "when", "type": "radio", "default": "both",
             "options": [{"text": "The day before", "value": "before"}, {"text": "On the day", "value": "after"},
                         {"text": "Both", "value": "both"}]},
            _text("question_before", "Question before", default="What do you want to get out of it?", max_length=300),
            _text("question_after", "Question after", default="What will you do differently now?", max_length=300),
            _text("time", "Local time", optional=False, default="17:00"),
            _text("window", "Answer window", optional=False, default="2d"),
            _visibility("private"),
        ],
    }


def _value(submission: DialogSubmission, name: str) -> str:
    value = submission.submission.get(name)
    return str(value).strip() if value is not None else ""


@dialog(SETUP_DIALOG)
def handle_setup(runtime: Runtime, submission: DialogSubmission) -> dict[str, Any] | None:
    state = _read_state(runtime, submission)
    if state is None:
        return {"error": "This form could not be verified. Close it and type /learn prompts setup again."}
    from learnloop.config import CommunityConfig

    timezone = _value(submission, "timezone") or "UTC"
    try:
        CommunityConfig(name="x", channel_id="a" * 26, timezone=timezone)
    except ValueError:
        return {"errors": {"timezone": f"'{timezone[:40]}' is not a time zone; use one like Europe/Berlin"}}
    setup = prompt_schedules.PromptSetup(
        questions=[_value(submission, f"question{n}") for n in (1, 2, 3)],
        scale_question=_value(submission, "scale_question") or None, repeat=_value(submission, "repeat"),
        local_time=_value(submission, "time"), window=_value(submission, "window"),
        default_visibility=_value(submission, "visibility") or "private",
    )
    now = runtime.clock()
    try:
        with runtime.uow() as uow:
            community_id = community_for_channel(uow, runtime.settings, channel_id=state["channel_id"],
                                                 team_id=state.get("team_id"), channel_name=state.get("channel_name"),
                                                 now=now)
            row = prompt_schedules.create(uow, community_id=community_id, timezone=timezone, setup=setup,
                                          created_by=submission.user_id, now=now)
            described = schedule_of(row).describe()
    except prompt_schedules.InvalidSetup as exc:
        return {"errors": exc.errors}
    _respond_later(runtime, state.get("response_url"),
                   f"Saved: members will be asked {described}, each at their own local time. "
                   "Nobody is named for not answering.")
    return None


@dialog(EVENT_DIALOG)
def handle_event(runtime: Runtime, submission: DialogSubmission) -> dict[str, Any] | None:
    state = _read_state(runtime, submission)
    if state is None:
        return {"error": "This form could not be verified. Close it and type /learn prompts event again."}
    try:
        event_date = date.fromisoformat(_value(submission, "date"))
    except ValueError:
        return {"errors": {"date": "use YYYY-MM-DD, for example 2026-12-03"}}
    now = runtime.clock()
    try:
        with runtime.uow() as uow:
            community_id = community_for_channel(uow, runtime.settings, channel_id=state["channel_id"],
                                                 team_id=state.get("team_id"), channel_name=state.get("channel_name"),
                                                 now=now)
            rows = prompt_schedules.create_event_prompts(
                uow, community_id=community_id, timezone=state.get("timezone") or "UTC",
                label=_value(submission, "label"), event_date=event_date, when=_value(submission, "when") or "both",
                question_before=_value(submission, "question_before") or "What do you want to get out of it?",
                question_after=_value(submission, "question_after") or "What will you do differently now?",
                local_time=_value(submission, "time"), window=_value(submission, "window"),
                default_visibility=_value(submission, "visibility") or "private", created_by=submission.user_id,
                now=now)
    except prompt_schedules.InvalidSetup as exc:
        return {"errors": exc.errors}
    _respond_later(runtime, state.get("response_url"), f"Saved {len(rows)} event prompt(s).")
    return None


# ---------------------------------------------------------------- reflecting

def reflect_dialog(state: str, questions: list[dict[str, Any]], default_visibility: str) -> dict[str, Any]:
    elements: list[dict[str, Any]] = []
    for index, question in enumerate(q for q in questions if q["kind"] == "text"):
        elements.append({"display_name": f"Answer {index + 1}" if len(questions) > 1 else "Your reflection",
                         "name": f"answer{index + 1}", "type": "textarea", "optional": index > 0,
                         "help_text": question["text"][:150], "max_length": reflections.MAX_REFLECTION_LENGTH})
    for question in (q for q in questions if q["kind"] == "scale"):
        elements.append({"display_name": "On a scale of 1-5", "name": "scale", "type": "select", "optional": True,
                         "help_text": question["text"][:150],
                         "options": [{"text": str(n), "value": str(n)} for n in range(1, 6)]})
    elements.append({"display_name": "Who sees this", "name": "visibility", "type": "radio",
                     "default": default_visibility, "options": VISIBILITY_OPTIONS})
    return {"callback_id": REFLECT_DIALOG, "title": "Reflect", "submit_label": "Save", "state": state,
            "introduction_text": "\n".join(f"- {q['text']}" for q in questions), "elements": elements}


FREE_QUESTIONS = [{"kind": "text", "text": "What did you learn?"}]


@subcommand("reflect", usage="reflect [text]", example="reflect Pairing on the migration taught me to read plans first",
            summary="Write a reflection: it answers your open prompt, or stands on its own. Private unless you share it.")
def reflect_command(invocation: Invocation) -> Reply:
    runtime, request = invocation.runtime, invocation.request
    now = runtime.clock()
    with runtime.uow() as uow:
        open_prompt = prompt_delivery.latest_open_prompt(uow, request.user_id, now)
        community_id = open_prompt.community_id if open_prompt else _channel_community(runtime, uow, request, now)
        uow.commit()
    if not invocation.args:
        state = _state(runtime, user_id=request.user_id, delivery_id=open_prompt.delivery_id if open_prompt else None,
                       community_id=community_id, response_url=request.response_url)
        questions = open_prompt.questions if open_prompt else FREE_QUESTIONS
        problem = _open(runtime, request.trigger_id,
                        reflect_dialog(state, questions, open_prompt.default_visibility if open_prompt else "private"))
        return ephemeral(problem + f" You can also type `{_trigger(invocation)} reflect <text>`.") if problem else {}
    try:
        with runtime.uow() as uow:
            view = reflections.write(
                uow, user_id=request.user_id, author_name=request.user_name or None, text=invocation.args, scale=None,
                visibility="private", community_id=community_id,
                delivery_id=open_prompt.delivery_id if open_prompt else None, now=now, key=runtime.signing_key,
                public_url=runtime.settings.public_url_text, post_builder=_post_builder(runtime))
    except InvalidReflection as exc:
        return ephemeral(f"Not saved: {exc}.")
    answered = " It answers your open prompt." if open_prompt else ""
    return ephemeral(f"Saved to your private journal.{answered}",
                     attachments=[_share_buttons(runtime, view, can_share=community_id is not None)])


def _channel_community(runtime: Runtime, uow, request, now: datetime) -> int | None:
    if request.channel_name.startswith(("@", "__")) or "__" in request.channel_name:
        return None
    return community_for_channel(uow, runtime.settings, channel_id=request.channel_id, team_id=request.team_id or None,
                                 channel_name=request.channel_name or None, now=now)


def _share_buttons(runtime: Runtime, view: ReflectionView, *, can_share: bool) -> dict[str, Any]:
    from learnloop.mattermost.messages import ACTIONS_PATH

    def button(name: str, visibility: str) -> dict[str, Any]:
        return {"id": f"share{visibility}", "type": "button", "name": name,
                "integration": {"url": runtime.settings.public_url_text + ACTIONS_PATH, "context": signing.sign(
                    {"action": SHARE_ACTION, "reflection_id": view.id, "visibility": visibility}, runtime.signing_key)}}

    actions = [button("Share with my community", "community"), button("Publish to the wiki", "wiki")] if can_share else []
    return {"fallback": "Your reflection is private.", "text": "Only you can see it. Change your mind any time:",
            "actions": actions}


@dialog(REFLECT_DIALOG)
def handle_reflect(runtime: Runtime, submission: DialogSubmission) -> dict[str, Any] | None:
    state = _read_state(runtime, submission)
    if state is None:
        return {"error": "This form could not be verified. Close it and open it again."}
    answers = [_value(submission, f"answer{n}") for n in (1, 2, 3)]
    questions: list[dict[str, Any]] = FREE_QUESTIONS
    now = runtime.clock()
    delivery_id = state.get("delivery_id")
    if delivery_id is not None:
        with runtime.uow() as uow:
            view = prompt_delivery.prompt_for_delivery(uow, int(delivery_id), status=None)
        questions = view.questions if view else FREE_QUESTIONS
    texts = [q for q in questions if q["kind"] == "text"]
    if not answers[0]:
        return {"errors": {"answer1": "write at least a sentence, or close the form"}}
    body = answers[0] if len(texts) <= 1 else "\n\n".join(
        f"**{q['text']}**\n{a}" for q, a in zip(texts, answers) if a)
    scale_text = _value(submission, "scale")
    try:
        with runtime.uow() as uow:
            view = reflections.write(
                uow, user_id=submission.user_id, author_name=None, text=body,
                scale=int(scale_text) if scale_text.isdigit() else None,
                visibility=_value(submission, "visibility") or "private", community_id=state.get("community_id"),
                delivery_id=int(delivery_id) if delivery_id is not None else None, now=now, key=runtime.signing_key,
                public_url=runtime.settings.public_url_text, post_builder=_post_builder(runtime))
    except InvalidReflection as exc:
        field = "visibility" if "visibility" in str(exc) else "answer1"
        return {"errors": {field: str(exc)}}
    message = f"Saved: {VISIBILITY_WORDS[view.visibility]}." + (f" {WIKI_NOT_YET}" if view.visibility == "wiki" else "")
    _respond_later(runtime, state.get("response_url"), message)
    return None


@action(REFLECT_NOW)
def handle_reflect_now(runtime: Runtime, request: ActionRequest, context: dict[str, Any]) -> dict[str, Any]:
    try:
        with runtime.uow() as uow:
            view = prompt_delivery.open_prompt(uow, int(context["delivery_id"]), request.user_id, runtime.clock())
    except prompt_delivery.NotYourPrompt as exc:
        return {"ephemeral_text": f"{str(exc).capitalize()}. `/learn reflect` writes a reflection any time."}
    state = _state(runtime, user_id=request.user_id, delivery_id=view.delivery_id, community_id=view.community_id,
                   response_url=None)
    return _open_for_button(runtime, request, reflect_dialog(state, view.questions, view.default_visibility))


def _on_own_prompt(runtime: Runtime, request: ActionRequest, context: dict[str, Any], change, done: str) -> dict[str, Any]:
    """Skip and snooze: only the person the prompt was sent to, only while it is open."""
    try:
        with runtime.uow() as uow:
            change(uow, int(context["delivery_id"]), request.user_id, runtime.clock())
    except prompt_delivery.NotYourPrompt as exc:
        return {"ephemeral_text": f"{str(exc).capitalize()}."}
    return {"ephemeral_text": done}


@action(SKIP)
def handle_skip(runtime: Runtime, request: ActionRequest, context: dict[str, Any]) -> dict[str, Any]:
    return _on_own_prompt(runtime, request, context, prompt_delivery.skip,
                          "Skipped. No one is told; see you next time.")


@action(SNOOZE)
def handle_snooze(runtime: Runtime, request: ActionRequest, context: dict[str, Any]) -> dict[str, Any]:
    return _on_own_prompt(runtime, request, context, prompt_delivery.snooze, "Snoozed: learnloop asks again in a day.")


@action(SHARE_ACTION)
def handle_share(runtime: Runtime, request: ActionRequest, context: dict[str, Any]) -> dict[str, Any]:
    try:
        with runtime.uow() as uow:
            view = reflections.change_visibility(
                uow, user_id=request.user_id, reflection_id=int(context["reflection_id"]),
                visibility=str(context["visibility"]), author_name=request.user_name or None, now=runtime.clock(),
                key=runtime.signing_key, public_url=runtime.settings.public_url_text,
                post_builder=_post_builder(runtime))
    except (NotYours, InvalidReflection) as exc:
        return {"ephemeral_text": f"{str(exc).capitalize()}."}
    extra = f" {WIKI_NOT_YET}" if view.visibility == "wiki" else ""
    return {"ephemeral_text": f"Done: {VISIBILITY_WORDS[view.visibility]}.{extra}"}


# ---------------------------------------------------------------- journal

@subcommand("journal", usage="journal", example="journal",
            summary="Your own recent reflections, only visible to you, with edit and delete.")
def journal_command(invocation: Invocation) -> Reply:
    runtime, request = invocation.runtime, invocation.request
    with runtime.reader() as uow:
        entries = reflections.journal(uow, request.user_id, runtime.signing_key)
    if not entries:
        return ephemeral(f"Your journal is empty. `{_trigger(invocation)} reflect <text>` starts it.")
    return ephemeral(f"Your last {len(entries)} reflections (only you see this):",
                     attachments=[_journal_entry(runtime, entry) for entry in entries])


def _journal_entry(runtime: Runtime, entry: ReflectionView) -> dict[str, Any]:
    from learnloop.mattermost.messages import ACTIONS_PATH

    def button(name: str, action_name: str, style: str = "default") -> dict[str, Any]:
        return {"id": action_name.replace("_", ""), "type": "button", "name": name, "style": style,
                "integration": {"url": runtime.settings.public_url_text + ACTIONS_PATH, "context": signing.sign(
                    {"action": action_name, "reflection_id": entry.id}, runtime.signing_key)}}

    return {"fallback": entry.text[:100], "title": f"{entry.created_at:%a %d %b %Y} · {entry.visibility}",
            "text": entry.text, "actions": [button("Edit", EDIT_ACTION), button("Delete", DELETE_ACTION, "danger")]}


@action(EDIT_ACTION)
def handle_edit(runtime: Runtime, request: ActionRequest, context: dict[str, Any]) -> dict[str, Any]:
    try:
        with runtime.uow() as uow:
            entry = reflections.read_own(uow, request.user_id, int(context["reflection_id"]), runtime.signing_key)
    except NotYours as exc:
        return {"ephemeral_text": f"{str(exc).capitalize()}."}
    state = _state(runtime, user_id=request.user_id, reflection_id=entry.id)
    form = {"callback_id": EDIT_DIALOG, "title": "Edit reflection", "submit_label": "Save", "state": state,
            "elements": [{"display_name": "Your reflection", "name": "text", "type": "textarea", "default": entry.text,
                          "max_length": reflections.MAX_REFLECTION_LENGTH}]}
    return _open_for_button(runtime, request, form)


@dialog(EDIT_DIALOG)
def handle_edit_submit(runtime: Runtime, submission: DialogSubmission) -> dict[str, Any] | None:
    state = _read_state(runtime, submission)
    if state is None:
        return {"error": "This form could not be verified."}
    try:
        with runtime.uow() as uow:
            reflections.edit(uow, submission.user_id, int(state["reflection_id"]), _value(submission, "text"),
                             runtime.clock(), runtime.signing_key)
    except InvalidReflection as exc:
        return {"errors": {"text": str(exc)}}
    except NotYours as exc:
        return {"error": str(exc)}
    return None


@action(DELETE_ACTION)
def handle_delete(runtime: Runtime, request: ActionRequest, context: dict[str, Any]) -> dict[str, Any]:
    state = _state(runtime, user_id=request.user_id, reflection_id=int(context["reflection_id"]))
    form = {"callback_id": DELETE_DIALOG, "title": "Delete reflection?", "submit_label": "Delete", "state": state,
            "introduction_text": "It is removed from your journal for good. A post already shared in a channel stays.",
            "elements": []}
    return _open_for_button(runtime, request, form)


@dialog(DELETE_DIALOG)
def handle_delete_submit(runtime: Runtime, submission: DialogSubmission) -> dict[str, Any] | None:
    state = _read_state(runtime, submission)
    if state is None:
        return {"error": "This form could not be verified."}
    try:
        with runtime.uow() as uow:
            reflections.delete(uow, submission.user_id, int(state["reflection_id"]))
    except NotYours as exc:
        return {"error": str(exc)}
    return None


@subcommand("dashboard", usage="dashboard", example="dashboard",
            summary="Owners: a one-time link to this community's dashboard (group figures only, never one person).")
def dashboard_command(invocation: Invocation) -> Reply:
    from learnloop.services import signin

    runtime, request = invocation.runtime, invocation.request
    if not is_community_owner(runtime, request.channel_id, request.user_id):
        return ephemeral("Only this community's owners see its dashboard. It shows the community, never a person.")
    with runtime.uow() as uow:
        community_id = community_for_channel(uow, runtime.settings, channel_id=request.channel_id,
                                             team_id=request.team_id or None, channel_name=request.channel_name or None,
                                             now=runtime.clock())
        uow.commit()
        token = signin.issue(uow, user_id=request.user_id, username=request.user_name or None,
                             next_path=f"/dashboard/{community_id}", now=runtime.clock())
    link = f"{runtime.settings.public_url_text}/signin/{token}"
    return ephemeral(f"[Open the dashboard]({link}) (only for you; works once, for 10 minutes).")
