"""What a community's activity says about its learning: pure functions over period totals."""

from __future__ import annotations

from dataclasses import dataclass

PEOPLE_TO_CONTENT = ("ratings", "links_shared", "new_pages")
PEOPLE_TO_PEOPLE = ("replies", "mentions", "reflections_shared")


def from_each_other_share(totals: dict[str, int]) -> float | None:
    """The share of learning activity between people rather than with content (0..1), None without activity."""
    content = sum(totals.get(name, 0) for name in PEOPLE_TO_CONTENT)
    people = sum(totals.get(name, 0) for name in PEOPLE_TO_PEOPLE)
    if content + people == 0:
        return None
    return people / (content + people)


def response_rate(sent: int, answered: int) -> float | None:
    if sent <= 0:
        return None
    return min(1.0, answered / sent)


@dataclass(frozen=True)
class Stage:
    name: str
    reason: str
    next_step: str


STAGES = ("seeding", "consuming", "contributing", "exchanging", "co-creating")


def maturity(people: dict[str, int], totals: dict[str, int], weeks: int, k: int) -> Stage:
    """The stage a community has reached, from stated thresholds (k distinct people at each step).

    - consuming: at least k people rate content;
    - contributing: at least k people share links or write wiki pages;
    - exchanging: at least k people reply to or mention each other, at least 2 exchanges a week;
    - co-creating: at least k people share reflections, and shared reflections get rated.
    """
    raters = people.get("ratings", 0)
    contributors = people.get("links_shared", 0) + people.get("new_pages", 0)
    exchangers = max(people.get("replies", 0), people.get("mentions", 0))
    exchanges_per_week = (totals.get("replies", 0) + totals.get("mentions", 0)) / max(weeks, 1)
    reflectors = people.get("reflections_shared", 0)
    if raters < k:
        return Stage("seeding", f"fewer than {k} people rated content in this period",
                     "Share one page that helped you with /learn share, and ask two colleagues to rate it.")
    if contributors < k:
        return Stage("consuming", f"{raters} people rate content, but fewer than {k} share links or write pages",
                     "Invite people to share what helped them: a link in the channel counts.")
    if exchangers < k or exchanges_per_week < 2:
        return Stage("contributing", "people share content, but few reply to or mention each other",
                     "Ask a question in the channel about a shared page, and thank people by name.")
    if reflectors < k or totals.get("reflection_ratings", 0) == 0:
        return Stage("exchanging", f"people learn from each other ({exchanges_per_week:.1f} exchanges a week), "
                     "but reflections are rarely shared",
                     "Set up a weekly reflection prompt with /learn prompts setup and share one of yours.")
    return Stage("co-creating", "people share reflections and rate each other's learning",
                 "Publish the best shared reflections to the wiki's learning log so they last.")
