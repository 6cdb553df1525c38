"""Prompt schedules: what owners may type, how it reads back, and when it fires where."""

from __future__ import annotations

import re
import time as wallclock
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from learnloop.domain.schedules import (
    MAX_RULE_LENGTH,
    MAX_WINDOW,
    MIN_WINDOW,
    UNTIL_NEXT_MORNING,
    InvalidSchedule,
    Schedule,
    due_at,
    local_moment,
    local_occurrences,
    local_to_utc,
    next_local_date,
    occurrence_key,
    occurrences,
    parse_amount,
    parse_rule,
    parse_schedule,
    parse_time_of_day,
    parse_window,
    still_open_or_to_come,
)

UTC = UTC
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
KIRITIMATI = ZoneInfo("Pacific/Kiritimati")  # UTC+14
HONOLULU = ZoneInfo("Pacific/Honolulu")  # UTC-10
ANCHOR = date(2026, 11, 4)  # a Wednesday


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def schedule(rule: str, at: time = time(16, 30), window: timedelta = timedelta(hours=12)) -> Schedule:
    return Schedule(rule, at, window)


# --------------------------------------------------------------------------- parse_rule: accepted


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("daily", "FREQ=DAILY"),
        ("every day", "FREQ=DAILY"),
        ("  Daily ", "FREQ=DAILY"),
        ("weekdays", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"),
        ("every weekday", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"),
        ("daily mon,wed,fri", "FREQ=WEEKLY;BYDAY=MO,WE,FR"),
        ("daily fri, mon, wed", "FREQ=WEEKLY;BYDAY=MO,WE,FR"),
        ("daily mon-fri", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"),
        ("daily mon - fri", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"),
        ("daily mon–fri", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"),
        ("daily sat-sun", "FREQ=WEEKLY;BYDAY=SA,SU"),
        ("daily fri-mon", "FREQ=WEEKLY;BYDAY=MO,FR,SA,SU"),
        ("daily mon-sun", "FREQ=DAILY"),
        ("every day on tue,thu", "FREQ=WEEKLY;BYDAY=TU,TH"),
        ("weekly fri", "FREQ=WEEKLY;BYDAY=FR"),
        ("weekly friday", "FREQ=WEEKLY;BYDAY=FR"),
        ("Weekly FRIDAY", "FREQ=WEEKLY;BYDAY=FR"),
        ("weekly on fridays", "FREQ=WEEKLY;BYDAY=FR"),
        ("every week on thurs", "FREQ=WEEKLY;BYDAY=TH"),
        ("weekly tues", "FREQ=WEEKLY;BYDAY=TU"),
        ("weekly weds", "FREQ=WEEKLY;BYDAY=WE"),
        ("weekly thur", "FREQ=WEEKLY;BYDAY=TH"),
        ("weekly sat", "FREQ=WEEKLY;BYDAY=SA"),
        ("weekly sunday", "FREQ=WEEKLY;BYDAY=SU"),
        ("weekly mon and thu", "FREQ=WEEKLY;BYDAY=MO,TH"),
        ("weekly mon,mon", "FREQ=WEEKLY;BYDAY=MO"),
        ("every 2 weeks mon", "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO"),
        ("every 3 weeks on tuesday", "FREQ=WEEKLY;INTERVAL=3;BYDAY=TU"),
        ("every 2 week mon", "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO"),
        ("every other week mon, thu", "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH"),
        ("every 1 weeks fri", "FREQ=WEEKLY;BYDAY=FR"),
        ("every 52 weeks fri", "FREQ=WEEKLY;INTERVAL=52;BYDAY=FR"),
        ("monthly first monday", "FREQ=MONTHLY;BYDAY=1MO"),
        ("monthly 1st mon", "FREQ=MONTHLY;BYDAY=1MO"),
        ("monthly last friday", "FREQ=MONTHLY;BYDAY=-1FR"),
        ("monthly 2nd wednesday", "FREQ=MONTHLY;BYDAY=2WE"),
        ("monthly second wed", "FREQ=MONTHLY;BYDAY=2WE"),
        ("monthly third thursday", "FREQ=MONTHLY;BYDAY=3TH"),
        ("monthly 3rd thu", "FREQ=MONTHLY;BYDAY=3TH"),
        ("monthly fourth tue", "FREQ=MONTHLY;BYDAY=4TU"),
        ("monthly 4th tuesday", "FREQ=MONTHLY;BYDAY=4TU"),
        ("monthly on the last friday of the month", "FREQ=MONTHLY;BYDAY=-1FR"),
        ("every month on the first monday", "FREQ=MONTHLY;BYDAY=1MO"),
    ],
)
def test_parse_rule_accepts_each_friendly_form(text: str, rule: str) -> None:
    assert parse_rule(text) == rule


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("RRULE:FREQ=WEEKLY;BYDAY=FR", "FREQ=WEEKLY;BYDAY=FR"),
        ("FREQ=WEEKLY;BYDAY=FR", "FREQ=WEEKLY;BYDAY=FR"),
        ("rrule:freq=weekly;byday=fr", "FREQ=WEEKLY;BYDAY=FR"),
        (" FREQ=WEEKLY; BYDAY=FR ", "FREQ=WEEKLY;BYDAY=FR"),
        ("FREQ=WEEKLY;BYDAY=FR;", "FREQ=WEEKLY;BYDAY=FR"),
        ("FREQ=DAILY", "FREQ=DAILY"),
        ("FREQ=DAILY;INTERVAL=3", "FREQ=DAILY;INTERVAL=3"),
        ("FREQ=MONTHLY;BYMONTHDAY=15", "FREQ=MONTHLY;BYMONTHDAY=15"),
        ("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1"),
        ("FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=31", "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=31"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29"),
        ("FREQ=WEEKLY;BYDAY=FR;COUNT=3", "FREQ=WEEKLY;BYDAY=FR;COUNT=3"),
        ("FREQ=WEEKLY;BYDAY=FR;UNTIL=20261231", "FREQ=WEEKLY;BYDAY=FR;UNTIL=20261231"),
        ("FREQ=WEEKLY;BYDAY=FR;UNTIL=20261231T000000Z", "FREQ=WEEKLY;BYDAY=FR;UNTIL=20261231T000000Z"),
        ("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO;WKST=SU", "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO;WKST=SU"),
    ],
)
def test_parse_rule_accepts_raw_rrules_in_canonical_form(text: str, rule: str) -> None:
    assert parse_rule(text) == rule


# --------------------------------------------------------------------------- parse_rule: rejected


RULE_EXAMPLE = "FREQ=WEEKLY;BYDAY=FR"
SCHEDULE_HINT = "use daily, weekdays, daily mon,wed,fri, weekly fri, every 2 weeks mon, monthly first monday"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", f"^a schedule is needed: {SCHEDULE_HINT}"),
        ("   ", "^a schedule is needed"),
        ("fortnightly", f"^'fortnightly' is not a schedule: {SCHEDULE_HINT} or an RRULE such as {RULE_EXAMPLE}$"),
        ("every friday", "^'every friday' is not a schedule"),
        ("hourly", "^'hourly' is not a schedule"),
        ("weekly", "^'weekly' needs a day of the week, for example weekly fri$"),
        ("every week", "^'every week' needs a day of the week, for example weekly fri$"),
        ("weekly fry", "^'fry' in 'weekly fry' is not a day of the week: use mon, tue, wed, thu, fri, sat or sun, "
         "for example weekly fri$"),
        ("daily mon,funday", "^'funday' in 'daily mon,funday' is not a day of the week"),
        ("daily mon-xyz", "^'xyz' in 'daily mon-xyz' is not a day of the week"),
        ("daily and", "needs a day of the week, for example weekly fri"),
        ("every 2 weeks", "^'every 2 weeks' needs a day of the week, for example every 2 weeks mon$"),
        ("every 0 weeks mon", "^'every 0 weeks mon': the number of weeks must be a whole number from 1 to 52, "
         "for example every 2 weeks mon$"),
        ("every 53 weeks mon", "number of weeks must be a whole number from 1 to 52"),
        ("every two weeks mon", "number of weeks must be a whole number from 1 to 52"),
        ("every -1 weeks mon", "number of weeks must be a whole number from 1 to 52"),
        ("monthly", "^'monthly' needs a week of the month and a day, for example monthly first monday$"),
        ("monthly first", "^'monthly first' needs a week of the month and a day"),
        ("monthly 5th monday", "^'5th' is not a week of the month: use first, second, third, fourth or last, "
         "for example monthly last friday$"),
        ("monthly fifth monday", "^'fifth' is not a week of the month"),
        ("monthly first funday", "^'funday' in 'monthly first funday' is not a day of the week"),
        ("monthly first mon,tue", "names more than one day: monthly schedules take one, for example monthly first"),
    ],
)
def test_parse_rule_rejects_friendly_forms_it_cannot_follow(text: str, message: str) -> None:
    with pytest.raises(InvalidSchedule, match=message):
        parse_rule(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FREQ=HOURLY", "^'FREQ=HOURLY' fires more than once a day: prompts go out at most daily"),
        ("FREQ=MINUTELY;INTERVAL=30", "fires more than once a day"),
        ("FREQ=SECONDLY;COUNT=5", "fires more than once a day"),
        ("FREQ=HOURLY;UNTIL=20261231", "fires more than once a day"),
        ("FREQ=DAILY;BYHOUR=9,17", "more than once a day: .* comes from the time field, for example FREQ=DAILY$"),
        ("FREQ=WEEKLY;BYDAY=FR;BYMINUTE=0,30", "fires more than once a day"),
        ("FREQ=DAILY;BYSECOND=0", "fires more than once a day"),
        ("DTSTART:20260101T090000\nRRULE:FREQ=DAILY", "contains DTSTART: leave it out, the schedule starts"),
        ("FREQ=DAILY;DTSTART=20260101T090000", "contains DTSTART"),
        ("RRULE:FREQ=DAILY\nEXDATE:20261225", "is more than one RRULE line: give only the rule"),
        ("FREQ=FORTNIGHTLY", "^'FREQ=FORTNIGHTLY' needs FREQ=DAILY, WEEKLY, MONTHLY or YEARLY"),
        ("RRULE:BYDAY=FR;FREQ", "^'FREQ' is not NAME=VALUE: write the rule as parts joined by ';'"),
        ("FREQ=WEEKLY;BYDAY", "^'BYDAY' is not NAME=VALUE"),
        ("FREQ=WEEKLY;BYDAY=", "^'BYDAY=' is not NAME=VALUE"),
        ("FREQ=WEEKLY;BYDAY=FR;BYDAY=MO", "^BYDAY appears twice in 'FREQ=WEEKLY;BYDAY=FR;BYDAY=MO': give each part"),
        ("FREQ=WEEKLY;BYDAY=XX", r"is not a valid RRULE \(invalid 'BYDAY': XX\)"),
        ("FREQ=WEEKLY;COLOUR=RED", r"is not a valid RRULE \(unknown parameter 'COLOUR'\)"),
        ("FREQ=WEEKLY;BYDAY=FR;COUNT=2;UNTIL=20261231", "has both COUNT and UNTIL: use one of them"),
        ("FREQ=WEEKLY;INTERVAL=0", f"^INTERVAL=0 must be a whole number above 0, for example {RULE_EXAMPLE};INTER"),
        ("FREQ=WEEKLY;INTERVAL=two", "^INTERVAL=TWO must be a whole number above 0"),
        ("FREQ=WEEKLY;COUNT=0", f"^COUNT=0 must be a whole number above 0, for example {RULE_EXAMPLE};COUNT=2$"),
        ("FREQ=WEEKLY;UNTIL=2026", f"^UNTIL=2026 is not a date: use YYYYMMDD, for example {RULE_EXAMPLE};UNTIL=2026"),
        ("FREQ=WEEKLY;UNTIL=20261332", "^UNTIL=20261332 is not a date"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "never fires: no date matches every part of it"),
        ("FREQ=DAILY;BYMONTH=4;BYMONTHDAY=31", "never fires"),
    ],
)
def test_parse_rule_rejects_raw_rrules_it_cannot_follow_and_shows_a_valid_one(text: str, message: str) -> None:
    with pytest.raises(InvalidSchedule, match=message) as error:
        parse_rule(text)
    assert re.search(r", for example FREQ=[A-Z]+(;[A-Z]+=[-+\w,]+)*$", str(error.value))


