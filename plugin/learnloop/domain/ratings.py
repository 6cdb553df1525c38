"""The rating scale used everywhere: the slash command, chat buttons and the wiki widget."""

from __future__ import annotations

MIN_STARS = 1
MAX_STARS = 5
NEUTRAL_STARS = 3.0
MAX_COMMENT_LENGTH = 2000
LOW_STARS = 2
"""A rating at or below this may carry a reason (the widget asks for one)."""

STAR_LABELS: dict[int, str] = {
    1: "Not useful",
    2: "Slightly useful",
    3: "Useful",
    4: "Very useful",
    5: "Essential",
}


REASONS: dict[str, str] = {
    "outdated": "Outdated",
    "unclear": "Unclear",
    "incomplete": "Incomplete",
    "broken_link": "Broken link",
    "other": "Other",
}
"""Why a page fell short: what its owners can act on, counted per page."""


class InvalidRating(ValueError):
    """A rating value or comment outside what the scale accepts."""


def parse_stars(value: object) -> int:
    text = str(value).strip()
    try:
        stars = int(text)
    except ValueError:
        raise InvalidRating(
            f"'{text[:20]}' is not a rating: use a whole number from {MIN_STARS} to {MAX_STARS}"
        ) from None
    if not MIN_STARS <= stars <= MAX_STARS:
        raise InvalidRating(f"{stars} is out of range: ratings go from {MIN_STARS} to {MAX_STARS}")
    return stars


def clean_comment(comment: str | None) -> str | None:
    text = (comment or "").strip()
    if not text:
        return None
    if len(text) > MAX_COMMENT_LENGTH:
        raise InvalidRating(
            f"the comment is {len(text)} characters long; keep it to at most {MAX_COMMENT_LENGTH}"
        )
    if "\x00" in text:
        raise InvalidRating("the comment contains a NUL character (\\x00), which text cannot hold")
    return text


def parse_reason(value: object) -> str:
    text = str(value or "").strip()
    if text not in REASONS:
        raise InvalidRating(f"'{text[:20]}' is not a reason: choose one of {', '.join(REASONS.values()).lower()}")
    return text
