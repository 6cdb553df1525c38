"""What each event counts in: never in two people measures, since one would then hold some of the other's events
and the difference of their figures could be a few people's (domain.measures)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from learnloop.domain.measures import PEOPLE_METRICS, UNANSWERED, contributions

KEY = b"k" * 32


@dataclass
class _Event:
    kind: str
    actor_id: str | None = "ann".ljust(26, "x")
    item_id: int | None = None
    data: dict[str, Any] | None = None


EVENTS = [
    (_Event("rating", item_id=1, data={"stars": 4, "previous": None}), "wiki_page"),
    (_Event("rating", item_id=1, data={"stars": 4, "previous": 2}), "link"),
    (_Event("rating", item_id=2, data={"stars": 5, "previous": None}), "reflection"),
    (_Event("rating", item_id=2, data={"stars": 5, "previous": 3}), "reflection"),
    (_Event("reply", data={"root_id": "t1"}), None),
    (_Event("chat_post"), None),
    (_Event("mention", data={"people": 2}), None),
    (_Event("link_shared", item_id=3), None),
    (_Event("reflection", data={"visibility": "community", "answered_prompt": True}), None),
    (_Event("prompt_sent"), None),
    (_Event("prompt_unanswered"), None),
    (_Event("wiki_page_created", actor_id=None), None),
]


@pytest.mark.parametrize(("event", "item_kind"), EVENTS, ids=[f"{e.kind}-{k}" for e, k in EVENTS])
def test_an_event_counts_in_one_people_measure_at_most(event: _Event, item_kind: str | None) -> None:
    counted = {c.metric for c in contributions(event, item_kind, KEY)} & PEOPLE_METRICS
    assert len(counted) <= 1, counted


def test_ratings_of_reflections_are_not_ratings_of_content() -> None:
    def metrics(item_kind: str, previous: int | None) -> list[str]:
        event = _Event("rating", item_id=7, data={"stars": 4, "previous": previous})
        return [c.metric for c in contributions(event, item_kind, KEY)]

    assert metrics("wiki_page", None) == metrics("wiki_page", 3) == ["ratings", "items_rated"]
    assert metrics("reflection", None) == ["reflection_ratings"]
    assert metrics("reflection", 3) == [], "a reflection is counted once per person who rated it"


def test_a_chat_post_counts_in_no_measure() -> None:
    assert contributions(_Event("chat_post"), None, KEY) == []


def test_prompts_count_once_answered_or_unanswered_and_never_when_sent() -> None:
    """A prompt's answer is a reflection (a part of the reflections written); one nobody answered is counted
    beside them; its sending counts nowhere: less the answers, it would be the few who did not answer."""
    assert contributions(_Event("prompt_sent"), None, KEY) == []
    [unanswered] = contributions(_Event("prompt_unanswered"), None, KEY)
    assert unanswered.metric == UNANSWERED and unanswered.member and unanswered.metric not in PEOPLE_METRICS
