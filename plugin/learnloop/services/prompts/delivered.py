"""A delivered prompt, from the person's side: what it asks, and what they do with it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from learnloop.domain.preferences import WINDOW_CLOSED, Action, Decision, PromptPreferences, delivery_decision
from learnloop.domain.schedules import local_moment
from learnloop.domain.sealing import Unreadable, unseal
from learnloop.services.prompts.timing import NUDGE_AFTER_PROMPT, preferences_of, zone
from learnloop.storage.prompt_repositories import LAPSED, PAUSED, SKIPPED, STOPPED
from learnloop.storage.tables import Delivery
from learnloop.storage.unit_of_work import UnitOfWork

SNOOZE = timedelta(days=1)


@dataclass(frozen=True)
class PromptView:
    delivery_id: int
    user_id: str
    community_id: int
    community_name: str
    questions: list[dict[str, Any]]
    default_visibility: str
    due_at: datetime
    window_end: datetime
    local_window_end: str
    local_due: str
    """When it is (or was) due, and when its answers close, in the person's time zone: a snoozed prompt's next send.
    Both name the year only when it is not the year it is due in (a prompt comes when it is due)."""
    tz: ZoneInfo
    preferences: PromptPreferences
    """The person's own settings, as they were when the prompt was read."""
    dm_channel_id: str | None = None
    """The bot's DM channel with the person, if Mattermost was asked for it before."""
    event: str | None = None
    """An event prompt's event and date, as the DM names them."""
    earlier_answer: str | None = None
    """After an event: the person's own answer from before it, still sealed. Only the answer form shows it: a post
    would keep it in Mattermost."""
    post_id: str | None = None
    """The prompt's post in the DM, while it is sent."""


def prompts_for_deliveries(uow: UnitOfWork, delivery_ids: list[int], *,
                           status: str | None = "queued") -> dict[int, PromptView]:
    """The prompts of many deliveries (those in `status`) from two queries, plus one per distinct run,
    schedule and community: a fan-out reads a whole batch at once."""
    deliveries = [d for d in uow.deliveries.many(delivery_ids) if status is None or d.status == status]
    members = uow.members.many(sorted({d.user_id for d in deliveries}))
    views: dict[int, PromptView] = {}
    for delivery in deliveries:
        run = uow.runs.get(delivery.run_id)
        schedule = uow.schedules.get(run.schedule_id) if run else None
        if schedule is None:
            continue
        community = uow.communities.get(schedule.community_id)
        member = members.get(delivery.user_id)
        tz = zone(member.timezone if member else None, schedule.timezone)
        event = (f"{schedule.event_name} on {schedule.event_date:%a %d %b}"
                 if schedule.event_name and schedule.event_date else None)
        earlier = (uow.reflections.event_answer(delivery.user_id, schedule.event_key)
                   if schedule.event_key and schedule.event_part == "after" else None)
        views[delivery.id] = PromptView(
            delivery_id=delivery.id, user_id=delivery.user_id, community_id=schedule.community_id,
            community_name=community.name if community else "your community", questions=list(schedule.questions),
            default_visibility=schedule.default_visibility, due_at=delivery.due_at, window_end=delivery.window_end,
            local_window_end=local_moment(delivery.window_end, tz, delivery.due_at),
            local_due=local_moment(delivery.due_at, tz, delivery.due_at),
            dm_channel_id=member.dm_channel_id if member else None, event=event,
            earlier_answer=earlier.body if earlier else None, post_id=delivery.post_id, tz=tz,
            preferences=preferences_of(member),
        )
    return views


def earlier_answer(view: PromptView, key: bytes) -> str | None:
    try:
        return unseal(view.earlier_answer, key) if view.earlier_answer else None
    except Unreadable:
        return None


def prompt_for_delivery(uow: UnitOfWork, delivery_id: int, *, status: str | None = "queued") -> PromptView | None:
    return prompts_for_deliveries(uow, [delivery_id], status=status).get(delivery_id)


@dataclass(frozen=True)
class SentPrompt:
    """A prompt posted to a person, to be recorded."""

    delivery_id: int
    post_id: str
    user_id: str
    dm_channel_id: str
    new_channel: bool = False
    """True when the DM channel id was just asked of Mattermost (then it is kept)."""


