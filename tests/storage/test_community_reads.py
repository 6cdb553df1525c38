"""Reads that would otherwise scan whole tables go through their indexes: a community's reads of its items through
the index on content_items.community_id, so one community's dashboard does not read the items of every other
(migration 0022); the week-end scan of rated pages through ranges of the ratings' (item_id, updated_at) and
(item_id, created_at) indexes, so it reads only the ratings changed or first given since a page's score was
stored (migration 0036)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, event

from learnloop.bootstrap import Runtime
from learnloop.storage.unit_of_work import UnitOfWork


def _plan(runtime: Runtime, engine: Engine, read: Callable[[UnitOfWork], object]) -> list[str]:
    """SQLite's plan of the one SELECT that `read` runs."""
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's query plan")
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with runtime.reader() as uow:
            read(uow)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    [(statement, parameters)] = [(s, p) for s, p in seen if s.lstrip().startswith("SELECT")]
    with engine.connect() as connection:
        return [str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]


def test_the_pages_too_early_to_rank_are_read_through_the_community_index(runtime: Runtime, engine: Engine) -> None:
    plan = _plan(runtime, engine, lambda uow: uow.dashboards.unscored(1, 5, 10))
    assert "USING INDEX ix_content_items_community_id" in " ".join(plan), plan


def test_the_scan_of_changed_ratings_reads_them_through_index_ranges(runtime: Runtime, engine: Engine) -> None:
    plan = _plan(runtime, engine, lambda uow: uow.rollups.changes({1}))
    ratings = [step for step in plan if step.startswith("SEARCH ratings")]
    assert any("ix_ratings_item_changed (item_id=? AND updated_at>?)" in step for step in ratings), plan
    assert any("ix_ratings_item_created (item_id=? AND created_at>?)" in step for step in ratings), plan
    assert all("COVERING" in step for step in ratings if step.endswith("(item_id=?)")), plan
    assert not [step for step in ratings if "<" in step], plan  # a range below a bound: nearly every rating
