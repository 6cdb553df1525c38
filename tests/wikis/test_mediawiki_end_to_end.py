"""A real MediaWiki, the worker's poll, and the channel post that results (and its update)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.mediawiki.host import decode_position
from learnloop.services import wiki_ingest
from learnloop.services.outbox_kinds import CREATE_POST, UPDATE_POST
from learnloop.services.rating import Rater, RetiredItem, rate_url
from learnloop.storage.tables import Announcement, Community, ContentItem, Event, OutboxMessage
from tests.conftest import PUBLIC_URL, FakeClock, make_settings
from tests.wikis.jobs import poll_wikis
from tests.wikis.test_page_lifecycle import ratings_of

from .mediawiki_server import MediaWikiServer
from .mediawiki_support import WIKI_SECRET, Editor, needs_mediawiki

pytestmark = needs_mediawiki

CHANNEL = "fukk3xq1bbn8fgmsiwh4xprwdh"



def _runtime(mediawiki: MediaWikiServer, engine: Engine, clock: FakeClock) -> Runtime:
    settings = make_settings(
        wikis=[{"name": "handbook", "kind": "mediawiki", "url": mediawiki.url, "secret": WIKI_SECRET,
                "bot_user": mediawiki.bot_user, "bot_password": mediawiki.bot_password}],
        communities=[{"name": "Onboarding", "channel_id": CHANNEL, "burst_minutes": 30,
                      "wiki_spaces": [{"wiki": "handbook", "space": "Category:Onboarding"}]}],
    )
    return build_runtime(settings, clock=clock, engine=engine)


def _all(runtime: Runtime, model: type) -> list:
    with runtime.uow() as uow:
        return list(uow.session.scalars(select(model).order_by(model.id)))


def test_a_new_page_in_a_mapped_category_is_announced_with_rating_buttons(
        mediawiki: MediaWikiServer, mediawiki_editor: Editor, engine: Engine, clock: FakeClock) -> None:
    runtime = _runtime(mediawiki, engine, clock)
    buddy_title = f"Buddy programme {engine.dialect.name}"  # one wiki per session, a run per database
    assert poll_wikis(runtime) == 0, "the first poll only finds where the wiki is now"
    with runtime.uow() as uow:
        start = wiki_ingest.cursor(uow, "handbook")
    assert start is not None and decode_position(start)[0] == mediawiki_editor.newest_rcid()

    mediawiki_editor.save(buddy_title, "Every new hire gets a buddy for the first month.\n[[Category:Onboarding]]",
                summary="New page for new hires")
    mediawiki_editor.save(buddy_title, "Every new hire gets a buddy for the first month.\n"
                "Buddies meet twice a week.\n[[Category:Onboarding]]", summary="Meeting rhythm")
    mediawiki_editor.save(f"Canteen menu {engine.dialect.name}", "Soup of the day.", summary="not in any community")

    assert poll_wikis(runtime) == 3
    assert poll_wikis(runtime) == 0, "nothing is recorded twice"

    buddy, canteen = _all(runtime, ContentItem)
    assert buddy.kind == canteen.kind == "wiki_page"
    assert (buddy.title, buddy.url) == (buddy_title, f"{mediawiki.url}/wiki/{buddy_title.replace(' ', '_')}")
    assert buddy.community_id is not None and canteen.community_id is None
    assert [event.kind for event in _all(runtime, Event)] == ["wiki_page_created", "wiki_page_updated",
                                                              "wiki_page_created"]
    [announcement] = _all(runtime, Announcement)
    assert (announcement.item_id, announcement.status, announcement.created_page, announcement.edits) == (
        buddy.id, "queued", True, 2)
    assert announcement.summaries == [{"text": "New page for new hires", "by": "Admin"},
                                      {"text": "Meeting rhythm", "by": "Admin"}], "each with its writer, for an erase"

    message, update = _all(runtime, OutboxMessage)
    assert message.kind == CREATE_POST and message.status == "pending", "the new page is posted at once"
    assert update.kind == UPDATE_POST and "> Meeting rhythm" in update.payload["props"]["attachments"][0]["text"]
    assert message.payload["channel_id"] == CHANNEL
    [attachment] = message.payload["props"]["attachments"]
    assert attachment["title"] == buddy_title
    assert attachment["title_link"] == buddy.url
    assert attachment["text"].startswith("New page by Admin")
    assert "> New page for new hires" in attachment["text"]
    buttons = attachment["actions"]
    assert [button["id"] for button in buttons] == [f"rate{stars}" for stars in range(1, 6)]
    assert all(button["integration"]["url"] == f"{PUBLIC_URL}/mattermost/actions" for button in buttons)
    assert all(button["integration"]["context"]["item_id"] == buddy.id for button in buttons)
    assert poll_wikis(runtime) == 0
    assert [m.kind for m in _all(runtime, OutboxMessage)] == [CREATE_POST, UPDATE_POST], "announced once"


def test_a_page_is_followed_through_its_life_on_a_real_wiki(
        mediawiki: MediaWikiServer, mediawiki_editor: Editor, engine: Engine, clock: FakeClock) -> None:
    """Written outside any mapped category and rated from the wiki page; a category added later brings it (and
    its ratings) into the community; renamed, it keeps its ratings; deleted, it is retired and refused;
    undeleted, it is back."""
    runtime = _runtime(mediawiki, engine, clock)
    title = f"Pairing guide {engine.dialect.name}"
    url = f"{mediawiki.url}/wiki/{title.replace(' ', '_')}"
    poll_wikis(runtime)
    mediawiki_editor.save(title, "Pair for an hour, then swap.")
    assert poll_wikis(runtime) == 1
    [page] = _all(runtime, ContentItem)
    assert (page.url, page.community_id, page.wiki, page.page_ref) == (
        url, None, "handbook", str(mediawiki_editor.page_id(title)))
    for n, stars in enumerate((5, 4)):
        with runtime.uow() as uow:  # from the wiki page itself: no channel, so no community
            rate_url(uow, runtime.settings, Rater(f"reader{n}".ljust(26, "0")), url, stars, None, clock())

    mediawiki_editor.save(title, "Pair for an hour, then swap.\n[[Category:Onboarding]]", summary="categorised")
    assert poll_wikis(runtime) == 1
    with runtime.uow() as uow:
        [page] = uow.session.scalars(select(ContentItem)).all()
        community = uow.session.get(Community, page.community_id)
    assert community is not None and community.channel_id == CHANNEL
    assert ratings_of(runtime, page.id) == (2, 9)

    renamed = f"Pairing guide for everyone {engine.dialect.name}"
    mediawiki_editor.move(title, renamed)
    assert poll_wikis(runtime) == 1
    [moved] = _all(runtime, ContentItem)
    assert (moved.id, moved.title) == (page.id, renamed)
    assert moved.url == f"{mediawiki.url}/wiki/{renamed.replace(' ', '_')}"
    assert (ratings_of(runtime, moved.id), moved.community_id) == ((2, 9), page.community_id)

    mediawiki_editor.delete(renamed)
    assert poll_wikis(runtime) == 1
    with runtime.uow() as uow, pytest.raises(RetiredItem, match="deleted from the wiki"):
        rate_url(uow, runtime.settings, Rater("reader9".ljust(26, "0")), moved.url, 3, None, clock())
    assert _all(runtime, ContentItem)[0].retired_at is not None

    mediawiki_editor.undelete(renamed)
    assert poll_wikis(runtime) == 1
    [back] = _all(runtime, ContentItem)
    assert (back.id, back.retired_at, ratings_of(runtime, back.id)) == (page.id, None, (2, 9))
    assert [event.kind for event in _all(runtime, Event)] == [
        "wiki_page_created", "rating", "rating", "wiki_page_updated", "wiki_page_moved", "wiki_page_deleted",
        "wiki_page_restored"]
    [announced] = _all(runtime, Announcement)
    assert announced.summaries == [{"text": "categorised", "by": "Admin"}], \
        "the edit that brought it into the community is news there; its move, deletion and restore are not"