def test_a_rule_that_never_fires_is_rejected_quickly() -> None:
    # dateutil alone would search day by day up to the year 9999 (seconds); see _ever_fires.
    started = wallclock.perf_counter()
    with pytest.raises(InvalidSchedule, match="never fires"):
        parse_rule("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30")
    assert wallclock.perf_counter() - started < 2.0


def yearly_rule(length: int) -> str:
    """A valid RRULE of exactly `length` characters: days of the year, the first zero-padded to fit."""
    rule, day = "FREQ=YEARLY;BYYEARDAY=1", 2
    while len(rule) + len(f",{day}") <= length:
        rule, day = rule + f",{day}", day + 1
    return rule.replace("=1,", "=" + "1".zfill(1 + length - len(rule)) + ",", 1)


def test_a_rule_of_the_longest_length_a_schedule_keeps_is_accepted() -> None:
    rule = yearly_rule(MAX_RULE_LENGTH)
    assert len(rule) == MAX_RULE_LENGTH == 300 and parse_rule(rule) == rule


def test_a_rule_longer_than_a_schedule_keeps_is_rejected() -> None:
    """prompt_schedules.rrule is String(300): a longer rule was a 500 on PostgreSQL."""
    with pytest.raises(InvalidSchedule, match="is 301 characters long: a rule can be at most 300, for example"):
        parse_rule(yearly_rule(MAX_RULE_LENGTH + 1))


