"""The MediaWiki host against a real MediaWiki 1.39: polling, fetching a pushed change, publishing."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from learnloop.config import WikiConfig
from learnloop.domain.wiki_events import is_major, should_announce
from learnloop.mediawiki.host import MediaWikiHost, decode_position
from learnloop.wikis import Removed, WikiError
from learnloop.wiring import wiki_hosts

from .mediawiki_server import MediaWikiServer
from .mediawiki_support import Editor, needs_mediawiki, wiki_config

pytestmark = needs_mediawiki

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # the host does not use `now` to read the wiki


@pytest.fixture
def wiki(mediawiki: MediaWikiServer) -> WikiConfig:
    return wiki_config(mediawiki)


@pytest.fixture
def host() -> MediaWikiHost:
    return MediaWikiHost()  # a fresh process's host: no cached session


def _start(host: MediaWikiHost, wiki: WikiConfig) -> str:
    events, position = host.poll(wiki, None, NOW)
    assert events == [] and position is not None
    return position


def test_the_registered_host_is_the_mediawiki_one(wiki: WikiConfig) -> None:
    assert isinstance(wiki_hosts()[wiki.kind], MediaWikiHost)


def test_first_poll_imports_nothing_and_starts_at_the_newest_change(
        host: MediaWikiHost, wiki: WikiConfig, mediawiki_editor: Editor) -> None:
    mediawiki_editor.save("Old history page", "Written before learnloop was connected. [[Category:Onboarding]]")
    position = _start(host, wiki)
    rcid, seen_at = decode_position(position)
    assert rcid == mediawiki_editor.newest_rcid()
    assert seen_at is not None and abs(seen_at - datetime.now(UTC)) < timedelta(minutes=10)
    assert host.poll(wiki, position, NOW) == ([], position)


def test_new_pages_and_edits_become_wiki_events(
        host: MediaWikiHost, wiki: WikiConfig, mediawiki_editor: Editor, mediawiki: MediaWikiServer) -> None:
    position = _start(host, wiki)
    first_text = "Welcome! Start here.\n[[Category:Onboarding]]\n[[Category:Team handbook]]"
    created = mediawiki_editor.save("Onboarding checklist", first_text, summary="First draft")
    second_text = first_text + "\n== Laptop ==\nAsk IT for a laptop on day one."
    edited = mediawiki_editor.save("Onboarding checklist", second_text, summary="Add laptop setup")
    help_page = mediawiki_editor.save("Help:Expenses", "How to file expenses.", summary="Help page")
    rcids = [mediawiki_editor.rc_of_revision(edit["newrevid"])["rcid"] for edit in (created, edited, help_page)]

    events, new_position = host.poll(wiki, position, NOW)

    assert [event.event_id.partition("@")[0] for event in events] == [f"rc:{rcid}" for rcid in rcids]
    new, update, helped = events
    assert new.wiki == "handbook"
    assert new.action == "created" and update.action == "updated"
    assert new.page_id == update.page_id == str(created["pageid"])
    assert new.title == "Onboarding checklist"
    assert new.url == update.url == f"{mediawiki.url}/wiki/Onboarding_checklist"
    assert sorted(new.spaces) == ["Category:Onboarding", "Category:Team handbook", "Namespace:0"]
    assert (new.author, new.summary, new.minor) == ("Admin", "First draft", False)
    assert (new.old_size, new.new_size) == (0, len(first_text.encode()))
    assert (update.old_size, update.new_size) == (len(first_text.encode()), len(second_text.encode()))
    assert update.summary == "Add laptop setup"
    assert new.occurred_at.tzinfo is not None
    assert abs(new.occurred_at - datetime.now(UTC)) < timedelta(minutes=10)
    assert new.occurred_at <= update.occurred_at
    assert helped.title == "Help:Expenses" and helped.spaces == ("Namespace:12",)
    assert helped.url == f"{mediawiki.url}/wiki/Help:Expenses"
    assert decode_position(new_position)[0] == rcids[-1]

    assert host.poll(wiki, new_position, NOW) == ([], new_position), "the same changes were read twice"


def test_the_position_survives_a_restart(host: MediaWikiHost, wiki: WikiConfig, mediawiki_editor: Editor) -> None:
    position = _start(host, wiki)
    before = mediawiki_editor.save("Restart page A", "Before the restart.")
    events, stored = host.poll(wiki, position, NOW)
    assert [event.title for event in events] == ["Restart page A"]
    after = mediawiki_editor.save("Restart page B", "While learnloop was down.")

    restarted = MediaWikiHost()
    events, moved = restarted.poll(wiki, stored, NOW)
    assert [event.title for event in events] == ["Restart page B"]
    assert decode_position(moved)[0] == mediawiki_editor.rc_of_revision(after["newrevid"])["rcid"]
    assert restarted.poll(wiki, moved, NOW) == ([], moved)

    # A bare rcid (no timestamp) is a valid position too: it just reads from the start.
    bare = str(mediawiki_editor.rc_of_revision(before["newrevid"])["rcid"])
    events, _ = MediaWikiHost().poll(wiki, bare, NOW)
    assert [event.title for event in events] == ["Restart page B"]


def test_a_minor_edit_is_flagged_and_not_announced(
        host: MediaWikiHost, wiki: WikiConfig, mediawiki_editor: Editor) -> None:
    mediawiki_editor.save("Style guide", "Use the active voice. Keep sentences short.")
    position = _start(host, wiki)
    mediawiki_editor.save("Style guide", "Use the active voice. Keep sentences shorter.", summary="typo", minor=True)
    [event] = host.poll(wiki, position, NOW)[0]
    assert event.minor is True and event.summary == "typo"
    assert not is_major(event) and not should_announce(event, "new_and_major")


def test_sizes_tell_a_big_edit_from_a_small_one(
        host: MediaWikiHost, wiki: WikiConfig, mediawiki_editor: Editor) -> None:
    base = ("Release process.\n" + "Step by step instructions. " * 100).rstrip()  # ~2.7 kB; MediaWiki trims
    mediawiki_editor.save("Release process", base)
    position = _start(host, wiki)
    mediawiki_editor.save("Release process", base + "Small fix.", summary="small")
    mediawiki_editor.save("Release process", base + "Small fix.\n" + "A whole new section about rollbacks. " * 30,
                summary="big")
    small, big = host.poll(wiki, position, NOW)[0]
    assert small.summary == "small" and big.summary == "big"
    assert small.old_size == len(base.encode()) and small.new_size == small.old_size + len("Small fix.")
    assert big.old_size == small.new_size and big.new_size - big.old_size > 1000
    assert not is_major(small)
    assert is_major(big)


def test_changes_to_pages_deleted_since_are_skipped_and_the_deletion_is_an_event(
        host: MediaWikiHost, wiki: WikiConfig, mediawiki_editor: Editor, mediawiki: MediaWikiServer) -> None:
    position = _start(host, wiki)
    short = mediawiki_editor.save("Short-lived page", "Created by mistake.")
    mediawiki_editor.save("Long-lived page", "Stays.")
    mediawiki_editor.delete("Short-lived page")
    events, _ = host.poll(wiki, position, NOW)
    assert [(event.action, event.title) for event in events] == [("created", "Long-lived page"),
                                                                  ("deleted", "Short-lived page")]
    deleted = events[1]
    assert deleted.page_id == str(short["pageid"]) and deleted.url == f"{mediawiki.url}/wiki/Short-lived_page"
    assert deleted.spaces == () and deleted.author == "Admin" and deleted.summary == "test"


def test_moves_deletions_and_undeletions_are_read_from_the_logs(
        host: MediaWikiHost, wiki: WikiConfig, mediawiki_editor: Editor, mediawiki: MediaWikiServer) -> None:
    position = _start(host, wiki)
    created = mediawiki_editor.save("Lifecycle page", "Text. [[Category:Onboarding]]")
    moved = mediawiki_editor.move("Lifecycle page", "Lifecycle page renamed", reason="clearer title")
    assert moved["redirectcreated"] is True
    mediawiki_editor.delete("Lifecycle page renamed")
    restored = mediawiki_editor.undelete("Lifecycle page renamed", reason="deleted by mistake")
    assert restored["revisions"] == 2, "the page's edit and the move's null revision"
    assert mediawiki_editor.page_id("Lifecycle page renamed") == created["pageid"], "undeleted under its old id"

    events, new_position = host.poll(wiki, position, NOW)

    new_url = f"{mediawiki.url}/wiki/Lifecycle_page_renamed"
    # MediaWiki drops a page's edits from recent changes when it deletes the page (and an undeletion does
    # not bring them back): the log entries remain, each mapped with the page as it is now. The redirect
    # the move left behind is no change of its own.
    assert [(event.action, event.url) for event in events] == [
        ("moved", new_url), ("deleted", new_url), ("restored", new_url)]
    assert {event.page_id for event in events} == {str(created["pageid"])}
    move = events[0]
    assert (move.title, move.old_url, move.summary) == ("Lifecycle page renamed",
                                                        f"{mediawiki.url}/wiki/Lifecycle_page", "clearer title")
    assert "Category:Onboarding" in move.spaces and "Category:Onboarding" in events[2].spaces
    assert events[2].summary == "deleted by mistake"
    assert [event.event_id.partition("@")[0] for event in events] == [
        f"rc:{rcid}" for rcid in mediawiki_editor.newest_rcids(3)]
    assert not any(should_announce(event, "new_and_major") for event in events)
    assert host.poll(wiki, new_position, NOW) == ([], new_position)


def test_a_page_moved_then_deleted_is_followed_to_where_it_went(
        host: MediaWikiHost, wiki: WikiConfig, mediawiki_editor: Editor, mediawiki: MediaWikiServer) -> None:
    mediawiki_editor.save("Wandering page", "Soon elsewhere.")
    position = _start(host, wiki)
    mediawiki_editor.move("Wandering page", "Help:Wandering page", redirect=False)
    mediawiki_editor.delete("Help:Wandering page")
    moved, deleted = host.poll(wiki, position, NOW)[0]
    assert (moved.action, moved.title, moved.url, moved.old_url, moved.spaces) == (
        "moved", "Help:Wandering page", f"{mediawiki.url}/wiki/Help:Wandering_page",
        f"{mediawiki.url}/wiki/Wandering_page", ())
    assert (deleted.action, deleted.url, deleted.page_id) == ("deleted", moved.url, moved.page_id)


def test_fetch_reads_the_change_a_push_named(host: MediaWikiHost, wiki: WikiConfig, mediawiki_editor: Editor) -> None:
    position = _start(host, wiki)
    edit = mediawiki_editor.save("Pushed page", "Hello. [[Category:Onboarding]]", summary="pushed")
    rcid = mediawiki_editor.rc_of_revision(edit["newrevid"])["rcid"]
    job = {"wiki": "handbook", "event_id": f"push:{rcid}", "poll": True, "rc_id": rcid,
           "timestamp": int(time.time())}

    [event] = host.fetch(wiki, job, datetime.now(UTC))

    polled, _ = MediaWikiHost().poll(wiki, position, NOW)
    assert polled == [event], "a pushed change must map exactly as the poll maps it (same event id)"
    assert event.event_id == f"rc:{rcid}@{edit['newtimestamp']}" and "Category:Onboarding" in event.spaces
    assert host.fetch(wiki, {**job, "rc_id": rcid + 10_000}, NOW) == []
    assert host.fetch(wiki, {**job, "timestamp": int(time.time()) - 3600}, NOW) == [], "outside the window"
    assert host.fetch(wiki, {"wiki": "handbook", "event_id": "push:x", "poll": True}, NOW) == []


def test_publish_twice_appends_both_sections_to_the_learning_log_in_its_category(
        host: MediaWikiHost, wiki: WikiConfig, mediawiki_editor: Editor, mediawiki: MediaWikiServer) -> None:
    position = _start(host, wiki)
    first = host.publish(wiki, space="Category:Onboarding", page_title="Learning log",
                         heading="2026-11-02 · Ann", text="Pairing on the deploy taught me [[rollbacks]].\n"
                                                          "{{Delete}} ~~~~ [[Category:Spam]]",
                         marker="learnloop-reflection-1")
    second = host.publish(wiki, space="Category:Onboarding", page_title="Learning log",
                          heading="2026-11-03 · Bob", text="Reading the runbook first saves time.\n\nReally.",
                          marker="learnloop-reflection-2")

    assert first.url == second.url == f"{mediawiki.url}/wiki/Learning_log"
    assert first.page_title == "Learning log" and first.page_ref == second.page_ref
    assert first.page_ref == str(mediawiki_editor.page_id("Learning log"))
    assert requests.get(first.url, timeout=30).status_code == 200
    wikitext = mediawiki_editor.wikitext("Learning log")
    assert "== 2026-11-02 · Ann ==\n\n<!-- learnloop-reflection-1 -->\n\n" in wikitext
    assert "== 2026-11-03 · Bob ==\n\n<!-- learnloop-reflection-2 -->\n\n" in wikitext
    assert wikitext.index("2026-11-02 · Ann") < wikitext.index("2026-11-03 · Bob")
    assert wikitext.count("[[Category:Onboarding]]") == 1
    assert mediawiki_editor.categories("Learning log") == ["Category:Onboarding"], "the reflection's markup stayed text"
    assert "<nowiki>Pairing on the deploy taught me [[rollbacks]].</nowiki>" in wikitext
    assert "~~~~" in wikitext, "no signature was expanded"
    assert "learnloop-reflection" not in mediawiki_editor.rendered("Learning log"), "the marker shows nowhere"

    created, appended = host.poll(wiki, position, NOW)[0]
    assert created.action == "created" and created.author == "Admin"
    assert appended.minor is True, "learnloop's own appends are minor, so they are not announced as changes"


class LostAnswer:
    """Lets the wiki carry out the next edit, then loses its answer on the way back, as when a worker dies
    between the wiki's save and its own record of it."""

    def __init__(self, session: requests.Session) -> None:
        self.session, self.original = session, session.post
        self.lost = 0

    def __enter__(self) -> LostAnswer:
        def post(url: str, data: dict[str, str] | None = None, **options: Any) -> requests.Response:
            response = self.original(url, data=data, **options)
            if data and data.get("action") == "edit" and not self.lost:
                self.lost += 1
                raise requests.ConnectionError("connection reset after the request was sent")
            return response
        self.session.post = post  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.session.post = self.original  # type: ignore[method-assign]