def mark_sent(uow: UnitOfWork, sent: list[SentPrompt], now: datetime) -> None:
    """Record posted prompts: each queued delivery becomes sent (with a `prompt_sent` event), and new DM
    channel ids are kept. A few statements for the whole batch; the caller commits."""
    uow.members.keep_dm_channels({p.user_id: p.dm_channel_id for p in sent if p.new_channel})
    posts = {p.delivery_id: p.post_id for p in sent}
    queued = uow.deliveries.lock_queued(sorted(posts))
    uow.deliveries.mark_sent_many({delivery_id: posts[delivery_id] for delivery_id, _, _ in queued}, now,
                                  earliest_nudge=now + NUDGE_AFTER_PROMPT)
    uow.events.append_many("prompt_sent", [
        {"occurred_at": now, "actor_id": user_id, "community_id": community_id,
         "dedupe_key": f"prompt_sent:{delivery_id}"} for delivery_id, user_id, community_id in queued],
        recorded_at=now)


def decide_again(view: PromptView, now: datetime) -> Decision:
    """Whether a prompt (or its nudge) queued earlier is still to be posted now: Mattermost may have held it up for
    hours, while its answer window closed or its receiver turned prompts off, paused them or reached their quiet
    hours. Decided as when it was queued, but for presence, which is not asked again."""
    return delivery_decision(view.preferences, due_at=view.due_at, now=now, window_end=view.window_end, tz=view.tz,
                             presence=None)


def hold_back(uow: UnitOfWork, held: dict[int, Decision], now: datetime) -> None:
    """Queued prompts that `decide_again` kept back (delivery id to its decision) end as they would have, had it
    been decided so before they were queued: expired once their window closed, skipped for the reason given, or
    scheduled again for when the person can be asked. Nothing counts for a prompt its receiver never had; one sent
    before a snooze lapses, as it was counted sent. The caller commits."""
    queued = [delivery_id for delivery_id, _, _ in uow.deliveries.lock_queued(sorted(held))]
    uow.deliveries.decide_many([
        {"b_id": delivery_id, "b_status": "scheduled", "b_due": held[delivery_id].until, "b_reason": None,
         "b_now": now} for delivery_id in queued if held[delivery_id].action == Action.WAIT_UNTIL])
    ended = [delivery_id for delivery_id in queued if held[delivery_id].action == Action.SKIP]
    uow.deliveries.expire_queued([delivery_id for delivery_id in ended if held[delivery_id].reason == WINDOW_CLOSED],
                                 now)
    by_reason: dict[str, list[int]] = {}
    for delivery_id in ended:
        by_reason.setdefault(held[delivery_id].reason or "not sent", []).append(delivery_id)
    for reason, delivery_ids in sorted(by_reason.items()):
        uow.deliveries.mark_undelivered(delivery_ids, reason, now)
    record_unanswered(uow, uow.deliveries.lapse_sent_before(ended, now), now)


def record_unanswered(uow: UnitOfWork, prompts: list[tuple[int, str, int | None, datetime]], now: datetime) -> None:
    """A `prompt_unanswered` event per prompt (delivery id, person, community, when), once per delivery: skipped,
    or left until its answer window closed (domain.measures.UNANSWERED)."""
    uow.events.append_many("prompt_unanswered", [
        {"occurred_at": at, "actor_id": user_id, "community_id": community_id,
         "dedupe_key": f"prompt_unanswered:{delivery_id}"} for delivery_id, user_id, community_id, at in prompts],
        recorded_at=now)


def stop_unsent(uow: UnitOfWork, schedule_ids: list[int], now: datetime, *,
                paused: tuple[date, date] | None = None) -> None:
    """Stopped schedules send nothing more (a paused one, nothing of the `paused` local dates): their prompts
    planned ahead are skipped, one sent and snoozed lapses unanswered (it was counted sent), and no reminder
    follows one sent. The caller commits."""
    held = uow.deliveries.stop_schedules(schedule_ids, now, dates=paused, reason=STOPPED if paused is None else PAUSED)
    record_unanswered(uow, uow.deliveries.lapse_sent_before(held, now), now)