def test_error_messages_quote_long_input_only_in_part() -> None:
    with pytest.raises(InvalidSchedule) as error:
        parse_rule("x" * 500)
    assert "x" * 81 not in str(error.value)


def test_invalid_schedule_is_a_value_error() -> None:
    assert issubclass(InvalidSchedule, ValueError)


# --------------------------------------------------------------------------- parse_time_of_day


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("16:30", time(16, 30)),
        ("09:05", time(9, 5)),
        ("9:05", time(9, 5)),
        ("0:00", time(0, 0)),
        ("00:00", time(0, 0)),
        ("23:59", time(23, 59)),
        (" 07:45 ", time(7, 45)),
    ],
)
def test_parse_time_of_day_accepts_24_hour_times(text: str, expected: time) -> None:
    assert parse_time_of_day(text) == expected


@pytest.mark.parametrize(
    "text",
    ["25:00", "24:00", "16.30", "4pm", "4:30pm", "16:60", "1630", "16:3", "016:30", "-1:00", "noon", "16:30:00"],
)
def test_parse_time_of_day_rejects_anything_but_24_hour_hh_mm(text: str) -> None:
    message = rf"^'{text}' is not a time of day: use 24-hour HH:MM, for example 16:30$"
    with pytest.raises(InvalidSchedule, match=message):
        parse_time_of_day(text)


def test_parse_time_of_day_gives_the_exact_message_from_the_brief() -> None:
    with pytest.raises(InvalidSchedule) as error:
        parse_time_of_day("4pm")
    assert str(error.value) == "'4pm' is not a time of day: use 24-hour HH:MM, for example 16:30"


@pytest.mark.parametrize("text", ["", "  "])
def test_parse_time_of_day_asks_for_a_time_when_empty(text: str) -> None:
    with pytest.raises(InvalidSchedule, match="^a time of day is needed: use 24-hour HH:MM, for example 16:30$"):
        parse_time_of_day(text)


# --------------------------------------------------------------------------- parse_amount / parse_window


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("36h", (36, "hour")),
        ("36 hours", (36, "hour")),
        ("1 hr", (1, "hour")),
        ("2d", (2, "day")),
        ("10 days", (10, "day")),
        ("1 Day", (1, "day")),
        ("2w", (2, "week")),
        ("2 weeks", (2, "week")),
        ("1m", (1, "month")),
        ("3 months", (3, "month")),
        ("1y", (1, "year")),
        ("  2   weeks ", (2, "week")),
    ],
)
def test_parse_amount_reads_a_number_and_a_unit(text: str, expected: tuple[int, str]) -> None:
    assert parse_amount(text) == expected