@pytest.mark.parametrize("page_exists", [False, True], ids=["creating the page", "appending to it"])
def test_a_retry_after_a_lost_answer_appends_once(
        host: MediaWikiHost, wiki: WikiConfig, mediawiki_editor: Editor, mediawiki: MediaWikiServer,
        page_exists: bool) -> None:
    title = f"Retry log {int(page_exists)}"
    if page_exists:
        host.publish(wiki, space="Category:Onboarding", page_title=title, heading="2026-11-01 · Bob", text="Before.",
                     marker="learnloop-reflection-40-aaaaaaaaaa")
    with LostAnswer(host.client(wiki)._session) as lost, pytest.raises(WikiError) as failed:
        host.publish(wiki, space="Category:Onboarding", page_title=title, heading="2026-11-02 · Ann",
                     text="Once only.", marker="learnloop-reflection-41-bbbbbbbbbb")
    assert lost.lost == 1 and failed.value.retryable is True, "the outbox tries again"
    assert mediawiki_editor.wikitext(title).count("Once only.") == 1, "the wiki did save it"

    again = MediaWikiHost().publish(wiki, space="Category:Onboarding", page_title=title, heading="2026-11-02 · Ann",
                                    text="Once only.", marker="learnloop-reflection-41-bbbbbbbbbb")

    assert again.url == f"{mediawiki.url}/wiki/{title.replace(' ', '_')}"
    assert again.page_ref == str(mediawiki_editor.page_id(title))
    wikitext = mediawiki_editor.wikitext(title)
    assert wikitext.count("<!-- learnloop-reflection-41-bbbbbbbbbb -->") == 1
    assert wikitext.count("Once only.") == 1 and wikitext.count("== 2026-11-02 · Ann ==") == 1