def mark_undelivered(uow: UnitOfWork, failed: list[tuple[int, str]], now: datetime) -> None:
    """Prompts that could not be posted for good (delivery id, the error): their queued deliveries end as
    skipped, the reason naming what Mattermost answered, so none stays queued forever. The caller commits."""
    by_reason: dict[str, list[int]] = {}
    for delivery_id, error in failed:
        answer = re.search(r"HTTP \d{3}|no response", error)
        by_reason.setdefault(f"not delivered: {answer.group(0) if answer else 'error'}", []).append(delivery_id)
    for reason, delivery_ids in sorted(by_reason.items()):
        uow.deliveries.mark_undelivered(sorted(delivery_ids), reason, now)
    record_unanswered(uow, uow.deliveries.lapse_sent_before(sorted(d for d, _ in failed), now), now)


class NotYourPrompt(LookupError):
    """The prompt is someone else's, or no longer open."""


class Snoozed(NotYourPrompt):
    """The prompt is snoozed: it comes again at `until` (the person's local time)."""

    def __init__(self, until: str) -> None:
        super().__init__(f"this prompt is snoozed until {until}")
        self.until = until


def snoozed(delivery: Delivery) -> bool:
    """Sent, then snoozed: waiting to be sent again, or being sent."""
    return delivery.status in ("scheduled", "queued") and delivery.sent_at is not None


def answerable(delivery: Delivery, now: datetime) -> bool:
    """Its receiver can still answer it, or skip it: sent and open, or snoozed (they changed their mind)."""
    return (delivery.status == "sent" or snoozed(delivery)) and delivery.window_end > now


def _own_open(uow: UnitOfWork, delivery_id: int, user_id: str, now: datetime) -> Delivery:
    delivery = uow.deliveries.get(delivery_id, for_update=True)
    if delivery is None or delivery.user_id != user_id:
        raise NotYourPrompt("this prompt is not yours")
    if not answerable(delivery, now):
        closed = delivery.status == "sent" or delivery.reason == LAPSED or snoozed(delivery)
        raise NotYourPrompt(f"this prompt is already {'closed' if closed else delivery.status}")
    return delivery


def skip(uow: UnitOfWork, delivery_id: int, user_id: str, now: datetime) -> None:
    """The person passes on this prompt, sent or snoozed: it is closed, unanswered."""
    delivery = _own_open(uow, delivery_id, user_id, now)
    delivery.status, delivery.reason, delivery.nudge_at, delivery.updated_at = "skipped", SKIPPED, None, now
    record_unanswered(uow, [(delivery.id, user_id, uow.deliveries.community_of(delivery.id), now)], now)
    uow.commit()


def snooze(uow: UnitOfWork, delivery_id: int, user_id: str, now: datetime) -> str:
    """Ask again in a day; the answer window moves with it. When it comes again, in the person's local time;
    snoozed already, Snoozed says when."""
    delivery = _own_open(uow, delivery_id, user_id, now)
    if snoozed(delivery):
        raise Snoozed(_view(uow, delivery_id).local_due)
    window = delivery.window_end - delivery.due_at
    delivery.due_at = now + SNOOZE
    delivery.window_end = delivery.due_at + window
    delivery.status, delivery.post_id, delivery.nudge_at, delivery.updated_at = "scheduled", None, None, now
    until = _view(uow, delivery_id).local_due
    uow.commit()
    return until


def open_prompt(uow: UnitOfWork, delivery_id: int, user_id: str, now: datetime) -> PromptView:
    """A prompt its receiver answers now: sent, or snoozed (answered, it is not sent again)."""
    _own_open(uow, delivery_id, user_id, now)
    return _view(uow, delivery_id)


def _view(uow: UnitOfWork, delivery_id: int) -> PromptView:
    view = prompt_for_delivery(uow, delivery_id, status=None)
    assert view is not None
    return view


def latest_open_prompt(uow: UnitOfWork, user_id: str, now: datetime) -> PromptView | None:
    delivery = uow.deliveries.open_for(user_id, now)
    return prompt_for_delivery(uow, delivery.id, status=None) if delivery else None
