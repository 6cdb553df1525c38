"""The life of a page: once a week each community's pages that need review are listed (domain.page_review says
when), and each owner gets one private message listing the pages that need them, on Monday at their own time
(services.network.weekly). A week with nothing to review sends nothing.

The list is worked out once per community per week, before Monday begins anywhere, with the community's owners
as Mattermost named them then (they hear about pages nobody owns by name). Each owner's message is planned from
reads alone and queued in the transaction that marks their week done (a compare-and-set), under a key that
names them and the week: two workers, or a reply lost after the post was made, send it once.

A message says of each page why it is listed, its score and trend only where k people allow (else "too early
to tell"), its open reasons counted, and the notes written since the owner's last message: their text only,
never who wrote them, their stars or when."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from learnloop.chunks import chunks
from learnloop.config import Settings
from learnloop.domain.page_review import (
    SCORE_WINDOW,
    ReviewRefused,
    Totals,
    Trend,
    needs_review,
    owners_may_be_due,
    page_owners,
    review_week,
    score,
    trend,
)
from learnloop.domain.preferences import Action
from learnloop.domain.ratings import REASONS
from learnloop.services.communities import community_zone
from learnloop.services.dashboard import title_of
from learnloop.services.network.weekly import DueDM, decide, due_dm
from learnloop.services.outbox_kinds import SEND_DM
from learnloop.services.page_owners import interval_days
from learnloop.services.rollups import shown_prior
from learnloop.storage.unit_of_work import UnitOfWork

MAX_PAGES = 10
"""Pages in one message; the others stay on the list for the weeks after."""
MAX_NOTES = 5
CHUNK = 500
"""People recorded per transaction, so SQLite's write lock is held briefly."""


# ------------------------------------------------------------------------------ the week's list

def communities_due(uow: UnitOfWork, now: datetime) -> list[int]:
    """Communities whose review list for this week is not worked out yet."""
    return uow.pages.communities_to_review(review_week(now))


def work_out(uow: UnitOfWork, community_ids: list[int], now: datetime, k: int) -> dict[int, list[dict[str, Any]]]:
    """Each community's pages that need review this week, from reads alone."""
    week = review_week(now)
    return {community_id: _flagged(uow, community_id, week, now, k) for community_id in community_ids}


def list_week(uow: UnitOfWork, worked: dict[int, list[dict[str, Any]]], owners: dict[int, list[str]],
              now: datetime) -> int:
    """Keep each community's review list for the week, with the community owners it falls back to (one
    transaction each; a community another worker listed meanwhile is left as it did); how many pages."""
    week = review_week(now)
    listed = 0
    for community_id, rows in worked.items():
        if not uow.pages.mark_community_week(community_id, week):
            uow.rollback()
            continue
        uow.pages.replace_reviews(community_id, week, rows, owners.get(community_id, []))
        uow.commit()
        listed += len(rows)
    return listed


def _flagged(uow: UnitOfWork, community_id: int, week: date, now: datetime, k: int) -> list[dict[str, Any]]:
    community = uow.communities.get(community_id)
    days = interval_days(community)
    prior = shown_prior(uow.rollups, community_id, k)
    reasons = uow.pages.reason_people(community_id)
    candidates = uow.pages.reviewable(community_id, overdue_before=now - timedelta(days=days), min_ratings=k,
                                      item_ids=set(reasons))
    rows = []
    for item in candidates:
        now_totals = Totals(int(item.stars_sum or 0), int(item.ratings_count or 0))
        before = Totals(int(item.before_stars_sum), int(item.before_ratings_count)) \
            if item.before_ratings_count is not None else None
        moved_lately = item.released_at is not None and item.released_at > now - SCORE_WINDOW
        change = trend(now_totals, before, prior, k) if moved_lately else None
        now_score = score(now_totals, prior, k)
        known = item.reviewed_at or item.followed_at  # a public moment: never when someone rated it
        why = needs_review(reason_people=reasons.get(int(item.id), 0), now_score=now_score, change=change,
                           is_page=item.kind == "wiki_page", last_reviewed=known, reviewed_at=item.reviewed_at,
                           interval_days=days, now=now)
        last = known or item.created_at
        if why:
            rows.append({"item_id": int(item.id), "community_id": community_id, "week": week,
                         "reasons": why.reasons, "score_drop": why.score_drop, "overdue": why.overdue,
                         "score": now_score, "score_before": change.before if change else None,
                         "trend": change.direction if change else None,
                         "ratings": now_totals.ratings if now_score is not None else None,
                         "last_reviewed": last, "flagged_at": now})
    return rows


