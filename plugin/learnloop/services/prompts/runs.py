"""A prompt's way to each member: schedules become runs, each run one delivery per member due at the member's
own local time, and each due delivery a decision: send now, wait, or skip.

Runs are planned a couple of days ahead by the community's calendar, because a member fourteen hours
ahead of the community reaches the same local date long before it does. Decisions are taken from a read
(no write lock), then carried out in one short transaction together with the outbox messages: a delivery
is `queued` exactly when its send is in the outbox, so a crash can neither lose a prompt nor queue it
twice."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from learnloop.domain.preferences import Action, Decision, PromptPreferences, delivery_decision
from learnloop.domain.schedules import local_occurrences
from learnloop.services.outbox_kinds import SEND_NUDGE, SEND_PROMPT, delivery_keys
from learnloop.services.prompts.delivered import record_unanswered
from learnloop.services.prompts.membership import MemberProfile, keep_profiles
from learnloop.services.prompts.timing import due_and_window, nudge_at, preferences_of, schedule_of, zone
from learnloop.storage.prompt_repositories import SUPERSEDED
from learnloop.storage.tables import Delivery, PromptSchedule
from learnloop.storage.unit_of_work import UnitOfWork

PLAN_AHEAD_DAYS = 2


def plan_runs(uow: UnitOfWork, now: datetime) -> list[int]:
    """Create the runs that fall due up to PLAN_AHEAD_DAYS ahead, but for dates its owners paused; each local date
    once, ever.

    After downtime the missed dates are planned too; their deliveries are sent if still
    inside the answer window and expire otherwise (see deliveries.expire_closed)."""
    created: list[int] = []
    for listed in uow.schedules.active():
        # a paused one is read again and held: its owners ending the pause go back over the dates passed
        row = uow.schedules.locked(listed.id) if listed.paused_through is not None else listed
        if row is None or not row.active:
            continue
        community_today = now.astimezone(zone(row.timezone, "UTC")).date()
        start = max(row.anchor_date, (row.planned_through or row.anchor_date - timedelta(days=1)) + timedelta(days=1))
        end = community_today + timedelta(days=PLAN_AHEAD_DAYS)
        if start <= end:
            for local_date in local_occurrences(schedule_of(row), row.anchor_date, start, end + timedelta(days=1)):
                if not paused_on(row, local_date):
                    created.append(uow.runs.ensure(row.id, local_date, now).id)
            row.planned_through = end
        if row.paused_through is not None and row.paused_through < community_today:
            row.paused_from = row.paused_through = None  # over, and its dates passed over
    uow.commit()
    return created


def plan_deliveries(uow: UnitOfWork, run_id: int, members: list[MemberProfile], now: datetime, *,
                    complete: bool = True) -> int:
    """One delivery per member of the run's community; planning the same run again adds only newcomers.

    Set-based (a few statements whatever the number of members), and the worker plans a large
    community in chunks, one transaction each (`complete=False` until the last), so no single
    transaction holds SQLite's write lock for long."""
    run = uow.runs.get(run_id)
    row = uow.schedules.held(run.schedule_id) if run is not None else None
    if run is None or row is None or not row.active:  # stopped while its members were listed
        return 0
    if paused_on(row, run.local_date):  # planned before its owners paused it: nobody is asked that date
        run.members_planned = run.members_planned or complete
        uow.commit()
        return 0
    ids = [profile.user_id for profile in members]
    keep_profiles(uow, members, now)
    known = uow.members.many(ids)
    planned = uow.deliveries.planned_users(run.id, ids) | uow.schedules.sent_on(_stopped_twins(uow, row),
                                                                                run.local_date, ids)
    rows = []
    for user_id in dict.fromkeys(ids):
        if user_id in planned:
            continue
        member = known[user_id]
        due, window_end = due_and_window(row, run.local_date, zone(member.timezone, row.timezone),
                                          preferences_of(member))
        rows.append({"run_id": run.id, "user_id": user_id, "due_at": due, "window_end": window_end,
                     "updated_at": now, "nudge_at": nudge_at(due, window_end) if member.nudges else None})
    uow.deliveries.add_many(rows)
    if complete:
        run.members_planned = True
    uow.commit()
    return len(rows)


def paused_on(row: PromptSchedule, local_date: date) -> bool:
    return row.paused_through is not None and (row.paused_from or local_date) <= local_date <= row.paused_through


_ASKS = ("questions", "event_name", "event_date", "event_part")


def _stopped_twins(uow: UnitOfWork, row: PromptSchedule) -> list[int]:
    """The community's stopped schedules that asked what `row` asks, as `row` asks it: a prompt stopped and set
    up again. Whom one of them sent a date's prompt to is not asked again that date."""
    return [old.id for old in uow.schedules.stopped(row.community_id, row.rrule)
            if all(getattr(old, field) == getattr(row, field) for field in _ASKS)]


@dataclass
class DispatchReport:
    queued: int = 0
    waiting: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    expired: int = 0
    lapsed: int = 0
    nudges: int = 0

    def merge(self, other: DispatchReport) -> None:
        self.queued += other.queued
        self.waiting += other.waiting
        self.expired += other.expired
        self.lapsed += other.lapsed
        self.nudges += other.nudges
        for reason, count in other.skipped.items():
            self.skipped[reason] = self.skipped.get(reason, 0) + count


@dataclass(frozen=True)
class DueDelivery:
    """A delivery that fell due, with what deciding about it needs."""

    id: int
    user_id: str
    due_at: datetime
    window_end: datetime
    tz: ZoneInfo
    preferences: PromptPreferences


