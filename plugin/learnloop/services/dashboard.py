"""A community's dashboard: every figure about people released through domain.disclosure.

Figures come from the release blocks the worker keeps; a page load never rescans history."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from learnloop.domain.disclosure import (
    WEEK,
    Block,
    Figure,
    Unseen,
    beside_over_period,
    check_min_group,
    open_figure,
    over_period,
    parts_over_period,
    ratio,
    same_span,
    withheld,
)
from learnloop.domain.learning_metrics import PEOPLE_TO_CONTENT, PEOPLE_TO_PEOPLE, Stage, maturity
from learnloop.domain.measures import (
    DISTINCT_THINGS,
    OPEN_METRICS,
    PEOPLE_METRICS,
    PRIVATE_BY_PROMPT,
    UNANSWERED,
    UNSEEN,
    week_of,
    weeks_between,
)
from learnloop.domain.page_review import FEEDBACK_STATES, OPEN_STATES, parse_state
from learnloop.domain.ratings import REASONS
from learnloop.domain.signing import row_handle, row_named
from learnloop.services.rollups import PARTS, UNANSWERED_SINCE
from learnloop.storage.dashboard_reads import DashboardReads
from learnloop.storage.unit_of_work import UnitOfWork

TOP_CONTENT = 10
FEEDBACK_LIMIT = 200
SPLIT = {"private": "reflections.private", "shared": "reflections.community", "published": "reflections.wiki"}
"""The reflections written by what their authors chose when writing: parts of them (domain.disclosure)."""
ANSWERED = {"answered": "prompts_answered", "unprompted": "reflections.unprompted"}
"""The reflections written by whether they answered a prompt: parts of them too, so prompts answered is released
only where neither side is 1 to k-1 people."""
HEADLINES = ("ratings", "links_shared", "replies", "reflections", "prompts_answered")
FLAT = 0.05
"""A change of at most 5% either way is "about the same"."""
REFLECTION_TITLE = "A shared reflection"
"""How a shared reflection is named wherever it is listed: never by its author."""


@dataclass(frozen=True)
class Period:
    """Whole weeks: the Mondays `first` to `last`."""

    first: date
    last: date

    @property
    def weeks(self) -> list[date]:
        return list(weeks_between(self.first, self.last))

    @property
    def end(self) -> date:
        """The period's last day (a Sunday)."""
        return self.last + timedelta(days=6)

    @classmethod
    def last_weeks(cls, today: date, weeks: int) -> Period:
        this_week = week_of(today)
        return cls(this_week - timedelta(weeks=weeks - 1), this_week)

    @classmethod
    def whole_weeks(cls, start: date, end: date) -> Period:
        """The weeks from `start`'s to `end`'s."""
        return cls(week_of(start), week_of(end))

    @property
    def before(self) -> Period:
        """The period of the same length just before this one."""
        length = timedelta(weeks=len(self.weeks))
        return Period(self.first - length, self.last - length)


@dataclass(frozen=True)
class TopItem:
    title: str
    url: str
    kind: str
    score: float
    ratings: int
    item_id: int | None = None


@dataclass(frozen=True)
class Comment:
    handle: str
    """What its triage form names it by (`feedback_handle`)."""
    text: str
    week: date
    state: str = "new"
    reason: str | None = None


@dataclass(frozen=True)
class FeedbackGroup:
    """The feedback on one item, without who wrote it, stars or exact times (the week each was written only):
    the comments shown, how many are in each triage state, and the open reasons counted."""

    item_id: int
    title: str
    url: str
    comments: list[Comment]
    states: dict[str, int] = field(default_factory=dict)
    open_reasons: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Headline:
    """A headline figure and how it compares with the previous period of the same length."""

    measure: str
    figure: Figure
    change: str
    """"up", "down", "flat" or "" (no comparison: either period is not released)."""
    previous: Figure

    def compared(self) -> str:
        """What the figure is compared with: the previous figure, or both a week each where they cover different
        numbers of weeks."""
        if not per_week(self.figure, self.previous):
            return self.previous.text()
        return f"{a_week(self.previous):,.1f} to {a_week(self.figure):,.1f} a week"


@dataclass(frozen=True)
class BlockRow:
    """A row of the weekly table for one measure: weeks shown together, or why they are not shown."""

    first: date
    last: date
    figure: Figure
    note: str | None = None