def test_published_markup_does_not_act_on_the_real_wiki(
        host: MediaWikiHost, wiki: WikiConfig, mediawiki_editor: Editor, mediawiki: MediaWikiServer) -> None:
    mediawiki_editor.save("Template:Boom", "TEMPLATE EXPANDED [[Category:Exploded]]")
    text = ("See [[Category:X]] and {{Boom}} and {{subst:Boom}}.\n<script>alert(1)</script> ~~~~ ~~~\n"
            "'''bold''' __NOTOC__ <nowiki> </nowiki> [https://evil.example click] &amp; <b>b</b>\n\n"
            "== Not a heading ==\n* not a list\n# not numbered\n{| class=wikitable\n| not a table\n|}")
    published = host.publish(wiki, space="Category:Onboarding", page_title="Markup log",
                             heading="2026-11-02 · Ann {{Boom}} [[Category:Y]] <i>x</i> == z ==", text=text,
                             marker="learnloop-reflection-50-cccccccccc")
    assert published.url == f"{mediawiki.url}/wiki/Markup_log"
    wikitext = mediawiki_editor.wikitext("Markup log")
    assert "~~~~" in wikitext and "{{subst:Boom}}" in wikitext, "no signature, no substitution at save time"
    assert mediawiki_editor.categories("Markup log") == ["Category:Onboarding"]
    assert mediawiki_editor.templates("Markup log") == []
    html = mediawiki_editor.rendered("Markup log")
    assert "TEMPLATE EXPANDED" not in html and "<script>" not in html and "<b>b</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "{{Boom}}" in html and "[[Category:X]]" in html
    assert "'''bold'''" in html and "~~~~" in html and "&amp;amp;" in html
    assert 'href="https://evil.example' not in html
    assert "<table" not in html and "<li>" not in html
    assert len(mediawiki_editor.sections("Markup log")) == 1, "only learnloop's own heading is a heading"


