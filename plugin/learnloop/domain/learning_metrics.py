"""What a community's activity says about its learning, read from released figures only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from learnloop.domain.disclosure import Figure

PEOPLE_TO_CONTENT = ("ratings", "links_shared", "new_pages")
PEOPLE_TO_PEOPLE = ("replies", "mentions", "reflections.community")
"""Between people: replies, mentions, and the reflections written to share with the community (the released part
of the reflections written, domain.disclosure)."""


@dataclass(frozen=True)
class Stage:
    name: str
    reason: str
    next_step: str
    action: str = ""
    """The step an owner can have learnloop do from the dashboard (one of ACTIONS), or "" for none."""


STAGES = ("seeding", "consuming", "contributing", "exchanging", "co-creating")
STARTER_SHELF, INVITE_SHARING, ASK_QUESTION, WEEKLY_PROMPT, INVITE_PUBLISHING = (
    "starter_shelf", "invite_sharing", "ask_question", "weekly_prompt", "invite_publishing")
ACTIONS = (STARTER_SHELF, INVITE_SHARING, ASK_QUESTION, WEEKLY_PROMPT, INVITE_PUBLISHING)
"""What each stage's next step does when an owner asks learnloop to do it, in the order of the stages."""


def _shown(figures: Mapping[str, Figure], name: str) -> float:
    """A released figure's value; 0 when it is withheld (fewer than k people so far)."""
    figure = figures.get(name)
    return float(figure.value or 0) if figure is not None and not figure.withheld else 0.0


def maturity(figures: Mapping[str, Figure], weeks: int) -> Stage:
    """The stage a community has reached in a period. Every step needs figures that are released, that is,
    at least k people behind them:

    - consuming: people rate content;
    - contributing: people share links;
    - exchanging: people reply to or mention each other, at least 2 exchanges a week;
    - co-creating: people share reflections with the community as they write them, and shared reflections get
      rated.
    """
    k = next(iter(figures.values())).k if figures else 5
    exchanges_per_week = (_shown(figures, "replies") + _shown(figures, "mentions")) / max(weeks, 1)
    if not _shown(figures, "ratings"):
        return Stage("seeding", f"fewer than {k} people have rated content so far",
                     "Put pages that help on the shelf: post the wiki's best and newest pages with rating "
                     "buttons, or share one that helped you with /learn share.", STARTER_SHELF)
    if not _shown(figures, "links_shared"):
        return Stage("consuming", f"people rate content, but fewer than {k} have shared links",
                     "Invite people to share what helped them: a link in the channel counts.", INVITE_SHARING)
    if not (_shown(figures, "replies") or _shown(figures, "mentions")) or exchanges_per_week < 2:
        return Stage("contributing", "people share content, but few reply to or mention each other",
                     "Ask a question in the channel about a shared page, and thank people by name.", ASK_QUESTION)
    if not _shown(figures, "reflections.community") or not _shown(figures, "reflection_ratings"):
        return Stage("exchanging", f"people learn from each other ({exchanges_per_week:.1f} exchanges a week), "
                     "but reflections are rarely shared",
                     "Set up a weekly reflection prompt with /learn prompts setup and share one of yours.",
                     WEEKLY_PROMPT)
    return Stage("co-creating", "people share reflections and rate each other's learning",
                 "Invite the authors of shared reflections to publish them to the wiki's learning log, so they "
                 "last (only an author can publish their own).", INVITE_PUBLISHING)
