"""What the dashboards count: each event's contribution to weekly measures, and the weeks they fall in.

People enter the weekly member sets only as keyed hashes, enough to count distinct people and never
to name one."""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

PEOPLE_METRICS = frozenset({
    "ratings", "links_shared", "replies", "mentions", "reflections", "reflection_ratings",
})
"""Measures that describe what people did: released only as sums over weeks that together cover at least
k distinct people (see domain.disclosure). No measure counts some of another's events, each on its own grid of
blocks: the one less the other would be the few people of the rest. So ratings of shared reflections are not
among the ratings of content, chat posts are not counted (replies and mentions are some of them), and
reflections shared or published after writing are not counted (the parts below say what their authors chose
when writing). Parts of a measure are released over its own blocks, with complementary suppression."""
REFLECTION_PARTS = ("reflections.private", "reflections.community", "reflections.wiki")
"""The reflections written, split by what their authors chose when writing: parts of `reflections`, released
over its blocks with complementary suppression."""
PROMPT_PARTS = ("prompts_answered", "reflections.unprompted")
"""The reflections written, split by whether they answered a prompt: parts of `reflections` too, released the
same way, so that prompts answered is never the reflections written less a few people's."""
UNSEEN = "reflections"
"""The measure part of which everyone can count: the reflections shared in the channel and published on the wiki.
The reflections written less those are the ones nobody else sees, so a block of the measure closes only where
those tell of no few people (domain.disclosure.split_open)."""
PRIVATE_BY_PROMPT = ("reflections.private.prompted", "reflections.private.unprompted")
"""The reflections kept private when written, split by whether they answered a prompt. Never shown: a shared
reflection shows its prompt's questions, so each side of the prompt split less what anyone can see is one of
these (less those shared since); where either tells of a few people, the prompt split is withheld."""
SHARED_LATER = ("reflections.later.prompted", "reflections.later.unprompted")
"""The reflections shared or published after they were written, in the week that happened, split the same way:
anyone sees them from then on, so they come off the private ones. Never shown."""
NEVER_SEEN = ("reflections.unseen.prompted", "reflections.unseen.unprompted")
"""The reflections chosen for the channel or the wiki that nobody will see there (the wiki refused the section, or
its author deleted it before its post was made), in the week that became so, split the same way: counted as
seen when chosen, they go back to the private ones. Never shown."""
UNANSWERED = "prompts_unanswered"
"""The prompts that got no answer (skipped, or left until their answer window closed), counted when that became
so, by the person prompted. Released over the reflections' blocks, beside them (no part of them: the two are
never shown added up), only where a block holds no such person or k or more: so the prompts sent, the prompts
answered and these, is never a count of a few people who did not answer. There is no other count of prompts
sent, on a grid of its own: less the prompts answered, it would be those few."""
DISTINCT_THINGS = {"items_rated": "ratings", "threads": "replies"}
"""Measures that count distinct things (items, threads), each released with its people measure: a figure is the
count of distinct things over the very weeks its people measure's figure covers (services.dashboard)."""
OPEN_METRICS = frozenset({"new_pages", "page_updates"})
"""Wiki page counts: what the wiki itself shows to everyone, released week by week."""
MEMBER_METRICS = sorted(PEOPLE_METRICS | set(REFLECTION_PARTS) | set(PROMPT_PARTS) | set(PRIVATE_BY_PROMPT)
                        | set(SHARED_LATER) | set(NEVER_SEEN) | {UNANSWERED} | set(DISTINCT_THINGS))
"""Every measure with a member set."""
VISIBILITIES = ("private", "community", "wiki")


def week_of(moment: datetime | date) -> date:
    day = moment.date() if isinstance(moment, datetime) else moment
    return day - timedelta(days=day.weekday())


def weeks_between(first: date, last: date) -> Iterator[date]:
    """The Mondays of the weeks from `first`'s to `last`'s, inclusive."""
    week = week_of(first)
    while week <= last:
        yield week
        week += timedelta(days=7)


def last_weeks(today: date, weeks: int) -> list[date]:
    """The weeks (Mondays) of the last `weeks` weeks up to and including today's."""
    this_week = week_of(today)
    return [this_week - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]


@functools.lru_cache(maxsize=8192)
def member_key(user_id: str, key: bytes) -> str:
    return hmac.new(key, user_id.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class Contribution:
    metric: str
    member: str | None = None


class EventFacts(Protocol):
    """What a fold reads of an event: an Event, or a row of its columns."""

    kind: str
    actor_id: str | None
    item_id: int | None
    data: dict[str, Any] | None


_SIMPLE = {"link_shared": "links_shared", "mention": "mentions", "prompt_unanswered": UNANSWERED,
           "wiki_page_created": "new_pages", "wiki_page_updated": "page_updates"}


def contributions(event: EventFacts, item_kind: str | None, key: bytes) -> list[Contribution]:
    person = member_key(event.actor_id, key) if event.actor_id else None
    data = event.data or {}
    kind = event.kind
    if kind == "rating":
        if item_kind == "reflection":  # a colleague's shared reflection: people to people, first ratings only
            return [Contribution("reflection_ratings", person)] if data.get("previous") is None else []
        return [Contribution("ratings", person), Contribution("items_rated", f"item:{event.item_id}")]
    if kind == "reply":
        return [Contribution("replies", person), Contribution("threads", f"root:{data.get('root_id')}")]
    if kind == "reflection":
        visibility = data.get("visibility")
        visibility = visibility if visibility in VISIBILITIES else "private"
        side = 0 if data.get("answered_prompt") else 1
        found = [Contribution("reflections", person), Contribution(f"reflections.{visibility}", person),
                 Contribution(PROMPT_PARTS[side], person)]
        if visibility == "private":
            found.append(Contribution(PRIVATE_BY_PROMPT[side], person))
        return found
    if kind in ("reflection_shared", "reflection_published"):
        return [Contribution(SHARED_LATER[0 if data.get("answered_prompt") else 1], person)] \
            if data.get("later") else []
    if kind == "reflection_unseen":
        return [Contribution(NEVER_SEEN[0 if data.get("answered_prompt") else 1], person)]
    metric = _SIMPLE.get(kind)
    if metric is None or data.get("learning_log"):  # a community's learning log: counted as reflections
        return []
    return [Contribution(metric, None if metric in OPEN_METRICS else person)]
