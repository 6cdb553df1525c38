"""The MediaWiki client's rules that a healthy real wiki cannot show: failures, limits, where it calls.

A stub api.php (the `responses` library) answers; anything else the client might call fails."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses

from learnloop.config import WikiConfig
from learnloop.mediawiki.client import MediaWikiClient, api_url_for
from learnloop.mediawiki.host import (
    MediaWikiHost,
    canonical_categories,
    decode_position,
    encode_position,
    plain_heading,
    plain_wikitext,
    without_section,
)
from learnloop.wikis import WikiError

from .mediawiki_support import WIKI_SECRET

API = "https://wiki.example.com/w/api.php"
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
Reply = dict[str, Any] | Callable[[dict[str, str]], dict[str, Any]]


def _wiki(url: str = "https://wiki.example.com/w") -> WikiConfig:
    return WikiConfig(name="handbook", kind="mediawiki", url=url, secret=WIKI_SECRET, bot_user="Bot@learnloop",
                      bot_password="learnloopbot0123456789abcdefghijk")


class StubWiki:
    """api.php that logs in anyone, then answers each (action, module) with what the test set."""

    def __init__(self, mock: responses.RequestsMock) -> None:
        self.replies: dict[str, list[Reply]] = {}
        self.params: list[dict[str, str]] = []
        for method in (responses.GET, responses.POST):
            mock.add_callback(method, API, callback=self._answer)

    def on(self, key: str, *replies: Reply) -> None:
        self.replies.setdefault(key, []).extend(replies)

    def _answer(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        params = dict(parse_qsl(urlsplit(request.url).query))
        if request.body:
            body = request.body.decode() if isinstance(request.body, bytes) else request.body
            params.update(parse_qsl(body))
        self.params.append(params)
        key = params.get("action", "")
        if key == "query":
            key = params.get("meta") or params.get("list") or params.get("prop") or "query"
            if key == "tokens":
                key = f"tokens:{params.get('type', 'csrf')}"
        queued = self.replies.get(key)
        if queued:
            reply = queued.pop(0) if len(queued) > 1 else queued[0]
        else:
            reply = {"tokens:login": {"query": {"tokens": {"logintoken": "lt+\\"}}},
                     "login": {"login": {"result": "Success", "lgusername": "Bot"}},
                     "tokens:csrf": {"query": {"tokens": {"csrftoken": "csrf+\\"}}}}.get(key, {})
        body = reply(params) if callable(reply) else reply
        return 200, {"Content-Type": "application/json"}, json.dumps(body)


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def stub(mock: responses.RequestsMock) -> StubWiki:
    return StubWiki(mock)


def _client() -> MediaWikiClient:
    return MediaWikiClient.for_wiki(_wiki())


def _change(rcid: int, **fields: Any) -> dict[str, Any]:
    return {"type": "edit", "ns": 0, "title": f"Page {rcid}", "pageid": rcid, "revid": rcid, "old_revid": rcid - 1,
            "rcid": rcid, "user": "Ann", "bot": False, "minor": False, "oldlen": 10, "newlen": 20,
            "timestamp": "2026-11-02T08:00:00Z", "comment": "c", **fields}


# ------------------------------------------------------------------------------ where it calls

@pytest.mark.parametrize("url, api", [
    ("https://wiki.example.com/w", "https://wiki.example.com/w/api.php"),
    ("https://wiki.example.com/w/", "https://wiki.example.com/w/api.php"),
    ("https://wiki.example.com/w/api.php", "https://wiki.example.com/w/api.php"),
    ("http://127.0.0.1:8765", "http://127.0.0.1:8765/api.php"),
])
def test_the_api_url_is_derived_from_the_configured_url(url: str, api: str) -> None:
    assert api_url_for(_wiki(url)) == api


def test_every_call_goes_to_the_configured_api_with_a_timeout(mock: responses.RequestsMock, stub: StubWiki) -> None:
    stub.on("recentchanges", {"query": {"recentchanges": [_change(5)]}})
    stub.on("info|categories", {"query": {"pages": [
        {"pageid": 5, "ns": 0, "title": "Page 5", "canonicalurl": "https://wiki.example.com/wiki/Page_5"}]}})
    job = {"wiki": "handbook", "event_id": "push:5", "poll": True, "rc_id": 5, "timestamp": 1793606400,
           "url": "http://169.254.169.254/latest/meta-data/"}  # whatever a job says, only api.php is called
    [event] = MediaWikiHost().fetch(_wiki(), job, NOW)
    assert event.url == "https://wiki.example.com/wiki/Page_5"
    assert mock.calls, "no call made"
    for call in mock.calls:
        assert call.request.url.split("?")[0] == API
        assert call.request.req_kwargs["timeout"] is not None
    rc_query = next(p for p in stub.params if p.get("list") == "recentchanges")
    assert (rc_query["rcstart"], rc_query["rcend"]) == ("2026-11-02T07:55:00Z", "2026-11-02T08:01:00Z")


def test_redirects_are_not_followed(mock: responses.RequestsMock) -> None:
    mock.add(responses.GET, API, status=301, headers={"Location": "http://10.0.0.1/api.php"})
    with pytest.raises(WikiError) as refused:
        _client().login()
    assert refused.value.retryable is False and "redirects" in str(refused.value)
    assert len(mock.calls) == 1


# ------------------------------------------------------------------------------ failures

@pytest.mark.parametrize("failure, retryable", [
    (requests.ConnectionError("refused"), True),
    (requests.ReadTimeout("slow"), True),
])
def test_network_failures_are_retryable(mock: responses.RequestsMock, failure: Exception, retryable: bool) -> None:
    mock.add(responses.GET, API, body=failure)
    with pytest.raises(WikiError) as failed:
        _client().login()
    assert failed.value.retryable is retryable
    assert len(mock.calls) == 1, "no hidden retries"


@pytest.mark.parametrize("status, retryable", [(500, True), (502, True), (503, True), (429, True), (404, False),
                                               (403, False)])
def test_http_errors(mock: responses.RequestsMock, status: int, retryable: bool) -> None:
    mock.add(responses.GET, API, status=status, body="<html>down</html>")
    with pytest.raises(WikiError) as failed:
        _client().login()
    assert failed.value.retryable is retryable
    assert len(mock.calls) == 1


def test_a_rate_limit_says_when_to_come_back(mock: responses.RequestsMock) -> None:
    mock.add(responses.GET, API, status=429, headers={"Retry-After": "30"}, body="slow down")
    with pytest.raises(WikiError) as failed:
        _client().login()
    assert failed.value.retry_after == 30.0


def test_something_that_is_not_an_api_is_not_retried(mock: responses.RequestsMock) -> None:
    mock.add(responses.GET, API, body="<html>a login portal</html>", content_type="text/html")
    with pytest.raises(WikiError) as failed:
        _client().login()
    assert failed.value.retryable is False and "JSON" in str(failed.value)


@pytest.mark.parametrize("code, retryable", [("ratelimited", True), ("readonly", True), ("maxlag", True),
                                             ("internal_api_error_DBConnectionError", True),
                                             ("permissiondenied", False), ("protectedpage", False),
                                             ("writeapidenied", False)])
def test_api_errors(stub: StubWiki, code: str, retryable: bool) -> None:
    stub.on("edit", {"error": {"code": code, "info": "no"}})
    stub.on("info|categories", {"query": {"pages": [{"ns": 0, "title": "Log", "missing": True}]}})
    with pytest.raises(WikiError) as failed:
        _client().append_section("Log", "h", "x")
    assert failed.value.retryable is retryable and code in str(failed.value)


@pytest.mark.parametrize("login, retryable", [
    ({"result": "Failed", "reason": "Incorrect username or password entered. Please try again."}, False),
    ({"result": "Aborted", "reason": "Cannot log in when using MediaWiki\\Session\\BotPasswordSessionProvider."},
     False),
    ({"result": "Throttled", "reason": "You have made too many recent login attempts."}, True),
])
def test_login_failures(stub: StubWiki, login: dict[str, str], retryable: bool) -> None:
    stub.on("login", {"login": login})
    with pytest.raises(WikiError) as failed:
        _client().login()
    assert failed.value.retryable is retryable
    assert "learnloopbot0123456789abcdefghijk" not in str(failed.value)


def test_a_lost_session_logs_in_again_once(stub: StubWiki) -> None:
    stub.on("recentchanges", {"error": {"code": "assertuserfailed", "info": "gone"}},
            {"query": {"recentchanges": [_change(7)]}})
    [change] = _client().recent_changes(0, 10)
    assert change.rcid == 7
    assert [p.get("action") for p in stub.params].count("login") == 2


def test_a_stale_csrf_token_is_fetched_again_once(stub: StubWiki) -> None:
    stub.on("info|categories", {"query": {"pages": [
        {"ns": 0, "title": "Log", "pageid": 3, "canonicalurl": "https://wiki.example.com/wiki/Log"}]}})
    stub.on("edit", {"error": {"code": "badtoken", "info": "Invalid CSRF token."}},
            {"edit": {"result": "Success", "title": "Log"}})
    assert _client().append_section("Log", "h", "x").url == "https://wiki.example.com/wiki/Log"
    assert [p.get("type") for p in stub.params if p.get("meta") == "tokens"].count("csrf") == 2
    edits = [p for p in stub.params if p.get("action") == "edit"]
    assert len(edits) == 2 and edits[-1]["minor"] == "1" and edits[-1]["appendtext"].startswith("\n\n== h ==")


# ------------------------------------------------------------------------------ listings

def test_recent_changes_follow_continuation_and_keep_only_newer_ones(stub: StubWiki) -> None:
    stub.on("recentchanges",
            {"continue": {"rccontinue": "a", "continue": "-||"},
             "query": {"recentchanges": [_change(3), _change(4)]}},
            {"continue": {"rccontinue": "b", "continue": "-||"},
             "query": {"recentchanges": [_change(6), _change(5)]}},
            {"query": {"recentchanges": [_change(8, type="new")]}})
    changes = _client().recent_changes(3, 100)
    assert [change.rcid for change in changes] == [4, 5, 6, 8]
    assert [p.get("rccontinue") for p in stub.params if p.get("list") == "recentchanges"] == [None, "a", "b"]


def test_recent_changes_stop_at_the_limit(stub: StubWiki) -> None:
    stub.on("recentchanges",
            {"continue": {"rccontinue": "a", "continue": "-||"},
             "query": {"recentchanges": [_change(1), _change(2), _change(3)]}},
            {"query": {"recentchanges": [_change(4)]}})
    assert [change.rcid for change in _client().recent_changes(0, 2)] == [1, 2]
    assert len([p for p in stub.params if p.get("list") == "recentchanges"]) == 1


def test_hidden_users_and_comments_are_none(stub: StubWiki) -> None:
    stub.on("recentchanges", {"query": {"recentchanges": [
        {**_change(9, userhidden=True, commenthidden=True), "user": None, "comment": None}]}})
    [change] = _client().recent_changes(0, 10)
    assert change.user is None and change.comment is None


def test_categories_are_merged_across_continuation(stub: StubWiki) -> None:
    stub.on("info|categories",
            {"continue": {"clcontinue": "1|B", "continue": "||"}, "query": {"pages": [
                {"pageid": 1, "ns": 0, "title": "A", "canonicalurl": "u", "categories": [{"title": "Category:A"}]}]}},
            {"query": {"pages": [{"pageid": 1, "ns": 0, "title": "A", "categories": [{"title": "Category:B"}]}]}})
    assert _client().categories(["A"]) == {"A": ("Category:A", "Category:B")}


def test_a_poll_with_an_unreadable_position_fails_for_good(stub: StubWiki) -> None:
    with pytest.raises(WikiError) as failed:
        MediaWikiHost().poll(_wiki(), "banana", NOW)
    assert failed.value.retryable is False


def test_the_poll_rewinds_from_the_positions_timestamp(stub: StubWiki) -> None:
    stub.on("recentchanges", {"query": {"recentchanges": [_change(40), _change(41)]}})
    stub.on("info|categories", {"query": {"pages": [
        {"pageid": 41, "ns": 0, "title": "Page 41", "canonicalurl": "https://wiki.example.com/wiki/Page_41"}]}})
    events, position = MediaWikiHost().poll(_wiki(), "40@2026-11-02T08:00:00Z", NOW)
    assert [event.event_id for event in events] == ["rc:41@2026-11-02T08:00:00Z"]
    assert position == "41@2026-11-02T08:00:00Z"
    [query] = [p for p in stub.params if p.get("list") == "recentchanges"]
    assert query["rcstart"] == "2026-11-02T07:55:00Z" and query["rcdir"] == "newer"
    assert query["rctype"] == "new|edit|log"
    assert query["rcprop"] == "title|ids|sizes|flags|user|comment|timestamp|loginfo"


def test_only_the_log_entries_of_a_pages_life_are_read(stub: StubWiki) -> None:
    """Protections, uploads, new accounts and revision deletions are not a page's life; a log entry whose action
    an admin suppressed names no page (no title) and is passed over."""
    log = {"type": "log", "oldlen": 0, "newlen": 0, "logparams": {}}
    stub.on("recentchanges", {"query": {"recentchanges": [
        _change(50, **log, logtype="protect", logaction="protect"),
        _change(51, **log, logtype="newusers", logaction="create"),
        _change(52, **log, logtype="delete", logaction="revision"),
        {k: v for k, v in _change(53, **log, logtype="delete", logaction="delete", actionhidden=True).items()
         if k not in ("title", "pageid")},
        _change(54, **{**log, "logparams": {"target_ns": 0, "target_title": "Page 54 moved"}}, logtype="move",
                logaction="move"),
        _change(55, **log, logtype="delete", logaction="delete", pageid=0),
    ]}})
    def page(name: str) -> dict[str, Any]:
        if name in ("54", "Page 54 moved"):
            return {"pageid": 54, "ns": 0, "title": "Page 54 moved",
                    "canonicalurl": "https://wiki.example.com/wiki/Page_54_moved"}
        return {"ns": 0, "title": name, "missing": True,
                "canonicalurl": f"https://wiki.example.com/wiki/{name.replace(' ', '_')}"}

    stub.on("info|categories", lambda params: {"query": {"pages": [
        page(name) for name in (params.get("pageids") or params.get("titles", "")).split("|")]}})
    events, _ = MediaWikiHost().poll(_wiki(), "49@2026-11-02T08:00:00Z", NOW)
    assert [(e.event_id, e.action, e.page_id, e.url, e.old_url) for e in events] == [
        ("rc:54@2026-11-02T08:00:00Z", "moved", "54", "https://wiki.example.com/wiki/Page_54_moved", "https://wiki.example.com/wiki/Page_54"),
        ("rc:55@2026-11-02T08:00:00Z", "deleted", "", "https://wiki.example.com/wiki/Page_55", None)]
    assert events[0].old_size is None and events[0].new_size is None


def _listing(rows: list[dict[str, Any]]) -> Callable[[dict[str, str]], dict[str, Any]]:
    """list=recentchanges as MediaWiki sorts it: by timestamp, then rcid; from rcstart on (rcdir=newer)."""
    def answer(params: dict[str, str]) -> dict[str, Any]:
        listed = sorted(rows, key=lambda row: (row["timestamp"], row["rcid"]), reverse=params["rcdir"] == "older")
        if "rctype" in params:
            listed = [row for row in listed if row["type"] in params["rctype"].split("|")]
        if "rcstart" in params and params["rcdir"] == "newer":
            listed = [row for row in listed if row["timestamp"] >= params["rcstart"]]
        return {"query": {"recentchanges": listed[:int(params["rclimit"])]}}
    return answer


def test_a_slow_save_numbered_after_the_newest_listed_change_is_no_restore(stub: StubWiki) -> None:
    """Save 102 started a second before 101 but was committed after it: it is listed before 101, with an older
    timestamp. The position is at 102, the wiki is as it was: idle polls neither restart nor spend a second call."""
    stub.on("recentchanges", _listing([_change(101, timestamp="2026-11-02T09:00:11Z"),
                                       _change(102, timestamp="2026-11-02T09:00:10Z")]))
    host = MediaWikiHost()
    _, position = host.poll(_wiki(), None, NOW)
    assert position == "102@2026-11-02T09:00:10Z"
    stub.params.clear()
    for _ in range(6):
        assert host.poll(_wiki(), position, NOW) == ([], position)
    assert len([p for p in stub.params if p.get("list") == "recentchanges"]) == 6


def test_a_position_at_a_change_the_poll_does_not_read_is_no_restore(stub: StubWiki) -> None:
    """The first poll starts at the newest change of any kind, here a category membership the poll does not list:
    the poll asks for the wiki's newest changes of any kind before it takes the wiki for restored."""
    stub.on("recentchanges", _listing([_change(101, timestamp="2026-11-02T09:00:10Z"),
                                       _change(102, type="categorize", timestamp="2026-11-02T09:00:10Z")]))
    host = MediaWikiHost()
    _, position = host.poll(_wiki(), None, NOW)
    assert position == "102@2026-11-02T09:00:10Z"
    assert host.poll(_wiki(), position, NOW) == ([], position)


