"""A MediaWiki restored from an older backup (or reinstalled): learnloop's poll position is past the wiki's newest
change, and the changes made since must still be read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.install.doctor import worker_checks
from learnloop.mediawiki.client import RecentChange
from learnloop.mediawiki.host import MediaWikiHost, change_event_id, decode_position, encode_position
from learnloop.services import wiki_ingest
from learnloop.storage.tables import ContentItem, Event
from learnloop.wikis import PollRestarted
from tests.conftest import FakeClock, make_settings
from tests.wikis.jobs import poll_wikis

from .mediawiki_server import MediaWikiServer
from .mediawiki_support import WIKI_SECRET, Editor, needs_mediawiki, wiki_config

pytestmark = needs_mediawiki
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_a_position_past_the_newest_change_restarts_from_the_time_it_was_read(
        mediawiki: MediaWikiServer, mediawiki_editor: Editor) -> None:
    wiki, host = wiki_config(mediawiki), MediaWikiHost()
    _, position = host.poll(wiki, None, NOW)
    assert position is not None
    rcid, seen_at = decode_position(position)
    stale = encode_position(rcid + 50_000, seen_at)  # stored before the wiki went back to an older backup
    with pytest.raises(PollRestarted) as restarted:
        host.poll(wiki, stale, NOW)
    assert f"from rcid {rcid + 50_000} to {rcid}" in str(restarted.value)
    assert restarted.value.position == encode_position(0, seen_at)
    mediawiki_editor.save("Written after the restore", "New page on the restored wiki.")
    events, after = host.poll(wiki, restarted.value.position, NOW)
    assert [event.title for event in events][-1] == "Written after the restore"
    assert after is not None and decode_position(after)[0] == mediawiki_editor.newest_rcid()


def _runtime(mediawiki: MediaWikiServer, engine: Engine, clock: FakeClock) -> Runtime:
    settings = make_settings(wikis=[{"name": "handbook", "kind": "mediawiki", "url": mediawiki.url,
                                     "secret": WIKI_SECRET, "bot_user": mediawiki.bot_user,
                                     "bot_password": mediawiki.bot_password}])
    return build_runtime(settings, clock=clock, engine=engine)


def test_the_worker_reads_on_after_a_restore_records_nothing_twice_and_doctor_says_so(
        mediawiki: MediaWikiServer, mediawiki_editor: Editor, engine: Engine, clock: FakeClock) -> None:
    runtime = _runtime(mediawiki, engine, clock)
    poll_wikis(runtime)
    mediawiki_editor.save(f"Read before the restore {engine.dialect.name}", "In the backup too.")
    assert poll_wikis(runtime) == 1
    with runtime.uow() as uow:
        rcid, seen_at = decode_position(wiki_ingest.cursor(uow, "handbook") or "")
        wiki_ingest.move_cursor(uow, "handbook", encode_position(rcid + 50_000, seen_at), clock())
        uow.commit()
    assert poll_wikis(runtime) == 0
    checks = {c.check: (c.status, c.detail) for c in worker_checks(runtime.engine, runtime.settings, clock())}
    status, detail = checks["poll restarted"]
    assert status == "ok" and f"went back from rcid {rcid + 50_000} to {rcid}" in detail
    assert checks["polling"][0] == "ok"

    title = f"Written after the restore {engine.dialect.name}"
    saved = mediawiki_editor.save(title, "New page on the restored wiki.")
    new_rcid = mediawiki_editor.rc_of_revision(saved["newrevid"])["rcid"]
    with runtime.uow() as uow:  # the restore took the wiki's rcids back: learnloop recorded this rcid before
        earlier = RecentChange(rcid=new_rcid, type="edit", ns=0, title="Lost in the restore", pageid=1, revid=1,
                               old_revid=0, user="Ann", comment="", timestamp=datetime(2026, 1, 5, tzinfo=UTC),
                               minor=False, bot=False, old_size=0, new_size=1)
        uow.events.append("wiki_page_updated", occurred_at=clock(), recorded_at=clock(), community_id=None,
                          item_id=None, dedupe_key=f"wiki:handbook:{change_event_id(earlier)}", data={})
        uow.commit()
    assert poll_wikis(runtime) >= 1  # with changes made shortly before the last one read, which it reads again
    with runtime.reader() as uow:
        events = uow.session.execute(select(ContentItem.title, Event.dedupe_key).join(
            Event, Event.item_id == ContentItem.id)).all()
    assert [key for item, key in events if item == title] == [f"wiki:handbook:rc:{new_rcid}@{saved['newtimestamp']}"]
    assert len([key for item, key in events if item == f"Read before the restore {engine.dialect.name}"]) == 1
