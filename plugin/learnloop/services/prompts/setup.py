"""Community owners set up what to ask and when; nothing half-saved if any part is wrong."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.relativedelta import relativedelta

from learnloop.domain.schedules import (
    InvalidSchedule,
    Schedule,
    due_at,
    parse_rule,
    parse_schedule,
    parse_time_of_day,
    parse_window,
    still_open_or_to_come,
)
from learnloop.services.prompts.delivered import stop_unsent
from learnloop.services.reflections import check_visibility
from learnloop.storage.tables import PromptSchedule
from learnloop.storage.unit_of_work import UnitOfWork

MAX_QUESTIONS = 3
MAX_QUESTION_LENGTH = 300
MAX_TIMEZONE_LENGTH = 64
EVENT_PARTS = {"before": "the day before", "after": "on the day"}
MAX_EVENT_YEARS_AHEAD = 5
MAX_EVENT_NAME = 80


class InvalidSetup(ValueError):
    """Maps each field name to what is wrong with it, for the dialog's own error format."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))


@dataclass(frozen=True)
class PromptSetup:
    questions: list[str]
    scale_question: str | None
    repeat: str
    local_time: str
    window: str
    default_visibility: str
    label: str | None = None
    timezone: str = "UTC"


@dataclass(frozen=True)
class Created:
    schedule: PromptSchedule
    existing: bool
    """True when the same prompt was set up before (a form submitted twice): nothing new was saved."""
    same_time: tuple[PromptSchedule, ...] = ()
    """The community's other running prompts asked on the same dates at the same time: perhaps one this replaces."""


def _questions(setup: PromptSetup, errors: dict[str, str]) -> list[dict[str, str]]:
    texts = [q.strip() for q in setup.questions if q and q.strip()]
    if not texts:
        errors["question1"] = "ask at least one question, for example: What did you learn this week?"
    if len(texts) > MAX_QUESTIONS:
        errors["question1"] = f"ask at most {MAX_QUESTIONS} questions"
    questions = [{"kind": "text", "text": text} for text in texts]
    if setup.scale_question and setup.scale_question.strip():
        questions.append({"kind": "scale", "text": setup.scale_question.strip()})
    for index, question in enumerate(questions, start=1):
        if len(question["text"]) > MAX_QUESTION_LENGTH:
            errors[f"question{index}" if question["kind"] == "text" else "scale_question"] = (
                f"keep questions to at most {MAX_QUESTION_LENGTH} characters")
    return questions


def check_timezone(name: str) -> str | None:
    """What is wrong with a time zone name, or None."""
    if len(name) > MAX_TIMEZONE_LENGTH:
        return f"a time zone name has at most {MAX_TIMEZONE_LENGTH} characters, like Europe/Berlin"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe" names a folder of the database
        return f"'{name[:40]}' is not a time zone; use one like Europe/Berlin"
    return None


def validate(setup: PromptSetup, *, can_publish: bool = True) -> tuple[list[dict[str, str]], Schedule]:
    """Every wrong field at once, each with what to write instead."""
    errors: dict[str, str] = {}
    questions = _questions(setup, errors)
    for field, parse, text in (("repeat", parse_rule, setup.repeat), ("time", parse_time_of_day, setup.local_time),
                               ("window", parse_window, setup.window)):
        try:
            parse(text)
        except InvalidSchedule as exc:
            errors[field] = str(exc)
    zone_problem = check_timezone(setup.timezone)
    if zone_problem:
        errors["timezone"] = zone_problem
    try:
        check_visibility(setup.default_visibility)
        if setup.default_visibility == "wiki" and not can_publish:
            errors["visibility"] = ("this community has no wiki space to publish to yet; choose private or "
                                    "community (your admin maps wiki spaces in learnloop.toml)")
    except ValueError as exc:
        errors["visibility"] = str(exc)
    if errors:
        raise InvalidSetup(errors)
    return questions, parse_schedule(setup.repeat, setup.local_time, setup.window)


