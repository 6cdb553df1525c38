"""Personal prompt settings: pauses, own time, quiet hours, presence, and what they decide."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from learnloop.domain import schedules
from learnloop.domain.preferences import (
    Action,
    Decision,
    InvalidPreference,
    PromptPreferences,
    QuietHours,
    delivery_decision,
    describe_pause_end,
    parse_duration,
    parse_quiet_hours,
    parse_time_of_day,
    pause_end,
    personal_due_at,
)
from learnloop.domain.schedules import Schedule

UTC = UTC
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
KIRITIMATI = ZoneInfo("Pacific/Kiritimati")
HONOLULU = ZoneInfo("Pacific/Honolulu")

# Friday 6 November 2026, 16:30 in Berlin (CET, UTC+1); the window stays open 12 hours.
DUE = datetime(2026, 11, 6, 15, 30, tzinfo=UTC)
WINDOW_END = DUE + timedelta(hours=12)
OVERNIGHT = QuietHours(time(22, 0), time(7, 0))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


DEFAULTS = PromptPreferences()


def decide(
    prefs: PromptPreferences = DEFAULTS,
    *,
    now: datetime = DUE,
    due_at: datetime = DUE,
    window_end: datetime = WINDOW_END,
    tz: ZoneInfo = BERLIN,
    presence: str | None = "online",
) -> Decision:
    return delivery_decision(prefs, due_at=due_at, now=now, window_end=window_end, tz=tz, presence=presence)


# --------------------------------------------------------------------------- parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3d", timedelta(days=3)),
        ("1d", timedelta(days=1)),
        ("2w", timedelta(days=14)),
        ("1m", timedelta(days=30)),
        ("12m", timedelta(days=360)),
        ("10 days", timedelta(days=10)),
        ("1 day", timedelta(days=1)),
        ("2 weeks", timedelta(days=14)),
        ("1 week", timedelta(days=7)),
        ("52w", timedelta(days=364)),
        ("3 months", timedelta(days=90)),
        ("1y", timedelta(days=365)),
        ("1 year", timedelta(days=365)),
        ("365d", timedelta(days=365)),
        ("24h", timedelta(days=1)),
        ("36h", timedelta(hours=36)),
        (" 2W ", timedelta(days=14)),
    ],
)
def test_parse_duration_accepts_days_weeks_months(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["0d", "12h", "23h", "366d", "13m", "53w", "2y", "0w"])
def test_parse_duration_rejects_pauses_shorter_than_a_day_or_longer_than_a_year(text: str) -> None:
    with pytest.raises(
        InvalidPreference,
        match=rf"^a pause of '{text}' is out of range: it must be from 1 day to 1 year, for example 2w$",
    ):
        parse_duration(text)


@pytest.mark.parametrize("text", ["soon", "2", "2.5d", "forever", "-3d", "two weeks", "3 fortnights", "1w2d"])
def test_parse_duration_rejects_what_is_not_a_length_of_time(text: str) -> None:
    with pytest.raises(
        InvalidPreference,
        match=rf"^'{text}' is not a length of time: use days, weeks or months, for example 3d, 2w or 1m$",
    ):
        parse_duration(text)


@pytest.mark.parametrize(("parse", "message"), [
    (parse_duration, "how long to pause is missing: use days, weeks or months, for example 3d, 2w or 1m"),
    (parse_quiet_hours, "the quiet hours are missing: use HH:MM-HH:MM in 24-hour time, for example 22:00-07:00, or off"),
])
@pytest.mark.parametrize("text", ["", "   "])
def test_a_missing_value_is_named_not_quoted_empty(parse, message: str, text: str) -> None:
    with pytest.raises(InvalidPreference) as error:
        parse(text)
    assert str(error.value) == message


# --------------------------------------------------------------------------- pause_end


TUESDAY_EVENING = utc(2026, 11, 3, 23, 30)
"""Already Wednesday 4 November in Berlin (00:30), still Tuesday in New York (18:30)."""


@pytest.mark.parametrize(("text", "tz", "expected"), [
    ("2w", BERLIN, TUESDAY_EVENING + timedelta(days=14)),
    ("until 2026-12-24", BERLIN, utc(2026, 12, 24, 23, 0)),
    ("2026-12-24", NEW_YORK, utc(2026, 12, 25, 5, 0)),
    ("Until  2026-11-04", BERLIN, utc(2026, 11, 4, 23, 0)),
    ("until 2026-11-03", NEW_YORK, utc(2026, 11, 4, 5, 0)),
    ("until 2027-11-04", BERLIN, utc(2027, 11, 4, 23, 0)),
], ids=["a_length", "a_last_day", "a_last_day_without_until", "today_in_berlin", "today_in_new_york",
        "a_year_ahead"])
def test_a_pause_lasts_a_length_of_time_or_through_a_last_day_of_ones_own(
    text: str, tz: ZoneInfo, expected: datetime
) -> None:
    assert pause_end(text, TUESDAY_EVENING, tz) == expected


@pytest.mark.parametrize(("text", "tz", "message"), [
    ("until 2026-11-03", BERLIN, "Tue 03 Nov 2026 has passed: pause until today or a later date"),
    ("2026-11-02", NEW_YORK, "Mon 02 Nov 2026 has passed: pause until today or a later date"),
    ("until 2027-11-05", BERLIN, "Fri 05 Nov 2027 is more than a year ahead: a pause lasts at most a year, "
                                 "until 2027-11-04"),
    ("9999-12-31", BERLIN, "Fri 31 Dec 9999 is more than a year ahead"),
    ("until", BERLIN, "the last day of the pause is missing: use YYYY-MM-DD, for example until 2026-12-24"),
    ("until christmas", BERLIN, "'christmas' is not a date: use YYYY-MM-DD, for example until 2026-12-24"),
    ("until 2026-02-30", BERLIN, "'2026-02-30' is not a date"),
    ("until 2w", BERLIN, "'2w' is not a date"),
    ("soon", BERLIN, "'soon' is not a length of time"),
])
def test_a_pause_that_cannot_be_kept_says_why(text: str, tz: ZoneInfo, message: str) -> None:
    with pytest.raises(InvalidPreference) as error:
        pause_end(text, TUESDAY_EVENING, tz)
    assert str(error.value).startswith(message)


def test_a_pause_ends_in_the_persons_own_date_time_and_zone() -> None:
    now = TUESDAY_EVENING
    assert describe_pause_end(utc(2026, 12, 24, 23, 0), BERLIN, now) == "through Thu 24 Dec (Europe/Berlin)"
    assert describe_pause_end(utc(2026, 11, 17, 22, 30), BERLIN, now) == "until Tue 17 Nov at 23:30 (Europe/Berlin)"
    assert describe_pause_end(utc(2026, 11, 17, 22, 30), NEW_YORK, now) == \
        "until Tue 17 Nov at 17:30 (America/New_York)"
    assert describe_pause_end(utc(2027, 1, 5, 23, 0), BERLIN, now) == "through Tue 05 Jan 2027 (Europe/Berlin)"


def test_invalid_preference_is_a_value_error() -> None:
    assert issubclass(InvalidPreference, ValueError)


# --------------------------------------------------------------------------- parse_time_of_day


@pytest.mark.parametrize(("text", "expected"), [("07:00", time(7, 0)), ("9:05", time(9, 5)), ("23:59", time(23, 59))])
def test_parse_time_of_day_follows_the_schedule_rules(text: str, expected: time) -> None:
    assert parse_time_of_day(text) == expected == schedules.parse_time_of_day(text)


@pytest.mark.parametrize("text", ["4pm", "25:00", "16.30"])
def test_parse_time_of_day_raises_the_preference_error_with_the_schedule_message(text: str) -> None:
    with pytest.raises(InvalidPreference) as error:
        parse_time_of_day(text)
    assert str(error.value) == f"'{text}' is not a time of day: use 24-hour HH:MM, for example 16:30"


# --------------------------------------------------------------------------- parse_quiet_hours


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("22:00-07:00", QuietHours(time(22, 0), time(7, 0))),
        ("22:00 - 07:00", QuietHours(time(22, 0), time(7, 0))),
        ("22:00–07:00", QuietHours(time(22, 0), time(7, 0))),
        ("9:00-17:30", QuietHours(time(9, 0), time(17, 30))),
        ("00:00-06:00", QuietHours(time(0, 0), time(6, 0))),
        ("off", None),
        (" OFF ", None),
        ("none", None),
    ],
)
def test_parse_quiet_hours(text: str, expected: QuietHours | None) -> None:
    assert parse_quiet_hours(text) == expected


@pytest.mark.parametrize(
    "text", ["22:00", "10pm-7am", "22:00-25:00", "22.00-07.00", "22:00-07:00-08:00", "always"]
)
def test_parse_quiet_hours_rejects_what_is_not_a_range(text: str) -> None:
    with pytest.raises(
        InvalidPreference,
        match=rf"^'{text}' is not a range of quiet hours: "
        r"use HH:MM-HH:MM in 24-hour time, for example 22:00-07:00, or off$",
    ):
        parse_quiet_hours(text)


def test_parse_quiet_hours_rejects_an_empty_range() -> None:
    with pytest.raises(InvalidPreference, match="^quiet hours '22:00-22:00' start and end at the same time: .*"):
        parse_quiet_hours("22:00-22:00")


@pytest.mark.parametrize(
    ("quiet", "at", "inside"),
    [
        (OVERNIGHT, time(21, 59), False),
        (OVERNIGHT, time(22, 0), True),
        (OVERNIGHT, time(23, 59), True),
        (OVERNIGHT, time(0, 0), True),
        (OVERNIGHT, time(6, 59), True),
        (OVERNIGHT, time(7, 0), False),
        (OVERNIGHT, time(12, 0), False),
        (QuietHours(time(12, 0), time(14, 0)), time(11, 59), False),
        (QuietHours(time(12, 0), time(14, 0)), time(12, 0), True),
        (QuietHours(time(12, 0), time(14, 0)), time(13, 59), True),
        (QuietHours(time(12, 0), time(14, 0)), time(14, 0), False),
        (QuietHours(time(0, 0), time(6, 0)), time(0, 0), True),
        (QuietHours(time(0, 0), time(6, 0)), time(23, 59), False),
    ],
)
def test_quiet_hours_include_their_start_and_exclude_their_end(quiet: QuietHours, at: time, inside: bool) -> None:
    assert quiet.contains(at) is inside


# --------------------------------------------------------------------------- PromptPreferences / Decision


def test_preferences_default_to_prompts_on_at_the_schedule_time() -> None:
    prefs = PromptPreferences()
    assert (prefs.enabled, prefs.paused_until, prefs.time_of_day, prefs.quiet_hours, prefs.nudges) == (
        True, None, None, None, True,
    )


def test_decision_constructors() -> None:
    assert Decision.send() == Decision(Action.SEND)
    assert Decision.wait_until(DUE) == Decision(Action.WAIT_UNTIL, until=DUE)
    assert Decision.skip("paused") == Decision(Action.SKIP, reason="paused")


# --------------------------------------------------------------------------- delivery_decision


def test_sends_when_due_and_nothing_is_in_the_way() -> None:
    assert decide() == Decision.send()
    assert decide(now=DUE + timedelta(hours=3)) == Decision.send()
    assert decide(now=WINDOW_END - timedelta(seconds=1)) == Decision.send()


def test_prompts_off_skips_before_anything_else() -> None:
    prefs = PromptPreferences(enabled=False, paused_until=DUE + timedelta(hours=1), quiet_hours=OVERNIGHT)
    assert decide(prefs) == Decision.skip("prompts off")
    assert decide(prefs, now=WINDOW_END, presence="dnd") == Decision.skip("prompts off")


@pytest.mark.parametrize("now", [WINDOW_END, WINDOW_END + timedelta(seconds=1), WINDOW_END + timedelta(days=3)])
def test_a_closed_window_skips(now: datetime) -> None:
    assert decide(now=now) == Decision.skip("window closed")
    assert decide(PromptPreferences(paused_until=now + timedelta(hours=1)), now=now) == Decision.skip("window closed")


def test_waits_until_due() -> None:
    assert decide(now=DUE - timedelta(minutes=5)) == Decision.wait_until(DUE)


# ---- pauses


def test_a_pause_that_ends_mid_window_delivers_when_it_ends() -> None:
    pause_end = DUE + timedelta(hours=3)
    assert decide(PromptPreferences(paused_until=pause_end)) == Decision.wait_until(pause_end)
    # ... and when the worker comes back at that instant, the prompt goes out.
    assert decide(PromptPreferences(paused_until=pause_end), now=pause_end) == Decision.send()


@pytest.mark.parametrize(
    "pause_end", [WINDOW_END, WINDOW_END + timedelta(minutes=1), WINDOW_END + timedelta(days=14)]
)
def test_a_pause_that_outlasts_the_window_skips(pause_end: datetime) -> None:
    assert decide(PromptPreferences(paused_until=pause_end)) == Decision.skip("paused")


@pytest.mark.parametrize("pause_end", [DUE, DUE - timedelta(seconds=1), DUE - timedelta(days=10)])
def test_a_pause_that_has_ended_is_ignored(pause_end: datetime) -> None:
    assert decide(PromptPreferences(paused_until=pause_end)) == Decision.send()


def test_a_pause_through_the_day_the_prompt_is_due_skips_it_though_the_window_outlasts_it() -> None:
    """Through Friday in Berlin ends at Saturday 00:00 there, before the window closes at 04:30."""
    until = pause_end("until 2026-11-06", DUE, BERLIN)
    assert decide(PromptPreferences(paused_until=until)) == Decision.skip("paused")
    assert decide(PromptPreferences(paused_until=until), window_end=DUE + timedelta(days=3)) == \
        Decision.skip("paused"), "nor the next day: the prompt was of a paused day"


def test_a_pause_for_a_length_of_time_waits_for_its_end_in_the_window_even_the_next_day() -> None:
    """36 hours from Thursday 19:30 in Berlin ends on Saturday at 07:30 there; the window is open three days."""
    prefs = PromptPreferences(paused_until=utc(2026, 11, 7, 6, 30))
    assert decide(prefs, window_end=DUE + timedelta(days=3)) == Decision.wait_until(utc(2026, 11, 7, 6, 30))


def test_a_pause_through_a_day_ends_at_the_persons_own_midnight() -> None:
    """23:00 UTC is midnight in Berlin but 18:00 in New York: there it is a pause of a length of time."""
    prefs = PromptPreferences(paused_until=utc(2026, 11, 6, 23, 0))
    assert decide(prefs, window_end=DUE + timedelta(days=3)) == Decision.skip("paused")
    assert decide(prefs, window_end=DUE + timedelta(days=3), tz=NEW_YORK) == Decision.wait_until(utc(2026, 11, 6, 23))


def test_a_pause_comes_before_presence() -> None:
    prefs = PromptPreferences(paused_until=DUE + timedelta(hours=1))
    assert decide(prefs, presence="dnd") == Decision.wait_until(DUE + timedelta(hours=1))


# ---- quiet hours, in the person's own local time


def test_quiet_hours_wrapping_midnight_wait_until_morning_when_the_window_allows() -> None:
    prefs = PromptPreferences(quiet_hours=OVERNIGHT)
    late = utc(2026, 11, 6, 22, 0)  # 23:00 in Berlin
    after_midnight = utc(2026, 11, 7, 0, 30)  # 01:30 in Berlin, the next day
    long_window = DUE + timedelta(days=2)
    morning = utc(2026, 11, 7, 6, 0)  # 07:00 in Berlin
    assert decide(prefs, now=late, window_end=long_window) == Decision.wait_until(morning)
    assert decide(prefs, now=after_midnight, window_end=long_window) == Decision.wait_until(morning)
    assert decide(prefs, now=morning, window_end=long_window) == Decision.send()


def test_quiet_hours_that_outlast_the_window_skip() -> None:
    prefs = PromptPreferences(quiet_hours=OVERNIGHT)
    late = utc(2026, 11, 6, 22, 0)  # 23:00 in Berlin; quiet until 06:00 UTC, the window closes 03:30 UTC
    assert decide(prefs, now=late) == Decision.skip("quiet hours")
    assert decide(prefs, now=late, window_end=utc(2026, 11, 7, 6, 0)) == Decision.skip("quiet hours")
    assert decide(prefs, now=late, window_end=utc(2026, 11, 7, 6, 1)) == Decision.wait_until(utc(2026, 11, 7, 6, 0))


@pytest.mark.parametrize(
    "now",
    [utc(2026, 11, 6, 20, 59), utc(2026, 11, 7, 6, 0), utc(2026, 11, 7, 12, 0)],  # 21:59, 07:00, 13:00 in Berlin
)
def test_outside_quiet_hours_sends(now: datetime) -> None:
    prefs = PromptPreferences(quiet_hours=OVERNIGHT)
    assert decide(prefs, now=now, window_end=DUE + timedelta(days=2)) == Decision.send()


def test_daytime_quiet_hours() -> None:
    prefs = PromptPreferences(quiet_hours=QuietHours(time(16, 0), time(18, 0)))
    assert decide(prefs) == Decision.wait_until(utc(2026, 11, 6, 17, 0))  # 16:30 in Berlin -> 18:00


def test_quiet_hours_are_read_in_the_persons_timezone() -> None:
    prefs = PromptPreferences(quiet_hours=OVERNIGHT)
    now = utc(2026, 11, 6, 22, 0)  # 23:00 in Berlin, 17:00 in New York
    window_end = now + timedelta(days=1)
    berlin_morning = utc(2026, 11, 7, 6, 0)
    assert decide(prefs, now=now, due_at=now, window_end=window_end, tz=BERLIN) == Decision.wait_until(berlin_morning)
    assert decide(prefs, now=now, due_at=now, window_end=window_end, tz=NEW_YORK) == Decision.send()


def test_quiet_hours_ending_in_the_spring_forward_gap_end_an_hour_later_on_the_clock() -> None:
    prefs = PromptPreferences(quiet_hours=QuietHours(time(22, 0), time(2, 30)))
    now = utc(2026, 3, 28, 22, 0)  # 23:00 CET on Saturday 28 March
    # 02:30 does not exist on Sunday 29 March: quiet hours end at 03:30 CEST = 01:30 UTC.
    decision = decide(prefs, now=now, due_at=now, window_end=now + timedelta(days=1))
    assert decision == Decision.wait_until(utc(2026, 3, 29, 1, 30))


def test_quiet_hours_across_fall_back_end_at_the_first_of_the_repeated_times() -> None:
    prefs = PromptPreferences(quiet_hours=QuietHours(time(22, 0), time(1, 30)))
    window_end = utc(2026, 11, 2)
    first_pass = utc(2026, 11, 1, 5, 15)  # 01:15 EDT
    second_pass = utc(2026, 11, 1, 6, 15)  # 01:15 EST, an hour later, after quiet hours ended at 01:30 EDT
    first = decide(prefs, now=first_pass, due_at=first_pass, window_end=window_end, tz=NEW_YORK)
    second = decide(prefs, now=second_pass, due_at=first_pass, window_end=window_end, tz=NEW_YORK)
    assert first == Decision.wait_until(utc(2026, 11, 1, 5, 30))
    assert second == Decision.send()


def test_quiet_hours_come_before_presence() -> None:
    prefs = PromptPreferences(quiet_hours=QuietHours(time(16, 0), time(18, 0)))
    assert decide(prefs, presence="ooo") == Decision.wait_until(utc(2026, 11, 6, 17, 0))


# ---- presence


@pytest.mark.parametrize(
    ("presence", "reason"),
    [("dnd", "do not disturb"), ("DND", "do not disturb"), (" dnd ", "do not disturb"), ("ooo", "out of office")],
)
def test_do_not_disturb_and_out_of_office_skip(presence: str, reason: str) -> None:
    assert decide(presence=presence) == Decision.skip(reason)


@pytest.mark.parametrize("presence", ["online", "away", "offline", "", None])
def test_other_presences_send(presence: str | None) -> None:
    assert decide(presence=presence) == Decision.send()


# ---- misuse


@pytest.mark.parametrize("naive", ["now", "due_at", "window_end"])
def test_delivery_decision_needs_aware_datetimes(naive: str) -> None:
    moments = {"now": DUE, "due_at": DUE, "window_end": WINDOW_END}
    moments[naive] = moments[naive].replace(tzinfo=None)
    with pytest.raises(ValueError, match=f"^{naive} must be timezone-aware"):
        delivery_decision(PromptPreferences(), tz=BERLIN, presence=None, **moments)


# --------------------------------------------------------------------------- personal_due_at


FRIDAYS = Schedule("FREQ=WEEKLY;BYDAY=FR", time(16, 30), timedelta(hours=12))


def test_personal_due_at_uses_the_schedule_time_by_default() -> None:
    assert personal_due_at(FRIDAYS, date(2026, 11, 6), BERLIN, PromptPreferences()) == utc(2026, 11, 6, 15, 30)


@pytest.mark.parametrize(
    ("tz", "at", "expected"),
    [
        (BERLIN, time(7, 0), utc(2026, 11, 6, 6, 0)),
        (NEW_YORK, time(7, 0), utc(2026, 11, 6, 12, 0)),
        (KIRITIMATI, time(7, 0), utc(2026, 11, 5, 17, 0)),
        (HONOLULU, time(7, 0), utc(2026, 11, 6, 17, 0)),
    ],
)
def test_personal_due_at_uses_the_persons_own_time_of_day(tz: ZoneInfo, at: time, expected: datetime) -> None:
    assert personal_due_at(FRIDAYS, date(2026, 11, 6), tz, PromptPreferences(time_of_day=at)) == expected


def test_personal_due_at_follows_the_same_dst_rules() -> None:
    spring = date(2026, 3, 29)
    autumn = date(2026, 10, 25)
    prefs = PromptPreferences(time_of_day=time(2, 30))
    assert personal_due_at(FRIDAYS, spring, BERLIN, prefs) == utc(2026, 3, 29, 1, 30)  # 03:30 CEST
    assert personal_due_at(FRIDAYS, autumn, BERLIN, prefs) == utc(2026, 10, 25, 0, 30)  # the first 02:30
    assert personal_due_at(FRIDAYS, spring, BERLIN, prefs) == schedules.due_at(
        Schedule(FRIDAYS.rrule, time(2, 30), FRIDAYS.window), spring, BERLIN
    )
