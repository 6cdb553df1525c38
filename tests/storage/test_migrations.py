"""Migrations build exactly the schema the code declares, and can be undone, on both backends."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import IntegrityError
from tests.conftest import _postgres_engine

from learnloop.storage.engine import make_engine
from learnloop.storage.migrate import downgrade, upgrade
from learnloop.storage.tables import Base


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_engine(request: pytest.FixtureRequest, tmp_path) -> Iterator[Engine]:
    if request.param == "postgresql":
        url = os.environ.get("LEARNLOOP_TEST_DATABASE_URL")
        if not url:
            pytest.skip("LEARNLOOP_TEST_DATABASE_URL is not set; PostgreSQL tests skipped")
        yield from _postgres_engine(url)
    else:
        engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
        yield engine
        engine.dispose()


def test_migrations_match_the_declared_tables(fresh_engine: Engine) -> None:
    upgrade(fresh_engine)
    with fresh_engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_downgrade_to_base_and_upgrade_again(fresh_engine: Engine) -> None:
    upgrade(fresh_engine)
    downgrade(fresh_engine, "base")
    assert set(inspect(fresh_engine).get_table_names()) <= {"alembic_version"}
    upgrade(fresh_engine)
    assert {"ratings", "events", "outbox"} <= set(inspect(fresh_engine).get_table_names())


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0


def test_0007_counts_the_members_of_weeks_folded_before_it(fresh_engine: Engine) -> None:
    upgrade(fresh_engine, "0006")
    with fresh_engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO communities (id, channel_id, name, ratings_count, stars_sum, created_at) "
            "VALUES (1, 'fukk3xq1bbn8fgmsiwh4xprwdh', 'Data guild', 0, 0, '2026-11-02 09:00:00')")
        for week, metric, value, members in (("2026-11-02", "ratings", 5, ["a", "b", "c"]),
                                             ("2026-11-09", "ratings", 2, ["a"]), ("2026-11-09", "new_pages", 4, [])):
            connection.exec_driver_sql(f"INSERT INTO weekly_counts VALUES (1, '{week}', '{metric}', {value})")
            for member in members:
                connection.exec_driver_sql(f"INSERT INTO weekly_members VALUES (1, '{week}', '{metric}', '{member}')")
    upgrade(fresh_engine, "0007")
    with fresh_engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT metric, value, members FROM weekly_counts ORDER BY week, metric").all()
    assert [tuple(row) for row in rows] == [("ratings", 5, 3), ("new_pages", 4, 0), ("ratings", 2, 1)]


def test_0008_keeps_the_event_log_and_its_dedupe_keys(fresh_engine: Engine) -> None:
    upgrade(fresh_engine, "0007")
    insert = ("INSERT INTO events (kind, occurred_at, recorded_at, dedupe_key, data) "
              "VALUES ('{kind}', '2026-11-02 09:00:00', '2026-11-02 09:00:00', {key}, '{{}}')")
    with fresh_engine.begin() as connection:
        for kind, key in (("rating", "NULL"), ("wiki_page_created", "'wiki:docs:1'"), ("rating", "NULL")):
            connection.exec_driver_sql(insert.format(kind=kind, key=key))
    upgrade(fresh_engine)
    with fresh_engine.begin() as connection:
        connection.exec_driver_sql(insert.format(kind="rating", key="NULL"))
        kept = connection.exec_driver_sql("SELECT kind, dedupe_key FROM events ORDER BY id").all()
    assert [tuple(row) for row in kept] == [("rating", None), ("wiki_page_created", "wiki:docs:1"),
                                           ("rating", None), ("rating", None)]
    with pytest.raises(IntegrityError), fresh_engine.begin() as connection:
        connection.exec_driver_sql(insert.format(kind="wiki_page_created", key="'wiki:docs:1'"))


def test_0014_names_the_authors_of_reflections_already_on_their_way_to_the_wiki(fresh_engine: Engine) -> None:
    upgrade(fresh_engine, "0009")
    insert = ("INSERT INTO reflections (id, user_id, body, visibility, publish_state, created_at, updated_at) "
              "VALUES ({id}, 'ann', 'sealed', '{visibility}', {state}, '2026-11-02 09:00:00', '2026-11-02 09:00:00')")
    with fresh_engine.begin() as connection:
        for row_id, visibility, state in ((1, "private", "NULL"), (2, "wiki", "'queued'"),
                                          (3, "wiki", "'published'"), (4, "community", "NULL")):
            connection.exec_driver_sql(insert.format(id=row_id, visibility=visibility, state=state))
    upgrade(fresh_engine, "0014")
    with fresh_engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT id, publish_attribution, publish_marker FROM reflections ORDER BY id").all()
    assert [tuple(row) for row in rows] == [(1, None, None), (2, "name", "learnloop-reflection-2"),
                                           (3, "name", None), (4, None, None)]
    with pytest.raises(IntegrityError), fresh_engine.begin() as connection:
        connection.exec_driver_sql("UPDATE reflections SET publish_attribution = 'someone' WHERE id = 2")
    upgrade(fresh_engine)
    downgrade(fresh_engine, "0009")
    assert "publish_marker" not in {c["name"] for c in inspect(fresh_engine).get_columns("reflections")}


def test_0015_triages_open_feedback_as_new_and_adds_page_owners(fresh_engine: Engine) -> None:
    upgrade(fresh_engine, "0014")
    with fresh_engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO content_items (id, url, kind, ratings_count, stars_sum, created_at) "
            "VALUES (1, 'https://wiki.acme.example/p', 'wiki_page', 0, 0, '2026-11-02 09:00:00')")
        for row_id, status in ((1, "open"), (2, "resolved"), (3, "hidden"), (4, "open")):
            connection.exec_driver_sql(
                "INSERT INTO feedback (id, item_id, author_id, stars, comment, status, created_at) "
                f"VALUES ({row_id}, 1, 'ann', 2, 'note', '{status}', '2026-11-02 09:00:00')")
    upgrade(fresh_engine, "0015")
    with fresh_engine.connect() as connection:
        states = connection.exec_driver_sql("SELECT id, status FROM feedback ORDER BY id").all()
    assert [tuple(row) for row in states] == [(1, "new"), (2, "resolved"), (3, "hidden"), (4, "new")]
    with fresh_engine.begin() as connection:
        connection.exec_driver_sql("UPDATE feedback SET status = 'planned' WHERE id = 4")
        connection.exec_driver_sql("INSERT INTO page_owners (kind, item_id, user_id, created_at) "
                                   "VALUES ('page', 1, 'ann', '2026-11-02 09:00:00')")
    with pytest.raises(IntegrityError), fresh_engine.begin() as connection:
        connection.exec_driver_sql("UPDATE feedback SET status = 'open' WHERE id = 1")
    with pytest.raises(IntegrityError), fresh_engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO page_owners (kind, item_id, user_id, created_at) "
                                   "VALUES ('page', 1, 'ann', '2026-11-02 09:00:00')")
    with pytest.raises(IntegrityError), fresh_engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO page_owners (kind, user_id, created_at) "
                                   "VALUES ('space', 'bob', '2026-11-02 09:00:00')")
    downgrade(fresh_engine, "0014")
    assert "page_owners" not in inspect(fresh_engine).get_table_names()
    with fresh_engine.connect() as connection:
        states = connection.exec_driver_sql("SELECT id, status FROM feedback ORDER BY id").all()
    assert [tuple(row) for row in states] == [(1, "open"), (2, "resolved"), (3, "hidden"), (4, "open")]
    assert "reviewed_at" not in {c["name"] for c in inspect(fresh_engine).get_columns("content_items")}