def test_publish_to_a_namespace_prefixes_the_title(
        host: MediaWikiHost, wiki: WikiConfig, mediawiki_editor: Editor, mediawiki: MediaWikiServer) -> None:
    published = host.publish(wiki, space="Namespace:4", page_title="Team log", heading="2026-11-02 · Ann",
                             text="Namespaces work.", marker="learnloop-reflection-3")
    assert published.url == f"{mediawiki.url}/wiki/LearnloopTest:Team_log"
    assert published.page_title == "LearnloopTest:Team log"
    assert "Namespaces work." in mediawiki_editor.wikitext("LearnloopTest:Team log")
    assert host.publish(wiki, space="Namespace:0", page_title="Main log", heading="h", text="x",
                        marker="learnloop-reflection-4").url == f"{mediawiki.url}/wiki/Main_log"


@pytest.mark.parametrize("space", ["Shelf:Engineering", "Namespace:abc", "Category:", "Category:Bad]]name",
                                   "Namespace:9999"])
def test_publish_to_a_space_that_is_not_one_refuses_for_good(host: MediaWikiHost, wiki: WikiConfig,
                                                              space: str) -> None:
    with pytest.raises(WikiError) as refused:
        host.publish(wiki, space=space, page_title="Learning log", heading="h", text="x",
                     marker="learnloop-reflection-5")
    assert refused.value.retryable is False