# ------------------------------------------------------------------------------ each owner's message

@dataclass(frozen=True)
class PageToReview:
    """One page in an owner's message: never who rated or wrote, their stars, or when."""

    item_id: int
    title: str
    url: str
    reasons_flag: bool
    score_drop: bool
    overdue: bool
    score: float | None
    """None: too early to tell (fewer than k people rated it)."""
    ratings: int | None
    trend: Trend | None
    last_reviewed: datetime
    interval_days: int
    reasons: dict[str, int]
    notes: list[str]
    more_notes: int


@dataclass(frozen=True)
class OwnerWeek:
    person: DueDM
    rows: list[Any] = field(default_factory=list)
    owned: list[Any] = field(default_factory=list)
    """The review rows of every week whose pages the person hears about."""


@dataclass(frozen=True)
class Planned:
    user_id: str
    week: date
    payload: dict[str, Any] | None
    """The message to queue; None when nothing needs the person this week, or the week is skipped."""
    notes_until: datetime | None = None
    owned: list[Any] = field(default_factory=list)
    """`OwnerWeek.owned`: `record` leaves out whoever no longer hears about any of them (erased meanwhile)."""


ReviewDM = Callable[[str, list[PageToReview], int], dict[str, Any]]
"""Builds the SEND_DM payload for an owner, their pages and how many more wait (the Mattermost layer's
format)."""


def _recipients(uow: UnitOfWork, rows: list[Any]) -> dict[str, list[Any]]:
    """Each owner and the review rows of the pages they hear about."""
    named = uow.pages.item_owners([int(r.PageReview.item_id) for r in rows])
    spaces = uow.pages.space_owners(sorted({int(r.item_community) for r in rows if r.item_community is not None}))
    fallback = uow.pages.fallback_owners()
    found: dict[str, list[Any]] = {}
    for row in rows:
        review = row.PageReview
        own = named.get(int(review.item_id), {})
        space = spaces.get((row.item_community, row.wiki, row.space), set()) if row.wiki and row.space else set()
        by, users = page_owners(own.get("page", set()), space, own.get("declined", set()))
        if by == "community":
            users = sorted(fallback.get((int(review.community_id), review.week), set()))
        for user in users:
            found.setdefault(user, []).append(row)
    return found


def due(uow: UnitOfWork, settings: Settings, now: datetime) -> list[OwnerWeek]:
    """Owners with pages on a review list whose Monday moment has passed and whose week is not done."""
    if not owners_may_be_due(now):
        return []
    rows = [r for r in uow.pages.reviews() if r.retired_at is None
            and (r.reviewed_at is None or r.reviewed_at < r.PageReview.flagged_at)]
    if not rows:
        return []
    by_owner = _recipients(uow, rows)
    members = uow.members.many(sorted(by_owner))
    found = []
    for user_id, theirs in sorted(by_owner.items()):
        member = members.get(user_id)
        fallback_tz = community_zone(uow, settings, int(theirs[0].PageReview.community_id))
        person = due_dm(user_id, member, member.review_week if member else None, now, fallback_tz)
        if person is not None:
            found.append(OwnerWeek(person, [r for r in theirs if r.PageReview.week == person.week], theirs))
    return found


def _order(row: Any) -> tuple[int, int, datetime, str]:
    review = row.PageReview
    return (not review.reasons, not review.score_drop, review.last_reviewed, row.url)


def _hashed(feedback_id: int) -> str:
    """An order of notes that says nothing about when each was written."""
    return hashlib.sha256(str(feedback_id).encode()).hexdigest()


