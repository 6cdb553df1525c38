"""`/learn prompts ...`: each person's own prompt settings, and the owners' set-up, event and stop, with the
set-up and event dialogs."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from learnloop.domain.preferences import InvalidPreference, describe_pause_end, pause_last_day
from learnloop.domain.schedules import InvalidSchedule, at_local_time, local_day, parse_amount, positive_int
from learnloop.domain.wording import counted
from learnloop.mattermost.commands import CommandRegistry, Invocation, Reply
from learnloop.mattermost.context import Chat
from learnloop.mattermost.dialogs import open_dialog, value_of
from learnloop.mattermost.messages import ephemeral, refused_value
from learnloop.mattermost.ownership import OWNERS, for_owners, owns_channel
from learnloop.mattermost.payloads import DialogSubmission
from learnloop.mattermost.reflection_words import visibility_options
from learnloop.mattermost.replies import respond_later
from learnloop.mattermost.signed_state import dialog_state
from learnloop.services import seeding
from learnloop.services.communities import community_for_channel, community_zone
from learnloop.services.prompts import preferences, setup
from learnloop.services.prompts.timing import preferences_of, schedule_of, zone
from learnloop.storage.tables import PromptSchedule
from learnloop.storage.unit_of_work import UnitOfWork

SETUP_DIALOG, EVENT_DIALOG = "prompt_setup", "prompt_event"
PROMPTS_HELP = (
    "`{t} prompts` shows your settings. Yours to change: `{t} prompts off`, `{t} prompts on`, "
    "`{t} prompts pause 2w` (or `pause until 2026-12-24`), `{t} prompts resume`, "
    "`{t} prompts time 16:30` (or `time default`), "
    "`{t} prompts quiet 22:00-07:00` (or `quiet off`), `{t} prompts nudges off` (or `nudges on`). "
    "Community owners: `{t} prompts setup`, `{t} prompts event`, `{t} prompts stop <number>`, "
    "`{t} prompts pause <number> until 2026-12-24` (a holiday: nobody is asked it through that day), "
    "`{t} prompts resume <number>`."
)


def can_publish(chat: Chat, channel_id: str | None) -> bool:
    configured = chat.settings.community_for_channel(channel_id) if channel_id else None
    return bool(configured and configured.wiki_spaces)


def prompts_command(invocation: Invocation) -> Reply:
    chat, request = invocation.chat, invocation.request
    word, _, rest = invocation.args.partition(" ")
    word, rest, now, user, t = word.lower(), rest.strip(), chat.clock(), request.user_id, invocation.trigger
    number = rest.partition(" ")[0]
    numbered = number.isascii() and number.isdigit()  # a number names a prompt, 0 too ("no prompt number 0")
    owners_pause = word == "pause" and numbered and parse_amount(rest) is None
    if owners_pause or (word == "resume" and numbered and number == rest):  # `pause 2 weeks` is one's own
        return _hold_prompt(invocation, word, rest)
    try:
        with chat.uow() as uow:
            if word == "":
                return ephemeral(_status_text(chat, uow, request.channel_id, user, t))
            if word in ("off", "on") and rest:
                return ephemeral(_off_on_what(word, rest, t))
            if word in ("off", "on"):
                preferences.set_enabled(uow, user, word == "on", now)
                return ephemeral("Prompts are on." if word == "on" else
                                 f"Prompts are off: nobody will ask you anything. `{t} prompts on` turns them back on.")
            if word == "pause":
                try:
                    community_tz = community_zone(uow, chat.settings, channel_id=request.channel_id)
                    until, tz = preferences.pause(uow, user, rest, now, community_tz)
                except InvalidPreference as exc:
                    return refused_value(exc, f"{t} prompts pause <3d|2w|1m> | pause until <YYYY-MM-DD>",
                                         f"{t} prompts pause 2w")
                return ephemeral(f"Your own prompts are paused {describe_pause_end(until, tz, now)}. "
                                 f"`{t} prompts resume` ends the pause early.")
            if word == "resume" and rest:
                return ephemeral(_resume_what(rest, t))
            if word == "resume":
                if not preferences.resume(uow, user, now):
                    return ephemeral("You were not paused: your prompts come as usual. Nothing changed.")
                return ephemeral("Welcome back: prompts resume from the next one.")
            if word in ("time", "quiet") and not rest:
                return ephemeral(_setting_and_usage(uow, user, word, t))
            if word == "time":
                value = preferences.set_time_of_day(uow, user, None if rest.lower() in ("", "default") else rest, now)
                return ephemeral(f"Your prompts now come at {value}, your local time." if value else
                                 "Your prompts now come at each community's own time.")
            if word == "quiet":
                value = preferences.set_quiet_hours(uow, user, rest, now)
                return ephemeral(f"Quiet hours {value}: prompts falling then wait until they end." if value else
                                 "Quiet hours are off.")
            if word == "nudges":
                if rest.lower() not in ("on", "off"):
                    now_on, other = ("on", "off") if preferences_of(uow.members.get(user)).nudges else ("off", "on")
                    return ephemeral(f"Your reminders are {now_on}. Turn them {other} with "
                                     f"`{t} prompts nudges {other}`." + (" Nothing changed." if rest else ""))
                preferences.set_nudges(uow, user, rest.lower() == "on", now)
                return ephemeral("Reminders are on: one private nudge before a prompt closes." if rest.lower() == "on"
                                 else "No more reminders.")
    except (InvalidPreference, InvalidSchedule) as exc:
        return ephemeral(f"{exc}.")
    if word in ("setup", "event", "stop"):
        return _owner_command(invocation, word, rest)
    return ephemeral(f"`{t} prompts {word[:30]}` is not something learnloop knows. " + PROMPTS_HELP.format(t=t))


def _hold_prompt(invocation: Invocation, word: str, rest: str) -> Reply:
    """An owner's `prompts pause <number> until <date>` or `prompts resume <number>`: one prompt held back for a
    holiday (a number tells them from one's own pause and resume)."""
    chat, request, t = invocation.chat, invocation.request, invocation.trigger
    number, _, when = rest.partition(" ")
    if not owns_channel(chat, request):
        if word == "resume":
            return ephemeral(_resume_what(rest, t))
        return ephemeral(f"Only this community's owners ({OWNERS}) can pause its prompts. Your own: `{t} prompts "
                         f"pause 2w` or `{t} prompts pause until 2026-12-24`. Nothing changed.")
    now = chat.clock()
    with chat.uow() as uow:
        found = _running_prompt(uow, request.channel_id, number, word, t)
        if isinstance(found, str):
            return ephemeral(found)
        row, named = found
        if word == "resume":
            said = f"{named} is no longer paused: members are asked it again from its next date after today."
            return ephemeral(said if setup.resume(uow, row, now) else
                             f"Prompt {number} is not paused: members are asked it as usual. Nothing changed.")
        if row.event_part is not None:
            return ephemeral(f"Prompt {number} is asked once, for an event, so a pause would only skip it: "
                             f"`{t} prompts stop {number}` stops it. Nothing changed.")
        try:
            last_day = pause_last_day(when.strip().lower().removeprefix("until").strip(), setup.local_today(row, now))
        except InvalidPreference as exc:
            return refused_value(exc, f"{t} prompts pause <number> until <YYYY-MM-DD>",
                                 f"{t} prompts pause {number} until 2026-12-24")
        said = (f"{named} is paused through {local_day(last_day, now, ZoneInfo(row.timezone))} ({row.timezone}): "
                "nobody is asked it for those dates, and a prompt already sent can still be answered. "
                f"`{t} prompts resume {number}` ends the pause early.")
        setup.pause(uow, row, last_day, now)
    return ephemeral(said)


def _running_prompt(uow: UnitOfWork, channel_id: str, number: str, word: str,
                    t: str) -> tuple[PromptSchedule, str] | str:
    """This channel's running prompt of that number and how replies name it, or why `word` (stop, pause or resume)
    leaves it as it is."""
    community = uow.communities.by_channel(channel_id)
    schedule_id = positive_int(number)
    row = setup.community_prompt(uow, community.id, schedule_id) if community and schedule_id else None
    if row is None:
        return (f"This channel has no prompt number {number[:20]}: `{t} prompts` lists them with their numbers. "
                "Nothing changed.")
    named = f"Prompt {number} ({_quoted(row.questions)})"
    if row.active:
        return row, named
    if word == "stop":
        return f"{named} was stopped already. Nothing changed."
    return (f"Prompt {number} is stopped. A stopped prompt cannot be {'resumed' if word == 'resume' else 'paused'}: "
            f"an owner sets it up again with `{t} prompts setup`. Nothing changed.")


def _resume_what(rest: str, t: str) -> str:
    """`prompts resume` with something after it: it ends one's own pause, and takes nothing."""
    if rest.isdigit():
        return (f"`{t} prompts resume` ends your own pause and takes no number: a prompt's number is for its "
                f"owners, who pause and resume it for everyone. Nothing changed.")
    return f"`{t} prompts resume` takes nothing after it: it ends your own pause. Nothing changed."


def _off_on_what(word: str, rest: str, t: str) -> str:
    """`prompts off` or `prompts on` with something after it: they turn all one's prompts off or on, and take
    nothing (`off 3` turning off every prompt would surprise)."""
    took = "takes no number: a prompt's number is for its owners, who stop or pause it for everyone" \
        if rest.isdigit() else "takes nothing after it"
    return (f"`{t} prompts {word}` {took}. `{t} prompts off` turns off all your prompts, from every community, and "
            f"`{t} prompts on` turns them back on. To stop one community's prompts, leave its channel: nobody who "
            "left is asked. Nothing changed.")


def _setting_and_usage(uow: UnitOfWork, user_id: str, word: str, t: str) -> str:
    """`prompts time` or `prompts quiet` with nothing after it: what it is now, and how to change it."""
    prefs = preferences_of(uow.members.get(user_id))
    if word == "time":
        when = f"at {prefs.time_of_day:%H:%M}, your local time" if prefs.time_of_day else "at each community's own time"
        return (f"Your prompts come {when}. Change it with `{t} prompts time 16:30` (24-hour, your local time), or "
                f"`{t} prompts time default` for each community's own time.")
    quiet = prefs.quiet_hours
    hours = f"are {quiet.start:%H:%M}-{quiet.end:%H:%M}" if quiet else "are off"
    return (f"Your quiet hours {hours}. Set them with `{t} prompts quiet 22:00-07:00` (prompts falling then wait until "
            f"they end), or turn them off with `{t} prompts quiet off`.")


def _status_text(chat: Chat, uow: UnitOfWork, channel_id: str, user_id: str, t: str) -> str:
    member = uow.members.get(user_id)
    prefs = preferences_of(member)
    lines = ["**Your prompts**: " + ("on" if prefs.enabled else "off")]
    now = chat.clock()
    if prefs.paused_until and prefs.paused_until > now:
        tz = zone(member.timezone if member else None, community_zone(uow, chat.settings, channel_id=channel_id))
        lines.append(f"- paused {describe_pause_end(prefs.paused_until, tz, now)}")
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
            paused = setup.paused_through(row, now)
            held = f", paused through {local_day(paused, now, ZoneInfo(row.timezone))}" if paused else ""
            lines.append(f"{row.id}. {setup.describe(row, schedule_of(row).describe())}, {row.timezone}{held}: "
                         f"{asked}")
    lines.append("\n" + PROMPTS_HELP.format(t=t))
    return "\n".join(lines)


def _owner_command(invocation: Invocation, word: str, rest: str) -> Reply:
    chat, request = invocation.chat, invocation.request
    if not owns_channel(chat, request):
        return ephemeral(f"Only this community's owners ({OWNERS}) can change its prompts. Your own settings: "
                         "`/learn prompts`.")
    if word == "stop":
        return _stop_schedule(chat, request.channel_id, rest, invocation.trigger)
    with chat.reader() as uow:
        timezone = community_zone(uow, chat.settings, channel_id=request.channel_id)
    dialog = SETUP_DIALOG if word == "setup" else EVENT_DIALOG
    state = dialog_state(dialog, request.user_id, chat.signing_key, channel_id=request.channel_id,
                         team_id=request.team_id, channel_name=request.channel_name, timezone=timezone,
                         response_url=request.response_url)
    publish = can_publish(chat, request.channel_id)
    form = setup_dialog(state, timezone, publish) if word == "setup" else event_dialog(state, timezone, publish)
    problem = open_dialog(chat, request.trigger_id, form)
    return ephemeral(problem) if problem else {}


def _stop_schedule(chat: Chat, channel_id: str, rest: str, t: str) -> Reply:
    if not (rest.isascii() and rest.isdigit() and len(rest) <= 18):  # 0 gets "no prompt number 0"
        return ephemeral(f"Which one? `{t} prompts` lists this channel's prompts with their numbers; then "
                         f"`{t} prompts stop <number>`. Nothing changed.")
    with chat.uow() as uow:
        found = _running_prompt(uow, channel_id, rest, "stop", t)
        if isinstance(found, str):
            return ephemeral(found)
        row, named = found
        setup.stop(uow, row, chat.clock())
    return ephemeral(f"{named} is stopped: nobody will be asked it again (one already sent can still be answered).")


def _text(name: str, label: str, *, optional: bool = True, default: str = "", placeholder: str = "",
          help_text: str = "", max_length: int = 150) -> dict[str, Any]:
    return {"display_name": label, "name": name, "type": "text", "optional": optional, "default": default,
            "placeholder": placeholder, "help_text": help_text, "max_length": max_length}


def _visibility(default: str, publish: bool) -> dict[str, Any]:
    return {"display_name": "Who sees answers", "name": "visibility", "type": "radio", "default": default,
            "options": visibility_options(publish), "help_text": "Each person can still choose per answer."}


def setup_dialog(state: str, timezone: str, publish: bool = True) -> dict[str, Any]:
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
            _text("time", "Local time", optional=False, default="16:30",
                  help_text="24-hour HH:MM, each member's own time"),
            _text("window", "Answer window", optional=False, default="16h", help_text="for example 16h, 2d"),
            _text("timezone", "Community time zone", optional=False, default=timezone,
                  help_text="Used for members whose Mattermost time zone is unknown"),
            _visibility("private", publish),
        ],
    }


