"""One learnloop per test module for the fuzz suite, on each database backend: the world's configuration,
the real clock (wiki signatures are checked against it), a fake Mattermost without sockets."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.config import Settings
from learnloop.mattermost.client import MattermostClient
from learnloop.wiring import create_app
from tests.conftest import _empty_all_tables
from tests.fuzz import fake_mattermost, world
from tests.fuzz.probe import RowSnapshot, probe_for
from tests.fuzz.send import Sender, flask_transport

MATTERMOST_URL = "http://mattermost.fuzz"


def fuzz_runtime(engine: Engine) -> Runtime:
    """The world's learnloop on `engine`; no LEARNLOOP_* variable or learnloop.toml of the machine's is read (a
    module's fixtures are made before the per-test isolation in tests/conftest.py)."""
    with pytest.MonkeyPatch.context() as patch, tempfile.TemporaryDirectory() as empty:
        for name in [name for name in os.environ if name.startswith("LEARNLOOP_")]:
            patch.delenv(name)
        patch.chdir(empty)
        settings = Settings(**world.settings_values(database_url=str(engine.url), mattermost_url=MATTERMOST_URL))
    runtime = build_runtime(settings, engine=engine)
    runtime._mattermost = MattermostClient(MATTERMOST_URL, world.BOT_TOKEN, session=fake_mattermost.session())
    return runtime


@pytest.fixture(scope="module")
def fuzz_sender(migrated_engine: Engine) -> Iterator[Sender]:
    _empty_all_tables(migrated_engine)
    app = create_app(fuzz_runtime(migrated_engine))
    probe = probe_for(migrated_engine)
    yield Sender(flask_transport(app), probe)
    close = getattr(probe, "close", None)
    if close is not None:
        close()


@pytest.fixture
def world_runtime(engine: Engine) -> Runtime:
    """A fresh learnloop in the fuzz world, on each backend, for the tests that send one request at a time."""
    return fuzz_runtime(engine)


@pytest.fixture
def world_client(world_runtime: Runtime) -> FlaskClient:
    return create_app(world_runtime).test_client()


@pytest.fixture
def unchanged(engine: Engine) -> Callable[[], AbstractContextManager[None]]:
    """`with unchanged(): ...` fails if the block changed any row."""
    probe = RowSnapshot(engine)

    @contextmanager
    def block() -> Iterator[None]:
        mark = probe.mark()
        yield
        assert not probe.changed_since(mark), "the database changed"

    return block