@pytest.mark.parametrize("text", ["", "2", "d", "2.5d", "-2d", "two days", "2 fortnights", "2d3h", "90min"])
def test_parse_amount_is_none_for_anything_else(text: str) -> None:
    assert parse_amount(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12h", timedelta(hours=12)),
        ("1h", timedelta(hours=1)),
        ("1d", timedelta(days=1)),
        ("2d", timedelta(days=2)),
        ("36h", timedelta(hours=36)),
        ("36 hours", timedelta(hours=36)),
        ("3 days", timedelta(days=3)),
        ("1w", timedelta(days=7)),
        ("2 weeks", timedelta(days=14)),
        ("14d", timedelta(days=14)),
        ("336h", timedelta(days=14)),
        ("until next morning", timedelta(hours=16)),
        ("Until  next morning", timedelta(hours=16)),
        ("until the next morning", timedelta(hours=16)),
    ],
)
def test_parse_window_accepts_hours_days_and_until_next_morning(text: str, expected: timedelta) -> None:
    assert parse_window(text) == expected


def test_window_bounds() -> None:
    assert (timedelta(hours=1), timedelta(days=14)) == (MIN_WINDOW, MAX_WINDOW)
    assert timedelta(hours=16) == UNTIL_NEXT_MORNING


@pytest.mark.parametrize("text", ["0h", "0 hours", "0d", "15d", "337h", "3w"])
def test_parse_window_rejects_windows_out_of_range(text: str) -> None:
    with pytest.raises(
        InvalidSchedule,
        match=rf"^an answer window of '{text}' is out of range: "
        r"it must be from 1 hour to 14 days, for example 12h or 2d$",
    ):
        parse_window(text)


@pytest.mark.parametrize("text", ["forever", "12", "1m", "1 month", "90min", "1.5d", "tomorrow", "until tomorrow"])
def test_parse_window_rejects_what_is_not_a_window(text: str) -> None:
    with pytest.raises(
        InvalidSchedule,
        match=rf"^'{text}' is not an answer window: use hours or days, for example 12h, 2d or until next morning$",
    ):
        parse_window(text)


def test_parse_window_asks_for_a_window_when_empty() -> None:
    with pytest.raises(InvalidSchedule, match="^an answer window is needed: use hours or days"):
        parse_window("")


# --------------------------------------------------------------------------- parse_schedule / describe


def test_parse_schedule_builds_a_schedule() -> None:
    expected = Schedule("FREQ=WEEKLY;BYDAY=FR", time(16, 30), timedelta(days=2))
    assert parse_schedule("weekly fri", "16:30", "2d") == expected


@pytest.mark.parametrize(
    ("rule", "at", "window", "message"),
    [
        ("weekly fry", "16:30", "2d", "is not a day of the week"),
        ("weekly fri", "4pm", "2d", "'4pm' is not a time of day"),
        ("weekly fri", "16:30", "3 weeks", "is out of range"),
    ],
)
def test_parse_schedule_reports_the_field_that_is_wrong(rule: str, at: str, window: str, message: str) -> None:
    with pytest.raises(InvalidSchedule, match=message):
        parse_schedule(rule, at, window)


@pytest.mark.parametrize(
    ("text", "at", "description"),
    [
        ("weekly fri", "16:30", "every Friday at 16:30"),
        ("every 2 weeks mon", "9:00", "every 2 weeks on Monday at 09:00"),
        ("monthly first monday", "10:00", "on the first Monday of each month at 10:00"),
        ("weekdays", "17:00", "on weekdays (Mon–Fri) at 17:00"),
        ("daily mon-fri", "17:00", "on weekdays (Mon–Fri) at 17:00"),
        ("daily", "08:15", "every day at 08:15"),
        ("daily mon,wed,fri", "12:00", "every Monday, Wednesday and Friday at 12:00"),
        ("weekly tue,thu", "12:00", "every Tuesday and Thursday at 12:00"),
        ("daily sat-sun", "10:00", "every Saturday and Sunday at 10:00"),
        ("every 3 weeks on tuesday", "14:00", "every 3 weeks on Tuesday at 14:00"),
        ("every other week mon, thu", "14:00", "every 2 weeks on Monday and Thursday at 14:00"),
        ("monthly last friday", "16:00", "on the last Friday of each month at 16:00"),
        ("monthly 2nd wednesday", "11:30", "on the second Wednesday of each month at 11:30"),
        ("monthly third thu", "11:30", "on the third Thursday of each month at 11:30"),
        ("monthly 4th sun", "11:30", "on the fourth Sunday of each month at 11:30"),
        ("FREQ=DAILY;INTERVAL=3", "07:00", "every 3 days at 07:00"),
        ("FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR", "17:00", "on weekdays (Mon–Fri) at 17:00"),
        ("FREQ=WEEKLY", "07:00", "every week at 07:00"),
        ("FREQ=WEEKLY;INTERVAL=2", "07:00", "every 2 weeks at 07:00"),
        ("FREQ=MONTHLY;INTERVAL=3;BYDAY=1MO", "10:00", "on the first Monday of every 3 months at 10:00"),
        ("FREQ=WEEKLY;BYDAY=FR;COUNT=3", "16:30", "every Friday at 16:30, 3 times"),
        ("FREQ=WEEKLY;BYDAY=FR;COUNT=1", "16:30", "every Friday at 16:30, once"),
        ("FREQ=WEEKLY;BYDAY=FR;UNTIL=20261231", "16:30", "every Friday at 16:30, until 2026-12-31"),
        ("FREQ=MONTHLY;BYMONTHDAY=15", "10:00", "by the rule FREQ=MONTHLY;BYMONTHDAY=15 at 10:00"),
        ("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", "10:00",
         "by the rule FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1 at 10:00"),
    ],
)
def test_describe_reads_back_in_plain_english(text: str, at: str, description: str) -> None:
    assert parse_schedule(text, at, "12h").describe() == description


