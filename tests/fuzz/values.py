"""Hostile values for any field: control characters, lone surrogates, digits that are not ASCII, numbers
too big for anything, huge and deeply nested values, wrong types.

Big values are built from a small drawn size (hypothesis keeps its own buffers small), and nested ones
as raw JSON text (`Raw`), since Python's own encoder would give up long before the service must."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

CONTROL = ["\n", "\r", "\r\n", "\x00", "\t", "\x1b[31m", "\x7f", "\x85", "\u2028", "\u2029", "\x0b", "\x0c"]
SURROGATES = ["\ud800", "\udfff", "\udc80", "a\ud83dz"]
ODD_DIGITS = ["²", "³", "¹", "٣", "١٦:٣٠", "１", "𝟓", "Ⅻ", "½", "߃", "৪"]
NUMBERS = ["0", "-1", "1", "5", "6", "4.5", "1e309", "NaN", "Infinity", "-0", "0x10", "007", " 3 ", "+4",
           "99999999999999999999999", "9223372036854775808", "-9223372036854775809"]
INVISIBLE = ["\u202e", "\u200b", "\ufeff", "\u0301", "e\u0301", "🙂", "👩‍👩‍👧", "\U0010ffff", "\ufffd"]
MARKUP = ["<script>alert(1)</script>", "\"'><img src=x>", "%s%s%n", "{0}{1}", "{{", "${jndi:x}", "`x`", "**x**",
          "@all", "@channel", "~town-square", "../../etc/passwd", "\\", "'; DROP TABLE ratings; --", "%00", "%0a"]
URLS = ["https://wiki.example.com/Page", "http://wiki.example.com/a?utm_source=x#f", "https://wiki.example.com/%zz",
        "javascript:alert(1)", "http://[::1", "https://user:pw@host/x", "http://x:99999/", "https://", "http:/x",
        "https://exa mple.com/", "ftp://x/y", "https://wiki.example.com/" + "p" * 2100, "<https://a.example/b>",
        "https://xn--n3h.example/☃", "https://wiki.example.com/Page\nInjected: 1"]
TIMES = ["16:30", "00:00", "23:59", "24:00", "25:99", "9:5", "16h30", "²:00", "١٦:٣٠", "default", "", "-1:00"]
AMOUNTS = ["2w", "1d", "0d", "36h", "1y", "2y", "999999w", "99999999999999999999d", "²w", "1m", "3 weeks", "w"]
SCHEDULES = ["weekly fri", "daily", "weekdays", "every 2 weeks mon", "every ² weeks mon", "every 0 weeks mon",
             "every 99999999999999999999 weeks mon", "monthly first monday", "monthly last fri", "daily mon-sun",
             "FREQ=WEEKLY;BYDAY=FR", "FREQ=WEEKLY;INTERVAL=²", "FREQ=DAILY;COUNT=99999999999999999999",
             "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "FREQ=DAILY;UNTIL=99991231", "FREQ=DAILY;UNTIL=00000000",
             "FREQ=MONTHLY;BYDAY=9MO", "FREQ=HOURLY", "RRULE:FREQ=DAILY;DTSTART=2020", "FREQ=DAILY;;",
             "FREQ=DAILY;INTERVAL=" + "9" * 5000, "FREQ=WEEKLY;BYDAY=XX", "FREQ=DAILY;BYSETPOS=99999"]
WINDOWS = ["16h", "2d", "1w", "0h", "15d", "until next morning", "99999999h", "²h", "1", "h"]
DATES = ["2026-12-03", "2030-01-01", "0001-01-01", "9999-12-31", "2026-02-30", "2026-13-01", "20261203", "²026-1-1"]
ZONES = ["UTC", "Europe/Berlin", "Europe", "Etc", "zone.tab", "posixrules", "../etc/passwd", "/etc/localtime",
         "Europe/Berlin\n", "America/", "", "Etc/GMT+14", "right", "a" * 300]
WORDS = ["private", "community", "wiki", "everyone", "before", "after", "both", "on", "off", "delete",
         "new_pages", "new_and_major", "digest_only", "help", "?", "-h", "true", "false", "null"]
ATOMS = (CONTROL + SURROGATES + ODD_DIGITS + NUMBERS + INVISIBLE + MARKUP + URLS + TIMES + AMOUNTS + SCHEDULES
         + WINDOWS + DATES + ZONES + WORDS)


@dataclass(frozen=True)
class Raw:
    """JSON text put into a body as it is (nested far deeper than json.dumps allows, or not JSON at all)."""

    text: str


def chance(percent: int) -> st.SearchStrategy[bool]:
    """True about `percent` times in 100 (hypothesis draws bounded integers mostly at their ends; a sampled
    element is close to uniform)."""
    return st.sampled_from(range(100)).map(lambda drawn: drawn < percent)


@st.composite
def mostly(draw: st.DrawFn, usual: st.SearchStrategy[Any], unusual: st.SearchStrategy[Any], percent: int = 15) -> Any:
    """A value from `unusual` about `percent` times in 100, otherwise from `usual`."""
    return draw(unusual) if draw(chance(percent)) else draw(usual)


def atom() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(ATOMS), st.text(max_size=12))


@st.composite
def big_text(draw: st.DrawFn) -> str:
    """Thousands to about 80,000 characters of one repeated piece (a 70 KB time zone, a 20 KB user id)."""
    piece = draw(st.sampled_from(["a", "9", "²", "\n", "é", "🙂", "Europe/", "x" * 7 + "\x1b", "\ud800"]))
    return piece * draw(st.sampled_from([300, 2049, 4301, 16384, 70_000]))


def nasty_text() -> st.SearchStrategy[str]:
    """A short mix of hostile pieces and ordinary text; now and then a huge one."""
    mixed = st.lists(atom(), min_size=1, max_size=4).map("".join)
    return mostly(mixed, big_text(), 6)


def deep_json(kind: str, depth: int) -> Raw:
    opening, closing = {"list": ("[", "]"), "object": ('{"a":', "}"), "mixed": ('[{"a":', "}]")}[kind]
    return Raw(opening * depth + "1" + closing * depth)


def deep() -> st.SearchStrategy[Raw]:
    return st.builds(deep_json, st.sampled_from(["list", "object", "mixed"]),
                     st.sampled_from([31, 32, 33, 200, 5000, 100_000]))


def scalar() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(), st.booleans(), st.integers(), st.sampled_from([2**63, -(2**63) - 1, 10**400, 0, -1]),
        st.floats(allow_nan=True, allow_infinity=True), nasty_text(),
    )


def wrong_value() -> st.SearchStrategy[Any]:
    """Anything a JSON field could hold that its reader may not expect."""
    nested = st.recursive(scalar(), lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(nasty_text(), inner, max_size=3), max_leaves=6)
    return st.one_of(scalar(), nested, deep(), st.just(Raw('"\\ud800"')), st.just(Raw('"\\udfff x"')))


def dumps(value: Any) -> str:
    """JSON text of `value`, with each `Raw` spliced in as it is; NaN and Infinity as Python writes them."""
    raws: list[str] = []

    def mark(item: Any) -> Any:
        if isinstance(item, Raw):
            raws.append(item.text)
            return f"\x00raw{len(raws) - 1}\x00"
        if isinstance(item, dict):
            return {str(k): mark(v) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [mark(v) for v in item]
        return item

    text = json.dumps(mark(value))
    for index, raw in enumerate(raws):
        text = text.replace(json.dumps(f"\x00raw{index}\x00"), raw)
    return text
