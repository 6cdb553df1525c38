"""One learnloop per test module for the fuzz suite, on each database backend: the world's configuration,
the real clock (wiki signatures are checked against it), the Mattermost stand-in (tests/standins/mattermost_http.py)
on loopback, reached under the world's Mattermost address."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from flask.testing import FlaskClient
from requests.adapters import HTTPAdapter
from sqlalchemy import Engine

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.config import Settings
from learnloop.mattermost.client import MattermostClient
from learnloop.wiring import create_app
from tests.conftest import _empty_all_tables
from tests.fuzz import world
from tests.fuzz.probe import RowSnapshot, probe_for
from tests.fuzz.send import Sender, flask_transport
from tests.standins.mattermost_http import StandinServer, start_in_thread

MATTERMOST_URL = "http://mattermost.fuzz"
"""The world's Mattermost as learnloop is configured with it (a response_url must name it)."""


class ToStandin(HTTPAdapter):
    """Sends every request to the stand-in, whatever host it names: MATTERMOST_URL resolves to it."""

    def __init__(self, standin_url: str) -> None:
        super().__init__()
        self.standin = urlsplit(standin_url).netloc

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        request.url = urlsplit(str(request.url))._replace(scheme="http", netloc=self.standin).geturl()
        return super().send(request, *args, **kwargs)


@pytest.fixture(scope="session")
def mattermost_standin() -> Iterator[StandinServer]:
    server = start_in_thread(world.mattermost(), latency_ms=0)
    yield server
    server.shutdown()
    server.server_close()


def fuzz_runtime(engine: Engine, mattermost: StandinServer) -> Runtime:
    """The world's learnloop on `engine`; no LEARNLOOP_* variable or learnloop.toml of the machine's is read (a
    module's fixtures are made before the per-test isolation in tests/conftest.py)."""
    with pytest.MonkeyPatch.context() as patch, tempfile.TemporaryDirectory() as empty:
        for name in [name for name in os.environ if name.startswith("LEARNLOOP_")]:
            patch.delenv(name)
        patch.chdir(empty)
        settings = Settings(**world.settings_values(database_url=str(engine.url), mattermost_url=MATTERMOST_URL))
    runtime = build_runtime(settings, engine=engine)
    http = requests.Session()
    http.trust_env = False  # no proxy from the environment between the client and the stand-in
    http.mount("http://", ToStandin(mattermost.url))
    http.mount("https://", ToStandin(mattermost.url))
    runtime._mattermost = MattermostClient(MATTERMOST_URL, world.BOT_TOKEN, session=http)
    return runtime


@pytest.fixture(scope="module")
def fuzz_sender(migrated_engine: Engine, mattermost_standin: StandinServer) -> Iterator[Sender]:
    _empty_all_tables(migrated_engine)
    app = create_app(fuzz_runtime(migrated_engine, mattermost_standin))
    probe = probe_for(migrated_engine)
    yield Sender(flask_transport(app), probe)
    close = getattr(probe, "close", None)
    if close is not None:
        close()


@pytest.fixture
def world_runtime(engine: Engine, mattermost_standin: StandinServer) -> Runtime:
    """A fresh learnloop in the fuzz world, on each backend, for the tests that send one request at a time."""
    return fuzz_runtime(engine, mattermost_standin)


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
