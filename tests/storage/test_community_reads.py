"""A community's reads of its items go through the index on content_items.community_id, so one community's
dashboard does not read the items of every other (migration 0022)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, event

from learnloop.bootstrap import Runtime


def test_the_pages_too_early_to_rank_are_read_through_the_community_index(runtime: Runtime, engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's query plan")
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with runtime.reader() as uow:
            assert uow.dashboards.unscored(1, 5, 10) == []
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    [(statement, parameters)] = [(s, p) for s, p in seen if s.lstrip().startswith("SELECT")]
    with engine.connect() as connection:
        plan = " ".join(str(row[-1]) for row in connection.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {statement}", parameters))
    assert "USING INDEX ix_content_items_community_id" in plan, plan
