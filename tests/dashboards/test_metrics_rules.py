"""The pure rules behind the dashboard: k-suppression at its boundary, the split, the stages."""

from __future__ import annotations

import pytest

from learnloop.domain.learning_metrics import from_each_other_share, maturity, response_rate
from learnloop.domain.privacy import InvalidGroupSize, check_min_group, guarded


@pytest.mark.parametrize(("people", "shown"), [(4, False), (5, True), (6, True)])
def test_a_figure_covering_fewer_than_k_people_is_suppressed(people: int, shown: bool) -> None:
    figure = guarded(37, people, 5)
    assert (not figure.suppressed) is shown
    assert figure.text() == ("37" if shown else "fewer than 5")
    assert figure.export() == (37 if shown else "fewer than 5")


def test_a_suppressed_figure_carries_no_value() -> None:
    figure = guarded(1234, 2, 5)
    assert figure.value is None and figure.people is None and "1234" not in figure.text()


@pytest.mark.parametrize("k", [2, 0, -1])
def test_k_cannot_go_below_three(k: int) -> None:
    with pytest.raises(InvalidGroupSize, match="below 3"):
        check_min_group(k)
    with pytest.raises(InvalidGroupSize):
        guarded(10, 10, k)


def test_the_split_between_content_and_people() -> None:
    assert from_each_other_share({}) is None
    assert from_each_other_share({"ratings": 6, "links_shared": 2, "replies": 3, "mentions": 1}) == pytest.approx(4 / 12)
    assert from_each_other_share({"reflections_shared": 2}) == 1.0


def test_response_rate() -> None:
    assert response_rate(0, 0) is None
    assert response_rate(20, 5) == 0.25
    assert response_rate(3, 4) == 1.0


@pytest.mark.parametrize(("people", "totals", "stage"), [
    ({"ratings": 4}, {}, "seeding"),
    ({"ratings": 5}, {}, "consuming"),
    ({"ratings": 5, "links_shared": 3, "new_pages": 2}, {}, "contributing"),
    ({"ratings": 5, "links_shared": 5, "replies": 5}, {"replies": 4}, "contributing"),
    ({"ratings": 5, "links_shared": 5, "replies": 5}, {"replies": 8}, "exchanging"),
    ({"ratings": 5, "links_shared": 5, "replies": 5, "reflections_shared": 5},
     {"replies": 8, "reflection_ratings": 3}, "co-creating"),
])
def test_maturity_stages_follow_stated_thresholds(people: dict, totals: dict, stage: str) -> None:
    result = maturity(people, totals, weeks=4, k=5)
    assert result.name == stage and result.reason and result.next_step