def _row(community_id: int, setup: PromptSetup, questions: list[dict[str, str]], schedule: Schedule,
         anchor: date, created_by: str, now: datetime, **event: object) -> PromptSchedule:
    return PromptSchedule(
        community_id=community_id, label=setup.label, questions=questions, rrule=schedule.rrule,
        local_time=schedule.local_time.strftime("%H:%M"), window_minutes=int(schedule.window / timedelta(minutes=1)),
        timezone=setup.timezone, anchor_date=anchor, default_visibility=setup.default_visibility, active=True,
        created_by=created_by, created_at=now, **event)


def create(uow: UnitOfWork, *, community_id: int, setup: PromptSetup, created_by: str, now: datetime,
           anchor: date | None = None, can_publish: bool = True) -> Created:
    """A new schedule, unless the community already has the same one running (the form sent twice)."""
    questions, schedule = validate(setup, can_publish=can_publish)
    zone = ZoneInfo(setup.timezone)
    anchor = anchor or now.astimezone(zone).date()  # the community's today: the rule's first date and week start
    if not still_open_or_to_come(schedule, anchor, zone, now):
        raise InvalidSetup({"repeat": "this repeat has no date still to come, so the prompt would never go out: "
                                      "give a later UNTIL, or leave it out"})
    row = _row(community_id, setup, questions, schedule, anchor, created_by, now)
    existing = _running(uow, row)
    if existing is not None:
        return Created(existing, existing=True)
    same_time = tuple(_same_time(uow, row))
    uow.schedules.add(row)
    uow.commit()
    return Created(row, existing=False, same_time=same_time)


_SAME = ("questions", "rrule", "local_time", "window_minutes", "timezone", "label", "event_name", "event_date",
         "event_part")


def _running(uow: UnitOfWork, row: PromptSchedule) -> PromptSchedule | None:
    """The community's running schedule that asks what `row` would, when and of whom (a form sent twice)."""
    for existing in uow.schedules.for_community(row.community_id):
        if all(getattr(existing, field) == getattr(row, field) for field in _SAME):
            return existing
    return None


def _same_time(uow: UnitOfWork, row: PromptSchedule) -> list[PromptSchedule]:
    return [other for other in uow.schedules.for_community(row.community_id)
            if other.event_part is None and (other.rrule, other.local_time, other.timezone) ==
            (row.rrule, row.local_time, row.timezone)]


def create_event_prompts(
    uow: UnitOfWork, *, community_id: int, timezone: str, label: str, event_date: date, when: str,
    question_before: str, question_after: str, local_time: str, window: str, default_visibility: str,
    created_by: str, now: datetime, can_publish: bool = True,
) -> list[Created]:
    """One-off prompts around an event: the day before it, and/or on the day itself. Each names the event and
    its date; the pair shares a key, so the prompt after can remind each person of their answer before. A part
    already running (the form sent twice) is not made again, and one added to it shares its key."""
    name = " ".join(label.split())
    errors: dict[str, str] = {}
    if when not in ("before", "after", "both"):
        errors["when"] = "choose before, after or both"
    if not name:
        errors["label"] = "name the event, for example: Kubernetes training"
    elif len(name) > MAX_EVENT_NAME:
        errors["label"] = f"keep the event's name to {MAX_EVENT_NAME} characters (it has {len(name)})"
    today = now.astimezone(ZoneInfo(timezone) if not check_timezone(timezone) else ZoneInfo("UTC")).date()
    latest = today + relativedelta(years=MAX_EVENT_YEARS_AHEAD)  # from 29 February: 28 February
    if event_date < today:
        errors["date"] = f"{event_date:%a %d %b %Y} has passed; choose a date from today on"
    elif event_date > latest:
        errors["date"] = (f"{event_date:%a %d %b %Y} is more than {MAX_EVENT_YEARS_AHEAD} years ahead; choose a date "
                          f"up to {latest:%Y-%m-%d}")
    elif when in ("before", "both") and event_date - timedelta(days=1) < today:
        errors["when"] = "the day before has passed; choose 'On the day'"
    if errors:
        raise InvalidSetup(errors)
    rows = []
    for part, day, question in (("before", event_date - timedelta(days=1), question_before),
                                ("after", event_date, question_after)):
        if when not in (part, "both"):
            continue
        setup = PromptSetup(questions=[question], scale_question=None, repeat="FREQ=DAILY;COUNT=1",
                            local_time=local_time, window=window, default_visibility=default_visibility,
                            label=f"{part}: {name}", timezone=timezone)
        try:
            questions, schedule = validate(setup, can_publish=can_publish)
        except InvalidSetup as exc:  # its one question is the event dialog's question_before or question_after
            raise InvalidSetup({f"question_{part}" if field == "question1" else field: message
                                for field, message in exc.errors.items()}) from None
        zone = ZoneInfo(timezone)
        if not still_open_or_to_come(schedule, day, zone, now):  # as create() refuses a repeat with no date to come
            closes = (due_at(schedule, day, zone) + schedule.window).astimezone(zone)
            raise InvalidSetup({"time": f"{EVENT_PARTS[part].capitalize()}, its answers would close at "
                                        f"{closes:%H:%M} on {closes:%a %d %b}, which has passed, so it would never "
                                        f"go out: choose a later time or a longer window"})
        rows.append(_row(community_id, setup, questions, schedule, day, created_by, now, event_name=name,
                         event_date=event_date, event_part=part))
    running = [_running(uow, row) for row in rows]
    key = next((found.event_key for found in running if found is not None), None) or secrets.token_hex(8)
    created = []
    for row, found in zip(rows, running, strict=True):
        if found is not None:
            created.append(Created(found, existing=True))
            continue
        row.event_key = key
        created.append(Created(uow.schedules.add(row), existing=False))
    uow.commit()
    return created