# --------------------------------------------------------------------------- local dates


def fire_dates(rule: str, anchor: date, start: date, end: date) -> list[date]:
    return local_occurrences(schedule(parse_rule(rule)), anchor, start, end)


def test_occurrence_key_is_the_iso_date() -> None:
    assert occurrence_key(date(2026, 11, 6)) == "2026-11-06"
    assert occurrence_key(date(2027, 1, 1)) == "2027-01-01"


def test_local_occurrences_of_weekly_friday() -> None:
    assert fire_dates("weekly fri", ANCHOR, date(2026, 11, 1), date(2026, 12, 1)) == [
        date(2026, 11, 6), date(2026, 11, 13), date(2026, 11, 20), date(2026, 11, 27),
    ]


def test_local_occurrences_are_half_open() -> None:
    assert fire_dates("weekly fri", ANCHOR, date(2026, 11, 6), date(2026, 11, 13)) == [date(2026, 11, 6)]
    assert fire_dates("weekly fri", ANCHOR, date(2026, 11, 7), date(2026, 11, 7)) == []
    assert fire_dates("weekly fri", ANCHOR, date(2026, 11, 20), date(2026, 11, 6)) == []


def test_local_occurrences_never_come_before_the_anchor() -> None:
    assert fire_dates("daily", ANCHOR, date(2026, 11, 1), date(2026, 11, 7)) == [
        date(2026, 11, 4), date(2026, 11, 5), date(2026, 11, 6),
    ]


def test_local_occurrences_of_weekdays_skip_the_weekend() -> None:
    assert fire_dates("weekdays", ANCHOR, date(2026, 11, 4), date(2026, 11, 12)) == [
        date(2026, 11, 4), date(2026, 11, 5), date(2026, 11, 6),
        date(2026, 11, 9), date(2026, 11, 10), date(2026, 11, 11),
    ]


def test_local_occurrences_of_chosen_days() -> None:
    assert fire_dates("daily mon,wed,fri", ANCHOR, date(2026, 11, 4), date(2026, 11, 14)) == [
        date(2026, 11, 4), date(2026, 11, 6), date(2026, 11, 9), date(2026, 11, 11), date(2026, 11, 13),
    ]


# ---- every N weeks: the weeks are counted from the anchor, and the first one starts on it


@pytest.mark.parametrize(
    ("anchor", "expected"),
    [
        # created on Wednesday 4 November: the coming Monday, then every other Monday
        (date(2026, 11, 4), [date(2026, 11, 9), date(2026, 11, 23), date(2026, 12, 7), date(2026, 12, 21)]),
        # created on a Monday: that very Monday counts
        (date(2026, 11, 9), [date(2026, 11, 9), date(2026, 11, 23), date(2026, 12, 7), date(2026, 12, 21)]),
        # created a day later: the other set of Mondays
        (date(2026, 11, 10), [date(2026, 11, 16), date(2026, 11, 30), date(2026, 12, 14), date(2026, 12, 28)]),
        # created on Sunday 8 November: the next day
        (date(2026, 11, 8), [date(2026, 11, 9), date(2026, 11, 23), date(2026, 12, 7), date(2026, 12, 21)]),
    ],
)
def test_every_two_weeks_is_anchored_on_the_creation_date(anchor: date, expected: list[date]) -> None:
    assert fire_dates("every 2 weeks mon", anchor, date(2026, 11, 1), date(2027, 1, 1)) == expected


def test_every_two_weeks_on_two_days_counts_weeks_from_the_anchor_weekday() -> None:
    # Created Wednesday: weeks run Wednesday to Tuesday, so Thursday 5 and Monday 9 share one.
    assert fire_dates("every 2 weeks mon,thu", ANCHOR, date(2026, 11, 1), date(2026, 12, 1)) == [
        date(2026, 11, 5), date(2026, 11, 9), date(2026, 11, 19), date(2026, 11, 23),
    ]


def test_every_three_weeks() -> None:
    assert fire_dates("every 3 weeks on tuesday", ANCHOR, date(2026, 11, 1), date(2027, 1, 1)) == [
        date(2026, 11, 10), date(2026, 12, 1), date(2026, 12, 22),
    ]


def test_an_explicit_wkst_keeps_rfc_5545_week_counting() -> None:
    # With WKST=MO the week of Wednesday 4 November starts Monday 2, which is before DTSTART.
    assert fire_dates("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO;WKST=MO", ANCHOR, date(2026, 11, 1), date(2026, 12, 1)) == [
        date(2026, 11, 16), date(2026, 11, 30),
    ]


def test_every_two_weeks_keeps_its_rhythm_years_later() -> None:
    dates = fire_dates("every 2 weeks mon", ANCHOR, date(2029, 1, 1), date(2029, 2, 1))
    assert all((day - date(2026, 11, 9)).days % 14 == 0 for day in dates)
    assert dates == [date(2029, 1, 1), date(2029, 1, 15), date(2029, 1, 29)]


