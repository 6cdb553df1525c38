"""When reflection prompts go out: the schedule a community owner types, and when it fires.

A schedule is an RFC 5545 RRULE evaluated on local calendar dates, plus a local time of day.
The rule picks the dates; every member is prompted on each of those dates at that time where
they are, so one date is a different UTC instant for each timezone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import islice
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

MIN_WINDOW = timedelta(hours=1)
MAX_WINDOW = timedelta(days=14)
UNTIL_NEXT_MORNING = timedelta(hours=16)
MAX_WEEK_INTERVAL = 52
MAX_RULE_LENGTH = 300
"""The longest RRULE body a schedule keeps (prompt_schedules.rrule is String(300))."""
# How far ahead next_local_date looks; a leap-day rule can go eight years without firing.
SEARCH_HORIZON = timedelta(days=12 * 366)
_LAST_PROBE_YEAR = 9969  # leaves 30 to 430 years of search before dateutil's year 9999
_PROBE_ANCHOR = date(2000, 1, 1)

DAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
WEEKDAYS = DAY_CODES[:5]

_DAY_ALIASES: dict[str, int] = {
    **{name.lower(): index for index, name in enumerate(DAY_NAMES)},
    **{name.lower()[:3]: index for index, name in enumerate(DAY_NAMES)},
    "tues": 1,
    "weds": 2,
    "thur": 3,
    "thurs": 3,
}
_ORDINALS: dict[str, int] = {
    "first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4, "last": -1,
}
_ORDINAL_WORDS = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}
_UNITS: dict[str, str] = {
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), "hour"),
    **dict.fromkeys(("d", "day", "days"), "day"),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), "week"),
    **dict.fromkeys(("m", "mo", "month", "months"), "month"),
    **dict.fromkeys(("y", "yr", "year", "years"), "year"),
}
_AMOUNT = re.compile(r"^(\d{1,6})\s*([a-z]+)$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_UNTIL = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:T\d{6}Z?)?$")
_ALLOWED_FREQS = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
_SUB_DAILY_FREQS = ("HOURLY", "MINUTELY", "SECONDLY")
_SUB_DAILY_PARTS = ("BYHOUR", "BYMINUTE", "BYSECOND")
_MONTHLY_BYDAY = re.compile(r"^([+-]?\d)?(MO|TU|WE|TH|FR|SA|SU)$")

SCHEDULE_EXAMPLES = (
    "daily, weekdays, daily mon,wed,fri, weekly fri, every 2 weeks mon, monthly first monday "
    "or an RRULE such as FREQ=WEEKLY;BYDAY=FR"
)


class InvalidSchedule(ValueError):
    """A schedule, time of day or answer window that prompts cannot follow."""


@dataclass(frozen=True)
class Schedule:
    """An RRULE body without DTSTART (it picks local dates), the local time of day, and how
    long answers stay open."""

    rrule: str
    local_time: time
    window: timedelta

    def describe(self) -> str:
        """Plain English, for example 'every 2 weeks on Monday at 09:00'."""
        parts = _rule_parts(self.rrule)
        count = parts.pop("COUNT", None)
        until = parts.pop("UNTIL", None)
        text = f"{_describe_dates(parts) or f'by the rule {self.rrule}'} at {self.local_time:%H:%M}"
        if count is not None:
            text += ", once" if count == "1" else f", {count} times"
        if until is not None:
            text += f", until {_until_date(until).isoformat()}"
        return text


# --------------------------------------------------------------------------- parsing


def _quoted(text: str, limit: int = 80) -> str:
    return f"'{text.strip()[:limit]}'"


def parse_time_of_day(text: str) -> time:
    """A 24-hour wall-clock time, 'HH:MM' or 'H:MM'."""
    given = (text or "").strip()
    if not given:
        raise InvalidSchedule("a time of day is needed: use 24-hour HH:MM, for example 16:30")
    match = _TIME.match(given)
    if match is None or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise InvalidSchedule(
            f"{_quoted(given, 20)} is not a time of day: use 24-hour HH:MM, for example 16:30"
        )
    return time(int(match.group(1)), int(match.group(2)))


def parse_amount(text: str) -> tuple[int, str] | None:
    """'36h' -> (36, 'hour'), '2 weeks' -> (2, 'week'); None unless a whole number and a unit.

    Units come out as hour, day, week, month or year; 'm' is a month, never a minute.
    """
    match = _AMOUNT.match(" ".join((text or "").lower().split()))
    if match is None or match.group(2) not in _UNITS:
        return None
    return int(match.group(1)), _UNITS[match.group(2)]


def parse_window(text: str) -> timedelta:
    """How long a prompt stays open for answers: '12h', '2d', '1w' or 'until next morning' (16h)."""
    given = " ".join((text or "").lower().split())
    example = "use hours or days, for example 12h, 2d or until next morning"
    if not given:
        raise InvalidSchedule(f"an answer window is needed: {example}")
    if given in ("until next morning", "until the next morning"):
        return UNTIL_NEXT_MORNING
    amount = parse_amount(given)
    if amount is None or amount[1] not in ("hour", "day", "week"):
        raise InvalidSchedule(f"{_quoted(given, 40)} is not an answer window: {example}")
    number, unit = amount
    window = timedelta(**{f"{unit}s": number})
    if not MIN_WINDOW <= window <= MAX_WINDOW:
        raise InvalidSchedule(
            f"an answer window of {_quoted(given, 40)} is out of range: "
            "it must be from 1 hour to 14 days, for example 12h or 2d"
        )
    return window


def parse_schedule(text: str, local_time: str, window: str) -> Schedule:
    return Schedule(parse_rule(text), parse_time_of_day(local_time), parse_window(window))


def parse_rule(text: str) -> str:
    """The RRULE body for what a community owner typed, for example 'weekly fri' -> 'FREQ=WEEKLY;BYDAY=FR'."""
    given = " ".join((text or "").split())
    if not given:
        raise InvalidSchedule(f"a schedule is needed: use {SCHEDULE_EXAMPLES}")
    upper = given.upper()
    if "FREQ=" in upper or upper.startswith(("RRULE:", "DTSTART")):
        return _parse_raw_rule(given)
    return _parse_friendly_rule(given.lower())


def _parse_friendly_rule(given: str) -> str:
    if given in ("daily", "every day"):
        return "FREQ=DAILY"
    if given in ("weekdays", "every weekday", "on weekdays"):
        return _weekly(list(range(5)))
    if match := re.fullmatch(r"(?:daily|every day)(?: on)? (?P<days>.+)", given):
        return _weekly(_parse_days(match["days"], given))
    if match := re.fullmatch(r"(?:weekly|every week)(?:(?: on)? (?P<days>.+))?", given):
        if match["days"] is None:
            raise InvalidSchedule(f"{_quoted(given)} needs a day of the week, for example weekly fri")
        return _weekly(_parse_days(match["days"], given))
    if match := re.fullmatch(r"every (?P<n>\S+) weeks?(?:(?: on)? (?P<days>.+))?", given):
        interval = 2 if match["n"] == "other" else positive_int(match["n"])
        if interval is None or interval > MAX_WEEK_INTERVAL:
            raise InvalidSchedule(
                f"{_quoted(given)}: the number of weeks must be a whole number from 1 to "
                f"{MAX_WEEK_INTERVAL}, for example every 2 weeks mon"
            )
        if match["days"] is None:
            raise InvalidSchedule(
                f"{_quoted(given)} needs a day of the week, for example every {interval} weeks mon"
            )
        return _weekly(_parse_days(match["days"], given), interval)
    if match := re.fullmatch(r"(?:monthly|every month)(?P<rest>.*)", given):
        return _parse_monthly(match["rest"], given)
    raise InvalidSchedule(f"{_quoted(given)} is not a schedule: use {SCHEDULE_EXAMPLES}")


def _parse_monthly(rest: str, given: str) -> str:
    words = [word for word in rest.split() if word not in ("on", "the", "of", "each", "every", "month")]
    if len(words) != 2:
        raise InvalidSchedule(
            f"{_quoted(given)} needs a week of the month and a day, for example monthly first monday"
        )
    ordinal, day = words
    if ordinal not in _ORDINALS:
        raise InvalidSchedule(
            f"{_quoted(ordinal, 20)} is not a week of the month: use first, second, third, fourth "
            "or last, for example monthly last friday"
        )
    days = _parse_days(day, given)
    if len(days) != 1:
        raise InvalidSchedule(
            f"{_quoted(given)} names more than one day: monthly schedules take one, "
            "for example monthly first monday"
        )
    return f"FREQ=MONTHLY;BYDAY={_ORDINALS[ordinal]}{DAY_CODES[days[0]]}"


def _parse_days(text: str, given: str) -> list[int]:
    """'mon,wed,fri', 'mon-fri', 'monday and thursday' -> weekday numbers (Monday is 0), sorted."""
    days: set[int] = set()
    tokens = re.sub(r"\s*[-–]\s*", "-", text).replace(",", " ").split()
    for token in tokens:
        if token in ("and", "&"):
            continue
        first, dash, last = token.partition("-")
        if dash:
            start, end = _day(first, given), _day(last, given)
            days.update((start + step) % 7 for step in range((end - start) % 7 + 1))
        else:
            days.add(_day(token, given))
    if not days:
        raise InvalidSchedule(f"{_quoted(given)} needs a day of the week, for example weekly fri")
    return sorted(days)


def weekday_number(word: str) -> int | None:
    """0 for Monday to 6 for Sunday, from a day's name, its usual short forms or a plural ('fridays'); None
    for any other word."""
    word = word.lower().strip(".")
    if word not in _DAY_ALIASES and word.endswith("s"):
        word = word[:-1]
    return _DAY_ALIASES.get(word)


def _day(word: str, given: str) -> int:
    day = weekday_number(word)
    if day is None:
        raise InvalidSchedule(
            f"{_quoted(word.strip('.'), 20)} in {_quoted(given)} is not a day of the week: "
            "use mon, tue, wed, thu, fri, sat or sun, for example weekly fri"
        )
    return day


def _weekly(days: list[int], interval: int = 1) -> str:
    if len(days) == 7 and interval == 1:
        return "FREQ=DAILY"
    rule = "FREQ=WEEKLY" if interval == 1 else f"FREQ=WEEKLY;INTERVAL={interval}"
    return f"{rule};BYDAY={','.join(DAY_CODES[day] for day in days)}"


def positive_int(text: str) -> int | None:
    """A whole number above 0 in at most 18 ASCII digits (str.isdigit also takes '²', which int() refuses)."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 and int(text) > 0 else None