def event_dialog(state: str, timezone: str, publish: bool = True) -> dict[str, Any]:
    return {
        "callback_id": EVENT_DIALOG, "title": "Prompts for an event", "submit_label": "Save", "state": state,
        "introduction_text": "One-off questions the day before an event and/or on the day itself.",
        "elements": [
            _text("label", "Event", optional=False, placeholder="Kubernetes training",
                  max_length=setup.MAX_EVENT_NAME),
            _text("date", "Date", optional=False, placeholder="2026-12-03", help_text="YYYY-MM-DD"),
            {"display_name": "When", "name": "when", "type": "radio", "default": "both",
             "options": [{"text": "The day before", "value": "before"}, {"text": "On the day", "value": "after"},
                         {"text": "Both", "value": "both"}]},
            _text("question_before", "Question before", default="What do you want to get out of it?", max_length=300),
            _text("question_after", "Question after", default="What will you do differently now?", max_length=300),
            _text("time", "Time", optional=False, default="17:00",
                  help_text=f"24-hour HH:MM in {timezone}, the same moment for everyone"),
            _text("window", "Answer window", optional=False, default="2d"),
            _visibility("private", publish),
        ],
    }


def _community(chat: Chat, uow: UnitOfWork, state: dict[str, Any]) -> int:
    return community_for_channel(uow, chat.settings, channel_id=str(state["channel_id"]),
                                 team_id=state.get("team_id") or None, channel_name=state.get("channel_name") or None,
                                 now=chat.clock())


