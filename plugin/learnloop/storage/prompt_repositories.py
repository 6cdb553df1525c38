"""Repositories for reflection prompts: members, schedules, runs, deliveries, reflections."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, case, delete, exists, func, or_, select, update
from sqlalchemy.orm import aliased

from learnloop.domain.preferences import WINDOW_CLOSED
from learnloop.storage.repositories import (
    Repository,
    insert_ignoring_conflicts,
    insert_many_ignoring_conflicts,
    rowcount,
)
from learnloop.storage.tables import Delivery, Member, PromptRun, PromptSchedule, Reflection, table_of

_M, _D = table_of(Member), table_of(Delivery)
SKIPPED = "skipped"
"""The reason of a prompt its receiver skipped."""
LAPSED = "lapsed"
"""The reason of a prompt left unanswered until its answer window closed (its status is skipped)."""
STOPPED = "prompt stopped"
"""The reason of a prompt not sent because its owners stopped the schedule."""
PAUSED = "prompt paused"
"""The reason of a prompt not sent because its owners paused the schedule through its date."""
LEFT = "left the channel"
"""The reason of a prompt not sent because its receiver is no longer in the community's channels when it is due."""
SUPERSEDED = "a newer one was due"
"""The reason of a prompt not sent because a newer one of the same schedule was due for the same person."""
_KEEP_DM_CHANNEL = update(_M).where(_M.c.user_id == bindparam("b_user")).values(
    dm_channel_id=bindparam("b_channel", type_=_M.c.dm_channel_id.type))
_MARK_SENT = update(_D).where(_D.c.id == bindparam("b_id"), _D.c.status == "queued").values(
    status="sent", post_id=bindparam("b_post", type_=_D.c.post_id.type),
    sent_at=bindparam("b_now", type_=_D.c.sent_at.type), updated_at=bindparam("b_now", type_=_D.c.updated_at.type),
    nudge_at=case((_D.c.nudge_at >= bindparam("b_earliest_nudge", type_=_D.c.nudge_at.type), _D.c.nudge_at),
                  else_=None))

_DECIDE = update(_D).where(_D.c.id == bindparam("b_id")).values(
    status=bindparam("b_status", type_=_D.c.status.type), due_at=bindparam("b_due", type_=_D.c.due_at.type),
    reason=bindparam("b_reason", type_=_D.c.reason.type), updated_at=bindparam("b_now", type_=_D.c.updated_at.type))


def _prompt_due(now: datetime) -> Any:
    return and_(Delivery.status == "scheduled", Delivery.due_at <= now)


def _nudge_due(now: datetime) -> Any:
    return and_(Delivery.status == "sent", Delivery.nudge_at.is_not(None), Delivery.nudge_at <= now,
                Delivery.window_end > now)


NUDGE_ORDER = (Delivery.nudge_at, Delivery.id)
"""The order reminders due are taken in, a batch at a time."""


def _outside(statement: Select[Any], communities: Collection[int]) -> Select[Any]:
    """The statement's deliveries but those of these communities' schedules."""
    if not communities:
        return statement
    return statement.where(Delivery.run_id.not_in(
        select(PromptRun.id).join(PromptSchedule, PromptSchedule.id == PromptRun.schedule_id)
        .where(PromptSchedule.community_id.in_(sorted(communities)))))


def _with_community(*columns: Any) -> Select[Any]:
    """Deliveries' ids and receivers with their schedule's community (and these columns)."""
    return (select(Delivery.id, Delivery.user_id, PromptSchedule.community_id, *columns)
            .join(PromptRun, PromptRun.id == Delivery.run_id)
            .join(PromptSchedule, PromptSchedule.id == PromptRun.schedule_id))


