"""A fuzz case: one HTTP request, what it is meant to test, and whether it must be refused; plus the
mutations every route shares (fields dropped, retyped, made hostile; bodies truncated, mis-encoded,
mislabelled, oversized).

Values that depend on the moment of sending (a wiki's signed timestamp) or on a browser session (its
CSRF token, a one-time link) are placeholders in the case, filled in by `render` and the sender."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from hypothesis import strategies as st

from tests.fuzz import values, world

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
MAX_BODY = 1024 * 1024
_NOW = re.compile(rb"__NOW:(s|ms):([+-]\d+)__")
_SIGNATURE = re.compile(r"__SIG:(mediawiki|outline):([+-]\d+):(\w+)__")


@dataclass(frozen=True)
class Case:
    route: str
    """The route's name in the report, e.g. /mattermost/dialogs."""
    method: str
    path: str
    """Path and encoded query string."""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    session: str | None = None
    """The browser session whose cookie goes with the request (tests/fuzz/send.py signs them in)."""
    must_refuse: bool = False
    """Forged, replayed or unauthenticated: the service must refuse it, and change nothing."""
    no_write: bool = False
    """Whatever the answer, nothing may change (a cancelled dialog)."""
    note: str = ""


def render(case: Case, now: float) -> Case:
    """The case as sent at `now` (unix seconds): timestamps filled in, wiki signatures computed over the final
    body. Placeholders that a mutation broke stay as they are."""
    def stamp(match: re.Match[bytes]) -> bytes:
        scale = 1000 if match.group(1) == b"ms" else 1
        return str(int((now + int(match.group(2))) * scale)).encode()

    body = _NOW.sub(stamp, case.body)
    headers = tuple((name, _SIGNATURE.sub(lambda m: _signature(m, body, now), value)) for name, value in case.headers)
    return replace(case, body=body, headers=headers)


def _signature(match: re.Match[str], body: bytes, now: float) -> str:
    kind, offset, mode = match.group(1), int(match.group(2)), match.group(3)
    name = world.MEDIAWIKI if kind == "mediawiki" else world.OUTLINE
    secret = (world.WIKI_SECRETS[name] if mode != "wrongsecret" else "not-the-secret-0123456789abcdef").encode()
    if kind == "mediawiki":
        return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    stamp = int((now + offset) * 1000)
    digest = hmac.new(secret, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},s={digest}"


# -- fields ---------------------------------------------------------------------------------------------


def hostile_fields(fields: dict[str, Any], *, json_types: bool, protected: frozenset[str] = frozenset()
                   ) -> st.SearchStrategy[tuple[dict[str, Any], str]]:
    """`fields` with up to three of them dropped, made hostile or (in JSON) given the wrong type, and now and
    then an extra one; with a note of what changed. Fields in `protected` keep their value."""
    names = sorted(set(fields) - protected)
    value = st.one_of(values.nasty_text(), values.wrong_value()) if json_types else values.nasty_text()
    change = st.tuples(st.sampled_from(["drop", "set", "set", "extra"]), st.sampled_from(names or ["extra"]), value)

    def apply(changes: list[tuple[str, str, Any]]) -> tuple[dict[str, Any], str]:
        result, notes = dict(fields), []
        for what, name, new in changes:
            if what == "drop":
                result.pop(name, None)
            elif what == "extra":
                result[f"x{len(result)}"] = new
            else:
                result[name] = new
            notes.append(f"{what} {name}")
        return result, ", ".join(notes)

    count = st.sampled_from([0, 0, 0, 0, 0, 1, 1, 2, 3])
    return count.flatmap(lambda n: st.lists(change, min_size=n, max_size=n)).map(apply)


def _paths(value: Any, prefix: tuple[str, ...] = (), depth: int = 0) -> list[tuple[str, ...]]:
    if not isinstance(value, dict) or depth > 4:
        return []
    found = []
    for name, item in value.items():
        found.append((*prefix, name))
        found.extend(_paths(item, (*prefix, name), depth + 1))
    return found


@st.composite
def hostile_tree(draw: st.DrawFn, document: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """A JSON document with up to three fields at any depth dropped or given a hostile value."""
    result = json.loads(json.dumps(document))
    paths = _paths(result)
    notes = []
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3])) if paths else 0):
        path = draw(st.sampled_from(paths))
        parent = result
        for name in path[:-1]:
            parent = parent.get(name) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            continue
        if draw(values.chance(25)):
            parent.pop(path[-1], None)
            notes.append("drop " + ".".join(path))
        else:
            parent[path[-1]] = draw(st.one_of(values.nasty_text(), values.wrong_value()))
            notes.append("set " + ".".join(path))
    return result, ", ".join(notes)


def form_body(fields: dict[str, Any]) -> bytes:
    """Form-encoded, as Mattermost sends it; surrogates go out as the bytes Python would give them."""
    pairs = [(str(k), v if isinstance(v, str) else values.dumps(v)) for k, v in fields.items()]
    return urlencode(pairs, encoding="utf-8", errors="surrogatepass").encode("ascii")


def json_body(value: Any, *, ascii_only: bool = True) -> bytes:
    text = values.dumps(value) if ascii_only else _dumps_raw_utf8(value)
    return text.encode("utf-8", "surrogatepass")


def _dumps_raw_utf8(value: Any) -> str:
    if isinstance(value, values.Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{_dumps_raw_utf8(v)}"
                              for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_dumps_raw_utf8(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


# -- bodies ---------------------------------------------------------------------------------------------

CONTENT_TYPES = [FORM, JSON, "application/json; charset=utf-8", "text/plain", "", "multipart/form-data",
                 "multipart/form-data; boundary=x", "application/x-www-form-urlencoded; charset=latin-1",
                 "application/json; charset=utf-16", "application/vnd.api+json"]


@st.composite
def hostile_body(draw: st.DrawFn, body: bytes, content_type: str) -> tuple[bytes, str, str]:
    """Mostly the body as it is; sometimes truncated, with bytes that are not UTF-8, empty, over the size limit,
    or sent under another Content-Type. Returns body, content type and a note."""
    mangling = st.sampled_from(["truncate", "not utf-8", "empty", "garbage", "oversize", "content type"])
    what = draw(values.mostly(st.just("as is"), mangling, 25))
    if what == "truncate" and body:
        return body[:draw(st.integers(0, len(body) - 1))], content_type, "truncated"
    if what == "not utf-8":
        at = draw(st.integers(0, len(body)))
        bad = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xe2\x28\xa1", b"\x00", b"%ff", b"%ed%a0%80"]))
        return body[:at] + bad + body[at:], content_type, f"bytes {bad!r}"
    if what == "empty":
        return b"", content_type, "empty"
    if what == "garbage":
        tail = draw(st.sampled_from([b"}", b"]]]", b"&&&=&", b"\r\n\r\n", b"\x00\x00", b",,,"]))
        return body + tail, content_type, "garbage"
    if what == "oversize":
        return body + b" " * (MAX_BODY + 1 - len(body)), content_type, "over 1 MiB"
    if what == "content type":
        return body, draw(st.sampled_from(CONTENT_TYPES)), "content type"
    return body, content_type, ""


def header_value(text: str) -> str:
    """`text` as a header can carry it: Latin-1, without line breaks or NUL (no client sends those)."""
    return re.sub(r"[\r\n\x00]", "", text.encode("latin-1", "replace").decode("latin-1"))


def headers_with(content_type: str, *extra: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    return ((("Content-Type", content_type),) if content_type else ()) + tuple(extra)
