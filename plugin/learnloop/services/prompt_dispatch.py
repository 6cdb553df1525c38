"""Decide, per due delivery, whether to send it now, later, or not at all; queue the sends.

The decision and the outbox message are one transaction: a delivery is `queued` exactly when
its send is in the outbox, so a crash can neither lose a prompt nor queue it twice."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from learnloop.domain.preferences import Action, delivery_decision
from learnloop.services.outbox_kinds import SEND_NUDGE, SEND_PROMPT
from learnloop.services.prompt_planning import zone
from learnloop.services.prompt_settings import preferences_of
from learnloop.storage.unit_of_work import UnitOfWork


@dataclass
class DispatchReport:
    queued: int = 0
    waiting: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    expired: int = 0
    nudges: int = 0

    def merge(self, other: DispatchReport) -> None:
        self.queued += other.queued
        self.waiting += other.waiting
        self.expired += other.expired
        self.nudges += other.nudges
        for reason, count in other.skipped.items():
            self.skipped[reason] = self.skipped.get(reason, 0) + count


def due_user_ids(uow: UnitOfWork, now: datetime, limit: int) -> list[str]:
    return sorted({delivery.user_id for delivery in uow.deliveries.due(now, limit)})


def dispatch_due(uow: UnitOfWork, now: datetime, presence: dict[str, str], *, limit: int = 1000) -> DispatchReport:
    """`presence` maps user id to Mattermost status (online, away, dnd, offline, ooo); missing means unknown."""
    report = DispatchReport(expired=uow.deliveries.expire_closed(now))
    due = uow.deliveries.due(now, limit)
    members = uow.members.many(sorted({delivery.user_id for delivery in due}))
    sends: list[tuple[str, dict[str, Any]]] = []
    for delivery in due:
        member = members.get(delivery.user_id)
        run = uow.runs.get(delivery.run_id)
        row = uow.schedules.get(run.schedule_id) if run else None
        tz = zone(member.timezone if member else None, row.timezone if row else "UTC")
        decision = delivery_decision(
            preferences_of(member), due_at=delivery.due_at, now=now, window_end=delivery.window_end, tz=tz,
            presence=presence.get(delivery.user_id),
        )
        delivery.updated_at = now
        if decision.action == Action.SEND:
            delivery.status = "queued"
            sends.append((f"prompt:{delivery.id}", {"delivery_id": delivery.id}))
            report.queued += 1
        elif decision.action == Action.WAIT_UNTIL:
            assert decision.until is not None
            delivery.due_at = decision.until
            report.waiting += 1
        else:
            delivery.status, delivery.reason = "skipped", (decision.reason or "skipped")[:40]
            report.skipped[delivery.reason] = report.skipped.get(delivery.reason, 0) + 1
    uow.outbox.enqueue_many(SEND_PROMPT, sends, now=now)
    for delivery in uow.deliveries.nudges_due(now, limit):
        uow.outbox.enqueue(SEND_NUDGE, {"delivery_id": delivery.id}, key=f"nudge:{delivery.id}", now=now)
        delivery.nudge_at, delivery.updated_at = None, now
        report.nudges += 1
    uow.commit()
    return report