class MemberRepository(Repository):
    def get(self, user_id: str) -> Member | None:
        return self.session.get(Member, user_id)

    def ensure(self, user_id: str, now: datetime, *, username: str | None = None) -> Member:
        member = self.session.get(Member, user_id)
        if member is None:
            insert_ignoring_conflicts(
                self.tx, table_of(Member),
                {"user_id": user_id, "username": username, "prompts_enabled": True, "nudges": True, "updated_at": now},
                ["user_id"],
            )
            member = self.session.get(Member, user_id)
            assert member is not None
        if username and member.username != username:
            member.username = username
        return member

    def by_username(self, username: str) -> Member | None:
        """The member with this Mattermost user name (which is lower case), if learnloop knows them."""
        return self.session.scalars(select(Member).where(Member.username == username.strip().lower())
                                    .limit(1)).first()

    def many(self, user_ids: list[str]) -> dict[str, Member]:
        if not user_ids:
            return {}
        return {m.user_id: m for m in self.session.scalars(select(Member).where(Member.user_id.in_(user_ids)))}

    def add_many(self, profiles: list[tuple[str, str | None, str | None]], now: datetime) -> None:
        """Members not known yet, from (user_id, username, timezone), in one statement."""
        insert_many_ignoring_conflicts(self.tx, _M, [
            {"user_id": user_id, "username": username, "timezone": timezone, "prompts_enabled": True, "nudges": True,
             "updated_at": now} for user_id, username, timezone in profiles], ["user_id"])

    def keep_dm_channels(self, channels: dict[str, str]) -> None:
        """Remember the bot's DM channel with each person (user id to channel id), in one statement."""
        if channels:
            self.run(_KEEP_DM_CHANNEL, [
                {"b_user": user_id, "b_channel": channel_id} for user_id, channel_id in channels.items()])


class ScheduleRepository(Repository):
    def add(self, schedule: PromptSchedule) -> PromptSchedule:
        self.session.add(schedule)
        self.session.flush()
        return schedule

    def get(self, schedule_id: int) -> PromptSchedule | None:
        return self.session.get(PromptSchedule, schedule_id)

    def held(self, schedule_id: int) -> PromptSchedule | None:
        """The schedule, its row held (shared) until the transaction ends: a stop waits for what is planned under
        it, and what is planned after a stop sees it."""
        return self.session.scalars(select(PromptSchedule).where(PromptSchedule.id == schedule_id)
                                    .with_for_update(read=True).execution_options(populate_existing=True)).one_or_none()

    def locked(self, schedule_id: int) -> PromptSchedule | None:
        """The schedule as it is now, its row locked until the transaction ends: a pause or its end and the
        worker's planning of its dates happen one after the other."""
        return self.session.scalars(select(PromptSchedule).where(PromptSchedule.id == schedule_id)
                                    .with_for_update().execution_options(populate_existing=True)).one_or_none()

    def active(self) -> list[PromptSchedule]:
        return list(self.session.scalars(
            select(PromptSchedule).where(PromptSchedule.active.is_(True)).order_by(PromptSchedule.id)))

    def stopped(self, community_id: int, rrule: str) -> list[PromptSchedule]:
        """The community's stopped schedules with this repeat rule."""
        return list(self.session.scalars(
            select(PromptSchedule).where(PromptSchedule.community_id == community_id, PromptSchedule.rrule == rrule,
                                         PromptSchedule.active.is_(False)).order_by(PromptSchedule.id)))

    def sent_on(self, schedule_ids: list[int], local_date: date, user_ids: list[str]) -> set[str]:
        """Which of these people these schedules' prompt of this date went out to."""
        if not schedule_ids or not user_ids:
            return set()
        return set(self.session.scalars(
            select(Delivery.user_id).join(PromptRun, PromptRun.id == Delivery.run_id)
            .where(PromptRun.schedule_id.in_(schedule_ids), PromptRun.local_date == local_date,
                   Delivery.user_id.in_(user_ids),
                   or_(Delivery.sent_at.is_not(None), Delivery.status.in_(("queued", "sent", "answered"))))))

    def for_community(self, community_id: int) -> list[PromptSchedule]:
        return list(self.session.scalars(
            select(PromptSchedule).where(PromptSchedule.community_id == community_id,
                                         PromptSchedule.active.is_(True)).order_by(PromptSchedule.id)))


class RunRepository(Repository):
    def ensure(self, schedule_id: int, local_date: date, now: datetime) -> PromptRun:
        insert_ignoring_conflicts(
            self.tx, table_of(PromptRun),
            {"schedule_id": schedule_id, "local_date": local_date, "members_planned": False, "created_at": now},
            ["schedule_id", "local_date"],
        )
        return self.session.scalars(select(PromptRun).where(
            PromptRun.schedule_id == schedule_id, PromptRun.local_date == local_date)).one()

    def get(self, run_id: int) -> PromptRun | None:
        return self.session.get(PromptRun, run_id)

    def plan_again(self, schedule_id: int, after: date) -> None:
        """The schedule's runs of dates after `after` are planned again (a pause ended early): adds whoever has
        no prompt in them."""
        self.session.execute(update(PromptRun).where(PromptRun.schedule_id == schedule_id,
                                                     PromptRun.local_date > after).values(members_planned=False))

    def unplanned(self) -> list[PromptRun]:
        """Runs of active schedules whose members are not all planned yet."""
        return list(self.session.scalars(
            select(PromptRun).join(PromptSchedule, PromptSchedule.id == PromptRun.schedule_id)
            .where(PromptRun.members_planned.is_(False), PromptSchedule.active.is_(True)).order_by(PromptRun.id)))


