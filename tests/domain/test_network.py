"""Recognition milestones: a sharer's messages never count fewer than k people, nor differ by fewer than k."""

from __future__ import annotations

import pytest

from learnloop.domain.network import milestones, reached


@pytest.mark.parametrize(("k", "expected"), [
    (5, (5, 10, 25, 50, 100, 250, 500, 1000)),
    (7, (7, 25, 50, 100, 250, 500, 1000)),
    (30, (30, 100, 250, 500, 1000)),
])
def test_milestones_start_at_k_and_lie_at_least_k_apart(k: int, expected: tuple[int, ...]) -> None:
    found = milestones(k)
    assert found == expected
    assert all(later - earlier >= k for earlier, later in zip(found, found[1:], strict=False))


def test_the_highest_milestone_reached() -> None:
    assert [reached(n, 7) for n in (6, 7, 24, 25)] == [None, 7, 7, 25]
