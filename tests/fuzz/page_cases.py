"""Cases for the pages people open in a browser: /signin, /mydata, /rate, /dashboard/<id>, /privacy,
/widget.js. Each is sent with one of the browser sessions tests/fuzz/send.py keeps: nobody signed in, the
owner, a member, a stranger, a tampered cookie, a cookie that is not one.

Placeholders the sender fills in: __CSRF__ (the session's CSRF token), __LINK__ (a fresh one-time link for the
session's person, for the page's purpose) and __NONCE__ (the nonce this browser got when it opened that link)."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from hypothesis import strategies as st

from learnloop.domain.learning_metrics import ACTIONS
from tests.fuzz import values, world
from tests.fuzz.cases import FORM, Case, form_body, header_value, headers_with, hostile_body

ANONYMOUS, TAMPERED, GARBAGE = "anonymous", "tampered", "garbage"
SESSIONS = (ANONYMOUS, world.OWNER, world.MEMBER, world.STRANGER, TAMPERED, GARBAGE)
SIGNED_IN = frozenset(world.USERS)
ACCEPTS = ["text/html", "application/json", "*/*", "", "text/html;q=0.1, application/json", "\u00e9/\u00e9"]


def sessions() -> st.SearchStrategy[str]:
    return values.mostly(st.sampled_from(world.USERS), st.sampled_from([ANONYMOUS, TAMPERED, GARBAGE]), 30)


def _query_value() -> st.SearchStrategy[str]:
    return values.mostly(st.sampled_from(values.URLS + values.DATES), values.nasty_text(), 50)


def _quoted(text: str) -> str:
    return quote(text, safe="", errors="surrogatepass")


@st.composite
def _headers(draw: st.DrawFn, content_type: str = "") -> tuple[tuple[str, str], ...]:
    accept = header_value(draw(st.sampled_from(ACCEPTS)))
    return headers_with(content_type, *((("Accept", accept),) if accept else ()))


@st.composite
def link_cases(draw: st.DrawFn, purpose: str) -> Case:
    """GET shows the confirmation page, POST redeems the link; only the browser that opened it may."""
    route, session = f"/{purpose}", draw(sessions())
    token = draw(values.mostly(st.just("__LINK__"), st.sampled_from(["", "x"]) | values.nasty_text(), 25))
    if draw(st.booleans()):
        return Case(route, "GET", f"{route}?token={_quoted(token)}", draw(_headers()), session=session,
                    must_refuse=token != "__LINK__", note=f"GET token {token[:20]!r}")
    nonce = draw(values.mostly(st.just("__NONCE__"), st.sampled_from(["", "wrong"]) | values.nasty_text(), 20))
    fields = {"token": token, "nonce": nonce}
    if draw(values.chance(10)):
        fields.pop(draw(st.sampled_from(["token", "nonce"])))
    body, content_type, mangled = draw(hostile_body(form_body(fields), FORM))
    forged = fields.get("token") != "__LINK__" or fields.get("nonce") != "__NONCE__" or session not in SIGNED_IN
    return Case(route, "POST", route, draw(_headers(content_type)), body, session=session, must_refuse=forged,
                note=f"POST {sorted(fields)}; {mangled}")


@st.composite
def rate_cases(draw: st.DrawFn) -> Case:
    session = draw(sessions())
    if draw(st.booleans()):
        url = draw(_query_value())
        extra = draw(st.sampled_from(["", "&rated=1", "&url=https://b.example/"]))
        return Case("/rate", "GET", f"/rate?url={_quoted(url)}{extra}", draw(_headers()), session=session,
                    must_refuse=session not in SIGNED_IN, note=f"GET url {url[:30]!r}")
    fields = {"csrf_token": draw(st.sampled_from(["__CSRF__"] * 5 + ["", "wrong"])),
              "url": draw(values.mostly(st.sampled_from(values.URLS), values.nasty_text(), 30)),
              "stars": draw(values.mostly(st.sampled_from(["1", "3", "5", "2", "4"]),
                                          st.sampled_from(values.NUMBERS + values.ODD_DIGITS) | values.nasty_text(),
                                          30)),
              "comment": draw(values.mostly(st.sampled_from(["", "Useful."]), values.nasty_text(), 30))}
    if draw(values.chance(10)):
        fields.pop(draw(st.sampled_from(sorted(fields))))
    body, content_type, mangled = draw(hostile_body(form_body(fields), FORM))
    forged = session not in SIGNED_IN or fields.get("csrf_token") != "__CSRF__"
    return Case("/rate", "POST", "/rate", draw(_headers(content_type)), body, session=session, must_refuse=forged,
                note=f"POST {sorted(fields)}; {mangled}")


COMMUNITY_IDS = ["1", "2", "3", "0", "999", "9223372036854775807", "9223372036854775808", "1" + "0" * 30, "-1", "x",
                 "%C2%B2", "%D9%A1", "1.0"]
PERIODS = ["4w", "12w", "custom", "", "52w", "\u00b2w"]


@st.composite
def dashboard_cases(draw: st.DrawFn) -> Case:
    session = draw(sessions())
    community = draw(values.mostly(st.sampled_from(["1", "2"]), st.sampled_from(COMMUNITY_IDS), 40))
    query = {"period": draw(values.mostly(st.sampled_from(PERIODS), values.nasty_text(), 20))}
    for name in ("start", "end"):
        if draw(st.booleans()):
            query[name] = draw(values.mostly(st.sampled_from(values.DATES + ["2026-10-01", "2026-11-30"]),
                                             values.nasty_text(), 20))
    encoded = urlencode(query, quote_via=quote, encoding="utf-8", errors="surrogatepass")
    refused = session not in SIGNED_IN or session == world.STRANGER
    what = draw(values.mostly(st.just("page"), st.sampled_from(["feedback", "feedback", "step"]), 30))
    if what != "page":
        forged = refused or session != world.OWNER
        if what == "feedback":
            feedback = draw(values.mostly(st.sampled_from(["1", "2", "3"]), st.sampled_from(COMMUNITY_IDS), 40))
            path = f"/dashboard/{community}/feedback/{feedback}?{encoded}"
            field = ("status", values.mostly(st.sampled_from(["new", "planned", "resolved", "hidden"]),
                                             st.sampled_from(["", "open", "Resolved", "resolved "])
                                             | values.nasty_text(), 30))
        else:
            path = f"/dashboard/{community}/step?{encoded}"
            field = ("action", values.mostly(st.sampled_from(ACTIONS), values.nasty_text(), 30))
        fields = {"csrf_token": draw(values.mostly(st.just("__CSRF__"), st.sampled_from(["", "wrong"]), 20)),
                  field[0]: draw(field[1])}
        body, content_type, mangled = draw(hostile_body(form_body(fields), FORM))
        return Case("/dashboard", "POST", path, draw(_headers(content_type)), body, session=session,
                    must_refuse=forged or fields["csrf_token"] != "__CSRF__", note=f"POST {path[:60]!r}; {mangled}")
    page = draw(st.sampled_from(["", "", "/export.csv", "/export.json"]))
    path = f"/dashboard/{community}{page}?{encoded}"
    return Case("/dashboard", "GET", path, draw(_headers()), session=session,
                must_refuse=refused or (bool(page) and session != world.OWNER), note=f"GET {path[:80]!r}")


@st.composite
def static_cases(draw: st.DrawFn, route: str) -> Case:
    """Pages without input, with a hostile query string and headers all the same."""
    method = draw(st.sampled_from(["GET"] * 5 + ["HEAD", "POST"]))
    query = _quoted(draw(values.nasty_text()))
    return Case(route, method, f"{route}?q={query}", draw(_headers()), session=draw(sessions()), note=f"{method}")
