"""Cases for POST /wiki/<name>/events, grown from the recorded deliveries in tests/fixtures/{mediawiki,outline,
bookstack}: signed as each wiki signs them (at the moment of sending), or not, or stale, or for another wiki."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from hypothesis import strategies as st

from tests.fuzz import values, world
from tests.fuzz.cases import JSON, Case, header_value, headers_with, hostile_body, hostile_tree, json_body

FIXTURES = Path(__file__).parent.parent / "fixtures"
STALE = 600
"""Seconds: further from now than any wiki's allowed clock skew (5 minutes)."""


def _documents(folder: str) -> list[dict[str, Any]]:
    found = []
    for path in sorted((FIXTURES / folder).glob("*.json")):
        try:
            document = json.loads(path.read_text())
        except ValueError:
            continue
        if isinstance(document, dict):
            found.append(document)
    return found


OUTLINE_DELIVERIES = _documents("outline")
BOOKSTACK_DELIVERIES = _documents("bookstack")


@st.composite
def wiki_path(draw: st.DrawFn, name: str) -> tuple[str, bool]:
    """The route for wiki `name`, or another wiki's, or one that is not configured: (path, refused)."""
    others = [n for n in world.WIKI_KINDS if n != name] + ["nope", "other"]
    chosen = draw(values.mostly(st.just(name), st.sampled_from(others), 10))
    if draw(values.chance(5)):
        chosen = draw(values.atom()) or "x"
    return f"/wiki/{quote(chosen, safe='', errors='surrogatepass')}/events", chosen != name


@st.composite
def mediawiki_cases(draw: st.DrawFn) -> Case:
    path, elsewhere = draw(wiki_path(world.MEDIAWIKI))
    offset = draw(values.mostly(st.just(0), st.sampled_from([-60, STALE, -STALE]), 15))
    event = values.mostly(st.just("page_saved"), st.sampled_from(["page_deleted", ""]))
    rc_id = values.mostly(st.integers(1, 10**6), st.sampled_from([0, -5, 2**63, 10**30]))
    document: dict[str, Any] = {"event": draw(event), "rc_id": draw(rc_id)}
    document, note = draw(hostile_tree(document))
    stamp = draw(values.mostly(st.just("now"), st.sampled_from(["hostile", "missing"]), 10))
    if stamp == "now":
        document["timestamp"] = values.Raw(f"__NOW:s:{offset:+d}__")
    elif stamp == "hostile":
        document["timestamp"] = draw(values.wrong_value())
    signature = draw(values.mostly(st.just("ok"), st.sampled_from(["wrongsecret", "missing", "sha1", "hostile"]), 15))
    header = {"ok": "__SIG:mediawiki:+0:ok__", "wrongsecret": "__SIG:mediawiki:+0:wrongsecret__",
              "sha1": "sha1=0123", "hostile": "sha256=" + header_value(draw(values.atom()))}
    extra = (("X-Learnloop-Signature", header[signature]),) if signature in header else ()
    body, content_type, mangled = draw(hostile_body(json_body(document), JSON))
    refused = elsewhere or signature != "ok" or (abs(offset) >= STALE and stamp == "now")
    return Case("/wiki/mediawiki", "POST", path, headers_with(content_type, *extra), body, must_refuse=refused,
                note=f"{path}, signature {signature}, sent {offset:+d}s; {note}; {mangled}")


@st.composite
def outline_cases(draw: st.DrawFn) -> Case:
    path, elsewhere = draw(wiki_path(world.OUTLINE))
    document, note = draw(hostile_tree(draw(st.sampled_from(OUTLINE_DELIVERIES))))
    offset = draw(values.mostly(st.just(0), st.sampled_from([-60, STALE, -STALE]), 15))
    signature = draw(values.mostly(st.just("ok"), st.sampled_from(["wrongsecret", "missing", "malformed", "hostile"]),
                                   15))
    header = {"ok": f"__SIG:outline:{offset:+d}:ok__", "wrongsecret": f"__SIG:outline:{offset:+d}:wrongsecret__",
              "malformed": draw(st.sampled_from(["t=1,s=zz", "t=,s=", "s=" + "0" * 64,
                                                 "t=" + "9" * 16 + ",s=" + "0" * 64, "t=²,s=" + "0" * 64])),
              "hostile": header_value(draw(values.atom()))}
    extra = (("Outline-Signature", header[signature]),) if signature in header else ()
    body, content_type, mangled = draw(hostile_body(json_body(document, ascii_only=draw(st.booleans())), JSON))
    refused = elsewhere or signature != "ok" or abs(offset) >= STALE
    return Case("/wiki/outline", "POST", path, headers_with(content_type, *extra), body, must_refuse=refused,
                note=f"{document.get('event')!r} at {path}, signature {signature}, sent {offset:+d}s; {note}; "
                     f"{mangled}")


@st.composite
def bookstack_cases(draw: st.DrawFn) -> Case:
    path, elsewhere = draw(wiki_path(world.BOOKSTACK))
    document, note = draw(hostile_tree(draw(st.sampled_from(BOOKSTACK_DELIVERIES))))
    secret = world.WIKI_SECRETS[world.BOOKSTACK]
    query = draw(values.mostly(st.just([("secret", secret)]), st.sampled_from([
        [], [("secret", "")], [("secret", "wrong")], [("secret", secret[:-1])],
        [("secret", "wrong"), ("secret", secret)], [("Secret", secret)], [("secret", secret + "\x00")]]), 15))
    body, content_type, mangled = draw(hostile_body(json_body(document, ascii_only=draw(st.booleans())), JSON))
    refused = elsewhere or query != [("secret", secret)]
    target = f"{path}?{urlencode(query)}" if query else path
    return Case("/wiki/bookstack", "POST", target, headers_with(content_type), body, must_refuse=refused,
                note=f"{document.get('event')!r} at {path}, query {[k for k, _ in query]}; {note}; {mangled}")
