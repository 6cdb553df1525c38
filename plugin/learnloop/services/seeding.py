"""Seeding a community: the starter kit (`/learn seed`) and the steps an owner has learnloop do from the
dashboard. A new community looks like an empty warehouse until someone stocks it, so the kit puts the wiki
space's best and newest pages on a shelf with rating buttons, pins the dashboard and those pages to the
channel, and starts a reflection prompt.

Running a step again within REPEAT_WINDOW of the last time queues nothing and says when it was queued (a
form sent twice, a button pressed twice, two owners at once); after that an owner may deliberately post a
fresh shelf or invitation, and the earlier post stays where it is. Each queued step has its own outbox key,
for its community, step and the moment it was queued, so the worker carries it out once. Channel bookmarks
never repeat, however often the kit runs: the worker skips links the channel already has."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from learnloop.domain.keys import fit
from learnloop.services.dashboard import top_content
from learnloop.services.prompts import setup as prompt_setup
from learnloop.storage.unit_of_work import UnitOfWork

REPEAT_WINDOW = timedelta(minutes=10)
SHELF_BEST = 3
"""At most this many of the shelf's items are there for their score; the rest are recently improved pages."""
SHELF_SIZE = 6
CHANGES_LOOKED_AT = 300
"""How many of the community's latest page events are read to find recently improved pages."""
SHELF, BOOKMARKS = "starter_shelf", "bookmarks"


@dataclass(frozen=True)
class ShelfItem:
    item_id: int
    url: str
    title: str
    reason: Literal["rated", "improved"]
    """Rated useful by at least k people (best by small-sample-aware score), or a page improved lately."""


Build = Callable[[list[ShelfItem]], "dict[str, Any] | None"]
"""Builds a step's outbox payload from the shelf (the chat layer owns the format); None when the step has
nothing to say."""


@dataclass(frozen=True)
class Step:
    name: str
    kind: str
    build: Build


@dataclass(frozen=True)
class Outcome:
    step: str
    status: Literal["queued", "recent", "empty"]
    """Queued now; not queued because it was queued at `at`, within REPEAT_WINDOW; nothing to post."""
    at: datetime | None = None

    @property
    def again_after(self) -> datetime | None:
        return self.at + REPEAT_WINDOW if self.at is not None else None


@dataclass(frozen=True)
class Seeded:
    shelf: list[ShelfItem]
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    prompt: prompt_setup.Created | None = None


def _offered(community_id: int) -> str:
    return f"seed:offered:{community_id}"


def _step_cursor(step: str, community_id: int) -> str:
    return f"seed:{step}:{community_id}"


# ------------------------------------------------------------------------------ the shelf

def _recently_improved(uow: UnitOfWork, community_id: int, exclude: set[int], skip_titles: frozenset[str],
                       limit: int) -> list[ShelfItem]:
    """Pages of the community's wiki spaces by their latest major change (a new page, or an edit the wiki did
    not mark minor and that changed enough of it), newest first; a page whose latest change deleted it is
    left out (one restored since is back)."""
    seen: set[int] = set()
    decided: set[int] = set()
    candidates: list[int] = []
    for item_id, kind, data in uow.events.page_changes(community_id, CHANGES_LOOKED_AT):
        latest = item_id not in seen
        seen.add(item_id)
        if item_id in decided:
            continue
        if kind == "wiki_page_deleted":
            if latest:
                decided.add(item_id)
            continue
        if not data.get("major", not data.get("minor", False)) or data.get("learning_log"):
            continue  # a minor edit, or learnloop's own learning log (moved or in a namespace too)
        decided.add(item_id)
        if item_id not in exclude:
            candidates.append(item_id)
    details = uow.dashboards.item_details(candidates)
    found = []
    for item_id in candidates:
        title, url, _ = details[item_id]
        if (title or "").casefold() in skip_titles:
            continue
        found.append(ShelfItem(item_id, url, title or url, "improved"))
        if len(found) == limit:
            break
    return found