@dataclass
class Dashboard:
    community_id: int
    period: Period
    k: int
    totals: dict[str, Figure]
    weekly: dict[str, dict[date, Figure]]
    rows: dict[str, list[BlockRow]]
    from_each_other: Figure
    weekly_from_each_other: dict[date, Figure]
    response_rate: Figure
    reflection_split: dict[str, Figure]
    stage: Stage
    top: list[TopItem] = field(default_factory=list)
    early: list[TopItem] = field(default_factory=list)
    """Items rated, but by fewer than k people: listed by title only, in no order of merit."""
    feedback: list[FeedbackGroup] = field(default_factory=list)
    headlines: list[Headline] = field(default_factory=list)

    @property
    def anything_released(self) -> bool:
        return any(not f.withheld and f.value for m, f in self.totals.items() if m in PEOPLE_METRICS)

    @property
    def figures(self) -> dict[str, Figure]:
        """The totals and the reflection split's parts, by measure, as the page's sections show them."""
        return _with_parts(self.totals, self.reflection_split)


def _with_parts(totals: dict[str, Figure], split: dict[str, Figure]) -> dict[str, Figure]:
    """The totals with the reflection split's parts, by their measures' names (reflections.community...)."""
    return {**totals, **{SPLIT[name]: figure for name, figure in split.items()}}


def _parts(blocks: dict[str, list[Block]], parts: dict[str, str], first: date, last: date, k: int, *,
           unseen: Unseen | None = None) -> dict[str, Figure]:
    """Parts of the reflections written over the weeks their total's figure covers, with the parts rule."""
    return parts_over_period(blocks["reflections"], {name: blocks[part] for name, part in parts.items()},
                             first, last, k, unseen=unseen)


def _over(blocks: dict[str, list[Block]], measure: str, first: date, last: date, k: int) -> Figure:
    """A people measure's figure over whole blocks; prompts answered as a part of the reflections written."""
    if measure == ANSWERED["answered"]:  # only where the private ones' own split by prompt tells of no few people
        unseen = Unseen([blocks[cell] for cell in PRIVATE_BY_PROMPT])
        return _parts(blocks, ANSWERED, first, last, k, unseen=unseen)["answered"]
    return over_period(blocks[measure], first, last, k)


def _weekly(blocks: list[Block], weeks: list[date], k: int) -> dict[date, Figure]:
    """Each week on its own, where a block is that one week (or the weeks before anyone took part)."""
    closed = sorted((b for b in blocks if b.closed), key=lambda b: b.first)
    found = {}
    for week in weeks:
        figure = over_period(closed, week, week, k)
        found[week] = figure if figure.complete else withheld(k)
    return found


def _rows(blocks: list[Block], period: Period, k: int, metric: str) -> list[BlockRow]:
    """The closed blocks of one measure that meet the period, as the table shows them, then one withheld row for
    the period's weeks after the last of them, whether or not anyone took part since: a row that came and went
    with one person's act would tell of it, and in which week. Its note is the same for every community."""
    rows = []
    closed = sorted((b for b in blocks if b.closed), key=lambda b: b.first)
    for block in closed:
        if block.last < period.first or block.first > period.last:
            continue
        if block.first < period.first or block.last > period.last:
            rows.append(BlockRow(max(block.first, period.first), min(block.last, period.last), withheld(k),
                                 "counted with weeks outside this period"))
        else:
            rows.append(BlockRow(block.first, block.last, Figure(block.value, k, block.first, block.last)))
    since = max(closed[-1].last + WEEK if closed else period.first, period.first)
    if since <= period.last:
        waiting = f"shown once {k} people took part and the week has ended"
        if metric == UNSEEN:
            waiting += f", and those kept private are by nobody or by {k} people or more"
        rows.append(BlockRow(since, period.last, withheld(k), waiting))
    return rows


def _distinct(reads: DashboardReads, community_id: int, metric: str, over: Figure, k: int) -> Figure:
    """Distinct items or threads over the weeks its people measure is released for (the member sets of
    released weeks never change: the fold counts a late event in the first week not yet released)."""
    if over.withheld or over.first is None or over.last is None:
        return withheld(k)
    return Figure(reads.distinct_members(community_id, metric, over.first, over.last), k, over.first, over.last,
                  over.complete)


