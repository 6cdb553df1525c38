"""Item-to-item co-ratings: for each pair of a community's items, how many people found both useful.

Kept incrementally from the rating events past the `co_ratings` cursor. For each person who rated since,
their useful items now are compared with those last counted for them (kept under a keyed hash, never the
id), and only the difference moves the pair counts; a suggestion job then reads a few rows, never history.
The first pass on a database with ratings but no co-ratings counts them from the ratings table instead of
replaying every event.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from learnloop.domain.measures import member_key
from learnloop.domain.network import LIKES_KEPT, pair_changes, pairs
from learnloop.services.rollups import SETTLE, fold_in_batches
from learnloop.storage.network_store import NetworkStore
from learnloop.storage.unit_of_work import UnitOfWork

CURSOR = "co_ratings"
BATCH = 2000
FLUSH_PAIRS = 200_000


@dataclass(frozen=True)
class CoFold:
    after: int
    last: int
    size: int
    changes: dict[int, Counter[tuple[int, int]]]
    likes: dict[int, dict[str, set[int]]]
    """Community to member hash to the useful items now counted for them."""


def read_co_fold(uow: UnitOfWork, key: bytes, now: datetime, *, batch: int = BATCH) -> CoFold | None:
    store = uow.network
    after = int(uow.cursors.get(CURSOR) or 0)
    events = store.settled_ratings_after(after, now - SETTLE, batch)
    if not events:
        return None
    communities = store.item_communities({event.item_id for event in events if event.item_id})
    people: dict[int, set[str]] = defaultdict(set)
    for event in events:
        community_id = communities.get(event.item_id) if event.item_id else None
        if event.actor_id and community_id is not None:
            people[community_id].add(event.actor_id)
    changes: dict[int, Counter[tuple[int, int]]] = {}
    likes: dict[int, dict[str, set[int]]] = {}
    for community_id, users in sorted(people.items()):
        changes[community_id], likes[community_id] = _recount(store, community_id, users, key)
    return CoFold(after, events[-1].id, len(events), changes, likes)


def _recount(store: NetworkStore, community_id: int, users: set[str], key: bytes,
             ) -> tuple[Counter[tuple[int, int]], dict[str, set[int]]]:
    """These people's pair changes in the community, and their useful items now where these changed: what
    they find useful now against what was last counted for them."""
    ordered = sorted(users)
    members = {user: member_key(user, key) for user in ordered}
    useful = store.useful_items(community_id, ordered, LIKES_KEPT)
    counted = store.likes(community_id, sorted(members.values()))
    changes: Counter[tuple[int, int]] = Counter()
    likes: dict[str, set[int]] = {}
    for user in ordered:
        before, now_useful = counted[members[user]], useful[user]
        if now_useful != before:
            changes.update(pair_changes(before, now_useful))
            likes[members[user]] = now_useful
    return changes, likes


def apply_co_fold(uow: UnitOfWork, fold: CoFold, now: datetime) -> bool:
    """Write a co-fold and move the cursor past it; False (nothing written) when the cursor has moved since it
    was read, its rating events have changed (a person's erase deleted theirs: writing it would put back the
    items counted under their hash), or one of its communities has joined another since (its items are counted
    in the joined one now: the next pass reads them there)."""
    communities = set(fold.changes) | set(fold.likes)
    if not uow.cursors.move_from(CURSOR, str(fold.after), str(fold.last), now) \
            or uow.events.held_between(fold.after, fold.last, "rating") != fold.size \
            or uow.joins.successors_holding(communities).keys() & communities:
        uow.rollback()
        return False
    for community_id, changes in sorted(fold.changes.items()):
        uow.network.add_pairs(community_id, {pair: n for pair, n in changes.items() if n})
    for community_id, likes in sorted(fold.likes.items()):
        uow.network.replace_likes(community_id, likes)
    uow.commit()
    return True


def count_from_ratings(uow: UnitOfWork, key: bytes, now: datetime) -> bool:
    """The co-ratings counted from the ratings table, once, when none are kept yet but the event log has
    moved on (a database from before co-ratings, or after a restore); True when it did. Counts are written
    every FLUSH_PAIRS pair increments, so memory stays bounded however many ratings there are."""
    if uow.cursors.get(CURSOR) is not None:
        return False
    store = uow.network
    last = store.last_event_id()
    for community_id in store.rated_communities():
        together: Counter[tuple[int, int]] = Counter()
        kept: dict[str, set[int]] = {}
        for person, items in store.useful_by_person(community_id, LIKES_KEPT):
            together.update(pairs(items))
            kept[member_key(person, key)] = set(items)
            if len(together) >= FLUSH_PAIRS:
                store.add_pairs(community_id, dict(together))
                store.add_likes(community_id, kept)
                together, kept = Counter(), {}
        store.add_pairs(community_id, dict(together))
        store.add_likes(community_id, kept)
    uow.cursors.move(CURSOR, str(last), now)
    uow.commit()
    return True


def fold_co_ratings(uow_factory: Callable[[], UnitOfWork], key: bytes, now: datetime,
                    reader: Callable[[], UnitOfWork] | None = None) -> int:
    """Fold every settled rating event into the co-ratings; the number of events folded."""
    with uow_factory() as uow:
        count_from_ratings(uow, key, now)
    return fold_in_batches(uow_factory, reader, lambda uow: read_co_fold(uow, key, now),
                           lambda uow, fold: apply_co_fold(uow, fold, now), BATCH)


def join_up(uow: UnitOfWork, key: bytes, source: int, target: int, raters: set[str]) -> None:
    """Once a join has moved the source's items into the target, the source's co-ratings go and its `raters`
    (NetworkStore.useful_raters, read before) are counted again in the target, from what they find useful there
    now; the target's other people are unchanged. Part of the join's transaction."""
    changes, likes = _recount(uow.network, target, raters, key)
    uow.network.add_pairs(target, {pair: n for pair, n in changes.items() if n})
    uow.network.replace_likes(target, likes)
    uow.network.forget_community(source)


def forget_person(uow: UnitOfWork, key: bytes, user_id: str) -> None:
    """Take a person out of the co-ratings (they erased their data); part of the caller's transaction."""
    member = member_key(user_id, key)
    for community_id, items in uow.network.likes_of(member).items():
        uow.network.add_pairs(community_id, {pair: -1 for pair in pairs(items)})
        uow.network.replace_likes(community_id, {member: set()})
