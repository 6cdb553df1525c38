"""Migrations build exactly the schema the code declares, and can be undone, on both backends."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import IntegrityError
from tests.conftest import _postgres_engine

from learnloop.storage.engine import make_engine
from learnloop.storage.migrate import downgrade, upgrade
from learnloop.storage.tables import Base


@pytest.fixture(params=[pytest.param("sqlite", marks=pytest.mark.slow),
                        pytest.param("postgresql", marks=[pytest.mark.slow, pytest.mark.postgresql])])
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


def test_migrated_primary_keys_have_the_declared_column_order(fresh_engine: Engine) -> None:
    """Alembic's comparison does not look at a primary key's column order, which decides what its index serves."""
    upgrade(fresh_engine)
    inspector = inspect(fresh_engine)
    migrated = {name: inspector.get_pk_constraint(name)["constrained_columns"] for name in Base.metadata.tables}
    declared = {name: [column.name for column in table.primary_key.columns]
                for name, table in Base.metadata.tables.items()}
    assert migrated == declared
    assert migrated["weekly_members"] == ["community_id", "metric", "week", "member"]


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


def test_0016_keeps_the_live_scores_people_saw_as_shown_and_drops_the_live_totals(fresh_engine: Engine) -> None:
    """Every rated page starts from the totals people last saw, released through its newest rating (so the first
    move after the upgrade needs k people too), a page in no community among them; the stored bases go, for the
    worker to store again from the shown totals."""
    upgrade(fresh_engine, "0015")
    at = "'2026-11-02 09:00:00'"
    with fresh_engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO communities (id, channel_id, name, ratings_count, stars_sum, "
                                   f"created_at) VALUES (1, 'c1', 'guild', 7, 26, {at})")
        for item, community, count, stars in ((1, "1", 6, 22), (2, "NULL", 2, 9), (3, "1", 1, 4), (4, "1", 0, 0)):
            connection.exec_driver_sql(
                "INSERT INTO content_items (id, url, kind, community_id, ratings_count, stars_sum, created_at) "
                f"VALUES ({item}, 'https://wiki.acme.example/{item}', 'wiki_page', {community}, {count}, {stars}, "
                f"{at})")
        for n in range(9):
            item, stamp = (1, f"'2026-11-0{2 + n % 3} 09:00:00'") if n < 6 else (2 if n < 8 else 3, at)
            connection.exec_driver_sql("INSERT INTO ratings (item_id, user_id, stars, created_at, updated_at) "
                                       f"VALUES ({item}, 'user{n}', 4, {at}, {stamp})")
        connection.exec_driver_sql("INSERT INTO item_scores (item_id, community_id, stars_sum, ratings_count, score) "
                                   "VALUES (1, 1, 18, 5, 3.9)")  # the fold lagged one rating behind
        connection.exec_driver_sql(f"INSERT INTO score_bases (community_id, prior_mean, updated_at) VALUES (1, 3.5, {at})")
    upgrade(fresh_engine)
    with fresh_engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT item_id, community_id, stars_sum, ratings_count, score, "
                                          "released_through FROM item_scores ORDER BY item_id").all()
        bases = connection.exec_driver_sql("SELECT count(*) FROM score_bases").scalar_one()
    assert [tuple(row)[:4] for row in rows] == [(1, 1, 22, 6), (2, None, 9, 2), (3, 1, 4, 1)]
    assert [round(row[4], 4) for row in rows] == [round((15 + 22) / 11, 4), round(24 / 7, 4), round(19 / 6, 4)]
    assert str(rows[0][5]).startswith("2026-11-04 09:00:00") and bases == 0
    for table in ("content_items", "communities"):
        assert not {"ratings_count", "stars_sum"} & {c["name"] for c in inspect(fresh_engine).get_columns(table)}
    downgrade(fresh_engine, "0015")
    with fresh_engine.connect() as connection:
        totals = connection.exec_driver_sql(
            "SELECT id, ratings_count, stars_sum FROM content_items ORDER BY id").all()
        community = connection.exec_driver_sql("SELECT ratings_count, stars_sum FROM communities").one()
    assert [tuple(row) for row in totals] == [(1, 6, 24), (2, 2, 8), (3, 1, 4), (4, 0, 0)], "from the ratings"
    assert tuple(community) == (7, 28)


def test_0018_drops_the_unread_blocks_of_distinct_things(fresh_engine: Engine) -> None:
    upgrade(fresh_engine, "0017")
    with fresh_engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO communities (id, channel_id, name, created_at) "
                                   "VALUES (1, 'c1', 'guild', '2026-11-02 09:00:00')")
        for metric in ("ratings", "items_rated", "replies", "threads"):
            connection.exec_driver_sql(
                "INSERT INTO release_blocks (community_id, metric, first_week, last_week, value, people, closed) "
                f"VALUES (1, '{metric}', '2026-11-02', '2026-11-09', 5, 3, TRUE)")
    upgrade(fresh_engine, "0018")
    with fresh_engine.connect() as connection:
        kept = connection.exec_driver_sql("SELECT metric FROM release_blocks ORDER BY metric").scalars().all()
    assert kept == ["ratings", "replies"]


def test_0019_keeps_the_weekly_member_sets_when_it_reorders_their_key(fresh_engine: Engine) -> None:
    upgrade(fresh_engine, "0018")
    rows = [(1, "2026-11-02", "ratings", "a"), (1, "2026-11-02", "raters", "a"), (1, "2026-11-09", "ratings", "b")]
    with fresh_engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO communities (id, channel_id, name, created_at) "
                                   "VALUES (1, 'c1', 'guild', '2026-11-02 09:00:00')")
        for community, week, metric, member in rows:
            connection.exec_driver_sql("INSERT INTO weekly_members (community_id, week, metric, member) "
                                       f"VALUES ({community}, '{week}', '{metric}', '{member}')")
    upgrade(fresh_engine, "0019")
    with fresh_engine.connect() as connection:
        kept = connection.exec_driver_sql(
            "SELECT community_id, CAST(week AS VARCHAR(10)), metric, member FROM weekly_members "
            "ORDER BY week, metric").all()
    assert [tuple(row) for row in kept] == [rows[1], rows[0], rows[2]]
    assert "ix_weekly_members_member" in {index["name"] for index in inspect(fresh_engine).get_indexes("weekly_members")}
    with pytest.raises(IntegrityError), fresh_engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO weekly_members (community_id, week, metric, member) "
                                   "VALUES (1, '2026-11-09', 'ratings', 'b')")
    downgrade(fresh_engine, "0018")
    assert inspect(fresh_engine).get_pk_constraint("weekly_members")["constrained_columns"] == [
        "community_id", "week", "metric", "member"]


def test_0020_drops_the_chat_posts_measure(fresh_engine: Engine) -> None:
    upgrade(fresh_engine, "0019")
    with fresh_engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO communities (id, channel_id, name, created_at) "
                                   "VALUES (1, 'c1', 'guild', '2026-11-02 09:00:00')")
        for metric in ("posts", "replies"):
            connection.exec_driver_sql("INSERT INTO weekly_counts (community_id, week, metric, value) "
                                       f"VALUES (1, '2026-11-02', '{metric}', 4)")
            connection.exec_driver_sql("INSERT INTO weekly_members (community_id, metric, week, member) "
                                       f"VALUES (1, '{metric}', '2026-11-02', 'a')")
            connection.exec_driver_sql(
                "INSERT INTO release_blocks (community_id, metric, first_week, last_week, value, people, closed) "
                f"VALUES (1, '{metric}', '2026-11-02', '2026-11-02', 4, 3, TRUE)")
    upgrade(fresh_engine, "0020")
    with fresh_engine.connect() as connection:
        for table in ("weekly_counts", "weekly_members", "release_blocks"):
            kept = connection.exec_driver_sql(f"SELECT metric FROM {table}").scalars().all()
            assert kept == ["replies"], table


def test_0021_counts_prompts_unanswered_from_the_next_week_and_drops_prompts_sent(fresh_engine: Engine) -> None:
    upgrade(fresh_engine, "0020")
    with fresh_engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO communities (id, channel_id, name, created_at) "
                                   "VALUES (1, 'c1', 'guild', '2026-11-02 09:00:00')")
        connection.exec_driver_sql(
            "INSERT INTO prompt_schedules (id, community_id, questions, rrule, local_time, window_minutes, timezone, "
            "anchor_date, default_visibility, active, created_by, created_at) VALUES (1, 1, '[]', 'FREQ=WEEKLY', "
            "'09:00', 60, 'UTC', '2026-11-02', 'private', TRUE, 'owner', '2026-11-02 09:00:00')")
        connection.exec_driver_sql("INSERT INTO prompt_runs (id, schedule_id, local_date, members_planned, "
                                   "created_at) VALUES (1, 1, '2026-11-02', TRUE, '2026-11-02 09:00:00')")
        for n, (status, window_end) in enumerate([("sent", "2026-11-02 10:00:00"), ("sent", "2999-01-01 10:00:00"),
                                                  ("answered", "2026-11-02 10:00:00")]):
            connection.exec_driver_sql(
                "INSERT INTO deliveries (run_id, user_id, due_at, window_end, status, updated_at) "
                f"VALUES (1, 'user{n}', '2026-11-02 09:00:00', '{window_end}', '{status}', '2026-11-02 09:00:00')")
        for metric in ("prompts_sent", "reflections"):
            connection.exec_driver_sql("INSERT INTO weekly_counts (community_id, week, metric, value) "
                                       f"VALUES (1, '2026-11-02', '{metric}', 4)")
        connection.exec_driver_sql("INSERT INTO reflections (user_id, community_id, delivery_id, body, visibility, "
                                   "created_at, updated_at) VALUES ('user2', 1, 3, 'sealed', 'private', "
                                   "'2026-11-02 09:30:00', '2026-11-02 09:30:00')")
    upgrade(fresh_engine, "0021")
    with fresh_engine.connect() as connection:
        statuses = connection.exec_driver_sql(
            "SELECT user_id, status, reason FROM deliveries ORDER BY user_id").all()
        linked = connection.exec_driver_sql("SELECT delivery_id FROM reflections").scalar_one()
        since = connection.exec_driver_sql(
            "SELECT position FROM cursors WHERE name = 'prompts_unanswered_since'").scalar_one()
        kept = connection.exec_driver_sql("SELECT metric FROM weekly_counts").scalars().all()
    assert [tuple(row) for row in statuses] == [("user0", "skipped", "lapsed"), ("user1", "sent", None),
                                                ("user2", "answered", None)], \
        "a prompt whose window closed before the upgrade lapses uncounted"
    assert linked == 3, "an answer keeps its prompt"
    monday = date.fromisoformat(since)
    assert monday.weekday() == 0 and date.today() < monday <= date.today() + timedelta(days=7)
    assert kept == ["reflections"]
    downgrade(fresh_engine, "0020")


def test_0021_on_an_install_that_never_sent_a_prompt_counts_them_from_the_start(fresh_engine: Engine) -> None:
    upgrade(fresh_engine, "0021")
    with fresh_engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM cursors").scalar_one() == 0


def test_0024_dates_the_shares_of_items_shared_before_it(fresh_engine: Engine) -> None:
    upgrade(fresh_engine, "0023")
    insert = ("INSERT INTO content_items (id, url, kind, first_shared_by, created_at) "
              "VALUES ({id}, 'https://x.example/{id}', 'link', {sharer}, '2026-11-02 09:00:00+00:00')")
    with fresh_engine.begin() as connection:
        connection.exec_driver_sql(insert.format(id=1, sharer="'ann'"))
        connection.exec_driver_sql(insert.format(id=2, sharer="NULL"))
    upgrade(fresh_engine, "0024")
    with fresh_engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT id, shared_at IS NOT NULL FROM content_items ORDER BY id").all()
    assert [(row[0], bool(row[1])) for row in rows] == [(1, True), (2, False)]


def test_0025_names_shared_reflections_by_a_token_not_their_id(fresh_engine: Engine) -> None:
    upgrade(fresh_engine, "0024")
    insert = ("INSERT INTO content_items (id, url, kind, created_at) "
              "VALUES ({id}, '{url}', '{kind}', '2026-11-02 09:00:00+00:00')")
    with fresh_engine.begin() as connection:
        connection.exec_driver_sql(insert.format(id=1, url="https://l.example/reflections/17", kind="reflection"))
        connection.exec_driver_sql(insert.format(id=2, url="https://l.example/reflections/18", kind="reflection"))
        connection.exec_driver_sql(insert.format(id=3, url="https://wiki.example/reflections/19", kind="link"))
    upgrade(fresh_engine, "0025")
    with fresh_engine.connect() as connection:
        urls = [row[0] for row in connection.exec_driver_sql("SELECT url FROM content_items ORDER BY id")]
    assert all(re.fullmatch(r"https://l\.example/reflections/[0-9a-f]{16}", url) for url in urls[:2])
    assert urls[0] != urls[1] and urls[2] == "https://wiki.example/reflections/19"


def test_0026_dates_the_scores_shown_before_it_on_the_monday_after_their_newest_rating(fresh_engine: Engine) -> None:
    """Never the rating's own time, which a digest preview's window would tell to the minute."""
    upgrade(fresh_engine, "0025")
    with fresh_engine.begin() as connection:
        for item, through in ((1, "2026-11-04 14:02:00.000000"), (2, "2026-11-08 23:59:59.999999"),
                              (3, "2026-11-09 00:00:00.000000")):  # as SQLAlchemy writes them
            connection.exec_driver_sql("INSERT INTO content_items (id, url, kind, created_at) VALUES "
                                       f"({item}, 'https://x.example/{item}', 'link', '2026-11-02 09:00:00')")
            connection.exec_driver_sql("INSERT INTO item_scores (item_id, stars_sum, ratings_count, score, "
                                       f"released_through) VALUES ({item}, 20, 5, 4.0, '{through}')")
    upgrade(fresh_engine, "0026")
    with fresh_engine.connect() as connection:
        moved = [str(row[0])[:19] for row in connection.exec_driver_sql(
            "SELECT released_at FROM item_scores ORDER BY item_id")]
    assert moved == ["2026-11-09 00:00:00", "2026-11-09 00:00:00", "2026-11-16 00:00:00"]
    downgrade(fresh_engine, "0025")


def test_0027_keeps_on_each_reflection_whether_it_answered_a_prompt(fresh_engine: Engine) -> None:
    upgrade(fresh_engine, "0026")
    inserts = ["INSERT INTO reflections (id, user_id, delivery_id, body, visibility, created_at, updated_at) VALUES "
               f"({reflection}, 'ann', {delivery}, 'sealed', 'private', '2026-11-02 09:00:00', '2026-11-02 09:00:00')"
               for reflection, delivery in ((1, "7"), (2, "NULL"))]  # no delivery's rows: foreign keys not checked
    if fresh_engine.dialect.name == "sqlite":
        raw = fresh_engine.raw_connection()
        try:
            raw.driver_connection.execute("PRAGMA foreign_keys = OFF")  # type: ignore[union-attr]
            for statement in inserts:
                raw.driver_connection.execute(statement)  # type: ignore[union-attr]
        finally:
            raw.driver_connection.execute("PRAGMA foreign_keys = ON")  # type: ignore[union-attr]
            raw.close()
    else:
        with fresh_engine.begin() as connection:
            connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
            for statement in inserts:
                connection.exec_driver_sql(statement)
    upgrade(fresh_engine, "0027")
    with fresh_engine.connect() as connection:
        answered = [bool(row[0]) for row in connection.exec_driver_sql(
            "SELECT answered_prompt FROM reflections ORDER BY id")]
    assert answered == [True, False]
    downgrade(fresh_engine, "0026")


def test_0028_never_gives_a_deleted_event_id_again(fresh_engine: Engine) -> None:
    upgrade(fresh_engine, "0027")
    insert = ("INSERT INTO events (kind, occurred_at, recorded_at, data) VALUES "
              "('mention', '2026-11-02 09:00:00', '2026-11-02 09:00:00', '{}')")
    with fresh_engine.begin() as connection:
        for _ in range(3):
            connection.exec_driver_sql(insert)
    upgrade(fresh_engine, "0028")
    with fresh_engine.begin() as connection:
        assert [row[0] for row in connection.exec_driver_sql("SELECT id FROM events ORDER BY id")] == [1, 2, 3]
        connection.exec_driver_sql("DELETE FROM events WHERE id = 3")
        connection.exec_driver_sql(insert)
        assert connection.exec_driver_sql("SELECT max(id) FROM events").scalar_one() == 4


def test_0032_keeps_the_posts_of_reflections_shared_before_it(fresh_engine: Engine) -> None:
    """Their outbox messages go with retention; the post ids must not, or a later delete could not remove them."""
    upgrade(fresh_engine, "0031")
    post = "p" * 26
    with fresh_engine.begin() as connection:
        for reflection in (1, 2, 3):
            connection.exec_driver_sql(
                "INSERT INTO reflections (id, user_id, body, visibility, created_at, updated_at, answered_prompt) "
                f"VALUES ({reflection}, 'ann', 'sealed', 'community', '2026-11-02 09:00:00', '2026-11-02 09:00:00', "
                "false)")
        for reflection, status, result in ((1, "sent", f'{{"post_id": "{post}"}}'), (2, "pending", "null")):
            connection.exec_driver_sql(
                "INSERT INTO outbox (kind, payload, idempotency_key, status, attempts, next_attempt_at, created_at, "
                f"result) VALUES ('mattermost.create_post', '{{}}', 'share-reflection:{reflection}', '{status}', 0, "
                f"'2026-11-02 09:00:00', '2026-11-02 09:00:00', '{result}')")
    upgrade(fresh_engine, "0032")
    with fresh_engine.connect() as connection:
        posts = [row[0] for row in connection.exec_driver_sql("SELECT shared_post_id FROM reflections ORDER BY id")]
    assert posts == [post, None, None]


def test_0034_counts_in_the_scores_shown_before_it_everyone_who_had_rated_by_their_newest_rating(
        fresh_engine: Engine) -> None:
    upgrade(fresh_engine, "0033")
    through = "2026-11-04 14:02:00.000000"
    with fresh_engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO content_items (id, url, kind, created_at) VALUES "
                                   "(1, 'https://x.example/1', 'link', '2026-11-02 09:00:00')")
        connection.exec_driver_sql("INSERT INTO item_scores (item_id, stars_sum, ratings_count, score, "
                                   f"released_through) VALUES (1, 20, 5, 4.0, '{through}')")
    upgrade(fresh_engine, "0034")
    with fresh_engine.connect() as connection:
        counted = connection.exec_driver_sql("SELECT counted_through FROM item_scores").scalar_one()
    assert str(counted)[:19] == through[:19]
    downgrade(fresh_engine, "0033")
    assert "counted_through" not in {c["name"] for c in inspect(fresh_engine).get_columns("item_scores")}


def test_a_populated_sqlite_database_upgrades_through_tables_rebuilt_under_references(tmp_path) -> None:
    """Batch mode rebuilds a table by copying it and dropping the old one: with foreign keys on, dropping
    content_items (0011) deleted every rating, and dropping communities (0013) failed, leaving an install that
    could not start. Migrations run with them off, and are refused if they leave a reference missing."""
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0010")
    stamp = "'2026-11-02 09:00:00'"
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO communities (id, channel_id, name, ratings_count, stars_sum, created_at) "
            f"VALUES (1, 'fukk3xq1bbn8fgmsiwh4xprwdh', '~data-guild', 1, 5, {stamp})")
        connection.exec_driver_sql(
            "INSERT INTO content_items (id, url, kind, community_id, ratings_count, stars_sum, created_at) "
            f"VALUES (1, 'https://wiki/p', 'wiki_page', 1, 1, 5, {stamp})")
        connection.exec_driver_sql(
            "INSERT INTO ratings (id, item_id, user_id, stars, community_id, created_at, updated_at) "
            f"VALUES (1, 1, 'ann00000000000000000000000', 5, 1, {stamp}, {stamp})")
    upgrade(engine)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT item_id, stars FROM ratings").all() == [(1, 5)]
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1, "on again for the app"