def _open_total(weekly: dict[date, int], first: date, last: date, k: int) -> Figure:
    return open_figure(sum(v for week, v in weekly.items() if first <= week <= last), first, last, k)


def _share(totals: dict[str, Figure], open_weekly: dict[str, dict[date, int]], k: int) -> Figure:
    """Learning from each other as a share of all learning activity, to a whole percent, from released
    figures only (the totals with the reflection split's parts): those over the same weeks, at least one between
    people and one with content (a measure fewer than k people took part in is left out, so it adds nothing to
    infer)."""
    shown = {m: totals[m] for m in (*PEOPLE_TO_PEOPLE, *PEOPLE_TO_CONTENT)
             if m not in OPEN_METRICS and not totals[m].withheld}
    span = same_span(shown.values())
    if span is None or not any(m in shown for m in PEOPLE_TO_PEOPLE) \
            or not any(m in shown for m in PEOPLE_TO_CONTENT):
        return withheld(k)
    between = sum(float(f.value or 0) for m, f in shown.items() if m in PEOPLE_TO_PEOPLE)
    content = sum(float(f.value or 0) for m, f in shown.items() if m in PEOPLE_TO_CONTENT)
    content += sum(_open_total(open_weekly.get(m, {}), span[0], span[1], k).value or 0
                   for m in PEOPLE_TO_CONTENT if m in OPEN_METRICS)
    complete = all(f.complete for f in shown.values())
    return ratio(Figure(between, k, span[0], span[1], complete), Figure(between + content, k, span[0], span[1],
                                                                          complete), k)


def per_week(now: Figure, before: Figure) -> bool:
    """Whether two released figures cover different numbers of weeks (each covers only the whole blocks inside its
    period), so that they compare a week each."""
    return not now.withheld and not before.withheld and now.weeks != before.weeks


def a_week(figure: Figure) -> float:
    return (figure.value or 0) / (figure.weeks or 1)


def change(now: Figure, before: Figure) -> str:
    """How a released figure compares with the same figure over the period before (both released), a week each
    where they cover different numbers of weeks."""
    if now.withheld or before.withheld or now.value is None or before.value is None:
        return ""
    now_value, before_value = (a_week(now), a_week(before)) if per_week(now, before) else (now.value, before.value)
    if before_value == 0:
        return "up" if now_value > 0 else "flat"
    ratio_ = now_value / before_value
    return "flat" if abs(ratio_ - 1) <= FLAT else "up" if ratio_ > 1 else "down"


def headlines(blocks: dict[str, list[Block]], period: Period, k: int, totals: dict[str, Figure]) -> list[Headline]:
    """The headline figures, each against the period of the same length before (a difference of two released
    figures is itself a sum of whole blocks, so it says nothing about fewer than k people)."""
    before = period.before
    found = []
    for measure in HEADLINES:
        previous = _over(blocks, measure, before.first, before.last, k)
        found.append(Headline(measure, totals[measure], change(totals[measure], previous), previous))
    return found


def prompts_sent(blocks: dict[str, list[Block]], first: date, last: date, k: int,
                 since: date | None) -> tuple[Figure, Figure]:
    """The prompts sent (answered, and beside them those nobody answered) and the prompts answered over the
    same weeks, for the response rate: both withheld where a few people did not answer."""
    unanswered = beside_over_period(blocks["reflections"], blocks[UNANSWERED], first, last, k, since=since)
    if unanswered.first is None or unanswered.last is None:  # withheld
        return withheld(k), withheld(k)
    answered = _over(blocks, ANSWERED["answered"], unanswered.first, unanswered.last, k)
    if same_span([answered, unanswered]) is None:
        return withheld(k), withheld(k)
    return Figure((answered.value or 0) + (unanswered.value or 0), k, unanswered.first, unanswered.last,
                  unanswered.complete), answered


def _totals(reads: DashboardReads, community_id: int, period: Period, k: int, blocks: dict[str, list[Block]],
            open_weekly: dict[str, dict[date, int]]) -> dict[str, Figure]:
    totals: dict[str, Figure] = {}
    for metric in [*sorted(PEOPLE_METRICS), ANSWERED["answered"]]:
        totals[metric] = _over(blocks, metric, period.first, period.last, k)
    for metric in sorted(OPEN_METRICS):
        totals[metric] = _open_total(open_weekly.get(metric, {}), period.first, period.last, k)
    for thing, behind in DISTINCT_THINGS.items():
        totals[thing] = _distinct(reads, community_id, thing, totals[behind], k)
    return totals