@pytest.mark.parametrize("marker", ["learnloop-reflection-6 --> [[Category:X]] <!--", "other-6", ""])
def test_a_marker_learnloop_did_not_make_is_refused(host: MediaWikiHost, wiki: WikiConfig, marker: str) -> None:
    with pytest.raises(WikiError) as refused:
        host.publish(wiki, space="Category:Onboarding", page_title="Learning log", heading="h", text="x",
                     marker=marker)
    assert refused.value.retryable is False


def test_a_wrong_bot_password_is_not_retryable(mediawiki: MediaWikiServer) -> None:
    wrong = wiki_config(mediawiki, bot_password="wrong0123456789abcdefghijklmnopqrs")
    with pytest.raises(WikiError) as refused:
        MediaWikiHost().poll(wrong, None, NOW)
    assert refused.value.retryable is False
    assert "Incorrect username or password" in str(refused.value)
    assert wrong.bot_password is not None and wrong.bot_password.get_secret_value() not in str(refused.value)
    with pytest.raises(WikiError):
        MediaWikiHost().publish(wrong, space="Category:Onboarding", page_title="Learning log", heading="h", text="x",
                                marker="learnloop-reflection-7")


def test_the_session_is_kept_and_renewed_when_the_wiki_forgets_it(
        host: MediaWikiHost, wiki: WikiConfig, mediawiki_editor: Editor) -> None:
    position = _start(host, wiki)
    client = host.client(wiki)
    assert host.client(wiki) is client, "one logged-in session per wiki and process"
    client._session.cookies.clear()  # the wiki's session expired
    mediawiki_editor.save("After expiry", "Still read.")
    events, _ = host.poll(wiki, position, NOW)
    assert [event.title for event in events] == ["After expiry"]
    client._session.cookies.clear()
    published = host.publish(wiki, space="Category:Onboarding", page_title="Expiry log", heading="h", text="x",
                             marker="learnloop-reflection-8")
    assert published.url.endswith("/wiki/Expiry_log")


