"""The prompt pass of the worker: plan runs, plan each member's delivery, queue what is due."""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

from learnloop.chunks import chunks
from learnloop.jobs.outbox import CallGate
from learnloop.mattermost.client import MattermostClient, MattermostError
from learnloop.mattermost.context import Chat
from learnloop.mattermost.people import community_profiles, due_profiles, statuses
from learnloop.services.prompts import membership
from learnloop.services.prompts.membership import ZONE_SPREAD, MemberProfile
from learnloop.services.prompts.runs import (
    DispatchReport,
    apply_decisions,
    apply_nudges,
    decide,
    expire,
    plan_deliveries,
    plan_runs,
    read_due,
    read_nudges,
)
from learnloop.storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

DISPATCH_BATCH = 50
"""Deliveries decided per transaction: short write locks, so the web keeps answering during a fan-out."""
MAX_DISPATCH_ROUNDS = 1000
NUDGE_BATCH = 1000
ZONE_BATCH = 1000
PLAN_CHUNK = 100


@dataclass
class PromptPassReport:
    runs_created: int = 0
    deliveries_planned: int = 0
    dispatch: DispatchReport | None = None


def writing(gate: CallGate | None) -> AbstractContextManager[None]:
    return gate.writing() if gate is not None else nullcontext()


class Roster:
    """Each community's members, listed at most once a pass: one round of calls per community, not per person."""

    def __init__(self, client: MattermostClient) -> None:
        self.client = client
        self.listed: dict[int, list[MemberProfile] | None] = {}

    def of(self, community_id: int, channel_ids: list[str]) -> list[MemberProfile] | None:
        """None when Mattermost could not list them (a later pass tries again)."""
        if community_id not in self.listed:
            try:
                self.listed[community_id] = community_profiles(self.client, channel_ids)
            except MattermostError as exc:
                log.warning("could not list the members of channels %s, will try again: %s", channel_ids, exc)
                self.listed[community_id] = None
        return self.listed[community_id]


def community_channels(uow: UnitOfWork, community_id: int) -> list[str] | None:
    """The channels counting towards the community, else its home channel; None when there is no such community."""
    community = uow.communities.get(community_id)
    if community is None:
        return None
    return [c.channel_id for c in uow.communities.channels(community.id)] or [community.channel_id]


def _plan(chat: Chat, gate: CallGate | None, run_id: int, profiles: list[MemberProfile], *, complete: bool) -> int:
    """Plan a run's members in chunks, one short write transaction each; the last chunk marks it planned."""
    planned = 0
    pieces = list(chunks(profiles, PLAN_CHUNK)) or [[]]
    for index, chunk in enumerate(pieces):
        with writing(gate), chat.uow() as uow:
            planned += plan_deliveries(uow, run_id, chunk, chat.clock(),
                                       complete=complete and index == len(pieces) - 1)
    return planned


def run_prompt_pass(chat: Chat, gate: CallGate | None = None) -> PromptPassReport:
    report = PromptPassReport()
    client = chat.mattermost()
    with writing(gate), chat.uow() as uow:
        report.runs_created = len(plan_runs(uow, chat.clock()))
    unchecked: set[int] = set()
    reminders: set[int] | None = None
    if client is not None:
        roster = Roster(client)
        with chat.reader() as uow:
            pending: list[tuple[int, int, list[str]]] = []
            for run in uow.runs.unplanned():
                row = uow.schedules.get(run.schedule_id)
                channel_ids = community_channels(uow, row.community_id) if row else None
                if row is not None and channel_ids is not None:
                    pending.append((run.id, row.community_id, channel_ids))
        for run_id, community_id, channel_ids in pending:
            profiles = roster.of(community_id, channel_ids)
            if profiles is not None:
                report.deliveries_planned += _plan(chat, gate, run_id, profiles, complete=True)
        unchecked, reminders = _recheck_members(chat, client, gate)
    report.dispatch = _dispatch(chat, client, gate, unchecked, reminders)
    return report


def _recheck_members(chat: Chat, client: MattermostClient, gate: CallGate | None) -> tuple[set[int], set[int]]:
    """Close to sending, the people whose prompts or reminders are due are asked about, and nobody else: per
    USERS_PER_CALL of them, one call per channel for who is still in the community and one for their time zones
    (see services.prompts.membership). Of the reminders, only the NUDGE_BATCH the pass decides: the others are
    asked about in the pass that decides them. The communities Mattermost could not tell about: their prompts
    and reminders wait. With them, once, those due a prompt within ZONE_SPREAD: a zone moved east moves it
    earlier. Returns those communities, and the batch of reminders."""
    now = chat.clock()
    with chat.reader() as uow:
        ahead = uow.deliveries.zones_unread(now, now + ZONE_SPREAD, ZONE_BATCH)
        batch = uow.deliveries.nudges_first(now, NUDGE_BATCH)
        communities = [(c, community_channels(uow, c), uow.deliveries.due_in(c, now),
                        [(d, user_id) for d, user_id, of in batch if of == c],
                        [(d, user_id) for d, user_id, of in ahead if of == c])
                       for c in sorted(set(uow.deliveries.prompt_communities(now)) | {c for *_, c in batch + ahead})]
    unchecked: set[int] = set()
    for community_id, channel_ids, due, nudges, coming in communities:
        if channel_ids is None:
            continue
        try:
            profiles = due_profiles(client, channel_ids, sorted({user_id for _, user_id in due + nudges + coming}))
        except MattermostError as exc:
            log.warning("could not ask who of community %s is still in its channels, will try again: %s",
                        community_id, exc)
            unchecked.add(community_id)
            continue
        with chat.reader() as uow:
            found = membership.changes(uow, due, profiles, nudges, coming)
        if found.left or found.moved or found.left_nudged or found.zones_read:
            with writing(gate), chat.uow() as uow:
                membership.apply_changes(uow, found, now)
    return unchecked, {d for d, *_ in batch}


def _dispatch(chat: Chat, client: MattermostClient | None, gate: CallGate | None,
              unchecked: set[int], reminders: set[int] | None) -> DispatchReport:
    """Everything due but in the `unchecked` communities (left for a later pass), DISPATCH_BATCH at a time: read and
    decide without the write lock (statuses are asked of Mattermost meanwhile), then one short write per batch.
    Of the reminders, only those of `reminders` if given (the batch whose people were asked about: one that
    another took the place of since, as its person left, waits for the next pass and its check)."""
    with writing(gate), chat.uow() as uow:
        report = expire(uow, chat.clock())
    now = chat.clock()
    with chat.reader() as uow:
        nudges = [d for d in read_nudges(uow, now, NUDGE_BATCH, except_communities=unchecked)
                  if reminders is None or d.id in reminders]
    if nudges:
        decided = decide(nudges, now, statuses(client, sorted({d.user_id for d in nudges})))
        with writing(gate), chat.uow() as uow:
            report.nudges = apply_nudges(uow, decided, now)
    for _ in range(MAX_DISPATCH_ROUNDS):
        now = chat.clock()
        with chat.reader() as uow:
            due = read_due(uow, now, DISPATCH_BATCH, except_communities=unchecked)
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