def _released(uow: UnitOfWork, community_id: int, period: Period, k: int, since: date) -> tuple[
        dict[str, list[Block]], dict[str, dict[date, int]], dict[str, Figure], dict[str, Figure]]:
    """What the period's figures come from: the people measures' blocks from the week `since` on, the open
    measures' weekly values, and the released totals and split of the reflections."""
    check_min_group(k)
    reads = uow.dashboards
    blocks = reads.blocks(community_id, [*sorted(PEOPLE_METRICS), *PARTS["reflections"]], since)
    open_weekly = reads.weekly_values(community_id, sorted(OPEN_METRICS), period.first, period.last)
    totals = _totals(reads, community_id, period, k, blocks, open_weekly)
    return blocks, open_weekly, totals, _parts(blocks, SPLIT, period.first, period.last, k)


def stage(uow: UnitOfWork, community_id: int, period: Period, k: int) -> Stage:
    """Where the community stands over the period, from released figures only."""
    _, _, totals, split = _released(uow, community_id, period, k, period.first)
    return maturity(_with_parts(totals, split), len(period.weeks))


def build(uow: UnitOfWork, community_id: int, period: Period, k: int, *, feedback_key: bytes | None = None,
          show_hidden: bool = False) -> Dashboard:
    """The community's dashboard for the period; with `feedback_key` (for its owners), its feedback too."""
    blocks, open_weekly, totals, split = _released(uow, community_id, period, k, period.before.first)
    counted = uow.cursors.get(UNANSWERED_SINCE)  # None: the prompts nobody answered were counted from the start
    totals["prompts_sent"], answered = prompts_sent(blocks, period.first, period.last, k,
                                                    date.fromisoformat(counted) if counted else None)
    weeks = period.weeks
    weekly: dict[str, dict[date, Figure]] = {}
    rows: dict[str, list[BlockRow]] = {}
    for metric in sorted(PEOPLE_METRICS):
        weekly[metric] = _weekly(blocks[metric], weeks, k)
        rows[metric] = _rows(blocks[metric], period, k, metric)
    for metric in sorted(OPEN_METRICS):
        values = open_weekly.get(metric, {})
        weekly[metric] = {week: open_figure(values.get(week, 0), week, week, k) for week in weeks}
    weekly_share = {}
    for week in weeks:
        week_split = {name: figure if figure.complete else withheld(k)
                      for name, figure in _parts(blocks, SPLIT, week, week, k).items()}
        weekly_share[week] = _share(_with_parts({m: weekly[m][week] for m in weekly}, week_split), open_weekly, k)
    figures = _with_parts(totals, split)
    return Dashboard(
        community_id=community_id, period=period, k=k, totals=totals, weekly=weekly, rows=rows,
        from_each_other=_share(figures, open_weekly, k), weekly_from_each_other=weekly_share,
        response_rate=ratio(answered, totals["prompts_sent"], k),
        reflection_split=split, stage=maturity(figures, len(weeks)),
        top=top_content(uow, community_id, k), early=too_early(uow, community_id, k),
        feedback=feedback_groups(uow, community_id, feedback_key, show_hidden=show_hidden) if feedback_key else [],
        headlines=headlines(blocks, period, k, totals),
    )


# ------------------------------------------------------------------------------ top content

def top_content(uow: UnitOfWork, community_id: int, k: int) -> list[TopItem]:
    """The items that helped most, by their shown small-sample-aware score, among those at least k people rated:
    an item's place in the list would otherwise say what its few raters gave."""
    return _top_items(uow.dashboards, uow.dashboards.top_scores(community_id, k, TOP_CONTENT))


def _top_items(reads: DashboardReads, ranked: list[tuple[float, int, int]]) -> list[TopItem]:
    details = reads.item_details([item for _, _, item in ranked])
    return [TopItem(title_of(*details[i]), details[i][1], details[i][2], s, n, i) for s, n, i in ranked]


