"""Disclosure control: no released figure, alone or combined with others, describes fewer than k people.

The method is complementary suppression over a fixed grid of whole weeks, as Viva Glint and Culture Amp
apply it to survey report cells. For each measure, a community's weeks are grouped, oldest first, into
consecutive blocks: a block closes at the first week that has ended by which at least k distinct people
have taken part in it (the current week never closes one); the next block begins the week after. A closed
block never changes: an event that arrives late, for a week in or before the closed blocks, is counted in
the first week after them (services.rollups). The weeks after the last closed block are not released until
they close a block too. So a released figure is the same whenever it is seen.

Every released figure of a measure is the exact sum over whole closed blocks (and weeks before the first
block, when nobody had taken part) and says which weeks it covers. So any sum or difference of released
figures, whatever the periods (weekly rows, 4 or 12 weeks, any custom range of whole weeks), is a sum or
difference of whole blocks, each of which covers at least k people.

The parts of a total (the reflections written, split by what their authors chose) are released block by
block with complementary suppression: a part with fewer than k people is withheld together with the
smallest part that has k or more, so the total minus the parts shown is never a small part alone. Where some
of a total is seen by everyone anyway (the reflections shared in the channel), the rest of it must hold nobody
or k people before its block closes, and a split of the total is withheld where the split of that rest tells
of a few people. A measure
counted beside a total over its blocks, and never added to it (the prompts nobody answered, beside the
reflections written), is released where a block holds none of its people or k or more.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

NOT_SHOWN = "not shown"
"""A withheld figure as the pages and exports write it: not a number ("fewer than 5" read as under 5 ratings, or
5 %, where 4 people gave 40), whatever the page explains held it back (fewer than k people, a week not yet ended,
weeks counted with others outside the period)."""
MIN_GROUP_FLOOR = 3
DEFAULT_MIN_GROUP = 5
WEEK = timedelta(days=7)


class InvalidGroupSize(ValueError):
    """k below the floor."""


def check_min_group(k: int) -> int:
    if k < MIN_GROUP_FLOOR:
        raise InvalidGroupSize(f"the minimum group size cannot go below {MIN_GROUP_FLOOR} (got {k})")
    return k


@dataclass(frozen=True)
class Block:
    """Consecutive weeks (Mondays `first` to `last`) of one measure, with their total and distinct people."""

    first: date
    last: date
    value: int
    people: int
    closed: bool

    @property
    def weeks(self) -> int:
        return (self.last - self.first) // WEEK + 1


@dataclass(frozen=True)
class WeekFacts:
    week: date
    value: int
    members: frozenset[str]
    less: frozenset[str] = frozenset()
    """People who may no longer be behind the value: in a measure's part nobody can count from outside, those who
    have since let everyone see some of theirs."""
    keeping: frozenset[str] = frozenset()
    """People who still keep some of it to themselves, as they stand now: certainly behind it. Named apart from
    `members` (not by the same keys), so only counted: those behind it are at least `members` less `less`, and at
    least these."""


def split_open(start: date, weeks: Iterable[WeekFacts], k: int, *, until: date,
               unseen: Iterable[WeekFacts] = ()) -> tuple[list[Block], Block | None]:
    """The blocks an open stretch beginning at `start` makes: those that reached k distinct people by a week
    before `until` (the current week: it and later weeks never close a block), closed oldest first, and what
    is left open (None when no week after the last closed one has anything).

    `unseen` is, week by week, the part of the measure nobody can count from outside: the total less what
    everyone sees (the reflections shared in the channel or published on the wiki), with the people who may be
    behind it and those who may no longer be. A block also waits until that part tells of no few people
    (`tells_of_few`), counting only those certainly behind it."""
    check_min_group(k)
    counted = {facts.week: facts for facts in weeks if facts.week >= start}
    hidden = {facts.week: facts for facts in unseen if facts.week >= start}
    closed: list[Block] = []
    first, value, members, last_seen = start, 0, set[str](), None
    hidden_value, hidden_members, hidden_less, hidden_keeping = 0, set[str](), set[str](), set[str]()
    for week in sorted(counted.keys() | hidden.keys()):  # a week with only a later share in it counts too
        facts = counted.get(week, WeekFacts(week, 0, frozenset()))
        value += facts.value
        members |= facts.members
        part = hidden.get(week)
        if part is not None:
            hidden_value += part.value
            hidden_members |= part.members
            hidden_less |= part.less
            hidden_keeping |= part.keeping
        last_seen = week
        behind = max(len(hidden_members - hidden_less), len(hidden_keeping))
        if len(members) >= k and week < until and not tells_of_few(hidden_value, behind, k):
            closed.append(Block(first, week, value, len(members), True))
            first, value, members, last_seen = week + WEEK, 0, set(), None
            hidden_value, hidden_members, hidden_less, hidden_keeping = 0, set(), set(), set()
    remaining = Block(first, last_seen, value, len(members), False) if last_seen is not None else None
    return closed, remaining


@dataclass(frozen=True)
class Figure:
    """A figure as released: its value over the weeks it covers (Mondays `first` to `last`), or withheld.

    `complete` says whether it covers every week that was asked for."""

    value: float | None
    k: int
    first: date | None = None
    last: date | None = None
    complete: bool = True

    @property
    def withheld(self) -> bool:
        return self.value is None

    @property
    def weeks(self) -> int | None:
        """How many weeks it covers."""
        return None if self.first is None or self.last is None else (self.last - self.first) // WEEK + 1

    def text(self, fmt: str = "{:,.0f}") -> str:
        return NOT_SHOWN if self.value is None else fmt.format(self.value)

    def export(self) -> float | str:
        return NOT_SHOWN if self.value is None else self.value


def withheld(k: int) -> Figure:
    return Figure(None, k, complete=False)


def open_figure(value: float, first: date, last: date, k: int) -> Figure:
    """A figure that describes no one (a wiki's page count): released as it is."""
    return Figure(value, k, first, last, True)


def closed_blocks(blocks: Sequence[Block]) -> list[Block]:
    return sorted((b for b in blocks if b.closed), key=lambda b: b.first)


def merge_after(*sides: Sequence[Block]) -> date | None:
    """Where one community's weeks of a measure may join another's: after the last week either released a
    figure for (the end of its last closed block); None when neither released any, so every week may.

    A figure seen before a join must not be comparable with one after it. Up to this week one of the two keeps
    its weeks and blocks alone, so its released figures stay what they were and no difference of a figure
    before and one after shows what the other's people did (the other's released figures covered only its
    own people, none of whom count in those weeks now); after it, nothing was released yet by either, and the
    weeks are cut into blocks of at least k people afresh."""
    ends = [done[-1].last for done in map(closed_blocks, sides) if done]
    return max(ends) if ends else None


def over_period(blocks: Sequence[Block], first: date, last: date, k: int) -> Figure:
    """A measure's total over the weeks `first` to `last` (Mondays), summed over whole closed blocks."""
    done = closed_blocks(blocks)
    span = _covered(done, first, last)
    if span is None:
        return withheld(k)
    value = sum(b.value for b in _inside(done, span[0], span[1]))
    return Figure(value, k, span[0], span[1], span == (first, last))


def _inside(done: list[Block], first: date, last: date) -> list[Block]:
    """The closed blocks (in week order) wholly inside the weeks `first` to `last` (consecutive: blocks tile
    the weeks)."""
    return [b for b in done if first <= b.first and b.last <= last]


def _covered(done: list[Block], first: date, last: date) -> tuple[date, date] | None:
    """The weeks of `first` to `last` a released figure can cover, from the closed blocks in week order: the
    blocks wholly inside, and the weeks before the first block began (when nobody had taken part)."""
    if not done:
        return None
    origin = done[0].first
    inside = _inside(done, first, last)
    if inside:
        start = first if inside[0].first == origin and first < origin else inside[0].first
        return start, inside[-1].last
    if first < origin:
        return first, min(last, origin - WEEK)
    return None


def parts_of_block(total: int, parts: Mapping[str, tuple[int, int]], k: int) -> dict[str, int | None]:
    """Which parts of one closed block may be shown (part name to (value, people)); None for withheld.

    Empty parts are shown (0 describes no one). Parts with something in them and fewer than k people (none,
    when the people behind it erased their data before the week was released) are withheld, and with them the
    smallest part that has k or more, so that the total minus the parts shown always covers at least k people
    (the parts' people together are the block's). Parts that do not add up to the total (weeks folded before
    parts were kept) are all withheld."""
    if sum(value for value, _ in parts.values()) != total:
        return dict.fromkeys(parts)
    small = [name for name, (value, people) in parts.items() if value and people < k]
    hidden = set(small)
    if small:
        large = sorted((people, name) for name, (_, people) in parts.items() if people >= k)
        if large:
            hidden.add(large[0][1])
    return {name: None if name in hidden else value for name, (value, _) in parts.items()}


def _same_weeks(blocks: Sequence[Block], block: Block) -> tuple[int, int]:
    """(value, people) of the block among `blocks` over the same weeks as `block`; (0, 0) when there is none."""
    match = next((b for b in blocks if b.first == block.first and b.last == block.last), None)
    return (match.value, match.people) if match else (0, 0)


def tells_of_few(value: int, people: int, k: int) -> bool:
    """Whether a part nobody can count from outside (a total less what everyone sees: `value`, with the `people`
    certainly behind it) would tell of 1 to k-1 people: something is left, or someone keeps something, and fewer
    than k people do. Something left with nobody behind it (a reflection deleted since, or an erased person's)
    counts as a few, and so does less than nothing (more shared since than kept here: added to the weeks before,
    it would be what a few there still keep)."""
    return (value != 0 or people > 0) and people < k


@dataclass(frozen=True)
class Unseen:
    """The part of a total nobody can count from outside, split as the parts being released split the total
    (`cells`): each cell's block holds what a part less what everyone sees leaves, and the people behind it."""

    cells: Sequence[Sequence[Block]]

    def tells_of_few(self, block: Block, k: int) -> bool:
        """Whether a cell of this block tells of a few people, or the block has no cells (it closed before they
        were kept)."""
        found = [next((b for b in cell if (b.first, b.last) == (block.first, block.last)), None)
                 for cell in self.cells]
        return any(cell is None or tells_of_few(cell.value, cell.people, k) for cell in found)


def parts_over_period(total: Sequence[Block], parts: Mapping[str, Sequence[Block]], first: date, last: date,
                      k: int, *, unseen: Unseen | None = None) -> dict[str, Figure]:
    """Each part's figure over the weeks the total's figure covers: shown only where it is shown in every
    block there (so what is withheld is, block by block, what `parts_of_block` withholds or more), and, with
    `unseen`, where no cell of it tells of a few people."""
    done = closed_blocks(total)
    span = _covered(done, first, last)
    if span is None:
        return {name: withheld(k) for name in parts}
    complete = span == (first, last)
    sums: dict[str, int | None] = dict.fromkeys(parts, 0)
    for block in _inside(done, span[0], span[1]):
        if unseen is not None and unseen.tells_of_few(block, k):
            return {name: withheld(k) for name in parts}
        facts = {name: _same_weeks(blocks, block) for name, blocks in parts.items()}
        for name, shown in parts_of_block(block.value, facts, k).items():
            current = sums[name]
            sums[name] = None if shown is None or current is None else current + shown
    return {name: withheld(k) if value is None else Figure(value, k, span[0], span[1], complete)
            for name, value in sums.items()}


def beside_over_period(total: Sequence[Block], beside: Sequence[Block], first: date, last: date, k: int, *,
                       since: date | None = None) -> Figure:
    """A measure counted over another's blocks without being a part of it (the two are never shown added up):
    its figure over the weeks the other's figure covers, from the week `since` on when it was not counted
    before, shown only where every block holds nothing of it or k people or more (a count with fewer behind it,
    or none left after an erase, is withheld)."""
    start = max(first, since) if since is not None else first
    done = closed_blocks(total)
    span = _covered(done, start, last) if start <= last else None
    if span is None:
        return withheld(k)
    value = 0
    for block in _inside(done, span[0], span[1]):
        amount, people = _same_weeks(beside, block)
        if amount and people < k:
            return withheld(k)
        value += amount
    return Figure(value, k, span[0], span[1], span == (first, last))


def same_span(figures: Iterable[Figure]) -> tuple[date, date] | None:
    """The weeks all these figures cover, when they are released over the very same weeks."""
    spans = {(f.first, f.last) if not f.withheld else None for f in figures}
    if len(spans) != 1:
        return None
    span = spans.pop()
    if span is None or span[0] is None or span[1] is None:
        return None
    return span[0], span[1]


def ratio(numerator: Figure, denominator: Figure, k: int, *, percent: bool = True) -> Figure:
    """A ratio of two released figures over the same weeks, to a whole percent; withheld otherwise."""
    span = same_span([numerator, denominator])
    if span is None or not denominator.value or numerator.value is None:
        return withheld(k)
    share = numerator.value / denominator.value
    return Figure(round(min(share, 1.0) * 100) if percent else share, k, span[0], span[1],
                  numerator.complete and denominator.complete)