# ---- monthly


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("monthly first monday", [date(2026, 11, 2), date(2026, 12, 7), date(2027, 1, 4), date(2027, 2, 1)]),
        ("monthly last friday", [date(2026, 11, 27), date(2026, 12, 25), date(2027, 1, 29), date(2027, 2, 26)]),
        ("monthly 2nd wednesday", [date(2026, 11, 11), date(2026, 12, 9), date(2027, 1, 13), date(2027, 2, 10)]),
        ("monthly fourth monday", [date(2026, 11, 23), date(2026, 12, 28), date(2027, 1, 25), date(2027, 2, 22)]),
    ],
)
def test_monthly_weekdays_across_months(rule: str, expected: list[date]) -> None:
    assert fire_dates(rule, date(2026, 11, 1), date(2026, 11, 1), date(2027, 3, 1)) == expected


def test_monthly_first_monday_created_after_it_starts_next_month() -> None:
    assert fire_dates("monthly first monday", ANCHOR, date(2026, 11, 1), date(2027, 1, 1)) == [date(2026, 12, 7)]


def test_monthly_last_friday_in_a_leap_february() -> None:
    leap_february = fire_dates("monthly last friday", date(2028, 2, 1), date(2028, 2, 1), date(2028, 3, 1))
    assert leap_february == [date(2028, 2, 25)]


# ---- COUNT and UNTIL


def test_count_counts_from_the_anchor() -> None:
    rule = schedule("FREQ=WEEKLY;BYDAY=FR;COUNT=3")
    # 6, 13 and 20 November; the first is before the range.
    dates = local_occurrences(rule, ANCHOR, date(2026, 11, 10), date(2027, 1, 1))
    assert dates == [date(2026, 11, 13), date(2026, 11, 20)]


def test_until_is_the_last_local_date_inclusive_whatever_its_time() -> None:
    for until in ("20261127", "20261127T000000Z", "20261127T235959"):
        rule = schedule(f"FREQ=WEEKLY;BYDAY=FR;UNTIL={until}")
        assert local_occurrences(rule, ANCHOR, date(2026, 11, 1), date(2027, 1, 1))[-1] == date(2026, 11, 27)


def test_until_before_the_anchor_fires_never() -> None:
    rule = schedule("FREQ=WEEKLY;BYDAY=FR;UNTIL=20260101")
    assert local_occurrences(rule, ANCHOR, date(2026, 1, 1), date(2027, 1, 1)) == []


def test_a_rule_that_cannot_fire_from_its_anchor_gives_nothing_quickly() -> None:
    # Every 12 months in February fires only if counting starts in a February.
    rule = schedule("FREQ=MONTHLY;INTERVAL=12;BYMONTH=2")
    started = wallclock.perf_counter()
    assert local_occurrences(rule, date(2026, 1, 5), date(2026, 1, 1), date(2036, 1, 1)) == []
    assert next_local_date(rule, date(2026, 1, 5), date(2026, 1, 1)) is None
    assert wallclock.perf_counter() - started < 2.0
    from_february = local_occurrences(rule, date(2026, 2, 5), date(2026, 1, 1), date(2028, 1, 1))
    assert from_february == [date(2026, 2, 5), date(2027, 2, 5)]


# ---- next_local_date


@pytest.mark.parametrize(
    ("rule", "after", "expected"),
    [
        ("weekly fri", date(2026, 11, 4), date(2026, 11, 6)),
        ("weekly fri", date(2026, 11, 6), date(2026, 11, 13)),
        ("weekly fri", date(2026, 11, 1), date(2026, 11, 6)),
        ("daily", date(2026, 11, 4), date(2026, 11, 5)),
        ("daily", date(2026, 10, 1), date(2026, 11, 4)),
        ("weekdays", date(2026, 11, 6), date(2026, 11, 9)),
        ("every 2 weeks mon", date(2026, 11, 9), date(2026, 11, 23)),
        ("monthly last friday", date(2026, 11, 27), date(2026, 12, 25)),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", date(2026, 11, 4), date(2028, 2, 29)),
    ],
)
def test_next_local_date(rule: str, after: date, expected: date) -> None:
    assert next_local_date(schedule(parse_rule(rule)), ANCHOR, after) == expected


def test_next_local_date_is_none_once_the_schedule_has_ended() -> None:
    assert next_local_date(schedule("FREQ=WEEKLY;BYDAY=FR;COUNT=2"), ANCHOR, date(2026, 11, 13)) is None
    assert next_local_date(schedule("FREQ=WEEKLY;BYDAY=FR;COUNT=2"), ANCHOR, date(2026, 11, 12)) == date(2026, 11, 13)
    assert next_local_date(schedule("FREQ=WEEKLY;BYDAY=FR;UNTIL=20261120"), ANCHOR, date(2026, 11, 20)) is None


def test_the_calendars_last_dates_are_searched_without_overflowing() -> None:
    """Less than SEARCH_HORIZON before date.max, the search ends at date.max instead of raising OverflowError."""
    once = schedule("FREQ=DAILY;COUNT=1")
    assert next_local_date(once, date(9999, 12, 31), date(9999, 12, 30)) == date(9999, 12, 31)
    assert next_local_date(once, date(9999, 12, 31), date(9999, 12, 31)) is None
    assert next_local_date(schedule("FREQ=WEEKLY;BYDAY=FR"), date(9990, 1, 1), date(9999, 12, 31)) is None
    now = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    assert still_open_or_to_come(once, date(9999, 12, 31), ZoneInfo("America/New_York"), now), \
        "answers closing after the calendar's last date are still to come"


# --------------------------------------------------------------------------- UTC instants and DST