def plan(uow: UnitOfWork, due_now: list[OwnerWeek], presence: dict[str, str], now: datetime,
         render: ReviewDM, gone: Collection[str] = ()) -> list[Planned]:
    """What each due owner gets this week, from reads alone; people still waiting (a pause or quiet hours that
    end later today) are left for a later pass, and the week of one whose account is `gone` (deactivated) is
    skipped."""
    planned = []
    for owner in due_now:
        person = owner.person
        action = Action.SKIP if person.user_id in gone else decide(person, presence, now)
        if action == Action.WAIT_UNTIL:
            continue
        if action != Action.SEND or not owner.rows:
            planned.append(Planned(person.user_id, person.week, None, owned=owner.owned))
            continue
        member = uow.members.get(person.user_id)
        rows = sorted(owner.rows, key=_order)
        shown = rows[:MAX_PAGES]
        pages = _pages(uow, shown, member.review_notes_after if member else None, now)
        planned.append(Planned(person.user_id, person.week, render(person.user_id, pages, len(rows) - len(shown)),
                               notes_until=now, owned=owner.owned))
    return planned


def _pages(uow: UnitOfWork, rows: list[Any], notes_after: datetime | None, now: datetime) -> list[PageToReview]:
    ids = [int(r.PageReview.item_id) for r in rows]
    reasons = uow.pages.open_reasons(ids)
    notes = uow.pages.notes(ids, notes_after, now)
    intervals = {int(r.PageReview.community_id): interval_days(uow.communities.get(int(r.PageReview.community_id)))
                 for r in rows}
    pages = []
    for row in rows:
        review = row.PageReview
        written = [text for _, text in sorted(notes.get(int(review.item_id), []), key=lambda n: _hashed(n[0]))]
        change = Trend(review.score_before, review.trend) if review.trend and review.score_before is not None \
            else None
        pages.append(PageToReview(
            int(review.item_id), title_of(row.title, row.url, row.kind), row.url, review.reasons, review.score_drop,
            review.overdue, review.score, review.ratings, change, review.last_reviewed,
            intervals[int(review.community_id)], _in_order(reasons.get(int(review.item_id), {})), written[:MAX_NOTES],
            max(len(written) - MAX_NOTES, 0)))
    return pages


def _in_order(counts: dict[str, int]) -> dict[str, int]:
    """Reasons in the order the widget offers them."""
    return {reason: counts[reason] for reason in REASONS if reason in counts}


def record(uow: UnitOfWork, planned: list[Planned], now: datetime) -> int:
    """Mark each owner's week done and queue their message, CHUNK people per transaction; the number queued.
    Whoever no longer hears about the pages planned for them (their data erased since `due` read it) is left out."""
    queued = 0
    for some in chunks(planned, CHUNK):
        owners = _recipients(uow, [row for one in some for row in one.owned])
        for one in some:
            if one.user_id not in owners:
                continue
            uow.members.ensure(one.user_id, now)
            if uow.pages.mark_person_week(one.user_id, one.week, one.notes_until) and one.payload is not None:
                queued += uow.outbox.enqueue(SEND_DM, one.payload, key=f"review:{one.user_id}:{one.week}", now=now)
        uow.commit()
    return queued


# ------------------------------------------------------------------------------ a page reviewed

@dataclass(frozen=True)
class Reviewed:
    title: str
    url: str
    resolved: int
    interval_days: int


def mark_reviewed(uow: UnitOfWork, item_id: int, now: datetime) -> Reviewed:
    """An owner reviewed the page: it is off this week's list, its interval starts again, and its open reasons
    are resolved. Raises ReviewRefused for a page learnloop no longer has."""
    item = uow.items.get(item_id)
    if item is None or item.retired_at is not None:
        raise ReviewRefused("learnloop no longer has this page (it was deleted from its wiki)")
    resolved = uow.pages.mark_reviewed(item_id, now)
    days = interval_days(uow.communities.get(item.community_id) if item.community_id is not None else None)
    uow.commit()
    return Reviewed(title_of(item.title, item.url, item.kind), item.url, resolved, days)
