"""A MediaWiki learning log that admins move or delete while learnloop publishes to it, against a real wiki."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.mediawiki.client import MediaWikiClient, PageInfo
from learnloop.mediawiki.host import MediaWikiHost
from learnloop.services.network.digest import changed_pages
from learnloop.services.reflections import mark_published
from learnloop.storage.tables import Announcement, ContentItem, Event, Reflection
from learnloop.wikis import UNPUBLISH_JOB, Published, Removed
from tests.conftest import FakeClock, make_settings
from tests.wikis import jobs as wiki_jobs

from .mediawiki_server import MediaWikiServer
from .mediawiki_support import WIKI_SECRET, Editor, needs_mediawiki, wiki_config

pytestmark = needs_mediawiki


def test_a_learning_log_moved_on_the_wiki_is_published_to_where_it_went(
        mediawiki: MediaWikiServer, mediawiki_editor: Editor) -> None:
    wiki, host = wiki_config(mediawiki), MediaWikiHost()
    host.publish(wiki, space="Category:Onboarding", page_title="Moved log", heading="2026-11-01 · Bob",
                 text="Before the move.", marker="learnloop-reflection-901")
    mediawiki_editor.move("Moved log", "Moved log 2026")  # an admin renames it; a redirect stays behind
    redirect = mediawiki_editor.wikitext("Moved log")

    published = host.publish(wiki, space="Category:Onboarding", page_title="Moved log", heading="2026-11-02 · Ann",
                             text="After the move.", marker="learnloop-reflection-902")

    assert (published.page_title, published.url) == ("Moved log 2026", f"{mediawiki.url}/wiki/Moved_log_2026")
    assert published.page_ref == str(mediawiki_editor.page_id("Moved log 2026"))
    assert mediawiki_editor.wikitext("Moved log") == redirect, "the redirect is left as it was"
    target = mediawiki_editor.wikitext("Moved log 2026")
    assert "Before the move." in target and "After the move." in target
    assert target.count("[[Category:Onboarding]]") == 1, "the page is in the category already"
    assert "After the move." in mediawiki_editor.rendered("Moved log 2026")
    again = host.publish(wiki, space="Category:Onboarding", page_title="Moved log", heading="2026-11-02 · Ann",
                         text="After the move.", marker="learnloop-reflection-902")
    assert again == published and mediawiki_editor.wikitext("Moved log 2026") == target, "a retry publishes once"


def test_a_removal_asked_while_the_log_is_deleted_is_made_when_an_admin_undeletes_it(
        mediawiki: MediaWikiServer, mediawiki_editor: Editor, engine: Engine, clock: FakeClock) -> None:
    title = f"Deleted log {engine.dialect.name}"  # one wiki per session, a run per database
    runtime = build_runtime(make_settings(wikis=[{
        "name": "handbook", "kind": "mediawiki", "url": mediawiki.url, "secret": WIKI_SECRET,
        "bot_user": mediawiki.bot_user, "bot_password": mediawiki.bot_password}]), clock=clock, engine=engine)
    wiki_jobs.poll_wikis(runtime)
    wiki, host = wiki_config(mediawiki), MediaWikiHost()
    published = host.publish(wiki, space="Category:Onboarding", page_title=title, heading="2026-11-02 · Ann",
                             text="Mine.", marker="learnloop-reflection-921")
    wiki_jobs.poll_wikis(runtime)
    mediawiki_editor.delete(title)
    section = {"wiki": "handbook", "page_ref": published.page_ref, "marker": "learnloop-reflection-921",
               "title": published.page_title, "url": published.url}
    assert wiki_jobs.unpublish(runtime, {**section, "notify": "ann".ljust(26, "0")}) == {"removed": False,
                                                                                         "gone": True}
    wiki_jobs.poll_wikis(runtime)
    mediawiki_editor.undelete(title)
    assert str(mediawiki_editor.page_id(title)) == published.page_ref, "MediaWiki restores the page under its id"
    wiki_jobs.poll_wikis(runtime)
    with runtime.reader() as uow:
        [removal] = [m for m in uow.outbox.pending() if m.kind == UNPUBLISH_JOB]
    assert removal.payload == {**section, "notify": None}
    assert wiki_jobs.unpublish(runtime, removal.payload) == {"removed": True, "gone": False}
    assert "learnloop-reflection-921" not in mediawiki_editor.wikitext(title)


def test_a_log_deleted_between_the_read_and_the_save_is_named_by_the_id_it_was_made_again_under(
        mediawiki: MediaWikiServer, mediawiki_editor: Editor, monkeypatch: pytest.MonkeyPatch) -> None:
    wiki, host = wiki_config(mediawiki), MediaWikiHost()
    first = host.publish(wiki, space="Category:Onboarding", page_title="Raced log", heading="2026-11-01 · Bob",
                         text="Earlier.", marker="learnloop-reflection-911")
    append = MediaWikiClient.append_section

    def deleted_first(client: MediaWikiClient, *args: Any, **kwargs: Any) -> PageInfo:
        mediawiki_editor.delete("Raced log")  # an admin deletes the page after learnloop read it
        return append(client, *args, **kwargs)

    monkeypatch.setattr(MediaWikiClient, "append_section", deleted_first)
    published = host.publish(wiki, space="Category:Onboarding", page_title="Raced log", heading="2026-11-02 · Ann",
                             text="Mine.", marker="learnloop-reflection-912")
    monkeypatch.undo()
    assert published.page_ref == str(mediawiki_editor.page_id("Raced log")) != first.page_ref
    removed = host.remove(wiki, page_ref=published.page_ref, marker="learnloop-reflection-912")
    assert removed == Removed(True) and "learnloop-reflection-912" not in mediawiki_editor.wikitext("Raced log")


def _community_runtime(mediawiki: MediaWikiServer, engine: Engine, clock: FakeClock, log_title: str,
                       space: str) -> Runtime:
    """One community whose learning log is `log_title` in `space` of the real wiki."""
    settings = make_settings(
        wikis=[{"name": "handbook", "kind": "mediawiki", "url": mediawiki.url, "secret": WIKI_SECRET,
                "bot_user": mediawiki.bot_user, "bot_password": mediawiki.bot_password}],
        communities=[{"name": "Ops", "channel_id": "fukk3xq1bbn8fgmsiwh4xprwdh", "learning_log_page": log_title,
                      "wiki_spaces": [{"wiki": "handbook", "space": space}]}])
    return build_runtime(settings, clock=clock, engine=engine)


def test_a_learning_log_in_a_namespace_is_known_as_learnloops_own_page(
        mediawiki: MediaWikiServer, engine: Engine, clock: FakeClock) -> None:
    """A community whose space is a namespace has its log at `<Namespace>:<title>` (`Namespace:4`: `Project:`)."""
    log_title = f"Team log {engine.dialect.name}"
    runtime = _community_runtime(mediawiki, engine, clock, log_title, "Namespace:4")
    wiki_jobs.poll_wikis(runtime)
    published = MediaWikiHost().publish(wiki_config(mediawiki), space="Namespace:4", page_title=log_title,
                                        heading="2026-11-02 · Ann", text="A reflection.",
                                        marker="learnloop-reflection-777")
    assert published.page_title.endswith(f":{log_title}")
    assert wiki_jobs.poll_wikis(runtime) == 1
    with runtime.reader() as uow:
        [event] = uow.session.scalars(select(Event).where(Event.kind.like("wiki_page_%"))).all()
        item = uow.session.get(ContentItem, event.item_id)
        assert item is not None and item.community_id is not None
        created, _ = changed_pages(uow, item.community_id, clock() - timedelta(days=400),
                                   clock() + timedelta(days=400))
    assert (item.title, event.data.get("learning_log")) == (published.page_title, True)
    assert item.id not in created, "learnloop's own log is no new page of the week's digest"
    with runtime.reader() as uow:
        assert uow.session.scalars(select(Announcement)).all() == [], "nor announced"


def test_a_learning_log_moved_on_the_wiki_is_still_learnloops_own_page(
        mediawiki: MediaWikiServer, mediawiki_editor: Editor, engine: Engine, clock: FakeClock) -> None:
    """Published to where the log went, its sections are reflections still: not page changes of the community."""
    log_title = f"Guild log {engine.dialect.name}"
    runtime = _community_runtime(mediawiki, engine, clock, log_title, "Category:Onboarding")
    wiki, host = wiki_config(mediawiki), MediaWikiHost()

    def published(marker: int) -> Published:  # as the worker's publish job does: the section, then where it went
        done = host.publish(wiki, space="Category:Onboarding", page_title=log_title, heading="2026-11-02 · Ann",
                            text=f"Reflection {marker}.", marker=f"learnloop-reflection-{marker}")
        with runtime.uow() as uow:
            reflection = uow.reflections.add(Reflection(user_id="ann".ljust(26, "0"), body="sealed",
                                                        visibility="wiki", created_at=clock(), updated_at=clock()))
            assert mark_published(uow, reflection.id, wiki="handbook", published=done, now=clock())
            uow.commit()
        return done

    wiki_jobs.poll_wikis(runtime)
    published(931)
    wiki_jobs.poll_wikis(runtime)
    mediawiki_editor.move(log_title, f"{log_title} 2026")  # an admin renames it; a redirect stays behind
    assert published(932).page_title == f"{log_title} 2026"
    wiki_jobs.poll_wikis(runtime)
    with runtime.reader() as uow:
        events = uow.session.scalars(select(Event).where(Event.kind.like("wiki_page_%")).order_by(Event.id)).all()
        [item_id] = {event.item_id for event in events}
        item = uow.session.get(ContentItem, item_id)
        assert item is not None and item.community_id is not None
        created, updated = changed_pages(uow, item.community_id, clock() - timedelta(days=400),
                                         clock() + timedelta(days=400))
    assert item.title == f"{log_title} 2026"
    assert [(event.kind, event.data.get("learning_log")) for event in events] == [
        ("wiki_page_created", True), ("wiki_page_moved", True), ("wiki_page_updated", True)]
    assert item_id not in created + updated, "learnloop's own log is no changed page of the week's digest"
    with runtime.reader() as uow:
        assert uow.session.scalars(select(Announcement)).all() == [], "nor announced"
