"""matches_any: constant-time comparison of a shared secret against the accepted tokens."""

from __future__ import annotations

import pytest

from learnloop.domain.tokens import matches_any

CURRENT = "xr3j5x7p8pfk7mqqddy9xkxs4a"
PREVIOUS = "9xq6tgwj1jrjbm3xjfsqtrnxwe"
OTHER = "o8b3fq6h9pnrtn6qw7jz5g4yoe"
ACCEPTED = [CURRENT, PREVIOUS, OTHER]


def test_matches_the_first_accepted_token() -> None:
    assert matches_any(CURRENT, ACCEPTED) is True


def test_matches_the_last_accepted_token() -> None:
    assert matches_any(OTHER, ACCEPTED) is True


def test_matches_a_token_in_the_middle() -> None:
    assert matches_any(PREVIOUS, ACCEPTED) is True


def test_matches_the_only_accepted_token() -> None:
    assert matches_any(CURRENT, [CURRENT]) is True


@pytest.mark.parametrize(
    "candidate",
    [
        "wrong-token",
        CURRENT.upper(),
        CURRENT[:-1],
        CURRENT + "x",
        f" {CURRENT}",
        f"{CURRENT},{PREVIOUS}",
    ],
)
def test_does_not_match_anything_else(candidate: str) -> None:
    assert matches_any(candidate, ACCEPTED) is False


def test_nothing_matches_an_empty_accepted_list() -> None:
    assert matches_any(CURRENT, []) is False


@pytest.mark.parametrize("candidate", ["", None])
def test_empty_or_missing_candidate_never_matches(candidate: str | None) -> None:
    assert matches_any(candidate, ACCEPTED) is False


@pytest.mark.parametrize("accepted", [[""], ["", CURRENT], [CURRENT, ""]])
def test_empty_accepted_token_never_matches_an_empty_candidate(accepted: list[str]) -> None:
    assert matches_any("", accepted) is False
    assert matches_any(None, accepted) is False


def test_empty_accepted_token_does_not_stop_a_real_match() -> None:
    assert matches_any(CURRENT, ["", CURRENT]) is True


def test_accepted_tokens_may_be_any_iterable() -> None:
    assert matches_any(PREVIOUS, (token for token in ACCEPTED)) is True
    assert matches_any(PREVIOUS, set(ACCEPTED)) is True


def test_unicode_token_matches_itself() -> None:
    assert matches_any("geheim-schlüssel-🔑", ["other", "geheim-schlüssel-🔑"]) is True


@pytest.mark.parametrize("candidate", ["geheim-schlussel-🔑", "geheim-schlüssel", "geheim-schlüssel-🔐"])
def test_unicode_token_does_not_match_a_near_miss(candidate: str) -> None:
    assert matches_any(candidate, ["geheim-schlüssel-🔑"]) is False


def test_unicode_normalisation_forms_are_different_tokens() -> None:
    composed = "schl\u00fcssel"  # ü as one code point
    decomposed = "schlu\u0308ssel"  # u + combining diaeresis
    assert matches_any(decomposed, [composed]) is False