def describe(row: PromptSchedule, when: str) -> str:
    """How `/learn prompts` lists a schedule: an event prompt by its event and date."""
    if row.event_name and row.event_date:
        return f"{row.event_name} on {row.event_date:%a %d %b %Y} ({EVENT_PARTS.get(row.event_part or '', '')})"
    return f"{when} ({row.label})" if row.label else when


def stop(uow: UnitOfWork, row: PromptSchedule, now: datetime) -> None:
    """No new runs, none of the runs already planned ahead is sent, and no reminder follows a prompt already
    sent (it can still be answered)."""
    row.active = False
    stop_unsent(uow, [row.id], now)
    uow.commit()


def community_prompt(uow: UnitOfWork, community_id: int, schedule_id: int) -> PromptSchedule | None:
    """The community's prompt of this number, running or stopped, its row held until the transaction ends: the
    worker plans its dates before or after a pause, never meanwhile."""
    row = uow.schedules.locked(schedule_id)
    return row if row is not None and row.community_id == community_id else None


def local_today(row: PromptSchedule, now: datetime) -> date:
    return now.astimezone(ZoneInfo(row.timezone)).date()


def paused_through(row: PromptSchedule, now: datetime) -> date | None:
    """The last date of the prompt's pause, while it lasts."""
    return row.paused_through if row.paused_through and row.paused_through >= local_today(row, now) else None


def pause(uow: UnitOfWork, row: PromptSchedule, last_day: date, now: datetime) -> None:
    """Nobody is asked the prompt of a date from today to `last_day` (its own zone): none planned, none planned
    already sent, none counted unanswered; a snoozed one lapses unanswered (it was sent), prompts already sent
    can still be answered, and those of earlier dates not sent yet (a member far west of the prompt's zone) still
    go. A pause set again keeps its first day; a shorter one plans the dates after it again."""
    before = paused_through(row, now)
    if before is None:
        row.paused_from = local_today(row, now)
    row.paused_through = last_day
    stop_unsent(uow, [row.id], now, paused=(row.paused_from or local_today(row, now), last_day))
    if before is not None and before > last_day:
        _plan_again_after(uow, row, last_day)
    uow.commit()


def resume(uow: UnitOfWork, row: PromptSchedule, now: datetime) -> bool:
    """Ends a pause early: the dates after today are planned as usual, today's and those before stay skipped;
    False when it was not paused (nothing changed)."""
    if paused_through(row, now) is None:
        return False
    row.paused_from = row.paused_through = None
    _plan_again_after(uow, row, local_today(row, now))
    uow.commit()
    return True


def _plan_again_after(uow: UnitOfWork, row: PromptSchedule, day: date) -> None:
    if row.planned_through is not None and row.planned_through > day:
        row.planned_through = day
    uow.deliveries.unpause(row.id, day)
    uow.runs.plan_again(row.id, day)