@pytest.mark.parametrize(
    ("tz", "local_date", "at", "expected"),
    [
        # Berlin: CET (+1) in winter, CEST (+2) in summer
        (BERLIN, date(2026, 11, 6), time(16, 30), utc(2026, 11, 6, 15, 30)),
        (BERLIN, date(2026, 7, 3), time(16, 30), utc(2026, 7, 3, 14, 30)),
        # spring forward, Sunday 29 March 2026: 02:00 -> 03:00, so 02:30 does not exist -> 03:30 CEST
        (BERLIN, date(2026, 3, 28), time(2, 30), utc(2026, 3, 28, 1, 30)),
        (BERLIN, date(2026, 3, 29), time(2, 30), utc(2026, 3, 29, 1, 30)),
        (BERLIN, date(2026, 3, 29), time(2, 0), utc(2026, 3, 29, 1, 0)),
        (BERLIN, date(2026, 3, 29), time(3, 0), utc(2026, 3, 29, 1, 0)),
        (BERLIN, date(2026, 3, 29), time(1, 59), utc(2026, 3, 29, 0, 59)),
        (BERLIN, date(2026, 3, 30), time(2, 30), utc(2026, 3, 30, 0, 30)),
        # fall back, Sunday 25 October 2026: 03:00 -> 02:00, so 02:30 happens twice -> the first (CEST)
        (BERLIN, date(2026, 10, 24), time(2, 30), utc(2026, 10, 24, 0, 30)),
        (BERLIN, date(2026, 10, 25), time(2, 30), utc(2026, 10, 25, 0, 30)),
        (BERLIN, date(2026, 10, 25), time(3, 0), utc(2026, 10, 25, 2, 0)),
        (BERLIN, date(2026, 10, 26), time(2, 30), utc(2026, 10, 26, 1, 30)),
        # New York: EST (-5) / EDT (-4); spring forward Sunday 8 March 2026 at 02:00
        (NEW_YORK, date(2026, 3, 7), time(2, 30), utc(2026, 3, 7, 7, 30)),
        (NEW_YORK, date(2026, 3, 8), time(2, 30), utc(2026, 3, 8, 7, 30)),
        (NEW_YORK, date(2026, 3, 9), time(2, 30), utc(2026, 3, 9, 6, 30)),
        (NEW_YORK, date(2026, 3, 8), time(9, 0), utc(2026, 3, 8, 13, 0)),
        # fall back Sunday 1 November 2026 at 02:00 EDT -> 01:00 EST: 01:30 happens twice -> EDT
        (NEW_YORK, date(2026, 10, 31), time(1, 30), utc(2026, 10, 31, 5, 30)),
        (NEW_YORK, date(2026, 11, 1), time(1, 30), utc(2026, 11, 1, 5, 30)),
        (NEW_YORK, date(2026, 11, 2), time(1, 30), utc(2026, 11, 2, 6, 30)),
        (NEW_YORK, date(2026, 11, 1), time(9, 0), utc(2026, 11, 1, 14, 0)),
        (ZoneInfo("UTC"), date(2026, 11, 6), time(16, 30), utc(2026, 11, 6, 16, 30)),
    ],
)
def test_local_to_utc_moves_gaps_forward_and_takes_the_first_of_repeated_times(
    tz: ZoneInfo, local_date: date, at: time, expected: datetime
) -> None:
    assert local_to_utc(local_date, at, tz) == expected
    assert due_at(schedule("FREQ=DAILY", at), local_date, tz) == expected


def test_local_to_utc_ignores_a_fold_on_the_time() -> None:
    assert local_to_utc(date(2026, 10, 25), time(2, 30, fold=1), BERLIN) == utc(2026, 10, 25, 0, 30)


def test_due_at_is_in_utc() -> None:
    assert due_at(schedule("FREQ=DAILY"), date(2026, 11, 6), BERLIN).tzinfo == UTC


def test_occurrences_across_spring_forward_in_berlin() -> None:
    rule = schedule("FREQ=DAILY", time(2, 30))
    assert occurrences(rule, BERLIN, utc(2026, 3, 28), utc(2026, 3, 31), date(2026, 1, 1)) == [
        utc(2026, 3, 28, 1, 30),  # 02:30 CET
        utc(2026, 3, 29, 1, 30),  # 02:30 does not exist: 03:30 CEST
        utc(2026, 3, 30, 0, 30),  # 02:30 CEST
    ]


def test_occurrences_across_fall_back_in_berlin() -> None:
    rule = schedule("FREQ=DAILY", time(2, 30))
    assert occurrences(rule, BERLIN, utc(2026, 10, 24), utc(2026, 10, 27), date(2026, 1, 1)) == [
        utc(2026, 10, 24, 0, 30),  # CEST
        utc(2026, 10, 25, 0, 30),  # the first 02:30, still CEST; once only
        utc(2026, 10, 26, 1, 30),  # CET
    ]


def test_occurrences_across_spring_forward_in_new_york() -> None:
    rule = schedule("FREQ=DAILY", time(2, 30))
    assert occurrences(rule, NEW_YORK, utc(2026, 3, 7), utc(2026, 3, 10), date(2026, 1, 1)) == [
        utc(2026, 3, 7, 7, 30),  # 02:30 EST
        utc(2026, 3, 8, 7, 30),  # 02:30 does not exist: 03:30 EDT
        utc(2026, 3, 9, 6, 30),  # 02:30 EDT
    ]


