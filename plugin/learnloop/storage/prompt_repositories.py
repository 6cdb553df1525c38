"""Repositories for reflection prompts: members, schedules, runs, deliveries, reflections."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from learnloop.storage.repositories import insert_ignoring_conflicts
from learnloop.storage.tables import Delivery, Member, PromptRun, PromptSchedule, Reflection


class MemberRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, user_id: str) -> Member | None:
        return self.session.get(Member, user_id)

    def ensure(self, user_id: str, now: datetime, *, username: str | None = None) -> Member:
        member = self.session.get(Member, user_id)
        if member is None:
            insert_ignoring_conflicts(
                self.session, Member.__table__,
                {"user_id": user_id, "username": username, "prompts_enabled": True, "nudges": True, "updated_at": now},
                ["user_id"],
            )
            member = self.session.get(Member, user_id)
            assert member is not None
        if username and member.username != username:
            member.username = username
        return member

    def many(self, user_ids: list[str]) -> dict[str, Member]:
        if not user_ids:
            return {}
        return {m.user_id: m for m in self.session.scalars(select(Member).where(Member.user_id.in_(user_ids)))}


class ScheduleRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, schedule: PromptSchedule) -> PromptSchedule:
        self.session.add(schedule)
        self.session.flush()
        return schedule

    def get(self, schedule_id: int) -> PromptSchedule | None:
        return self.session.get(PromptSchedule, schedule_id)

    def active(self) -> list[PromptSchedule]:
        return list(self.session.scalars(
            select(PromptSchedule).where(PromptSchedule.active.is_(True)).order_by(PromptSchedule.id)))

    def for_community(self, community_id: int) -> list[PromptSchedule]:
        return list(self.session.scalars(
            select(PromptSchedule).where(PromptSchedule.community_id == community_id,
                                         PromptSchedule.active.is_(True)).order_by(PromptSchedule.id)))


class RunRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def ensure(self, schedule_id: int, local_date: date, now: datetime) -> PromptRun:
        insert_ignoring_conflicts(
            self.session, PromptRun.__table__,
            {"schedule_id": schedule_id, "local_date": local_date, "members_planned": False, "created_at": now},
            ["schedule_id", "local_date"],
        )
        return self.session.scalars(select(PromptRun).where(
            PromptRun.schedule_id == schedule_id, PromptRun.local_date == local_date)).one()

    def get(self, run_id: int) -> PromptRun | None:
        return self.session.get(PromptRun, run_id)

    def unplanned(self) -> list[PromptRun]:
        return list(self.session.scalars(
            select(PromptRun).where(PromptRun.members_planned.is_(False)).order_by(PromptRun.id)))


class DeliveryRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add_if_new(self, run_id: int, user_id: str, due_at: datetime, window_end: datetime, now: datetime, *,
                   nudge_at: datetime | None = None) -> bool:
        return insert_ignoring_conflicts(
            self.session, Delivery.__table__,
            {"run_id": run_id, "user_id": user_id, "due_at": due_at, "window_end": window_end,
             "status": "scheduled", "updated_at": now, "nudge_at": nudge_at},
            ["run_id", "user_id"],
        )

    def get(self, delivery_id: int, *, for_update: bool = False) -> Delivery | None:
        statement = select(Delivery).where(Delivery.id == delivery_id)
        if for_update:
            statement = statement.with_for_update().execution_options(populate_existing=True)
        return self.session.scalars(statement).one_or_none()

    def due(self, now: datetime, limit: int) -> list[Delivery]:
        return list(self.session.scalars(
            select(Delivery).where(Delivery.status == "scheduled", Delivery.due_at <= now)
            .order_by(Delivery.due_at, Delivery.id).limit(limit).with_for_update(skip_locked=True)))

    def expire_closed(self, now: datetime) -> int:
        """Deliveries whose answer window closed before they could be sent are not sent late."""
        result = self.session.execute(
            update(Delivery).where(Delivery.status == "scheduled", Delivery.window_end <= now)
            .values(status="expired", reason="window closed", updated_at=now))
        return int(result.rowcount or 0)

    def open_for(self, user_id: str, now: datetime) -> Delivery | None:
        """The person's most recent prompt that is still open for an answer."""
        return self.session.scalars(
            select(Delivery).where(Delivery.user_id == user_id, Delivery.status == "sent", Delivery.window_end > now)
            .order_by(Delivery.due_at.desc()).limit(1)).one_or_none()

    def nudges_due(self, now: datetime, limit: int) -> list[Delivery]:
        return list(self.session.scalars(
            select(Delivery).where(Delivery.status == "sent", Delivery.nudge_at.is_not(None), Delivery.nudge_at <= now,
                                   Delivery.window_end > now)
            .order_by(Delivery.nudge_at).limit(limit).with_for_update(skip_locked=True)))


class ReflectionRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, reflection: Reflection) -> Reflection:
        self.session.add(reflection)
        self.session.flush()
        return reflection

    def of_author(self, reflection_id: int, user_id: str) -> Reflection | None:
        """A reflection only ever comes back to the person who wrote it."""
        return self.session.scalars(
            select(Reflection).where(Reflection.id == reflection_id, Reflection.user_id == user_id)).one_or_none()

    def recent(self, user_id: str, limit: int) -> list[Reflection]:
        return list(self.session.scalars(
            select(Reflection).where(Reflection.user_id == user_id)
            .order_by(Reflection.created_at.desc(), Reflection.id.desc()).limit(limit)))

    def delete(self, reflection: Reflection) -> None:
        self.session.execute(delete(Reflection).where(Reflection.id == reflection.id))