def _parse_raw_rule(given: str) -> str:
    example = "for example FREQ=WEEKLY;BYDAY=FR"
    body = given.upper().replace(" ", "")
    if body.startswith("RRULE:"):
        body = body[len("RRULE:"):]
    if "DTSTART" in body:
        raise InvalidSchedule(
            f"{_quoted(given)} contains DTSTART: leave it out, the schedule starts the day it is "
            f"created and the time comes from the time field, {example}"
        )
    if ":" in body:
        raise InvalidSchedule(f"{_quoted(given)} is more than one RRULE line: give only the rule, {example}")
    parts = _rule_parts(body)
    freq = parts.get("FREQ")
    if freq in _SUB_DAILY_FREQS or any(name in parts for name in _SUB_DAILY_PARTS):
        raise InvalidSchedule(
            f"{_quoted(given)} fires more than once a day: prompts go out at most daily and the time "
            "comes from the time field, for example FREQ=DAILY"
        )
    if freq not in _ALLOWED_FREQS:
        raise InvalidSchedule(
            f"{_quoted(given)} needs FREQ=DAILY, WEEKLY, MONTHLY or YEARLY, {example}"
        )
    if "COUNT" in parts and "UNTIL" in parts:
        raise InvalidSchedule(f"{_quoted(given)} has both COUNT and UNTIL: use one of them, {example};COUNT=6")
    for name in ("COUNT", "INTERVAL"):
        if name in parts and positive_int(parts[name]) is None:
            raise InvalidSchedule(f"{name}={parts[name]} must be a whole number above 0, {example};{name}=2")
    if "UNTIL" in parts:
        _until_date(parts["UNTIL"])
    canonical = ";".join(f"{name}={value}" for name, value in parts.items())
    if len(canonical) > MAX_RULE_LENGTH:
        raise InvalidSchedule(f"{_quoted(given)} is {len(canonical)} characters long: a rule can be at most "
                              f"{MAX_RULE_LENGTH}, {example}")
    endless = ";".join(f"{name}={value}" for name, value in parts.items() if name not in ("COUNT", "UNTIL"))
    try:
        fires = _ever_fires(endless, _PROBE_ANCHOR)
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise InvalidSchedule(f"{_quoted(given)} is not a valid RRULE ({exc}), {example}") from None
    if not fires:
        raise InvalidSchedule(f"{_quoted(given)} never fires: no date matches every part of it, {example}")
    return canonical