def unranked_among(uow: UnitOfWork, community_id: int, item_ids: set[int], k: int, limit: int) -> list[TopItem]:
    """These items where at least k people stand behind a shown score, oldest first and without it: shared
    reflections, which are listed, never ranked."""
    shown = uow.dashboards.shown_among(community_id, k, item_ids, limit) if item_ids else []
    details = uow.dashboards.item_details(shown)
    return [TopItem(title_of(*details[i]), details[i][1], details[i][2], 0.0, 0, i) for i in shown]


def title_of(title: str | None, url: str, kind: str) -> str:
    return REFLECTION_TITLE if kind == "reflection" else (title or url)


def ranked_among(uow: UnitOfWork, community_id: int, item_ids: set[int], k: int, limit: int) -> list[TopItem]:
    """These items, best first by the same shown score as top content, among those at least k people rated."""
    if not item_ids:
        return []
    return _top_items(uow.dashboards, uow.dashboards.top_scores(community_id, k, limit, item_ids))


def too_early(uow: UnitOfWork, community_id: int, k: int, limit: int = TOP_CONTENT) -> list[TopItem]:
    """Items shared in chat or followed on the wiki with no score shown yet: by title, with no score, count or
    order of merit, and whether anyone rated them unsaid."""
    rows = uow.dashboards.unscored(community_id, k, limit)
    return [TopItem(title_of(title, url, kind), url, kind, 0.0, 0) for title, url, kind in rows]


# ------------------------------------------------------------------------------ feedback

def feedback_groups(uow: UnitOfWork, community_id: int, key: bytes, *, show_hidden: bool = False,
                    ) -> list[FeedbackGroup]:
    """Every item with feedback, grouped per page with its states and open reasons counted, and the comments
    to show: the open ones first (new, then planned), then those resolved, and hidden ones only when asked;
    within a state the newest week first, and within a week in the order of their handles, which says nothing
    about when each was written."""
    reads = uow.dashboards
    states: dict[int, dict[str, int]] = defaultdict(dict)
    reasons: dict[int, dict[str, int]] = defaultdict(dict)
    for item_id, state, reason, count in reads.feedback_counts(community_id):
        states[item_id][state] = states[item_id].get(state, 0) + count
        if reason is not None and state in OPEN_STATES:
            reasons[item_id][reason] = reasons[item_id].get(reason, 0) + count
    shown = [*OPEN_STATES, "resolved", *(["hidden"] if show_hidden else [])]
    by_item: dict[int, list[Comment]] = defaultdict(list)
    for feedback_id, item_id, text, reason, state, day in reads.feedback(community_id, shown, FEEDBACK_LIMIT):
        by_item[item_id].append(Comment(feedback_handle(feedback_id, key), text, week_of(day), state, reason))
    details = reads.item_details(list(states))
    groups = []
    for item_id, counts in states.items():
        title, url, kind = details[item_id]
        ordered = sorted(by_item.get(item_id, []), key=lambda c: (c.week, c.handle), reverse=True)
        ordered.sort(key=lambda c: list(FEEDBACK_STATES).index(c.state))
        groups.append(FeedbackGroup(item_id, title_of(title, url, kind), url, ordered,
                                    {s: counts[s] for s in FEEDBACK_STATES if s in counts},
                                    {r: reasons[item_id][r] for r in REASONS if r in reasons[item_id]}))
    return sorted(groups, key=lambda g: (-sum(g.states.get(s, 0) for s in OPEN_STATES), -len(g.comments), g.title))


def feedback_handle(feedback_id: int, key: bytes) -> str:
    """What a triage form names a comment by: a keyed hash of its id. Ids are given in order across every
    community, so an id beside an owner's own test notes would date a comment more closely than its week,
    which is all the page tells."""
    return row_handle("feedback", feedback_id, key)


def triage(uow: UnitOfWork, community_id: int, handle: str, state: object, key: bytes) -> bool:
    """Put the comment of this community that `handle` names in a triage state; False if none of its own has
    that handle. Raises ReviewRefused (a ValueError) for a state that does not exist."""
    chosen = parse_state(state)
    found = row_named("feedback", uow.feedback.ids_in(community_id), handle, key)
    row = uow.feedback.get(found) if found is not None else None
    if row is None:
        return False
    row.status = chosen
    uow.commit()
    return True