# ------------------------------------------------------------------------------ small pieces

def test_positions_round_trip() -> None:
    stamp = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
    assert decode_position(encode_position(12, stamp)) == (12, stamp)
    assert decode_position("12") == (12, None)
    assert len(encode_position(10**15, stamp)) < 100


def test_category_spaces_use_the_canonical_prefix_and_keep_the_local_one() -> None:
    assert canonical_categories(("Category:Onboarding",)) == ("Category:Onboarding",)
    assert canonical_categories(("Kategorie:Einarbeitung",)) == ("Category:Einarbeitung", "Kategorie:Einarbeitung")


def test_published_text_cannot_carry_markup() -> None:
    text = "Line {{one}} ~~~~\nline two </nowiki>[[Category:X]]\n\n  * third & <b>"
    assert plain_wikitext(text) == ("<nowiki>Line {{one}} ~~~~</nowiki><br />\n"
                                    "<nowiki>line two &lt;/nowiki>[[Category:X]]</nowiki>\n\n"
                                    "<nowiki>* third &amp; &lt;b></nowiki>")
    assert plain_heading("2026-11-02 · Ann [[x]] {{y}}\n== z") == (
        "2026-11-02 · Ann &#91;&#91;x&#93;&#93; &#123;&#123;y&#125;&#125; &#61;&#61; z")


