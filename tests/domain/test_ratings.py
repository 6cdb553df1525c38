"""The rating scale: stars from 1 to 5 and an optional comment of bounded length."""

from __future__ import annotations

import pytest

from learnloop.domain.ratings import (
    MAX_COMMENT_LENGTH,
    MAX_STARS,
    MIN_STARS,
    InvalidRating,
    clean_comment,
    parse_stars,
)

# --------------------------------------------------------------------------- parse_stars


@pytest.mark.parametrize(("value", "expected"), [("1", 1), ("2", 2), ("3", 3), ("4", 4), ("5", 5)])
def test_parse_stars_accepts_each_digit_on_the_scale(value: str, expected: int) -> None:
    assert parse_stars(value) == expected


@pytest.mark.parametrize("value", [1, 2, 3, 4, 5])
def test_parse_stars_accepts_ints(value: int) -> None:
    assert parse_stars(value) == value


@pytest.mark.parametrize(("value", "expected"), [(" 4", 4), ("4 ", 4), ("\t5\n", 5), ("  1  ", 1)])
def test_parse_stars_ignores_surrounding_whitespace(value: str, expected: int) -> None:
    assert parse_stars(value) == expected


def test_scale_is_one_to_five() -> None:
    assert (MIN_STARS, MAX_STARS) == (1, 5)


@pytest.mark.parametrize("value", [0, 6, -1, "0", "6", "-1", "10", 100])
def test_parse_stars_rejects_numbers_outside_the_scale_naming_the_range(value: object) -> None:
    with pytest.raises(InvalidRating, match="out of range: ratings go from 1 to 5"):
        parse_stars(value)


def test_out_of_range_message_repeats_the_value() -> None:
    with pytest.raises(InvalidRating, match=r"^6 is out of range"):
        parse_stars("6")


@pytest.mark.parametrize("value", ["4.5", 4.5, "five", "", "   ", "4 stars", "⭐⭐⭐", None, "1e0"])
def test_parse_stars_rejects_non_whole_numbers_naming_the_range(value: object) -> None:
    with pytest.raises(InvalidRating, match="use a whole number from 1 to 5"):
        parse_stars(value)


def test_not_a_rating_message_quotes_the_input() -> None:
    with pytest.raises(InvalidRating, match=r"^'five' is not a rating"):
        parse_stars("five")


def test_not_a_rating_message_truncates_long_input() -> None:
    with pytest.raises(InvalidRating) as error:
        parse_stars("x" * 500)
    assert "x" * 21 not in str(error.value)
    assert "'" + "x" * 20 + "'" in str(error.value)


def test_invalid_rating_is_a_value_error() -> None:
    assert issubclass(InvalidRating, ValueError)


# --------------------------------------------------------------------------- clean_comment


@pytest.mark.parametrize(
    ("comment", "expected"),
    [
        ("Great overview", "Great overview"),
        ("  Great overview \n", "Great overview"),
        ("\tline one\nline two  ", "line one\nline two"),
    ],
)
def test_clean_comment_trims_surrounding_whitespace(comment: str, expected: str) -> None:
    assert clean_comment(comment) == expected


@pytest.mark.parametrize("comment", [None, "", " ", "\n\t  \n"])
def test_clean_comment_turns_missing_or_blank_into_none(comment: str | None) -> None:
    assert clean_comment(comment) is None


def test_clean_comment_keeps_unicode() -> None:
    assert clean_comment(" Sehr hilfreich 👍 ") == "Sehr hilfreich 👍"


def test_clean_comment_accepts_exactly_the_maximum_length() -> None:
    comment = "a" * MAX_COMMENT_LENGTH
    assert clean_comment(comment) == comment


def test_clean_comment_measures_length_after_trimming() -> None:
    comment = "a" * MAX_COMMENT_LENGTH
    assert clean_comment(f"   {comment}\n\n") == comment


def test_clean_comment_rejects_one_character_over_the_maximum_giving_the_length() -> None:
    with pytest.raises(InvalidRating) as error:
        clean_comment("a" * (MAX_COMMENT_LENGTH + 1))
    message = str(error.value)
    assert f"the comment is {MAX_COMMENT_LENGTH + 1} characters long" in message
    assert f"at most {MAX_COMMENT_LENGTH}" in message


def test_clean_comment_rejects_a_very_long_comment_giving_its_length() -> None:
    with pytest.raises(InvalidRating, match="the comment is 5000 characters long"):
        clean_comment("b" * 5000)


def test_clean_comment_refuses_a_nul_which_no_database_text_can_hold() -> None:
    with pytest.raises(InvalidRating, match="NUL character"):
        clean_comment("fine\x00then")