class DeliveryRepository(Repository):
    def get(self, delivery_id: int, *, for_update: bool = False) -> Delivery | None:
        statement = select(Delivery).where(Delivery.id == delivery_id)
        if for_update:
            statement = statement.with_for_update().execution_options(populate_existing=True)
        return self.session.scalars(statement).one_or_none()

    def many(self, delivery_ids: list[int]) -> list[Delivery]:
        if not delivery_ids:
            return []
        return list(self.session.scalars(select(Delivery).where(Delivery.id.in_(delivery_ids)).order_by(Delivery.id)))

    def add_many(self, rows: list[dict[str, Any]]) -> None:
        """New scheduled deliveries (run_id, user_id, due_at, window_end, nudge_at, updated_at) in one statement;
        one whose run and person exist already is skipped."""
        insert_many_ignoring_conflicts(self.tx, _D, [{"status": "scheduled", **row} for row in rows],
                                       ["run_id", "user_id"])

    def planned_users(self, run_id: int, user_ids: list[str]) -> set[str]:
        """Which of these people already have a delivery in the run."""
        if not user_ids:
            return set()
        return set(self.session.scalars(select(Delivery.user_id).where(Delivery.run_id == run_id,
                                                                        Delivery.user_id.in_(user_ids))))

    def prompt_communities(self, now: datetime) -> list[int]:
        """The communities with a prompt due to be decided now."""
        return list(self.session.scalars(
            select(PromptSchedule.community_id).distinct().join(PromptRun, PromptRun.schedule_id == PromptSchedule.id)
            .join(Delivery, Delivery.run_id == PromptRun.id)
            .where(_prompt_due(now)).order_by(PromptSchedule.community_id)))

    def due_in(self, community_id: int, now: datetime) -> list[tuple[int, str]]:
        """(id, user_id) of the community's prompts due to be decided now."""
        rows = self.session.execute(_with_community().where(PromptSchedule.community_id == community_id,
                                                            _prompt_due(now)))
        return [(row.id, row.user_id) for row in rows]

    def nudges_first(self, now: datetime, limit: int) -> list[tuple[int, str, int]]:
        """(id, user_id, community_id) of the prompts whose reminder is due to be decided now, the first `limit`
        in the order `nudges_due` takes them."""
        rows = self.session.execute(_with_community().where(_nudge_due(now)).order_by(*NUDGE_ORDER).limit(limit))
        return [(row.id, row.user_id, row.community_id) for row in rows]

    def zones_unread(self, now: datetime, until: datetime, limit: int) -> list[tuple[int, str, int]]:
        """(id, user_id, community_id) of prompts not yet sent, due after now and by `until`, whose receiver's zone
        was not read again since they were planned; soonest first."""
        rows = self.session.execute(_with_community().where(
            Delivery.status == "scheduled", Delivery.due_at > now, Delivery.due_at <= until,
            Delivery.sent_at.is_(None), Delivery.zone_read_at.is_(None)).order_by(Delivery.due_at).limit(limit))
        return [(row.id, row.user_id, row.community_id) for row in rows]

    def mark_zones_read(self, delivery_ids: list[int], now: datetime) -> None:
        if delivery_ids:
            self.session.execute(update(Delivery).where(Delivery.id.in_(delivery_ids)).values(zone_read_at=now))

    def drop_nudges(self, delivery_ids: list[int], now: datetime) -> None:
        """No reminder for these prompts."""
        if delivery_ids:
            self.session.execute(update(Delivery).where(Delivery.id.in_(delivery_ids), Delivery.nudge_at.is_not(None))
                                 .values(nudge_at=None, updated_at=now))

    def skip_due(self, delivery_ids: list[int], reason: str, now: datetime) -> list[int]:
        """Of these deliveries, those still scheduled and due end as skipped, with the reason; their ids."""
        if not delivery_ids:
            return []
        skipped = list(self.session.scalars(select(Delivery.id).where(
            Delivery.id.in_(delivery_ids), Delivery.status == "scheduled", Delivery.due_at <= now).with_for_update()))
        if skipped:
            self.session.execute(update(Delivery).where(Delivery.id.in_(skipped))
                                 .values(status="skipped", reason=reason[:40], nudge_at=None, updated_at=now))
        return skipped

    def lock_queued(self, delivery_ids: list[int]) -> list[tuple[int, str, int | None]]:
        """(id, user_id, community_id) of those still queued, locked until the transaction ends."""
        if not delivery_ids:
            return []
        rows = self.session.execute(
            _with_community()
            .where(Delivery.id.in_(delivery_ids), Delivery.status == "queued")
            .order_by(Delivery.id).with_for_update(of=_D))
        return [(row.id, row.user_id, row.community_id) for row in rows]

    def lock_scheduled(self, delivery_ids: list[int]) -> dict[int, datetime]:
        """Due time of each of these still scheduled, locked until the transaction ends."""
        if not delivery_ids:
            return {}
        rows = self.session.execute(
            select(Delivery.id, Delivery.due_at).where(Delivery.id.in_(delivery_ids), Delivery.status == "scheduled")
            .with_for_update())
        return {row.id: row.due_at for row in rows}

    def superseded(self, delivery_ids: list[int], now: datetime) -> set[int]:
        """Those of these deliveries for which a newer one (a later date of the same schedule, for the same
        person) is due or already went out: after downtime or a pause, only the newest is sent."""
        if not delivery_ids:
            return set()
        newer, newer_run = aliased(Delivery), aliased(PromptRun)
        newer_due = exists().where(
            newer.run_id == newer_run.id, newer.user_id == Delivery.user_id,
            newer_run.schedule_id == PromptRun.schedule_id, newer_run.local_date > PromptRun.local_date,
            or_(and_(newer.status == "scheduled", newer.due_at <= now),
                newer.status.in_(("queued", "sent", "answered"))))
        return set(self.session.scalars(select(Delivery.id).join(PromptRun, PromptRun.id == Delivery.run_id)
                                        .where(Delivery.id.in_(delivery_ids), newer_due)))

    def decide_many(self, changes: list[dict[str, Any]]) -> None:
        """Set status, due_at and reason of many deliveries in one statement (b_id, b_status, b_due,
        b_reason, b_now each)."""
        if changes:
            self.run(_DECIDE, changes)

    def mark_sent_many(self, posts: dict[int, str], now: datetime, *, earliest_nudge: datetime) -> None:
        """Queued deliveries become sent with their post id (delivery id to post id), in one statement; a
        reminder due before `earliest_nudge` is dropped."""
        if posts:
            self.run(_MARK_SENT, [{"b_id": delivery_id, "b_post": post_id, "b_now": now,
                                   "b_earliest_nudge": earliest_nudge} for delivery_id, post_id in posts.items()])

    def mark_undelivered(self, delivery_ids: list[int], reason: str, now: datetime) -> int:
        """Queued deliveries whose prompt could not be posted for good, or is no longer to be, end as skipped, with
        the reason."""
        if not delivery_ids:
            return 0
        result = self.session.execute(
            update(Delivery).where(Delivery.id.in_(delivery_ids), Delivery.status == "queued")
            .values(status="skipped", reason=reason[:40], nudge_at=None, updated_at=now))
        return rowcount(result)

    def stop_schedules(self, schedule_ids: list[int], now: datetime, *, dates: tuple[date, date] | None = None,
                       reason: str = STOPPED) -> list[int]:
        """Stopped schedules' prompts still to be sent (of these local dates only, for a pause) end as skipped
        (one already queued goes out: it may be on its way), and those sent get no reminder; the ids of those
        skipped."""
        if not schedule_ids:
            return []
        runs = select(PromptRun.id).where(PromptRun.schedule_id.in_(schedule_ids))
        if dates is not None:
            runs = runs.where(PromptRun.local_date.between(*dates))
        held = runs.scalar_subquery()
        skipped = list(self.session.scalars(select(Delivery.id).where(
            Delivery.run_id.in_(held), Delivery.status == "scheduled").with_for_update()))
        if skipped:
            self.session.execute(update(Delivery).where(Delivery.id.in_(skipped), Delivery.status == "scheduled")
                                 .values(status="skipped", reason=reason, nudge_at=None, updated_at=now))
        self.session.execute(update(Delivery).where(Delivery.run_id.in_(held), Delivery.status == "sent")
                             .values(nudge_at=None, updated_at=now))
        return skipped

    def unpause(self, schedule_id: int, after: date) -> None:
        """A pause ended early: the schedule's prompts of dates after `after` that it kept from being sent are
        planned again from scratch (they were never sent, so nothing was counted)."""
        runs = select(PromptRun.id).where(PromptRun.schedule_id == schedule_id,
                                          PromptRun.local_date > after).scalar_subquery()
        self.session.execute(delete(Delivery).where(Delivery.run_id.in_(runs), Delivery.status == "skipped",
                                                    Delivery.reason == PAUSED, Delivery.sent_at.is_(None)))

    def due(self, now: datetime, limit: int, *, except_communities: Collection[int] = ()) -> list[Delivery]:
        statement = _outside(select(Delivery).where(_prompt_due(now)), except_communities)
        return list(self.session.scalars(
            statement.order_by(Delivery.due_at, Delivery.id).limit(limit).with_for_update(skip_locked=True)))

    def expire_closed(self, now: datetime) -> int:
        """Deliveries whose answer window closed before they could be sent are not sent late (one sent before a
        snooze lapses instead: `lapse_closed`)."""
        result = self.session.execute(
            update(Delivery).where(Delivery.status == "scheduled", Delivery.window_end <= now,
                                   Delivery.sent_at.is_(None))
            .values(status="expired", reason=WINDOW_CLOSED, updated_at=now))
        return rowcount(result)

    def expire_queued(self, delivery_ids: list[int], now: datetime) -> int:
        """Of these queued deliveries, those never sent expire as `expire_closed` makes them: their window closed
        while their prompt waited to be posted."""
        if not delivery_ids:
            return 0
        result = self.session.execute(
            update(Delivery).where(Delivery.id.in_(delivery_ids), Delivery.status == "queued",
                                   Delivery.sent_at.is_(None))
            .values(status="expired", reason=WINDOW_CLOSED, nudge_at=None, updated_at=now))
        return rowcount(result)

    def open_for(self, user_id: str, now: datetime) -> Delivery | None:
        """The person's prompt sent last that is still open for an answer: sent, or sent and snoozed (as
        services.prompts.delivered.answerable has it)."""
        return self.session.scalars(
            select(Delivery).where(Delivery.user_id == user_id, Delivery.window_end > now, or_(
                Delivery.status == "sent",
                and_(Delivery.status.in_(("scheduled", "queued")), Delivery.sent_at.is_not(None))))
            .order_by(Delivery.sent_at.desc(), Delivery.due_at.desc()).limit(1)).one_or_none()

    def clear_nudges(self, user_id: str, now: datetime) -> None:
        """No reminder for any of the person's prompts not yet answered."""
        self.session.execute(update(Delivery).where(Delivery.user_id == user_id,
                                                    Delivery.status.in_(("scheduled", "queued", "sent")))
                             .values(nudge_at=None, updated_at=now))

    def waiting_for(self, user_id: str, now: datetime) -> list[Delivery]:
        """The person's deliveries planned and not yet sent (due or not) whose answer window is still open, not
        those sent once and snoozed (due a day after); held, so one the worker is deciding is left to it."""
        return list(self.session.scalars(select(Delivery).where(
            Delivery.user_id == user_id, Delivery.status == "scheduled", Delivery.window_end > now,
            Delivery.sent_at.is_(None)).with_for_update().execution_options(populate_existing=True)))

    def purge_finished(self, before: datetime) -> int:
        """Deliveries due before `before` that are over (sent, answered, skipped or expired): retention."""
        result = self.session.execute(delete(Delivery).where(
            Delivery.due_at < before, Delivery.status.in_(("sent", "answered", "skipped", "expired"))))
        return rowcount(result)

    def lapse_closed(self, now: datetime, limit: int) -> list[tuple[int, str, int | None, datetime]]:
        """Prompts sent (or snoozed after being sent) and left unanswered until their answer window closed lapse:
        skipped, for the reason LAPSED (an answer after that is no answer to them). (id, user_id, community_id,
        window_end) of those, up to `limit`, oldest first, however long ago they closed (a worker down for weeks
        still lapses them). A prompt is never due after its window closes, so the index on status and due time
        finds them."""
        rows = self.session.execute(
            _with_community(Delivery.window_end)
            .where(Delivery.status.in_(("sent", "scheduled")), Delivery.due_at <= now,
                   Delivery.window_end <= now, Delivery.sent_at.is_not(None))
            .order_by(Delivery.window_end, Delivery.id).limit(limit).with_for_update(of=_D)).all()
        self._lapse([row.id for row in rows], now)
        return [(row.id, row.user_id, row.community_id, row.window_end) for row in rows]

    def lapse_sent_before(self, delivery_ids: list[int], now: datetime) -> list[tuple[int, str, int | None, datetime]]:
        """Of these deliveries, just ended without being sent (skipped by the person's settings, undelivered),
        those that were sent before a snooze lapse as `lapse_closed` makes them, now; (id, user_id, community_id,
        now) of those."""
        if not delivery_ids:
            return []
        rows = self.session.execute(
            _with_community()
            .where(Delivery.id.in_(delivery_ids), Delivery.status == "skipped", Delivery.sent_at.is_not(None))
            .with_for_update(of=_D)).all()
        self._lapse([row.id for row in rows], now)
        return [(row.id, row.user_id, row.community_id, now) for row in rows]

    def _lapse(self, delivery_ids: list[int], now: datetime) -> None:
        if delivery_ids:
            self.session.execute(update(Delivery).where(Delivery.id.in_(delivery_ids))
                                 .values(status="skipped", reason=LAPSED, nudge_at=None, updated_at=now))

    def community_of(self, delivery_id: int) -> int | None:
        """The community of the schedule a delivery was planned for."""
        row = self.session.execute(_with_community().where(Delivery.id == delivery_id)).first()
        return row.community_id if row else None

    def lock_nudges(self, delivery_ids: list[int]) -> dict[int, Delivery]:
        """These deliveries, while still sent and open, locked until the transaction ends."""
        if not delivery_ids:
            return {}
        return {d.id: d for d in self.session.scalars(
            select(Delivery).where(Delivery.id.in_(delivery_ids), Delivery.status == "sent").with_for_update())}

    def nudges_due(self, now: datetime, limit: int, *, except_communities: Collection[int] = ()) -> list[Delivery]:
        statement = _outside(select(Delivery).where(_nudge_due(now)), except_communities)
        return list(self.session.scalars(
            statement.order_by(*NUDGE_ORDER).limit(limit).with_for_update(skip_locked=True)))


