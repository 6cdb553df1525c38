"""The MediaWiki host against a real MediaWiki 1.39: polling, fetching a pushed change, publishing."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from learnloop.config import WikiConfig
from learnloop.domain.wiki_events import is_major, should_announce
from learnloop.mediawiki.host import MediaWikiHost, decode_position
from learnloop.wikis import WikiError
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

    assert [event.event_id for event in events] == [f"rc:{rcid}" for rcid in rcids]
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
    assert [event.event_id for event in events] == [f"rc:{rcid}" for rcid in mediawiki_editor.newest_rcids(3)]
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
    assert event.event_id == f"rc:{rcid}" and "Category:Onboarding" in event.spaces
    assert host.fetch(wiki, {**job, "rc_id": rcid + 10_000}, NOW) == []
    assert host.fetch(wiki, {**job, "timestamp": int(time.time()) - 3600}, NOW) == [], "outside the window"
    assert host.fetch(wiki, {"wiki": "handbook", "event_id": "push:x", "poll": True}, NOW) == []


def test_publish_twice_appends_both_sections_to_the_learning_log_in_its_category(
        host: MediaWikiHost, wiki: WikiConfig, mediawiki_editor: Editor, mediawiki: MediaWikiServer) -> None:
    position = _start(host, wiki)
    first = host.publish(wiki, space="Category:Onboarding", page_title="Learning log",
                         heading="2026-11-02 · Ann", text="Pairing on the deploy taught me [[rollbacks]].\n"
                                                          "{{Delete}} ~~~~ [[Category:Spam]]")
    second = host.publish(wiki, space="Category:Onboarding", page_title="Learning log",
                          heading="2026-11-03 · Bob", text="Reading the runbook first saves time.\n\nReally.")

    assert first == second == f"{mediawiki.url}/wiki/Learning_log"
    assert requests.get(first, timeout=30).status_code == 200
    wikitext = mediawiki_editor.wikitext("Learning log")
    assert "== 2026-11-02 · Ann ==" in wikitext and "== 2026-11-03 · Bob ==" in wikitext
    assert wikitext.index("2026-11-02 · Ann") < wikitext.index("2026-11-03 · Bob")
    assert wikitext.count("[[Category:Onboarding]]") == 1
    assert mediawiki_editor.categories("Learning log") == ["Category:Onboarding"], "the reflection's markup stayed text"
    assert "<nowiki>Pairing on the deploy taught me [[rollbacks]].</nowiki>" in wikitext
    assert "~~~~" in wikitext, "no signature was expanded"

    created, appended = host.poll(wiki, position, NOW)[0]
    assert created.action == "created" and created.author == "Admin"
    assert appended.minor is True, "learnloop's own appends are minor, so they are not announced as changes"


def test_publish_to_a_namespace_prefixes_the_title(
        host: MediaWikiHost, wiki: WikiConfig, mediawiki_editor: Editor, mediawiki: MediaWikiServer) -> None:
    url = host.publish(wiki, space="Namespace:4", page_title="Team log", heading="2026-11-02 · Ann",
                       text="Namespaces work.")
    assert url == f"{mediawiki.url}/wiki/LearnloopTest:Team_log"
    assert "Namespaces work." in mediawiki_editor.wikitext("LearnloopTest:Team log")
    assert host.publish(wiki, space="Namespace:0", page_title="Main log", heading="h",
                        text="x") == f"{mediawiki.url}/wiki/Main_log"


@pytest.mark.parametrize("space", ["Shelf:Engineering", "Namespace:abc", "Category:", "Category:Bad]]name",
                                   "Namespace:9999"])
def test_publish_to_a_space_that_is_not_one_refuses_for_good(host: MediaWikiHost, wiki: WikiConfig,
                                                              space: str) -> None:
    with pytest.raises(WikiError) as refused:
        host.publish(wiki, space=space, page_title="Learning log", heading="h", text="x")
    assert refused.value.retryable is False


def test_a_wrong_bot_password_is_not_retryable(mediawiki: MediaWikiServer) -> None:
    wrong = wiki_config(mediawiki, bot_password="wrong0123456789abcdefghijklmnopqrs")
    with pytest.raises(WikiError) as refused:
        MediaWikiHost().poll(wrong, None, NOW)
    assert refused.value.retryable is False
    assert "Incorrect username or password" in str(refused.value)
    assert wrong.bot_password is not None and wrong.bot_password.get_secret_value() not in str(refused.value)
    with pytest.raises(WikiError):
        MediaWikiHost().publish(wrong, space="Category:Onboarding", page_title="Learning log", heading="h", text="x")


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
    url = host.publish(wiki, space="Category:Onboarding", page_title="Expiry log", heading="h", text="x")
    assert url.endswith("/wiki/Expiry_log")