def test_occurrences_across_fall_back_in_new_york() -> None:
    rule = schedule("FREQ=DAILY", time(1, 30))
    assert occurrences(rule, NEW_YORK, utc(2026, 10, 31), utc(2026, 11, 3), date(2026, 1, 1)) == [
        utc(2026, 10, 31, 5, 30),  # EDT
        utc(2026, 11, 1, 5, 30),  # the first 01:30, still EDT; once only
        utc(2026, 11, 2, 6, 30),  # EST
    ]


def test_weekly_friday_keeps_its_local_time_over_the_dst_change() -> None:
    rule = schedule("FREQ=WEEKLY;BYDAY=FR", time(16, 30))
    assert occurrences(rule, BERLIN, utc(2026, 3, 20), utc(2026, 4, 11), date(2026, 1, 1)) == [
        utc(2026, 3, 20, 15, 30), utc(2026, 3, 27, 15, 30), utc(2026, 4, 3, 14, 30), utc(2026, 4, 10, 14, 30),
    ]


def test_occurrences_are_half_open_in_utc() -> None:
    rule = schedule("FREQ=WEEKLY;BYDAY=FR", time(16, 30))
    friday = utc(2026, 11, 6, 15, 30)
    assert occurrences(rule, BERLIN, friday, friday + timedelta(days=7), ANCHOR) == [friday]
    second = timedelta(seconds=1)
    next_friday = friday + timedelta(days=7)
    assert occurrences(rule, BERLIN, friday + second, next_friday + second, ANCHOR) == [next_friday]
    assert occurrences(rule, BERLIN, friday, friday, ANCHOR) == []


def test_occurrences_start_no_earlier_than_the_anchor() -> None:
    rule = schedule("FREQ=DAILY", time(9, 0))
    assert occurrences(rule, BERLIN, utc(2026, 11, 1), utc(2026, 11, 6), ANCHOR) == [
        utc(2026, 11, 4, 8, 0), utc(2026, 11, 5, 8, 0),
    ]


@pytest.mark.parametrize("naive", ["start", "end"])
def test_occurrences_need_aware_bounds(naive: str) -> None:
    bounds = {"start": utc(2026, 11, 1), "end": utc(2026, 11, 8)}
    bounds[naive] = bounds[naive].replace(tzinfo=None)
    with pytest.raises(ValueError, match=f"^{naive} must be timezone-aware, for example"):
        occurrences(schedule("FREQ=DAILY"), BERLIN, bounds["start"], bounds["end"], ANCHOR)


# ---- the same local date everywhere: +14 hours and -10 hours


def test_kiritimati_and_honolulu_are_prompted_on_the_same_local_date_at_their_own_time() -> None:
    rule = schedule(parse_rule("weekly fri"), time(16, 30))
    friday = date(2026, 11, 6)
    assert local_occurrences(rule, ANCHOR, date(2026, 11, 1), date(2026, 11, 8)) == [friday]
    kiritimati = due_at(rule, friday, KIRITIMATI)
    honolulu = due_at(rule, friday, HONOLULU)
    assert kiritimati == utc(2026, 11, 6, 2, 30)  # Friday 16:30 at UTC+14
    assert honolulu == utc(2026, 11, 7, 2, 30)  # Friday 16:30 at UTC-10: a whole day later in UTC
    assert kiritimati.astimezone(KIRITIMATI).date() == honolulu.astimezone(HONOLULU).date() == friday
    assert kiritimati.astimezone(KIRITIMATI).time() == honolulu.astimezone(HONOLULU).time() == time(16, 30)


def test_kiritimati_and_honolulu_occurrences_in_one_utc_range() -> None:
    rule = schedule(parse_rule("weekly fri"), time(16, 30))
    start, end = utc(2026, 11, 5), utc(2026, 11, 8)
    assert occurrences(rule, KIRITIMATI, start, end, ANCHOR) == [utc(2026, 11, 6, 2, 30)]
    assert occurrences(rule, HONOLULU, start, end, ANCHOR) == [utc(2026, 11, 7, 2, 30)]
    # On Thursday 5 November UTC it is already Friday in Kiritimati, and still Thursday in Honolulu.
    start, end = utc(2026, 11, 5, 12), utc(2026, 11, 6, 12)
    assert occurrences(rule, KIRITIMATI, start, end, ANCHOR) == [utc(2026, 11, 6, 2, 30)]
    assert occurrences(rule, HONOLULU, start, end, ANCHOR) == []


def test_an_early_time_in_kiritimati_falls_on_the_previous_utc_day() -> None:
    rule = schedule("FREQ=DAILY", time(8, 0))
    assert due_at(rule, date(2026, 11, 6), KIRITIMATI) == utc(2026, 11, 5, 18, 0)
    assert occurrences(rule, KIRITIMATI, utc(2026, 11, 5), utc(2026, 11, 6), ANCHOR) == [utc(2026, 11, 5, 18, 0)]


def test_a_moment_is_told_in_its_zone_with_the_year_only_when_it_is_not_this_one() -> None:
    now = utc(2026, 12, 31, 12)
    assert local_moment(utc(2026, 11, 16, 9), NEW_YORK, now) == "Mon 16 Nov at 04:00 (America/New_York)"
    assert local_moment(utc(2027, 1, 4, 9), BERLIN, now) == "Mon 04 Jan 2027 at 10:00 (Europe/Berlin)"
    assert local_moment(utc(2026, 12, 31, 23), BERLIN, now) == "Fri 01 Jan 2027 at 00:00 (Europe/Berlin)", \
        "the year where the zone is"
