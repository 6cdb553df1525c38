"""What page owners read in Mattermost: the weekly message about the pages that need them (each with *Mark
reviewed* and *Not mine*, buttons that work for that owner only) and the note to a community's owners that a
page has nobody left."""

from __future__ import annotations

from typing import Any

from learnloop.domain.markdown import plain
from learnloop.domain.ratings import REASONS
from learnloop.domain.scores import people_to_move
from learnloop.mattermost.messages import ACTIONS_PATH, describe_item
from learnloop.mattermost.signed_state import button_context
from learnloop.services.page_review import PageToReview

REVIEWED_ACTION = "page_reviewed"
NOT_MINE_ACTION = "page_not_mine"
NOTE_LENGTH = 300
TRENDS = {"down": "down from", "up": "up from", "flat": "about the same as"}


def _button(name: str, label: str, public_url: str, context: dict[str, Any]) -> dict[str, Any]:
    return {"id": name.replace("_", ""), "type": "button", "name": label,
            "integration": {"url": public_url + ACTIONS_PATH, "context": context}}


def _why(page: PageToReview) -> str:
    reasons = []
    if page.reasons_flag:
        reasons.append("readers say it is outdated or has a broken link")
    if page.score_drop:
        reasons.append("its score dropped")
    if page.overdue:
        reasons.append(f"nobody has reviewed it since {page.last_reviewed:%d %b %Y} "
                       f"(it is due every {page.interval_days} days)")
    return "; ".join(reasons)


def _score(page: PageToReview, k: int) -> str:
    if page.score is None:
        return f"Score: too early to tell (a score shows once {k} people have rated the page and the week has ended)."
    text = f"Score: {page.score:.1f}/5 from {page.ratings} ratings"
    if page.trend is None:
        to_move = people_to_move(page.ratings or 0, k)
        return text + (f"; no recent change (a score moves once {to_move} more people have rated the page and the "
                       "week has ended).")
    return text + f", {TRENDS[page.trend.direction]} {page.trend.before:.1f} before its latest {k} or more ratings."


def _quoted(note: str) -> str:
    text = " ".join(note.split())
    return "> " + plain(text if len(text) <= NOTE_LENGTH else text[:NOTE_LENGTH - 1] + "…")


def page_attachment(page: PageToReview, user_id: str, k: int, public_url: str, key: bytes) -> dict[str, Any]:
    lines = [f"**Why:** {_why(page)}.", _score(page, k)]
    if page.reasons:
        counted = " · ".join(f"{REASONS[reason]} {count}" for reason, count in page.reasons.items())
        lines.append(f"Reasons given (still open): {counted}")
    if page.notes:
        lines.append("New notes since your last message:")
        lines += [_quoted(note) for note in page.notes]
        if page.more_notes:
            lines.append(f"…and {page.more_notes} more: the community's owners see them all on its dashboard's "
                         "feedback list.")
    return {"fallback": f"{page.title} needs review: {page.url}", "title": page.title, "title_link": page.url,
            "text": "\n".join(lines),
            "actions": [
                _button(REVIEWED_ACTION, "Mark reviewed", public_url,
                        button_context(REVIEWED_ACTION, key, for_user=user_id, item_id=page.item_id)),
                _button(NOT_MINE_ACTION, "Not mine", public_url,
                        button_context(NOT_MINE_ACTION, key, for_user=user_id, item_id=page.item_id))]}


def review_dm(user_id: str, pages: list[PageToReview], more: int, k: int, public_url: str,
              key: bytes) -> dict[str, Any]:
    """The SEND_DM payload of an owner's weekly pages to review."""
    attachments = [page_attachment(page, user_id, k, public_url, key) for page in pages]
    if more:
        attachments.append({"fallback": f"{more} more pages need review",
                            "text": f"{more} more {'page needs' if more == 1 else 'pages need'} review too: they "
                                    "come in the next weeks' messages."})
    return {"user_id": user_id,
            "message": "**Pages that need you this week.** You own them in learnloop. Nobody is named: reasons are "
                       "counted and notes are shown as they were written, without who or when.",
            "props": {"attachments": attachments}}


def unowned_dm(user_id: str, title: str, url: str, trigger: str = "/learn") -> dict[str, Any]:
    """The SEND_DM payload telling a community owner that a page has nobody left who owns it by name."""
    return {"user_id": user_id,
            "message": f"Nobody owns {describe_item(url, title)} by name any more: its last owner said it is not "
                       "theirs. As one of the community's owners you hear about it again in your weekly message "
                       f"about pages to review. To name its owner: `{trigger} pages owner {url} @person` in the "
                       "community's channel."}
