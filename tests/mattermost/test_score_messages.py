"""What a person is told about when a shown score moves: k more people, or a tenth of those behind it when
that is more (domain.scores.people_to_move)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from learnloop.mattermost.messages import community_score
from learnloop.mattermost.page_messages import page_attachment
from learnloop.services.page_review import PageToReview
from learnloop.services.rating import RatingOutcome


def _outcome(ratings: int) -> RatingOutcome:
    return RatingOutcome(item_id=1, url="https://wiki.acme.example/wiki/Runbook", title="Runbook", stars=4,
                         previous_stars=None, score=4.2, ratings_count=ratings, feedback_saved=False)


def _page(ratings: int) -> PageToReview:
    return PageToReview(item_id=1, title="Runbook", url="https://wiki.acme.example/wiki/Runbook", reasons_flag=False,
                        score_drop=False, overdue=True, score=3.1, ratings=ratings, trend=None,
                        last_reviewed=datetime(2026, 6, 1, tzinfo=UTC), interval_days=90, reasons={}, notes=[],
                        more_notes=0)


@pytest.mark.parametrize(("ratings", "to_move"), [(5, 5), (50, 5), (51, 6), (240, 24)])
def test_a_rater_is_told_how_many_more_people_move_the_score(ratings: int, to_move: int) -> None:
    text = community_score(_outcome(ratings), k=5)
    assert f"from {ratings} ratings; it moves only once at least {to_move} more people have rated" in text


def test_a_rater_is_told_when_it_is_too_early() -> None:
    assert "too early to tell (a page's score shows once 5 people have rated it and the week has ended)" in community_score(_outcome(4), 5)


@pytest.mark.parametrize(("ratings", "to_move"), [(7, 5), (120, 12)])
def test_a_page_owner_is_told_how_many_more_people_move_the_score(ratings: int, to_move: int) -> None:
    attachment = page_attachment(_page(ratings), "u1", 5, "https://learnloop.acme.example", b"k" * 32)
    assert f"no recent change (a score moves once {to_move} more people have rated the page and the week has ended)" \
        in attachment["text"]


def test_a_page_owner_is_not_sent_to_a_list_only_the_community_s_owners_open() -> None:
    page = replace(_page(7), notes=["The VPN step is gone"], more_notes=3)
    text = page_attachment(page, "u1", 5, "https://learnloop.acme.example", b"k" * 32)["text"]
    assert text.endswith("…and 3 more: the community's owners see them all on its dashboard's feedback list.")