def read_due(uow: UnitOfWork, now: datetime, limit: int, *,
             except_communities: Collection[int] = ()) -> list[DueDelivery]:
    """What is due, oldest first (but in these communities); meant for a read-only transaction (no write lock on
    SQLite)."""
    return _with_facts(uow, [(delivery, delivery.due_at) for delivery
                             in uow.deliveries.due(now, limit, except_communities=except_communities)])


def read_nudges(uow: UnitOfWork, now: datetime, limit: int, *,
                except_communities: Collection[int] = ()) -> list[DueDelivery]:
    """Open prompts whose one nudge is due (but in these communities), each due at its nudge time: decided as a
    prompt is (prompts off, a pause, quiet hours and do not disturb hold it back too); meant for a read-only
    transaction."""
    return _with_facts(uow, [(delivery, delivery.nudge_at) for delivery
                             in uow.deliveries.nudges_due(now, limit, except_communities=except_communities)
                             if delivery.nudge_at is not None])


def _with_facts(uow: UnitOfWork, due: list[tuple[Delivery, datetime]]) -> list[DueDelivery]:
    members = uow.members.many(sorted({delivery.user_id for delivery, _ in due}))
    found = []
    for delivery, due_at in due:
        member = members.get(delivery.user_id)
        run = uow.runs.get(delivery.run_id)
        row = uow.schedules.get(run.schedule_id) if run else None
        found.append(DueDelivery(delivery.id, delivery.user_id, due_at, delivery.window_end,
                                 zone(member.timezone if member else None, row.timezone if row else "UTC"),
                                 preferences_of(member)))
    return found


def decide(due: list[DueDelivery], now: datetime, presence: dict[str, str]) -> list[tuple[DueDelivery, Decision]]:
    """`presence` maps user id to Mattermost status (online, away, dnd, offline, ooo); missing means unknown."""
    return [(d, delivery_decision(d.preferences, due_at=d.due_at, now=now, window_end=d.window_end, tz=d.tz,
                                  presence=presence.get(d.user_id))) for d in due]


def apply_decisions(uow: UnitOfWork, decided: list[tuple[DueDelivery, Decision]], now: datetime) -> DispatchReport:
    """Carry out decisions taken outside this transaction, for the deliveries still scheduled at the same
    due time (another worker, or the person, may have moved one meanwhile: it is decided again later).
    A few statements for the whole batch, so SQLite's write lock is held briefly; commits."""
    report = DispatchReport()
    current = uow.deliveries.lock_scheduled([d.id for d, _ in decided])
    superseded = uow.deliveries.superseded(list(current), now)
    changes: list[dict[str, Any]] = []
    sends: list[tuple[str, dict[str, Any]]] = []
    for due, decision in decided:
        if current.get(due.id) != due.due_at:
            continue
        status, due_at, reason = "scheduled", due.due_at, None
        if due.id in superseded:  # not sent, so not unanswered (one sent before a snooze lapses, as it was counted)
            status, reason = "skipped", SUPERSEDED
            report.skipped[reason] = report.skipped.get(reason, 0) + 1
        elif decision.action == Action.SEND:
            status = "queued"
            # keyed by the due moment too: a snoozed prompt is due again later and queued again
            sends.append((f"{delivery_keys(due.id)[0]}{due.due_at.timestamp():.0f}", {"delivery_id": due.id}))
            report.queued += 1
        elif decision.action == Action.WAIT_UNTIL:
            assert decision.until is not None
            due_at = decision.until
            report.waiting += 1
        else:
            status, reason = "skipped", (decision.reason or "not sent")[:40]
            report.skipped[reason] = report.skipped.get(reason, 0) + 1
        changes.append({"b_id": due.id, "b_status": status, "b_due": due_at, "b_reason": reason, "b_now": now})
    uow.deliveries.decide_many(changes)
    record_unanswered(uow, uow.deliveries.lapse_sent_before(
        [change["b_id"] for change in changes if change["b_status"] == "skipped"], now), now)
    uow.outbox.enqueue_many(SEND_PROMPT, sends, now=now)
    uow.commit()
    return report


LAPSE_BATCH = 5000


def expire(uow: UnitOfWork, now: datetime) -> DispatchReport:
    """Deliveries whose window closed before they were sent expire; sent prompts whose window closed unanswered
    lapse, each with a `prompt_unanswered` event at the window's end (the dashboards count them beside the
    answers, domain.measures.UNANSWERED). Commits."""
    report = DispatchReport(expired=uow.deliveries.expire_closed(now))
    lapsed = uow.deliveries.lapse_closed(now, LAPSE_BATCH)
    record_unanswered(uow, lapsed, now)
    report.lapsed = len(lapsed)
    uow.commit()
    return report


def apply_nudges(uow: UnitOfWork, decided: list[tuple[DueDelivery, Decision]], now: datetime) -> int:
    """Carry out nudge decisions taken outside this transaction, for the prompts still open with the same nudge
    time: queue the nudge, move it to when the person can be reached, or drop it. Commits; the nudges queued."""
    current = uow.deliveries.lock_nudges([due.id for due, _ in decided])
    sends: list[tuple[str, dict[str, Any]]] = []
    for due, decision in decided:
        delivery = current.get(due.id)
        if delivery is None or delivery.nudge_at != due.due_at:
            continue
        if decision.action == Action.SEND:
            sends.append((delivery_keys(due.id)[1], {"delivery_id": due.id}))
        delivery.nudge_at = decision.until if decision.action == Action.WAIT_UNTIL else None
        delivery.updated_at = now
    uow.outbox.enqueue_many(SEND_NUDGE, sends, now=now)
    uow.commit()
    return len(sends)
