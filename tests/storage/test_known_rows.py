"""Ids remembered per process (KnownRows): the rating path skips the item lookup once an item is known,
and never remembers a row that was not committed."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import Engine, func, select

from learnloop.bootstrap import Runtime
from learnloop.services.rating import Rater, rate_url
from learnloop.storage.repositories import MAX_KNOWN_ITEMS, KnownRows
from learnloop.storage.tables import ContentItem

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
PAGE = "https://wiki.acme.example/wiki/Page"
RATER = Rater(user_id="ann".ljust(26, "0"), channel_id="fukk3xq1bbn8fgmsiwh4xprwdh", channel_name="data-guild")


def _rate(runtime: Runtime, stars: int) -> int:
    with runtime.uow() as uow:
        return rate_url(uow, runtime.settings, RATER, PAGE, stars, None, runtime.clock()).item_id


def _item_lookups(runtime: Runtime, stars: int) -> list[str]:
    """The statements one rating runs that look an item up by URL (SQLite's trace of the connection)."""
    seen: list[str] = []
    with runtime.uow() as uow:
        uow.transaction.cursor().connection.set_trace_callback(seen.append)
        try:
            rate_url(uow, runtime.settings, RATER, PAGE, stars, None, runtime.clock())
        finally:
            uow.transaction.cursor().connection.set_trace_callback(None)
    return [sql for sql in seen if "content_items.url =" in sql]


def test_an_item_is_remembered_once_read_back_committed(runtime: Runtime) -> None:
    first = _rate(runtime, 3)
    assert PAGE not in runtime._known.items, "the rating that created the item cannot know it will commit"
    second = _rate(runtime, 4)
    assert runtime._known.items[PAGE] == first == second


def test_a_known_item_is_rated_without_looking_it_up(runtime: Runtime) -> None:
    if runtime.engine.dialect.name != "sqlite":
        pytest.skip("the trace callback is SQLite's; the rating path runs the same statements on both")
    _rate(runtime, 3)
    assert _item_lookups(runtime, 4), "not yet known: looked up and remembered"
    assert _item_lookups(runtime, 5) == []
    with runtime.uow() as uow:
        item = uow.items.by_url(PAGE)
        assert (item.ratings_count, item.stars_sum) == (1, 5)


def test_an_item_created_in_a_rolled_back_transaction_is_not_remembered(runtime: Runtime, engine: Engine) -> None:
    with runtime.uow() as uow:
        uow.items.id_for(PAGE, kind=lambda: "link", community_id=None, shared_by=None, now=NOW)
        uow.items.id_for(PAGE, kind=lambda: "link", community_id=None, shared_by=None, now=NOW)  # reads its own row
    assert PAGE not in runtime._known.items
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(ContentItem)) == 0
    assert _rate(runtime, 4) > 0


def test_known_items_are_bounded() -> None:
    known = KnownRows()
    for n in range(MAX_KNOWN_ITEMS):
        known.remember_item(f"https://x.example/{n}", n)
    known.remember_item("https://x.example/one-more", 1)
    assert known.items == {"https://x.example/one-more": 1}