class ReflectionRepository(Repository):
    def get(self, reflection_id: int, *, for_update: bool = False) -> Reflection | None:
        if for_update:  # held until the transaction ends, against its author deleting it meanwhile
            return self.session.scalars(select(Reflection).where(Reflection.id == reflection_id).with_for_update()
                                        .execution_options(populate_existing=True)).one_or_none()
        return self.session.get(Reflection, reflection_id)

    def add(self, reflection: Reflection) -> Reflection:
        self.session.add(reflection)
        self.session.flush()
        return reflection

    def ids_of(self, user_id: str) -> list[int]:
        return list(self.session.scalars(select(Reflection.id).where(Reflection.user_id == user_id)))

    def of_author(self, reflection_id: int, user_id: str, *, for_update: bool = False) -> Reflection | None:
        """A reflection only ever comes back to the person who wrote it."""
        statement = select(Reflection).where(Reflection.id == reflection_id, Reflection.user_id == user_id)
        if for_update:
            statement = statement.with_for_update().execution_options(populate_existing=True)
        return self.session.scalars(statement).one_or_none()

    def event_answer(self, user_id: str, event_key: str) -> Reflection | None:
        """The person's answer to the prompt before an event (the pair shares `event_key`)."""
        return self.session.scalars(
            select(Reflection).join(Delivery, Delivery.id == Reflection.delivery_id)
            .join(PromptRun, PromptRun.id == Delivery.run_id)
            .join(PromptSchedule, PromptSchedule.id == PromptRun.schedule_id)
            .where(Reflection.user_id == user_id, PromptSchedule.event_key == event_key,
                   PromptSchedule.event_part == "before")
            .order_by(Reflection.created_at.desc()).limit(1)).one_or_none()

    def recent(self, user_id: str, limit: int, offset: int = 0) -> list[Reflection]:
        return list(self.session.scalars(
            select(Reflection).where(Reflection.user_id == user_id)
            .order_by(Reflection.created_at.desc(), Reflection.id.desc()).limit(limit).offset(offset)))

    def count_of(self, user_id: str) -> int:
        return self.session.scalar(select(func.count()).select_from(Reflection)
                                   .where(Reflection.user_id == user_id)) or 0

    def delete(self, reflection: Reflection) -> None:
        self.session.execute(delete(Reflection).where(Reflection.id == reflection.id))
