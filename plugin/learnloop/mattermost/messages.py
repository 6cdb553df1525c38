"""What learnloop says in Mattermost: reply bodies and the rating buttons on content posts.

One scale everywhere (1-5, see domain/ratings.py), so a person's rating from a button, the
slash command or the wiki widget is one rating of the item.
"""

from __future__ import annotations

from typing import Any

from learnloop.domain.markdown import plain
from learnloop.domain.ratings import MAX_STARS, MIN_STARS, STAR_LABELS
from learnloop.domain.scores import people_to_move
from learnloop.mattermost.signed_state import button_context
from learnloop.services.rating import RatingOutcome, no_reflection_score

RATE_ACTION = "rate"
ACTIONS_PATH = "/mattermost/actions"
DIALOGS_PATH = "/mattermost/dialogs"


def ephemeral(text: str, **extra: Any) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": text, **extra}


def refused_value(problem: Exception, usage: str, example: str) -> dict[str, Any]:
    """A command's value refused by its parser: the parser's words (missing or wrong), then the command's usage
    with an example, and that nothing changed."""
    said = str(problem)
    return ephemeral(f"{said[:1].upper()}{said[1:]}. Usage: `{usage}`, for example `{example}`. Nothing changed.")


def rating_context(item_id: int, stars: int, key: bytes) -> dict[str, Any]:
    """Anyone in the channel may click it: it rates as the person who clicks."""
    return button_context(RATE_ACTION, key, item_id=item_id, stars=stars)


def rating_actions(item_id: int, public_url: str, key: bytes) -> list[dict[str, Any]]:
    """One button per point of the scale, each carrying a signed context."""
    return [
        {
            "id": f"rate{stars}",
            "type": "button",
            "name": f"{stars} · {STAR_LABELS[stars]}" if stars in (MIN_STARS, MAX_STARS) else str(stars),
            "integration": {"url": public_url + ACTIONS_PATH, "context": rating_context(item_id, stars, key)},
        }
        for stars in range(MIN_STARS, MAX_STARS + 1)
    ]


def content_attachment(
    *, item_id: int, url: str, title: str | None, text: str, public_url: str, key: bytes
) -> dict[str, Any]:
    return {
        "fallback": f"{title or url} — rate it with /learn rate {url} <1-5>",
        "title": title or url,
        "title_link": url,
        "text": text,
        "footer": "Did this help you? Only you see your rating; a score shows once enough people have rated.",
        "actions": rating_actions(item_id, public_url, key),
    }


REFLECTION_FOOTER = "Did this help you? Only you see your rating; its author hears when several people found it useful."


def reflection_attachment(attachment: dict[str, Any]) -> dict[str, Any]:
    """A content attachment for a shared reflection: no link (its address is for rating, with no page behind it)
    and no promise of a score."""
    attachment.pop("title_link", None)
    return {**attachment, "footer": REFLECTION_FOOTER}


def describe_item(url: str, title: str | None) -> str:
    """A Markdown link to an item whose text cannot end it early nor carry Markdown; a bare URL without a
    title (Mattermost links it)."""
    return f"[{plain(title)}]({url.replace('(', '%28').replace(')', '%29')})" if title else url


def community_score(outcome: RatingOutcome, k: int) -> str:
    """The shown score a member sees once they have rated: only once at least k people stand behind it, and never
    a shared reflection's."""
    if outcome.reflection:
        return no_reflection_score(k)
    if outcome.ratings_count < k:
        return (f"Community score: too early to tell (a page's score shows once {k} people have rated it and "
                "the week has ended).")
    to_move = people_to_move(outcome.ratings_count, k)
    return (f"Community score: {outcome.score:.1f}/5 from {outcome.ratings_count} ratings; it moves only once at "
            f"least {to_move} more people have rated and the week has ended, so no one's rating can be singled out.")


def rating_confirmation(outcome: RatingOutcome, k: int) -> str:
    label = STAR_LABELS[outcome.stars]
    item = describe_item(outcome.url, outcome.title)
    if outcome.previous_stars is None:
        head = f"Thanks! You rated {item} **{outcome.stars}/5** ({label})."
    elif outcome.previous_stars == outcome.stars:
        head = f"You had already rated {item} **{outcome.stars}/5** ({label}); nothing changed."
    else:
        head = f"Updated: you now rate {item} **{outcome.stars}/5** ({label}), was {outcome.previous_stars}/5."
    lines = [head, community_score(outcome, k)]
    if outcome.feedback_saved:
        lines.append("Your comment went privately to the community's owners and the page's owners, with the week you "
                     "wrote it and without your name or stars; it is not published.")
    return "\n".join(lines)
