""""You might also find useful": a weekly private message, for the people who asked for it, with a few items
that people who found the same things useful also rated highly.

It goes out on Monday at the person's own time (services.network.weekly: their prompt time, else 09:00 in
their time zone), waits out a pause or quiet hours and skips the week under do not disturb, as a prompt does.
Only item pairs that at least k people found useful together count (domain.network.suggest), and nobody is
named. They come only from the communities in whose channels the person is now, as Mattermost says when they
fall due: what is shared in a channel (possibly private) reaches nobody outside it, not someone who rated one of
its wiki pages from the wiki, nor someone who left. The week is marked done in the transaction that queues the
message, whose key names the person and the week.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from learnloop.chunks import chunks
from learnloop.domain.measures import member_key, week_of
from learnloop.domain.network import strongest, suggest
from learnloop.domain.preferences import Action
from learnloop.services.communities import current_community
from learnloop.services.dashboard import TopItem, title_of
from learnloop.services.network.weekly import DueDM, decide, due_dm
from learnloop.services.outbox_kinds import SEND_DM
from learnloop.storage.unit_of_work import UnitOfWork

SUGGESTED = 3
CHUNK = 500
"""People recorded per transaction, so SQLite's write lock is held briefly."""


@dataclass(frozen=True)
class Planned:
    user_id: str
    week: date
    payload: dict[str, Any] | None
    """The message to queue; None when there is nothing to suggest or the week is skipped."""


SuggestionsDM = Callable[[str, list[TopItem]], dict[str, Any]]
"""Builds the SEND_DM payload for a person and their suggestions (the Mattermost layer owns the format)."""


def switch(uow: UnitOfWork, user_id: str, on: bool, now: datetime) -> None:
    uow.members.ensure(user_id, now).suggestions = on
    uow.commit()


def due(uow: UnitOfWork, now: datetime) -> list[DueDM]:
    """People who asked for suggestions whose Monday moment has passed this week and who have not had them."""
    found = []
    for member in uow.network.suggestion_members(week_of(now + timedelta(days=1))):
        person = due_dm(member.user_id, member, member.suggested_week, now)
        if person is not None:
            found.append(person)
    return found


def liked_in(uow: UnitOfWork, user_ids: list[str], key: bytes) -> dict[int, list[str]]:
    """Community to those of these people who found something in it useful: the communities their suggestions
    could come from, whose channels Mattermost is asked about. Not one that joined another: a join before its
    co-ratings moved with it left them there, pairs nobody updates any more."""
    members = {member_key(user_id, key): user_id for user_id in user_ids}
    found: dict[int, list[str]] = {}
    for member, communities in sorted(uow.network.liked_communities(sorted(members)).items()):
        for community_id in communities:
            found.setdefault(community_id, []).append(members[member])
    found = {c: people for c, people in found.items() if current_community(uow, c) == c}
    return {community_id: sorted(people) for community_id, people in sorted(found.items())}


def for_person(uow: UnitOfWork, user_id: str, key: bytes, k: int, inside: Collection[int],
               limit: int = SUGGESTED) -> list[TopItem]:
    """A few items the person has not rated and not retired, from the strongest pairs (at least k people each)
    of what they found useful, across those of their communities they are `inside` (in one of its channels)."""
    store = uow.network
    rated = store.rated_by(user_id)
    weights: dict[int, int] = {}
    for community_id, liked in sorted(store.likes_of(member_key(user_id, key)).items()):
        if community_id not in inside:
            continue
        for item, weight in suggest(liked, rated, store.pairs_with(community_id, liked, k), k).items():
            weights[item] = weights.get(item, 0) + weight
    details = uow.dashboards.item_details(sorted(weights), current=True)
    content = {item for item in weights if item in details and details[item][2] != "reflection"}  # never ranked
    chosen = strongest({item: weights[item] for item in content}, store.scores(content, k), limit)
    return [TopItem(title_of(*details[i]), details[i][1], details[i][2], 0.0, 0, i) for i in chosen if i in details]


def _action(person: DueDM, presence: dict[str, str], now: datetime, gone: Collection[str]) -> Action:
    return Action.SKIP if person.user_id in gone else decide(person, presence, now)


def sending(due_now: list[DueDM], presence: dict[str, str], now: datetime, gone: Collection[str] = ()) -> list[str]:
    """Those of the due people whose message goes out now: the only ones whose channels Mattermost is asked about
    this pass, not those waiting out a pause or quiet hours, nor those whose week is skipped."""
    return sorted({person.user_id for person in due_now if _action(person, presence, now, gone) == Action.SEND})


def plan(uow: UnitOfWork, due_now: list[DueDM], presence: dict[str, str], inside: Mapping[str, Collection[int]],
         key: bytes, k: int, now: datetime, render: SuggestionsDM, gone: Collection[str] = ()) -> list[Planned]:
    """What each due person gets this week, from the communities they are `inside` (in one of its channels),
    worked out from reads alone; people still waiting (a pause or quiet hours that end later today) are left for
    a later pass, and the week of one whose account is `gone` (deactivated) is skipped."""
    planned = []
    for person in due_now:
        action = _action(person, presence, now, gone)
        if action == Action.WAIT_UNTIL:
            continue
        items = for_person(uow, person.user_id, key, k, inside.get(person.user_id, ())) \
            if action == Action.SEND else []
        planned.append(Planned(person.user_id, person.week, render(person.user_id, items) if items else None))
    return planned


def record(uow: UnitOfWork, planned: list[Planned], now: datetime) -> int:
    """Mark each week done and queue its message, CHUNK people per transaction; the number queued."""
    queued = 0
    for some in chunks(planned, CHUNK):
        for one in some:
            if uow.network.mark_suggested_week(one.user_id, one.week) and one.payload is not None:
                queued += uow.outbox.enqueue(SEND_DM, one.payload, key=f"suggest:{one.user_id}:{one.week}",
                                             now=now)
        uow.commit()
    return queued