LOG = ("Intro by a person.\n\n== 2026-11-02 · Ann ==\n\n<!-- learnloop-reflection-1-aaaaaaaaaa -->\n\n"
       "<nowiki>Ann's text</nowiki>\n\n[[Category:Onboarding]]\n\n=== A reply someone added ===\nReply.\n\n"
       "== 2026-11-03 · Bob ==\n\n<!-- learnloop-reflection-2-bbbbbbbbbb -->\n\n<nowiki>Bob's text</nowiki>\n")


def test_a_section_is_cut_from_its_heading_to_the_next_of_its_level() -> None:
    assert without_section(LOG, "learnloop-reflection-1-aaaaaaaaaa") == (
        "Intro by a person.\n\n== 2026-11-03 · Bob ==\n\n<!-- learnloop-reflection-2-bbbbbbbbbb -->\n\n"
        "<nowiki>Bob's text</nowiki>\n\n[[Category:Onboarding]]\n"), "its subsections go, its categories stay"
    assert without_section(LOG, "learnloop-reflection-2-bbbbbbbbbb") == LOG[:LOG.index("== 2026-11-03")].rstrip() + "\n"
    assert without_section(LOG, "learnloop-reflection-3-cccccccccc") is None
    only = "== h ==\n\n<!-- learnloop-reflection-4-dddddddddd -->\n\n<nowiki>x</nowiki>"
    assert without_section(only, "learnloop-reflection-4-dddddddddd") == ""


def test_an_anonymous_csrf_token_means_the_session_was_lost(stub: StubWiki) -> None:
    stub.on("info|categories", {"query": {"pages": [
        {"ns": 0, "title": "Log", "pageid": 3, "canonicalurl": "https://wiki.example.com/wiki/Log"}]}})
    stub.on("tokens:csrf", {"query": {"tokens": {"csrftoken": "+\\"}}}, {"query": {"tokens": {"csrftoken": "t+\\"}}})
    stub.on("edit", {"edit": {"result": "Success", "title": "Log"}})
    assert _client().append_section("Log", "h", "x").url == "https://wiki.example.com/wiki/Log"
    assert [p.get("action") for p in stub.params].count("login") == 2
    [edit] = [p for p in stub.params if p.get("action") == "edit"]
    assert edit["token"] == "t+\\"
