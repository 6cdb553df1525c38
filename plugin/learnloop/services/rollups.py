"""Weekly rollups maintained from the event log, so a dashboard never rescans history.

The worker folds new events (after the `rollups` cursor) into weekly totals and weekly member sets (people
only as keyed hashes). In the same transaction it keeps the release blocks each people measure is shown
by (domain.disclosure). At each week's end it moves the shown scores of the items rated, kept in an index by
score (a score moves only once k people have changed it, and its number of raters by none or by k:
domain.scores.may_release). The cursor moves by compare-and-set, so a second worker that folded the same events
is refused instead of adding them again. Its periodic pass (`keep_current`) closes the blocks a week's end
completes when no new event does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Protocol, TypeVar

from learnloop.chunks import chunks
from learnloop.domain.disclosure import WEEK, Block, WeekFacts, closed_blocks, merge_after, split_open
from learnloop.domain.measures import (
    DISTINCT_THINGS,
    NEVER_SEEN,
    OPEN_METRICS,
    PEOPLE_METRICS,
    PRIVATE_BY_PROMPT,
    PROMPT_PARTS,
    REFLECTION_PARTS,
    SHARED_LATER,
    UNANSWERED,
    UNSEEN,
    contributions,
    week_of,
)
from learnloop.domain.scores import Prior, community_prior, may_release, needs_rebase
from learnloop.services.network import recognition
from learnloop.services.reflections import PUBLISH_PREFIX, SHARE_PREFIX
from learnloop.storage.rollup_store import Kept, RollupStore
from learnloop.storage.unit_of_work import UnitOfWork

CURSOR = "rollups"
BLOCKS_K = "release_blocks_k"
"""The k the stored release blocks were cut for; another k rebuilds them."""
BLOCKS_UNTIL = "release_blocks_until"
"""The week every open stretch was last cut before (the current week then); in a later week they are cut again."""
HELD_FOR_POSTS = "reflections_held_for_posts"
"""While a reflections block that a week's end completed waits for a shared reflection's post or wiki section to
be made: the week of the oldest such message still to go. A pass that finds another (or none) cuts those stretches
again, so the figure appears once the posts are out, not at the next reflection someone writes."""
UNANSWERED_SINCE = "prompts_unanswered_since"
"""The first week (ISO date) the prompts nobody answered were counted in, on an install upgraded from a version
that did not count them; absent, they were counted from the start."""
BATCH = 5000
SETTLE = timedelta(seconds=30)
"""Events younger than this wait for the next pass: on PostgreSQL a smaller id can commit after a
larger one, and the cursor must never step over an event that is still to come."""
PARTS: dict[str, tuple[str, ...]] = {
    "reflections": (*REFLECTION_PARTS, *PROMPT_PARTS, *PRIVATE_BY_PROMPT, *SHARED_LATER, *NEVER_SEEN, UNANSWERED)}
"""Measures released over another's blocks, with blocks of their own cut the same: the reflections written, by
what their authors chose and by whether they answered a prompt (and, deciding only what is withheld, the private
ones and those shared later by that too), and beside them the prompts nobody answered."""
CHILDREN: dict[str, tuple[str, ...]] = {**PARTS, **{people: (thing,) for thing, people in DISTINCT_THINGS.items()}}
"""Measures released over another measure's blocks: its parts, and the distinct items and threads behind ratings
and replies (counted over the span of the parent's blocks from the weekly member sets, with no blocks of their
own)."""
KEPT = REFLECTION_PARTS[0]
"""The reflections kept private when written."""
_RELEASED_WITH = {child: parent for parent, children in CHILDREN.items() for child in children}
"""A child measure's weeks are released with its parent's blocks."""


@dataclass(frozen=True)
class Fold:
    """What a batch of new events adds to the rollups, worked out from the event log alone (it is
    append-only), so without the write lock; `apply_fold` then writes it."""

    after: int
    last: int
    size: int
    counts: dict[tuple[int, date, str], int]
    members: set[tuple[int, date, str, str]]
    more_from: date | None = None
    """A full batch: more events may follow for this week (its newest event's), so it closes no block yet."""


def release_until(now: datetime) -> date:
    """The first week that may not close a release block yet: the current one, until its last events have
    settled into the fold."""
    return week_of(now - SETTLE)


def read_fold(uow: UnitOfWork, key: bytes, now: datetime, *, batch: int = BATCH) -> Fold | None:
    """Up to `batch` events past the cursor, folded in memory; None when there are none."""
    store = uow.rollups
    after = int(uow.cursors.get(CURSOR) or 0)
    events = store.events_after(after, now - SETTLE, batch)
    if not events:
        return None
    kinds = store.item_kinds({event.item_id for event in events if event.item_id})
    counts: dict[tuple[int, date, str], int] = defaultdict(int)
    members: set[tuple[int, date, str, str]] = set()
    for event in events:
        if event.community_id is None:
            continue
        week = week_of(event.occurred_at)
        for part in contributions(event, kinds.get(event.item_id or 0), key):
            counts[(event.community_id, week, part.metric)] += 1
            if part.member:
                members.add((event.community_id, week, part.metric, part.member))
    more_from = week_of(events[-1].occurred_at) if len(events) == batch else None
    return Fold(after, events[-1].id, len(events), dict(counts), members, more_from)


def apply_fold(uow: UnitOfWork, fold: Fold, k: int, now: datetime) -> bool:
    """Write a fold and move the cursor past it, in one transaction; False (nothing written) when the cursor
    has moved since the fold was read, as when another worker folded the same events, or when its events
    have changed since (a person's erase deleted theirs: writing the fold would put back their hash)."""
    store = uow.rollups
    if not uow.cursors.move_from(CURSOR, str(fold.after), str(fold.last), now):
        uow.rollback()
        return False
    # the communities before the events: a join holds its communities, then moves their events
    successors = uow.joins.successors_holding({c for c, _, _ in fold.counts})
    if uow.events.held_between(fold.after, fold.last) != fold.size:
        uow.rollback()
        return False
    fold = _to_successors(fold, successors)
    counts, members = _after_released(fold, store.released_through({c for c, _, _ in fold.counts}))
    until = min(release_until(now), fold.more_from or release_until(now))
    store.add_counts(counts)
    store.add_members(members)
    touched: dict[tuple[int, str], set[date]] = defaultdict(set)
    for community_id, week, metric in counts:
        if metric in PEOPLE_METRICS:
            touched[(community_id, metric)].add(week)
    held = [refresh_blocks(store, community_id, metric, weeks, k, until)
            for (community_id, metric), weeks in sorted(touched.items())]
    if any(held):
        _note_held(uow, held, now)
    uow.commit()
    return True


def _to_successors(fold: Fold, successors: dict[int, int]) -> Fold:
    """The fold with each community that has joined another counted towards the one it joined: an event
    recorded for it as it joined, or a join committed since the fold was read."""
    if not successors.keys() & {c for c, _, _ in fold.counts}:
        return fold
    counts: dict[tuple[int, date, str], int] = defaultdict(int)
    for (community_id, week, metric), count in fold.counts.items():
        counts[(successors.get(community_id, community_id), week, metric)] += count
    members = {(successors.get(c, c), week, metric, member) for c, week, metric, member in fold.members}
    return replace(fold, counts=dict(counts), members=members)


def _after_released(fold: Fold, released: dict[tuple[int, str], date]) -> tuple[
        dict[tuple[int, date, str], int], set[tuple[int, date, str, str]]]:
    """The fold's counts and members with each late event (one for a week already released, or before it)
    counted in the first week after the released ones instead: a released figure never changes."""
    def week_for(community_id: int, week: date, metric: str) -> date:
        through = released.get((community_id, _RELEASED_WITH.get(metric, metric)))
        return through + WEEK if through is not None and week <= through else week

    counts: dict[tuple[int, date, str], int] = defaultdict(int)
    for (community_id, week, metric), value in fold.counts.items():
        counts[(community_id, week_for(community_id, week, metric), metric)] += value
    members = {(c, week_for(c, w, m), m, who) for c, w, m, who in fold.members}
    return dict(counts), members


def fold_new_events(uow: UnitOfWork, key: bytes, k: int, now: datetime, *, batch: int = BATCH) -> int:
    """Fold up to `batch` events past the cursor, in one transaction with the cursor."""
    fold = read_fold(uow, key, now, batch=batch)
    return fold.size if fold is not None and apply_fold(uow, fold, k, now) else 0


class Batch(Protocol):
    @property
    def size(self) -> int: ...


B = TypeVar("B", bound=Batch)


def fold_in_batches(uow_factory: Callable[[], UnitOfWork], reader: Callable[[], UnitOfWork] | None,
                    read: Callable[[UnitOfWork], B | None], apply: Callable[[UnitOfWork, B], bool],
                    batch: int) -> int:
    """Fold batches until none is left or one comes short; the number of events folded. With `reader` (a
    unit of work that only reads), each batch is read and worked out before the write transaction begins,
    so on SQLite the writer lock, which every rating waits for, is held only while the batch is written.
    A batch another worker folded first (`apply` answers False) ends the pass."""
    total = 0
    while True:
        with (reader or uow_factory)() as uow:
            found = read(uow)
        if found is None:
            return total
        with uow_factory() as uow:
            if not apply(uow, found):
                return total
        total += found.size
        if found.size < batch:
            return total


def fold_all(uow_factory: Callable[[], UnitOfWork], key: bytes, k: int, now: datetime,
             reader: Callable[[], UnitOfWork] | None = None) -> int:
    """Fold every settled event into the rollups."""
    return fold_in_batches(uow_factory, reader, lambda uow: read_fold(uow, key, now),
                           lambda uow, fold: apply_fold(uow, fold, k, now), BATCH)


# ------------------------------------------------------------------------------ release blocks

def refresh_blocks(store: RollupStore, community_id: int, metric: str, weeks: set[date] | None, k: int,
                   until: date) -> str:
    """Bring a people measure's blocks up to date after new events in `weeks` (None: whatever the weeks): the
    open stretch after the last closed block is cut again (no block closes at the week `until`, the current
    one, or later), and its parts' blocks (PARTS) with it. Closed blocks, their parts' too, never change
    (`apply_fold` counts a late event in the first week after them). When an ended week of the stretch waits for
    a shared reflection's post or section, the week (ISO date) of the oldest such message it waited for, else ""
    (HELD_FOR_POSTS)."""
    done = closed_blocks(store.blocks(community_id, metric))
    start = done[-1].last + WEEK if done else min(
        filter(None, (store.first_week(community_id, m) for m in (metric, *PARTS.get(metric, ())))), default=None)
    if start is None or (weeks is not None and not any(week >= start for week in weeks)):
        return ""
    facts = store.week_facts(community_id, metric, start)
    hidden = {name: store.week_facts(community_id, name, start)
              for name in (KEPT, *PRIVATE_BY_PROMPT, *SHARED_LATER, *NEVER_SEEN)} if metric == UNSEEN else {}
    written = store.written_between(community_id, start, until + WEEK) if hidden else []
    unseen = _unseen_weeks([*hidden[KEPT], *hidden[NEVER_SEEN[0]], *hidden[NEVER_SEEN[1]]],
                           [*hidden[SHARED_LATER[0]], *hidden[SHARED_LATER[1]]], written) if hidden else []
    unsent = store.oldest_unsent((SHARE_PREFIX, PUBLISH_PREFIX)) if hidden else None
    held = week_of(unsent).isoformat() if unsent is not None and week_of(unsent) < until and start < until else ""
    if unsent is not None:  # a reflection's post or section still to be made: whether anyone will see it is not known
        until = min(until, week_of(unsent))
    cut, remaining = split_open(start, facts, k, until=until, unseen=unseen)
    fresh = cut + ([remaining] if remaining else [])
    store.replace_blocks(community_id, metric, start, fresh)
    parts = {part: [_part_block(store, community_id, part, block) for block in fresh]
             for part in PARTS.get(metric, ()) if part not in PRIVATE_BY_PROMPT}
    if hidden:
        counted = [block for block in fresh if _sum(hidden[KEPT], block) == sum(
            _sum(hidden[side], block) for side in PRIVATE_BY_PROMPT)]  # not before the sides were counted
        for side, later, never in zip(PRIVATE_BY_PROMPT, SHARED_LATER, NEVER_SEEN, strict=True):
            keeping = [r for r in written if r.private and r.prompted == (side == PRIVATE_BY_PROMPT[0])]
            parts[side] = [_unseen_block(block, [*hidden[side], *hidden[never]], hidden[later], keeping)
                           for block in counted]
    for part, blocks in parts.items():
        store.replace_blocks(community_id, part, start, blocks)
    return held


def _part_block(store: RollupStore, community_id: int, part: str, whole: Block) -> Block:
    value, people = store.totals(community_id, part, whole.first, whole.last)
    return Block(whole.first, whole.last, value, people, whole.closed)


def _sum(weeks: list[WeekFacts], block: Block) -> int:
    return sum(f.value for f in weeks if block.first <= f.week <= block.last)


def _unseen_weeks(kept: list[WeekFacts], later: list[WeekFacts], written: list[Kept]) -> list[WeekFacts]:
    """Week by week, the reflections kept private when written (and those chosen for the channel or the wiki
    that nobody will see there) less those shared since (in the week they were shared, as everyone saw them),
    with their writers, the people who shared some later, and those who still keep some written that week
    (domain.disclosure.split_open's `unseen`)."""
    value: dict[date, int] = defaultdict(int)
    members: dict[date, set[str]] = defaultdict(set)
    less: dict[date, set[str]] = defaultdict(set)
    keeping: dict[date, set[str]] = defaultdict(set)
    for facts in kept:
        value[facts.week] += facts.value
        members[facts.week].update(facts.members)
    for facts in later:
        value[facts.week] -= facts.value
        less[facts.week].update(facts.members)
    for reflection in written:
        if reflection.private:
            keeping[reflection.week].add(reflection.user_id)
    return [WeekFacts(week, value[week], frozenset(members[week]), frozenset(less[week]), frozenset(keeping[week]))
            for week in sorted(value.keys() | keeping.keys())]


def _unseen_block(whole: Block, private: list[WeekFacts], later: list[WeekFacts], keeping: list[Kept]) -> Block:
    """One side of the prompt split's private reflections over a block, less those shared since: their number,
    and the people certainly behind it (who wrote some and shared none later, or who still keep some now)."""
    inside = [f for f in private if whole.first <= f.week <= whole.last]
    shared = [f for f in later if whole.first <= f.week <= whole.last]
    writers = set().union(*(f.members for f in inside))
    sharers = set().union(*(f.members for f in shared))
    still = {r.user_id for r in keeping if whole.first <= r.week <= whole.last}
    return Block(whole.first, whole.last, sum(f.value for f in inside) - sum(f.value for f in shared),
                 max(len(writers - sharers), len(still)), whole.closed)


def merge_rollups(store: RollupStore, source: int, target: int, k: int, until: date) -> None:
    """One community's rollups folded into another's, and its own dropped.

    For each people measure, the community that released more (the other's weeks, when equal) keeps its
    weeks and release blocks as they were; of the other's, only the weeks after what either released merge
    (domain.disclosure.merge_after), and the blocks are cut again over them. Wiki page counts, which describe
    no one, merge whole. `until` is the current week (see refresh_blocks)."""
    for metric in sorted(PEOPLE_METRICS):
        names = [metric, *CHILDREN.get(metric, ())]
        theirs, ours = store.blocks(source, metric), store.blocks(target, metric)
        keeper, other = (source, target) if _released(theirs) > _released(ours) else (target, source)
        weeks = store.merge_weeks(other, keeper, names, merge_after(theirs, ours))
        if weeks:
            refresh_blocks(store, keeper, metric, weeks, k, until)
        if keeper == source:
            store.move_rollups(source, target, names)
    store.merge_weeks(source, target, sorted(OPEN_METRICS), None)
    store.drop_community(source)


def _released(blocks: list[Block]) -> int:
    return sum(block.value for block in closed_blocks(blocks))


def rebuild_blocks(uow: UnitOfWork, k: int, now: datetime, *, keep_closed: bool = False) -> None:
    """Release blocks cut again from the weekly member sets: every one (after an upgrade), or, when k changed,
    only the open stretches (`keep_closed`). A closed block was released: cut again, the figures of the new
    blocks less those seen before could be the few people of the weeks after it."""
    store = uow.rollups
    if not keep_closed:
        store.drop_blocks()
    for community_id, metric in sorted(store.block_measures()):
        if metric in PEOPLE_METRICS:
            refresh_blocks(store, community_id, metric, None, k, release_until(now))
    uow.cursors.move(BLOCKS_K, str(k), now)
    uow.cursors.move(BLOCKS_UNTIL, release_until(now).isoformat(), now)


def close_ended_weeks(uow: UnitOfWork, k: int, now: datetime) -> None:
    """Once a week, when the week before has ended: every open stretch cut again, so the blocks the weeks that
    ended complete close although no new event came for them, and the shown scores moved where k people changed
    them. Only a cursor read the rest of the week.

    Scores move here and nowhere else (but for a change of k): a score that appeared or moved a minute after a
    rating would tell that someone rated the page then."""
    until = release_until(now)
    if uow.cursors.get(BLOCKS_UNTIL) == until.isoformat():
        return
    _cut_open(uow, sorted(PEOPLE_METRICS), k, until, now)
    release_every_score(uow, k, now)
    uow.cursors.move(BLOCKS_UNTIL, until.isoformat(), now)


def release_held(uow: UnitOfWork, k: int, now: datetime) -> None:
    """The reflections blocks held for posts (HELD_FOR_POSTS) cut again once the message that held them has gone
    (one query a pass while it has not)."""
    held = uow.cursors.get(HELD_FOR_POSTS)
    if not held or held == _oldest_unsent_week(uow.rollups):
        return
    _cut_open(uow, [UNSEEN], k, release_until(now), now)


def _cut_open(uow: UnitOfWork, metrics: list[str], k: int, until: date, now: datetime) -> None:
    """The open stretches of these measures that have an ended week, cut again; HELD_FOR_POSTS noted."""
    store = uow.rollups
    held = [refresh_blocks(store, community_id, metric, {first}, k, until)
            for community_id, metric, first in store.open_blocks(metrics) if first < until]
    _note_held(uow, held, now)


def _note_held(uow: UnitOfWork, held: list[str], now: datetime) -> None:
    """The oldest week a cut just waited for, as that cut read it (read again now, a post made meanwhile would
    leave the figure held with nothing left to wait for)."""
    uow.cursors.move(HELD_FOR_POSTS, min((week for week in held if week), default=""), now)


def _oldest_unsent_week(store: RollupStore) -> str:
    """The week (ISO date) of the oldest shared reflection's post or wiki section still to go; "" for none."""
    unsent = store.oldest_unsent((SHARE_PREFIX, PUBLISH_PREFIX))
    return week_of(unsent).isoformat() if unsent is not None else ""


# ------------------------------------------------------------------------------ item scores

def release_scores(store: RollupStore, item_ids: set[int], k: int, now: datetime) -> set[int]:
    """The shown scores of these items moved to their totals now, where enough people changed them
    (domain.scores.may_release), and scored with their community's stored basis; all of a community's
    scores again when its mean, from its shown scores, has drifted from that basis. Where the number of raters
    may not move yet, the totals of the people already counted move if they may: those who rated since wait.
    The items moved."""
    changes = store.changes(item_ids)
    moving = {c.item_id for c in changes if may_release(c.stored_ratings, c.changed_by, c.ratings, k)}
    counted = {c.item_id for c in changes if c.item_id not in moving
               and may_release(c.stored_ratings, c.counted_changed_by, c.counted, k)}
    facts = store.rating_facts(moving, counted_only=counted)
    store.release(facts, k, now)
    communities = {f.community_id for f in facts if f.community_id is not None}
    bases: dict[int | None, Prior] = {c: basis for c, basis in rescore(store, communities, k, now).items()}
    bases[None] = community_prior(0, 0)
    for community_id, basis in bases.items():
        store.score_released({f.item_id for f in facts if f.community_id == community_id}, basis)
    return moving | counted


def release_every_score(uow: UnitOfWork, k: int, now: datetime) -> None:
    """`release_scores` for every rated item, in batches, and the milestones of those whose scores moved."""
    rated = uow.rollups.rated_items()
    for batch in chunks(rated, BATCH):
        moved = release_scores(uow.rollups, set(batch), k, now)
        recognition.note_moved(uow.network, moved, k)


def move_scores(store: RollupStore, item_ids: set[int], community_id: int, k: int, now: datetime) -> None:
    """Items now in another community: their shown scores move with them, scored with its basis, and both
    communities' scores are computed again where their means drifted."""
    left = store.move_scores(item_ids, community_id)
    if not left:
        return
    basis = rescore(store, {c for c in left if c is not None} | {community_id}, k, now).get(community_id)
    if basis is not None:
        store.score_released(item_ids, basis)


def shown_prior(store: RollupStore, community_id: int, k: int) -> Prior:
    """The community's prior, from its shown scores only (so it moves only when one of them does)."""
    return community_prior(*store.shown_totals({community_id}, k)[community_id])


def rescore(store: RollupStore, community_ids: set[int], k: int, now: datetime) -> dict[int, Prior]:
    """Each community's shown scores computed again where its mean has drifted from their stored basis (or
    they have none); the stored basis of each community that kept it (the others' scores are all current)."""
    bases = store.score_bases(community_ids)
    kept = {}
    for community_id, (stars, count) in sorted(store.shown_totals(community_ids, k).items()):
        prior, stored = community_prior(stars, count), bases.get(community_id)
        if stored is None or needs_rebase(stored, prior.mean):
            store.rebase_scores(community_id, prior, now)
        else:
            kept[community_id] = Prior(stored)
    return kept


def keep_current(uow: UnitOfWork, k: int, now: datetime) -> None:
    """What the fold keeps, brought up to date where no new event does it: the release blocks when k
    changed (their open stretches) or after an upgrade (all of them) and when a week has ended; the scores of
    every rated item when a week has ended and when k changed (a page with fewer raters than the old k, but
    enough for the new one, shows its score without waiting for the week's end); the scores of communities with
    no stored basis (after an upgrade)."""
    store = uow.rollups
    cut_with = uow.cursors.get(BLOCKS_K)
    if cut_with != str(k):
        rebuild_blocks(uow, k, now, keep_closed=cut_with is not None)
        release_every_score(uow, k, now)
    close_ended_weeks(uow, k, now)
    release_held(uow, k, now)
    rescore(store, store.unscored_communities(), k, now)
    uow.commit()
