"""Community owners set up what to ask and when; nothing half-saved if any part is wrong."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from learnloop.domain.schedules import (
    InvalidSchedule,
    Schedule,
    parse_rule,
    parse_schedule,
    parse_time_of_day,
    parse_window,
)
from learnloop.services.reflections import check_visibility
from learnloop.storage.tables import PromptSchedule
from learnloop.storage.unit_of_work import UnitOfWork

MAX_QUESTIONS = 3
MAX_QUESTION_LENGTH = 300


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


def validate(setup: PromptSetup) -> tuple[list[dict[str, str]], Schedule]:
    errors: dict[str, str] = {}
    questions = _questions(setup, errors)
    for field, parse, text in (("repeat", parse_rule, setup.repeat), ("time", parse_time_of_day, setup.local_time),
                               ("window", parse_window, setup.window)):
        try:
            parse(text)
        except InvalidSchedule as exc:
            errors[field] = str(exc)
    schedule = None
    if not errors:
        schedule = parse_schedule(setup.repeat, setup.local_time, setup.window)
    try:
        check_visibility(setup.default_visibility)
    except ValueError as exc:
        errors["visibility"] = str(exc)
    if errors:
        raise InvalidSetup(errors)
    assert schedule is not None
    return questions, schedule


def create(
    uow: UnitOfWork, *, community_id: int, timezone: str, setup: PromptSetup, created_by: str, now: datetime,
    anchor: date | None = None,
) -> PromptSchedule:
    questions, schedule = validate(setup)
    row = uow.schedules.add(PromptSchedule(
        community_id=community_id, label=setup.label, questions=questions, rrule=schedule.rrule,
        local_time=schedule.local_time.strftime("%H:%M"), window_minutes=int(schedule.window / timedelta(minutes=1)),
        timezone=timezone, anchor_date=anchor or now.date(), default_visibility=setup.default_visibility,
        active=True, created_by=created_by, created_at=now,
    ))
    uow.commit()
    return row


def create_event_prompts(
    uow: UnitOfWork, *, community_id: int, timezone: str, label: str, event_date: date, when: str,
    question_before: str, question_after: str, local_time: str, window: str, default_visibility: str,
    created_by: str, now: datetime,
) -> list[PromptSchedule]:
    """One-off prompts around an event: the day before it, and/or on the day itself."""
    if when not in ("before", "after", "both"):
        raise InvalidSetup({"when": "choose before, after or both"})
    if not label.strip():
        raise InvalidSetup({"label": "name the event, for example: Kubernetes training"})
    wanted = [("before", event_date - timedelta(days=1), question_before),
              ("after", event_date, question_after)]
    rows = []
    for moment, day, question in wanted:
        if when not in (moment, "both"):
            continue
        setup = PromptSetup(questions=[question], scale_question=None, repeat="FREQ=DAILY;COUNT=1",
                            local_time=local_time, window=window, default_visibility=default_visibility,
                            label=f"{moment}: {label.strip()}"[:100])
        questions, schedule = validate(setup)
        rows.append(uow.schedules.add(PromptSchedule(
            community_id=community_id, label=setup.label, questions=questions, rrule=schedule.rrule,
            local_time=schedule.local_time.strftime("%H:%M"),
            window_minutes=int(schedule.window / timedelta(minutes=1)), timezone=timezone, anchor_date=day,
            default_visibility=default_visibility, active=True, created_by=created_by, created_at=now,
        )))
    uow.commit()
    return rows


def stop(uow: UnitOfWork, community_id: int, schedule_id: int, now: datetime) -> bool:
    row = uow.schedules.get(schedule_id)
    if row is None or row.community_id != community_id:
        return False
    row.active = False
    uow.commit()
    return True