def setup_reply(created: setup.Created) -> str:
    """What an owner hears once a prompt is set up (the form, the starter kit or the dashboard)."""
    described = setup.describe(created.schedule, schedule_of(created.schedule).describe())
    if created.existing:
        return (f"That prompt is already set up (number {created.schedule.id}): members are asked {described}. "
                "Nothing new was saved.")
    said = (f"Saved as prompt {created.schedule.id}: members will be asked {_quoted(created.schedule.questions)} "
            f"{described}, each at their own local time. Nobody is named for not answering.")
    for other in created.same_time:
        said += (f" Prompt {other.id} ({_quoted(other.questions)}) is asked at the same time; if the new one "
                 f"replaces it, stop the older one with `/learn prompts stop {other.id}`.")
    return said


def _quoted(questions: list[dict[str, Any]]) -> str:
    return ", ".join(f"“{question['text']}”" for question in questions)


def handle_setup(chat: Chat, submission: DialogSubmission, state: dict[str, Any]) -> Reply | None:
    values = submission.submission
    prompt = setup.PromptSetup(
        questions=[value_of(values, f"question{n}") for n in (1, 2, 3)],
        scale_question=value_of(values, "scale_question") or None, repeat=value_of(values, "repeat"),
        local_time=value_of(values, "time"), window=value_of(values, "window"),
        default_visibility=value_of(values, "visibility") or "private",
        timezone=value_of(values, "timezone") or "UTC",
    )
    try:
        with chat.uow() as uow:
            created, offer_kit = seeding.create_prompt(
                uow, community_id=_community(chat, uow, state), setup=prompt, created_by=submission.user_id,
                now=chat.clock(), can_publish=can_publish(chat, str(state["channel_id"])))
    except setup.InvalidSetup as exc:
        return {"errors": exc.errors}
    text = setup_reply(created)
    if offer_kit:
        text += ("\nNew community? `/learn seed` also posts a starter shelf of your wiki's best and newest pages "
                 "with rating buttons, and pins the dashboard to this channel.")
    respond_later(chat, state.get("response_url"), text, key=f"setup:{created.schedule.id}")
    return None


