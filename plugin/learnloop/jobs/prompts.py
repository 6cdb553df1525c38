"""The prompt pass of the worker: plan runs, plan each member's delivery, queue what is due."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, TypeVar

from learnloop.jobs.outbox import CallGate
from learnloop.mattermost.client import MattermostClient, MattermostError
from learnloop.mattermost.context import Chat
from learnloop.services.prompts.runs import (
    DispatchReport,
    MemberProfile,
    apply_decisions,
    apply_nudges,
    decide,
    expire,
    plan_deliveries,
    plan_runs,
    read_due,
    read_nudges,
)
from learnloop.services.prompts.setup import check_timezone

log = logging.getLogger(__name__)
T = TypeVar("T")

USERS_PER_CALL = 200
DISPATCH_BATCH = 50
"""Deliveries decided per transaction: short write locks, so the web keeps answering during a fan-out."""
MAX_DISPATCH_ROUNDS = 1000
NUDGE_BATCH = 1000
PLAN_CHUNK = 100


@dataclass
class PromptPassReport:
    runs_created: int = 0
    deliveries_planned: int = 0
    dispatch: DispatchReport | None = None


def _chunks(ids: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def user_timezone(user: dict[str, Any]) -> str | None:
    """Mattermost keeps the zone as strings: automatic unless the person set one by hand. Mattermost does not
    check them: a name that is no time zone (a folder of the database such as "Europe", or too long) is
    None, and the person is prompted at the schedule's time zone."""
    zone = user.get("timezone") or {}
    automatic = str(zone.get("useAutomaticTimezone", "true")).lower() == "true"
    name = (zone.get("automaticTimezone") if automatic else zone.get("manualTimezone")) or None
    return name if isinstance(name, str) and check_timezone(name) is None else None


def member_profiles(client: MattermostClient, channel_id: str) -> list[MemberProfile]:
    """People in the channel, without bots and deactivated accounts."""
    ids = list(client.iter_channel_member_ids(channel_id))
    profiles: list[MemberProfile] = []
    for chunk in _chunks(ids, USERS_PER_CALL):
        for user in client.get_users_by_ids(chunk):
            if user.get("is_bot") or user.get("delete_at"):
                continue
            profiles.append(MemberProfile(user["id"], user.get("username"), user_timezone(user)))
    return profiles


def community_profiles(client: MattermostClient, channel_ids: list[str]) -> list[MemberProfile]:
    """People in any of a community's channels, each once."""
    found: dict[str, MemberProfile] = {}
    for channel_id in channel_ids:
        for profile in member_profiles(client, channel_id):
            found.setdefault(profile.user_id, profile)
    return list(found.values())


def statuses(client: MattermostClient | None, user_ids: Iterable[str]) -> dict[str, str]:
    ids = list(user_ids)
    if client is None or not ids:
        return {}
    statuses: dict[str, str] = {}
    try:
        for chunk in _chunks(ids, USERS_PER_CALL):
            statuses.update(client.get_users_statuses(chunk))
    except MattermostError as exc:
        log.warning("could not read statuses, sending without them: %s", exc)
    return statuses


def writing(gate: CallGate | None) -> AbstractContextManager[None]:
    return gate.writing() if gate is not None else nullcontext()


def run_prompt_pass(chat: Chat, gate: CallGate | None = None) -> PromptPassReport:
    report = PromptPassReport()
    client = chat.mattermost()
    with writing(gate), chat.uow() as uow:
        report.runs_created = len(plan_runs(uow, chat.clock()))
    if client is not None:
        with chat.reader() as uow:
            pending = [(run.id, uow.schedules.get(run.schedule_id)) for run in uow.runs.unplanned()]
            channels: dict[int, list[str]] = {}
            for run_id, row in pending:
                community = uow.communities.get(row.community_id) if row else None
                if community is not None:
                    channels[run_id] = [c.channel_id for c in uow.communities.channels(community.id)] or \
                        [community.channel_id]
        for run_id, channel_ids in channels.items():
            try:
                profiles = community_profiles(client, channel_ids)
            except MattermostError as exc:
                log.warning("could not list the members of channels %s, will try again: %s", channel_ids, exc)
                continue
            chunks = list(_chunks(profiles, PLAN_CHUNK)) or [[]]
            for index, chunk in enumerate(chunks):
                with writing(gate), chat.uow() as uow:
                    report.deliveries_planned += plan_deliveries(uow, run_id, chunk, chat.clock(),
                                                                 complete=index == len(chunks) - 1)
    report.dispatch = _dispatch(chat, client, gate)
    return report


def _dispatch(chat: Chat, client: MattermostClient | None, gate: CallGate | None) -> DispatchReport:
    """Everything due, DISPATCH_BATCH at a time: read and decide without the write lock (statuses are
    asked of Mattermost meanwhile), then one short write per batch."""
    with writing(gate), chat.uow() as uow:
        report = expire(uow, chat.clock())
    now = chat.clock()
    with chat.reader() as uow:
        nudges = read_nudges(uow, now, NUDGE_BATCH)
    if nudges:
        decided = decide(nudges, now, statuses(client, sorted({d.user_id for d in nudges})))
        with writing(gate), chat.uow() as uow:
            report.nudges = apply_nudges(uow, decided, now)
    for _ in range(MAX_DISPATCH_ROUNDS):
        now = chat.clock()
        with chat.reader() as uow:
            due = read_due(uow, now, DISPATCH_BATCH)
        if not due:
            break
        presence = statuses(client, sorted({d.user_id for d in due}))
        decided = decide(due, now, presence)
        with writing(gate), chat.uow() as uow:
            done = apply_decisions(uow, decided, now)
        report.merge(done)
        if done.queued + done.waiting + sum(done.skipped.values()) == 0:
            break
    return report
