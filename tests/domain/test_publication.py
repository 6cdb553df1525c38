"""How a published reflection's section is headed and marked."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from learnloop.domain.publication import heading, marker
from learnloop.wikis import WikiError, check_marker

WRITTEN = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def test_the_heading_names_the_author_only_when_a_name_is_given() -> None:
    assert heading(WRITTEN, author="ann", community="Data guild") == "2026-11-02 · ann"
    assert heading(WRITTEN, author=None, community="Data guild") == "2026-11-02 · A member of Data guild"
    assert heading(WRITTEN, author="  ", community="") == "2026-11-02 · A member of the community"


def test_a_marker_is_a_token_a_host_can_carry_and_no_id() -> None:
    made = marker("0a1b2c3d4e")
    assert made == "learnloop-reflection-0a1b2c3d4e"
    assert check_marker(made) == made
    for older in ("learnloop-reflection-42-0a1b2c3d4e", "learnloop-reflection-42"):
        assert check_marker(older) == older, "sections marked before are still found"
    for token in ("short", "UPPER12345", "with space", "x" * 17, "a-b-c-d-e"):
        with pytest.raises(ValueError):
            marker(token)


@pytest.mark.parametrize("given", ["learnloop-reflection-", "learnloop-reflection-1 -->", "learnloop-reflection-1-ab",
                                   "learnloop-reflection-1\n", 'learnloop-reflection-1-abcdef"', "x-1"])
def test_anything_else_is_not_a_marker(given: str) -> None:
    with pytest.raises(WikiError) as refused:
        check_marker(given)
    assert refused.value.retryable is False