def handle_event(chat: Chat, submission: DialogSubmission, state: dict[str, Any]) -> Reply | None:
    values = submission.submission
    try:
        event_date = date.fromisoformat(value_of(values, "date"))
    except ValueError:
        return {"errors": {"date": "use YYYY-MM-DD, for example 2026-12-03"}}
    try:
        with chat.uow() as uow:
            created = setup.create_event_prompts(
                uow, community_id=_community(chat, uow, state), timezone=state.get("timezone") or "UTC",
                label=value_of(values, "label"), event_date=event_date, when=value_of(values, "when") or "both",
                question_before=value_of(values, "question_before") or "What do you want to get out of it?",
                question_after=value_of(values, "question_after") or "What will you do differently now?",
                local_time=value_of(values, "time"), window=value_of(values, "window"),
                default_visibility=value_of(values, "visibility") or "private", created_by=submission.user_id,
                now=chat.clock(), can_publish=can_publish(chat, str(state["channel_id"])))
    except setup.InvalidSetup as exc:
        return {"errors": exc.errors}
    respond_later(chat, state.get("response_url"), event_reply(created),
                  key=f"event:{created[0].schedule.id if created else 0}")
    return None


def event_reply(created: list[setup.Created]) -> str:
    """What an owner hears once an event's prompts are set up: those saved, and those already set up."""
    saved = [one for one in created if not one.existing]
    kept = [one for one in created if one.existing]
    said = [f"Saved {counted(len(saved), 'event prompt', 'event prompts')}: {_described(saved)}, "
            f"{at_local_time(schedule_of(saved[0].schedule).local_time, saved[0].schedule.timezone)}."] if saved else []
    if kept:
        said.append(f"Already set up, so nothing new was saved for {_described(kept)}.")
    return " ".join(said)


def _described(created: list[setup.Created]) -> str:
    return "; ".join(setup.describe(one.schedule, schedule_of(one.schedule).describe())
                     + (f" (number {one.schedule.id})" if one.existing else "") for one in created)


def register(commands: CommandRegistry) -> None:
    commands.subcommand(
        "prompts", usage="prompts [setup|event|stop <number>|pause <number> until YYYY-MM-DD|resume <number>|off|on|"
              "pause 2w|pause until YYYY-MM-DD|resume|time 16:30|time default|quiet 22:00-07:00|quiet off|"
              "nudges off|nudges on]",
        example="prompts pause 2w",
        summary="Your reflection prompts: when, whether, quiet hours. Owners set up what the community is asked, "
                "and pause or stop a prompt for everyone (by its number).",
        handler=prompts_command)
    commands.dialog(SETUP_DIALOG, for_owners(handle_setup))
    commands.dialog(EVENT_DIALOG, for_owners(handle_event))