def _rule_parts(body: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for segment in body.split(";"):
        if not segment:
            continue
        name, equals, value = segment.partition("=")
        if not equals or not name or not value:
            raise InvalidSchedule(
                f"{_quoted(segment, 40)} is not NAME=VALUE: write the rule as parts joined by ';', "
                "for example FREQ=WEEKLY;BYDAY=FR"
            )
        if name in parts:
            raise InvalidSchedule(
                f"{name} appears twice in {_quoted(body)}: give each part once, for example FREQ=WEEKLY;BYDAY=FR"
            )
        parts[name] = value
    return parts


def _until_date(value: str) -> date:
    """The last local date on which the rule may fire; a time or Z suffix is ignored."""
    match = _UNTIL.match(value)
    try:
        if match is None:
            raise ValueError
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        raise InvalidSchedule(
            f"UNTIL={value[:30]} is not a date: use YYYYMMDD, for example FREQ=WEEKLY;BYDAY=FR;UNTIL=20261231"
        ) from None


# --------------------------------------------------------------------------- describing


def _describe_dates(parts: dict[str, str]) -> str | None:
    freq = parts.get("FREQ")
    interval = int(parts.get("INTERVAL", "1"))
    days = parts.get("BYDAY", "").split(",") if "BYDAY" in parts else []
    rest = set(parts) - {"FREQ", "INTERVAL", "BYDAY", "WKST"}
    if rest:
        return None
    if freq == "DAILY" and not days:
        return "every day" if interval == 1 else f"every {interval} days"
    if freq in ("DAILY", "WEEKLY") and interval == 1 and sorted(days) == sorted(WEEKDAYS):
        return "on weekdays (Mon–Fri)"
    if freq == "WEEKLY" and all(day in DAY_CODES for day in days):
        names = _join_names([DAY_NAMES[DAY_CODES.index(day)] for day in sorted(days, key=DAY_CODES.index)])
        if interval == 1:
            return f"every {names}" if names else "every week"
        return f"every {interval} weeks on {names}" if names else f"every {interval} weeks"
    if freq == "MONTHLY" and len(days) == 1 and (match := _MONTHLY_BYDAY.match(days[0])):
        ordinal = int(match.group(1) or 0)
        if ordinal in _ORDINAL_WORDS:
            period = "each month" if interval == 1 else f"every {interval} months"
            return f"on the {_ORDINAL_WORDS[ordinal]} {DAY_NAMES[DAY_CODES.index(match.group(2))]} of {period}"
    return None


def _join_names(names: list[str]) -> str:
    if len(names) < 2:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


# --------------------------------------------------------------------------- evaluating


def _dateutil_rule(body: str, anchor: date) -> rrule:
    parsed = rrulestr(body, dtstart=datetime.combine(anchor, time(0)))
    if not isinstance(parsed, rrule):
        raise InvalidSchedule("give one rule, not a set of rules")
    return parsed


@lru_cache(maxsize=1024)
def _ever_fires(body: str, anchor: date) -> bool:
    """Whether a rule without COUNT or UNTIL fires at all from anchor.

    dateutil searches up to the year 9999 before giving up on a rule that matches no date
    (Feb 30), which takes seconds, and UNTIL does not stop that search. The Gregorian calendar
    repeats every 400 years, weekdays included, so the same question asked from the same date
    in the last such cycle before 9999 has the same answer and is settled within 430 years.
    """
    shifted = anchor.replace(year=anchor.year + 400 * ((_LAST_PROBE_YEAR - anchor.year) // 400))
    return next(iter(_dateutil_rule(body, shifted)), None) is not None


def _fire_dates(schedule: Schedule, anchor: date, last: date) -> Iterator[date]:
    """Local dates on which the schedule fires, from anchor through last.

    DTSTART is the anchor. Weekly rules without an explicit WKST start their weeks on the
    anchor's weekday, so 'every 2 weeks mon' created on a Wednesday first fires the coming
    Monday (RFC 5545's default WKST=MO would skip it and wait twelve days).
    """
    parts = _rule_parts(schedule.rrule)
    count = parts.pop("COUNT", None)
    until = parts.pop("UNTIL", None)
    if until is not None:
        last = min(last, _until_date(until))
    if parts.get("FREQ") == "WEEKLY":
        parts.setdefault("WKST", DAY_CODES[anchor.weekday()])
    body = ";".join(f"{name}={value}" for name, value in parts.items())
    if last < anchor or not _ever_fires(body, anchor):
        return iter(())
    fired = (moment.date() for moment in _dateutil_rule(f"{body};UNTIL={last:%Y%m%d}T235959", anchor))
    return islice(fired, int(count)) if count is not None else fired


def local_to_utc(local_date: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time in tz.

    A time the clocks spring forward over moves forward by the gap (02:30 -> 03:30); a time
    that happens twice when they fall back is the first of the two. Both follow from PEP 495
    with fold=0.
    """
    wall = datetime.combine(local_date, at.replace(tzinfo=None, fold=0)).replace(tzinfo=tz)
    return wall.astimezone(UTC)


def local_day(day: date, now: datetime, tz: ZoneInfo) -> str:
    """'Mon 16 Nov', with the year only when it is not this year in tz."""
    return f"{day:%a %d %b}" if day.year == now.astimezone(tz).year else f"{day:%a %d %b %Y}"


def at_local_time(at: time, zone: str) -> str:
    """'at 04:00 (America/New_York)': a wall-clock time with the zone it is read in."""
    return f"at {at:%H:%M} ({zone})"


def local_moment(moment: datetime, tz: ZoneInfo, now: datetime) -> str:
    """'Mon 16 Nov at 04:00 (America/New_York)': how every message gives a moment, in someone's own zone."""
    local = moment.astimezone(tz)
    return f"{local_day(local.date(), now, tz)} {at_local_time(local.time(), tz.key)}"


def occurrence_key(local_date: date) -> str:
    return local_date.isoformat()


def local_occurrences(schedule: Schedule, anchor: date, start_date: date, end_date: date) -> list[date]:
    """Local dates in [start_date, end_date) on which the schedule fires, whatever the timezone."""
    if end_date <= start_date:
        return []
    return [day for day in _fire_dates(schedule, anchor, end_date - timedelta(days=1)) if day >= start_date]


def next_local_date(schedule: Schedule, anchor: date, after: date) -> date | None:
    """The first date after `after` on which the schedule fires; None once it has ended
    (COUNT or UNTIL) or when it does not fire within SEARCH_HORIZON (nor by the calendar's last date)."""
    start = max(after, anchor)
    horizon = start + SEARCH_HORIZON if start <= date.max - SEARCH_HORIZON else date.max
    return next((day for day in _fire_dates(schedule, anchor, horizon) if day > after), None)


def still_open_or_to_come(schedule: Schedule, anchor: date, tz: ZoneInfo, now: datetime) -> bool:
    """Whether the schedule has an occurrence whose answers are still open at `now`, or one to come: a prompt
    due yesterday with a two-day window is still sent."""
    day: date | None = (now - schedule.window).astimezone(tz).date() - timedelta(days=1)
    while day is not None and (day := next_local_date(schedule, anchor, day)) is not None:
        try:
            if due_at(schedule, day, tz) + schedule.window > now:
                return True
        except OverflowError:  # answers closing after the calendar's last date are still to come
            return True
    return False


def due_at(schedule: Schedule, local_date: date, tz: ZoneInfo) -> datetime:
    return local_to_utc(local_date, schedule.local_time, tz)


def occurrences(
    schedule: Schedule, tz: ZoneInfo, start: datetime, end: datetime, anchor: date
) -> list[datetime]:
    """UTC instants in [start, end) at which a person in tz is due a prompt."""
    require_aware(start, "start")
    require_aware(end, "end")
    first = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date() + timedelta(days=1)
    instants = (due_at(schedule, day, tz) for day in local_occurrences(schedule, anchor, first, last))
    return [instant for instant in instants if start <= instant < end]


def require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(
            f"{name} must be timezone-aware, for example datetime(2026, 11, 6, 15, 30, tzinfo=timezone.utc)"
        )
