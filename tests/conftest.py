"""Shared fixtures. Every test that touches storage runs against SQLite and, when
LEARNLOOP_TEST_DATABASE_URL names a PostgreSQL server, against PostgreSQL too."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.config import Settings
from learnloop.jobs.worker import Worker
from learnloop.services.rollups import SETTLE
from learnloop.storage.engine import make_engine
from learnloop.storage.migrate import upgrade
from learnloop.storage.tables import Base
from learnloop.wiring import create_app
from tests.contract.fixtures import MATTERMOST_TEST_URL, mattermost_contract  # noqa: F401
from tests.wikis.mediawiki_support import needs_mediawiki

FIXTURES = Path(__file__).parent / "fixtures"
COMMAND_TOKEN = "xr3j5x7p8pfk7mqqddy9xkxs4a"
OLD_COMMAND_TOKEN = "9xq6tgwj1jrjbm3xjfsqtrnxwe"
WEBHOOK_TOKEN = "o8b3fq6h9pnrtn6qw7jz5g4yoe"
BOT_TOKEN = "bot-token-7ya3mhs1kfbd8k3rj8bu6wuxbe"
SECRET_KEY = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
PUBLIC_URL = "https://learnloop.example.com"
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

BACKENDS = ["sqlite", "postgresql"]


class FakeClock:
    """A clock the test moves by hand; nothing sleeps."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def next_week(self) -> datetime:
        """The first minute of next week: this week has ended, so the worker's pass may release it."""
        monday = (self.now - timedelta(days=self.now.weekday())).replace(hour=0, minute=1, second=0, microsecond=0)
        self.now = monday + timedelta(weeks=1)
        return self.now


def _postgres_engine(url: str) -> Iterator[Engine]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def migrated_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A database migrated with Alembic once per backend per test session."""
    if request.param == "postgresql":
        url = os.environ.get("LEARNLOOP_TEST_DATABASE_URL")
        if not url:
            pytest.skip("LEARNLOOP_TEST_DATABASE_URL is not set; PostgreSQL tests skipped")
        generator = _postgres_engine(url)
        engine = next(generator)
    else:
        engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('db') / 'learnloop.db'}")
        generator = None
    upgrade(engine)
    yield engine
    if generator is not None:
        next(generator, None)
    else:
        engine.dispose()


def _empty_all_tables(engine: Engine) -> None:
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                connection.execute(text(f"DELETE FROM {name}"))


@pytest.fixture
def engine(migrated_engine: Engine) -> Iterator[Engine]:
    _empty_all_tables(migrated_engine)
    yield migrated_engine


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": "sqlite://",
        "public_url": PUBLIC_URL,
        "secret_key": SECRET_KEY,
        "mattermost_url": MATTERMOST_TEST_URL,
        "mattermost_bot_token": BOT_TOKEN,
        "mattermost_bot_user_id": "learnloopbot0000000000000a",
        "mattermost_command_tokens": [COMMAND_TOKEN, OLD_COMMAND_TOKEN],
        "mattermost_webhook_tokens": [WEBHOOK_TOKEN],
        "outbox_concurrency": 1,
        "config_file": Path("/nonexistent/learnloop.toml"),
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
def runtime(settings: Settings, engine: Engine, clock: FakeClock) -> Runtime:
    return build_runtime(settings, clock=clock, engine=engine)


@pytest.fixture
def app(runtime: Runtime) -> Flask:
    app = create_app(runtime)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's learnloop.toml or LEARNLOOP_* variables by accident."""
    for name in list(os.environ):
        if name.startswith("LEARNLOOP_") and name != "LEARNLOOP_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


TIERS = {
    "browser": "a real Chromium (tests/browser)",
    "mediawiki": "a real MediaWiki from Debian's packages",
    "postgresql": "the PostgreSQL half of the database-parametrised tests",
    "scaleout": "real learnloop processes on one database (tests/scaleout)",
    "slow": "fuzzing (tests/fuzz), hypothesis properties, real servers, and tests over about a second",
}
"""The slow tiers, marked on collection (and `slow` by hand on a test over about a second): `make test-fast`
leaves them out, `make test` runs everything."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = item.path.as_posix()
        fixtures = getattr(item, "fixturenames", ())
        callspec = getattr(item, "callspec", None)
        found = {
            "browser": "/tests/browser/" in path,
            "mediawiki": "mediawiki" in fixtures or "mediawiki_editor" in fixtures
                         or any(mark == needs_mediawiki.mark for mark in item.iter_markers("skipif")),
            "postgresql": callspec is not None and callspec.params.get("migrated_engine") == "postgresql",
            "scaleout": "/tests/scaleout/" in path,
            "slow": "/tests/fuzz/" in path or getattr(getattr(item, "obj", None), "is_hypothesis_test", False),
        }
        for tier, applies in found.items():
            if applies:
                item.add_marker(tier)


def shown_scores(runtime: Runtime) -> None:
    """The worker's pass once the ratings have settled (half a minute on): the pages' scores are shown where it
    is the install's first pass or a week has ended since the last (services.rollups.close_ended_weeks)."""
    clock = runtime.clock
    assert isinstance(clock, FakeClock)
    clock.now += SETTLE + timedelta(seconds=1)
    Worker(runtime).run_rollups()
