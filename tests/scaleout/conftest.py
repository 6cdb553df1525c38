"""Real processes on one database: `learnloop worker` and `learnloop serve` as deployed (subprocesses with
LEARNLOOP_* variables), the Mattermost stand-in over HTTP in this process, and a throw-away PostgreSQL schema
per test (or a SQLite file). Every wait is bounded; every process is killed at the end of its test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient
from sqlalchemy import text
from tests.standins.mattermost_http import StandinServer, World, start_in_thread

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.config import Settings
from learnloop.services.communities import community_for_channel
from learnloop.services.prompts.setup import PromptSetup, create
from learnloop.storage.engine import make_engine
from learnloop.storage.migrate import upgrade
from learnloop.wiring import create_app

COMMAND_TOKEN = "scaleoutcommandtoken0000001"
SECRET_KEY = "scale-out-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
WORKER_MAIN = Path(__file__).with_name("worker_main.py")
LEARNLOOP = Path(sys.executable).with_name("learnloop")


def wait_until(what: str, check: Callable[[], Any], timeout: float, every: float = 0.2) -> Any:
    """Poll `check` until it returns something true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last: {value!r})")
        time.sleep(every)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema; the URL names it in search_path, so every process uses it."""
    base = os.environ.get("LEARNLOOP_TEST_DATABASE_URL")
    if not base:
        pytest.skip("LEARNLOOP_TEST_DATABASE_URL is not set; PostgreSQL scale-out tests skipped")
    schema = f"s_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'learnloop.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def standin() -> Iterator[StandinServer]:
    """300 members, all in UTC, answering in 10 ms."""
    server = start_in_thread(World.synthetic(300, zones=("UTC",)), latency_ms=10)
    yield server
    server.shutdown()
    server.server_close()


@dataclass
class Fleet:
    """The learnloop processes of one test, on one database and one stand-in."""

    url: str
    home: Path
    standin: StandinServer | None = None
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEARNLOOP_")}
        (self.home / "learnloop.toml").write_text("# every setting comes from the environment\n")
        env.update(LEARNLOOP_DATABASE_URL=self.url, LEARNLOOP_SECRET_KEY=SECRET_KEY,
                   LEARNLOOP_MATTERMOST_COMMAND_TOKENS=COMMAND_TOKEN, LEARNLOOP_PUBLIC_URL="http://127.0.0.1:8080",
                   LEARNLOOP_CONFIG_FILE=str(self.home / "learnloop.toml"), PYTHONUNBUFFERED="1", **extra)
        if self.standin is not None:
            world = self.standin.world
            env.update(LEARNLOOP_MATTERMOST_URL=self.standin.url, LEARNLOOP_MATTERMOST_BOT_TOKEN=world.token,
                       LEARNLOOP_MATTERMOST_BOT_USER_ID=world.bot["id"])
        return env

    def start(self, name: str, argv: list[str], **extra: str) -> subprocess.Popen[bytes]:
        log = open(self.home / f"{name}-{len(self.processes)}.log", "wb")  # noqa: SIM115  (the process keeps it)
        process = subprocess.Popen(argv, env=self.env(**extra), cwd=self.home, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        self.processes.append(process)
        return process

    def worker(self, **scaled: str) -> subprocess.Popen[bytes]:
        """`learnloop worker`; with LEARNLOOP_TEST_* times, through worker_main.py, which scales them."""
        if scaled:
            return self.start("worker", [sys.executable, str(WORKER_MAIN)], **scaled)
        return self.start("worker", [str(LEARNLOOP), "worker"])

    def serve(self, port: int) -> subprocess.Popen[bytes]:
        return self.start("serve", [str(LEARNLOOP), "serve", "--host", "127.0.0.1", "--port", str(port)],
                          LEARNLOOP_WEB_WORKERS="1", LEARNLOOP_ACCESS_LOG="false")

    def logs(self) -> str:
        return "\n".join(f"--- {path.name}\n" + path.read_text(errors="replace")[-3000:]
                         for path in sorted(self.home.glob("*.log")))

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


@pytest.fixture
def fleet(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Fleet]]:
    made: list[Fleet] = []

    def make(url: str, standin: StandinServer | None = None) -> Fleet:
        made.append(Fleet(url, tmp_path, standin))
        return made[-1]

    yield make
    failed = getattr(getattr(request.node, "rep_call", None), "failed", False)
    for one in made:
        one.stop()
        if failed:
            print(one.logs())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
    return report


def settings_for(url: str, standin: StandinServer) -> Settings:
    world = standin.world
    return Settings(database_url=url, secret_key=SECRET_KEY, public_url="http://127.0.0.1:8080",  # type: ignore[arg-type]
                    mattermost_url=standin.url, mattermost_bot_token=world.token,  # type: ignore[arg-type]
                    mattermost_bot_user_id=world.bot["id"], mattermost_command_tokens=[COMMAND_TOKEN],
                    config_file=Path("/nonexistent/learnloop.toml"))


def in_process(url: str, standin: StandinServer) -> tuple[Runtime, FlaskClient]:
    """learnloop's web app in this process on the test's database: what `learnloop serve` runs, without
    a server around it. Migrates the database."""
    runtime = build_runtime(settings_for(url, standin))
    upgrade(runtime.engine)
    return runtime, create_app(runtime).test_client()


def slash_command(client: FlaskClient, standin: StandinServer, user: dict[str, Any], text_: str, n: int) -> str:
    """`/learn <text_>` from `user` in the stand-in's channel, through learnloop's web app; the answer's text."""
    world = standin.world
    form = {"channel_id": world.channel_id, "channel_name": "guild", "command": "/learn", "team_id": world.team_id,
            "team_domain": "acme", "text": text_, "token": COMMAND_TOKEN, "trigger_id": f"trigger-{n:08d}",
            "user_id": user["id"], "user_name": user["username"], "root_id": "",
            "response_url": f"{standin.url}/hooks/commands/{n:026d}"}
    answer = client.post("/mattermost/command", data=form)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_data(as_text=True)


def schedule_prompt_due_now(runtime: Runtime, world: World) -> None:
    """One community for the stand-in's channel, with a one-off prompt that fell due two minutes ago in UTC
    (every member's zone) and stays open two days: the next prompt pass plans and queues one per member."""
    now = datetime.now(UTC)
    due = now - timedelta(minutes=2)
    with runtime.uow() as uow:
        community_id = community_for_channel(uow, runtime.settings, channel_id=world.channel_id,
                                             team_id=world.team_id, channel_name="guild", now=now)
        create(uow, community_id=community_id, created_by=world.people()[0]["id"], now=now, anchor=due.date(),
               setup=PromptSetup(questions=["What did you learn this week?"], scale_question=None,
                                 repeat="FREQ=DAILY;COUNT=1", local_time=due.strftime("%H:%M"), window="2d",
                                 default_visibility="private", timezone="UTC"))


def standin_stats(standin: StandinServer) -> dict[str, Any]:
    return requests.get(standin.url + "/_stats", timeout=10).json()


def outbox_counts(runtime: Runtime) -> dict[str, int]:
    with runtime.engine.connect() as connection:
        return {str(status): int(n) for status, n in connection.execute(
            text("SELECT status, count(*) FROM outbox GROUP BY status"))}