def test_remove_takes_one_section_off_and_keeps_the_rest_and_the_category(
        host: MediaWikiHost, wiki: WikiConfig, mediawiki_editor: Editor) -> None:
    first = host.publish(wiki, space="Category:Onboarding", page_title="Removal log", heading="2026-11-02 · Ann",
                         text="First, with the category after it.", marker="learnloop-reflection-60-dddddddddd")
    host.publish(wiki, space="Category:Onboarding", page_title="Removal log", heading="2026-11-03 · Bob",
                 text="Second stays.", marker="learnloop-reflection-61-eeeeeeeeee")
    position = _start(host, wiki)

    assert host.remove(wiki, page_ref=first.page_ref, marker="learnloop-reflection-60-dddddddddd") == Removed(True)

    wikitext = mediawiki_editor.wikitext("Removal log")
    assert "First, with the category" not in wikitext and "2026-11-02 · Ann" not in wikitext
    assert "== 2026-11-03 · Bob ==" in wikitext and "Second stays." in wikitext
    assert mediawiki_editor.categories("Removal log") == ["Category:Onboarding"]
    [edit] = host.poll(wiki, position, NOW)[0]
    assert edit.minor is True and edit.summary == "Reflection removed at its author's request (learnloop)"
    assert host.remove(wiki, page_ref=first.page_ref, marker="learnloop-reflection-60-dddddddddd") == Removed(False)
    assert mediawiki_editor.wikitext("Removal log") == wikitext, "removing twice changes nothing"


def test_remove_from_a_deleted_page_finds_it_gone(
        host: MediaWikiHost, wiki: WikiConfig, mediawiki_editor: Editor) -> None:
    published = host.publish(wiki, space="Category:Onboarding", page_title="Doomed log", heading="h", text="x",
                             marker="learnloop-reflection-62-ffffffffff")
    mediawiki_editor.delete("Doomed log")
    assert host.remove(wiki, page_ref=published.page_ref,
                       marker="learnloop-reflection-62-ffffffffff") == Removed(False, gone=True)
    with pytest.raises(WikiError) as refused:
        host.remove(wiki, page_ref="Doomed log", marker="learnloop-reflection-62-ffffffffff")
    assert refused.value.retryable is False


def test_a_wiki_that_refuses_the_removal_says_so_for_good(
        host: MediaWikiHost, wiki: WikiConfig, mediawiki: MediaWikiServer) -> None:
    published = host.publish(wiki, space="Category:Onboarding", page_title="Kept log", heading="h", text="x",
                             marker="learnloop-reflection-63-gggggggggg")
    wrong = wiki_config(mediawiki, bot_password="wrong0123456789abcdefghijklmnopqrs")
    with pytest.raises(WikiError) as refused:
        MediaWikiHost().remove(wrong, page_ref=published.page_ref, marker="learnloop-reflection-63-gggggggggg")
    assert refused.value.retryable is False and "Incorrect username or password" in str(refused.value)