def shelf(uow: UnitOfWork, community_id: int, k: int, *, skip_titles: frozenset[str] = frozenset()) -> list[ShelfItem]:
    """What a starter shelf lists: first the content most useful by small-sample-aware score among items at
    least k people rated (top content holds no shared reflections), then the wiki pages most recently
    improved. `skip_titles` (case-folded) are pages never listed: learnloop's learning logs, for changes
    recorded before ingest marked the log's own."""
    found: list[ShelfItem] = []
    for top in top_content(uow, community_id, k):
        if len(found) == SHELF_BEST:
            break
        item = uow.items.by_url(top.url)
        if item is not None:
            found.append(ShelfItem(item.id, item.url, top.title, "rated"))
    found += _recently_improved(uow, community_id, {item.item_id for item in found}, skip_titles,
                                SHELF_SIZE - len(found))
    return found


# ------------------------------------------------------------------------------ queueing steps

def _queue(uow: UnitOfWork, community_id: int, step: Step, payload: dict[str, Any], now: datetime) -> Outcome:
    """Queue a step unless it was queued within REPEAT_WINDOW. The cursor is compared and set, so of two
    owners pressing at once one queues and the other is told it just was."""
    name = _step_cursor(step.name, community_id)
    last_text = uow.cursors.get(name)
    last = datetime.fromisoformat(last_text) if last_text else None
    if last is not None and now - last < REPEAT_WINDOW:
        return Outcome(step.name, "recent", last)
    if not uow.cursors.move_from(name, last_text or "", now.isoformat(), now):
        return Outcome(step.name, "recent", now)
    uow.outbox.enqueue(step.kind, payload, key=fit(f"seed:{community_id}:{step.name}:{now.isoformat()}"), now=now)
    return Outcome(step.name, "queued")


def seed(uow: UnitOfWork, *, community_id: int, k: int, steps: list[Step], prompt: prompt_setup.PromptSetup | None,
         created_by: str, now: datetime, can_publish: bool,
         skip_titles: frozenset[str] = frozenset()) -> Seeded:
    """Carry out the chosen steps in one transaction: queue each step's post or call, and set up the prompt
    through the prompt set-up service (so it is exactly what `/learn prompts setup` makes, and a prompt the
    community already runs is not made twice). Raises prompt_setup.InvalidSetup, and saves nothing, when the
    prompt is not valid."""
    items = shelf(uow, community_id, k, skip_titles=skip_titles)
    outcomes = {}
    for step in steps:
        payload = step.build(items)
        outcomes[step.name] = (Outcome(step.name, "empty") if payload is None
                               else _queue(uow, community_id, step, payload, now))
    uow.cursors.move_from(_offered(community_id), "", now.isoformat(), now)
    created = None
    if prompt is not None:
        created = prompt_setup.create(uow, community_id=community_id, setup=prompt, created_by=created_by, now=now,
                                      can_publish=can_publish)
    uow.commit()
    return Seeded(items, outcomes, created)


# ------------------------------------------------------------------------------ offering the kit

def take_offer(uow: UnitOfWork, community_id: int, now: datetime) -> bool:
    """True once per community, the first time the starter kit is offered (the dashboard's banner); it is
    remembered in the cursors table, like the kit having been used."""
    offered = uow.cursors.move_from(_offered(community_id), "", now.isoformat(), now)
    uow.commit()
    return offered


def offer_due(uow: UnitOfWork, community_id: int) -> bool:
    return not uow.cursors.get(_offered(community_id))


def create_prompt(uow: UnitOfWork, *, community_id: int, setup: prompt_setup.PromptSetup, created_by: str,
                  now: datetime, can_publish: bool) -> tuple[prompt_setup.Created, bool]:
    """`/learn prompts setup`: the prompt set-up service, and whether to offer the starter kit with it (the
    community's first prompt, and the kit not offered before). One commit for both."""
    first = offer_due(uow, community_id) and not uow.schedules.for_community(community_id)
    if first:
        uow.cursors.move_from(_offered(community_id), "", now.isoformat(), now)
    created = prompt_setup.create(uow, community_id=community_id, setup=setup, created_by=created_by, now=now,
                                  can_publish=can_publish)
    return created, first and not created.existing
