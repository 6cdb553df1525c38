"""Several `learnloop worker` processes on one database: every effect happens once, through a killed worker,
a slow Mattermost and folds that race.

The stand-in (tests/standins/mattermost_http.py) counts posts per kind by their marker: a prompt by
`props.learnloop_delivery`, a shared link by `props.learnloop_outbox`. Lost means a marker never posted,
duplicated a marker posted twice. Times the tests scale down (the outbox lease, how often the fold and the
prompt pass run) are named where they are set; see worker_main.py.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from tests.scaleout.conftest import (
    Fleet,
    in_process,
    outbox_counts,
    schedule_prompt_due_now,
    slash_command,
    standin_stats,
    wait_until,
)
from tests.standins.mattermost_http import StandinServer, World, start_in_thread

from learnloop.bootstrap import Runtime
from learnloop.domain.measures import contributions, week_of
from learnloop.services.rollups import CURSOR

pytestmark = pytest.mark.scaleout


def share_links(client: Any, standin: StandinServer, count: int, first: int = 0) -> None:
    people = standin.world.people()
    for n in range(first, first + count):
        answer = slash_command(client, standin, people[n % len(people)],
                               f"share https://wiki.acme.example/wiki/Page_{n} it helped", n)
        assert "Thanks for sharing" in answer, answer


def all_delivered(runtime: Runtime, prompts: int) -> dict[str, int] | None:
    """The outbox's counts once every message is sent and every prompt was queued and sent."""
    counts = outbox_counts(runtime)
    with runtime.engine.connect() as connection:
        sent = connection.execute(text("SELECT count(*) FROM deliveries WHERE status = 'sent'")).scalar()
    return counts if set(counts) == {"sent"} and sent == prompts else None


def assert_once_each(standin: StandinServer, prompts: int, shares: int) -> dict[str, Any]:
    stats = standin_stats(standin)
    assert stats["distinct"]["prompt"] == prompts, stats  # none lost
    assert stats["distinct"]["outbox"] == shares, stats
    assert stats["duplicates"] == {"prompt": 0, "outbox": 0, "other": 0, "response": 0}, stats
    assert stats["posts"]["other"] == 0 and stats["people_prompted_twice"] == 0, stats
    return stats


def claims(runtime: Runtime) -> Counter[str]:
    with runtime.engine.connect() as connection:
        return Counter({str(owner): int(n) for owner, n in connection.execute(text(
            "SELECT claimed_by, count(*) FROM outbox WHERE status = 'pending' AND claimed_by IS NOT NULL "
            "GROUP BY claimed_by"))})


def kill_a_worker_mid_pass(runtime: Runtime, standin: StandinServer, workers: list[Any]) -> int:
    """SIGKILL the worker that holds the most claimed messages once posts are under way; its pid."""
    wait_until("posts under way", lambda: standin_stats(standin)["posts_created"] >= 40, timeout=60, every=0.05)
    ours = {process.pid for process in workers}

    def victim() -> int | None:
        for owner, _ in claims(runtime).most_common():
            pid = int(owner.split(":")[1])
            if pid in ours:
                return pid
        return None

    pid = wait_until("a worker holding claimed messages", victim, timeout=30, every=0.05)
    os.kill(pid, signal.SIGKILL)
    return int(pid)


def test_a_worker_killed_mid_pass_loses_and_repeats_nothing(any_url: str, fleet: Callable[..., Fleet]) -> None:
    """300 prompts and 300 shared links, three workers, one killed while it holds claimed messages and has
    calls in flight. Its claims are taken over when their lease ends (4 s here, 60 s as deployed)."""
    standin = start_in_thread(World.synthetic(300, zones=("UTC",)), latency_ms=40)
    try:
        runtime, client = in_process(any_url, standin)
        schedule_prompt_due_now(runtime, standin.world)
        share_links(client, standin, 300)
        workers = fleet(any_url, standin)
        processes = [workers.worker(LEARNLOOP_TEST_LEASE_SECONDS="4", LEARNLOOP_TEST_PROMPT_SECONDS="2")
                     for _ in range(3)]
        killed = kill_a_worker_mid_pass(runtime, standin, processes)
        wait_until("every message sent", lambda: all_delivered(runtime, 300), timeout=90, every=0.5)
        stats = assert_once_each(standin, prompts=300, shares=300)
        assert [p.poll() for p in processes if p.pid != killed] == [None, None], workers.logs()
        print(f"killed worker {killed}; stand-in: {stats['posts']}, {stats['requests']}, deduplicated "
              f"{stats['deduplicated_by_pending_post_id']}")
    finally:
        standin.shutdown()
        standin.server_close()


def test_a_mattermost_answering_in_3_seconds_gets_each_post_once(pg_url: str, fleet: Callable[..., Fleet]) -> None:
    """Every call takes 3 s, so a pass of a worker outlives its lease (4 s here) unless the lease is renewed
    while the calls run. Links are shared while three workers deliver, so all three claim some."""
    standin = start_in_thread(World.synthetic(12, zones=("UTC",)), latency_ms=3000)
    try:
        runtime, client = in_process(pg_url, standin)
        schedule_prompt_due_now(runtime, standin.world)
        workers = fleet(pg_url, standin)
        processes = [workers.worker(LEARNLOOP_TEST_LEASE_SECONDS="4") for _ in range(3)]
        for burst in range(4):
            share_links(client, standin, 8, first=burst * 8)
            time.sleep(1.0)
        wait_until("every message sent", lambda: all_delivered(runtime, 12), timeout=90, every=0.5)
        assert_once_each(standin, prompts=12, shares=32)
        assert [p.poll() for p in processes] == [None, None, None], workers.logs()
    finally:
        standin.shutdown()
        standin.server_close()


def rate_steadily(client_factory: Callable[[], Any], standin: StandinServer, seconds: float, threads: int) -> int:
    """`/learn rate` from `threads` threads for `seconds`, each request after the one before: ratings and
    re-ratings of 25 pages by 40 people. The number of ratings sent; a thread's failure fails the test. The apps
    are built before the threads start: werkzeug compiles their routes with ast.parse, which CPython 3.11.7 does
    not make safe from several threads at once."""
    people = standin.world.people()[:40]
    sent = Counter[int]()
    failures: list[BaseException] = []
    clients = [client_factory() for _ in range(threads)]
    deadline = time.monotonic() + seconds

    def one(thread: int) -> None:
        client, n = clients[thread], 0
        try:
            while time.monotonic() < deadline:
                person = people[(thread * 7 + n) % len(people)]
                answer = slash_command(client, standin, person,
                                       f"rate https://wiki.acme.example/wiki/Page_{(n * 3 + thread) % 25} {n % 5 + 1}",
                                       n)
                assert "/5" in answer, answer
                n += 1
                time.sleep(0.01)
        except BaseException as exc:
            failures.append(exc)
        sent[thread] = n

    pool = [threading.Thread(target=one, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=seconds + 30)
    assert not failures, failures
    return sum(sent.values())


def recount(runtime: Runtime) -> dict[tuple[int, Any, str], int]:
    """The weekly counts worked out again from the whole event log, as the fold works them out."""
    with runtime.reader() as uow:
        events = uow.rollups.events_after(0, datetime.now(UTC) + timedelta(days=1), 10**7)
        kinds = uow.rollups.item_kinds({e.item_id for e in events if e.item_id})
    counts: Counter[tuple[int, Any, str]] = Counter()
    for event in events:
        if event.community_id is not None:
            for part in contributions(event, kinds.get(event.item_id or 0), runtime.signing_key):
                counts[(event.community_id, str(week_of(event.occurred_at)), part.metric)] += 1
    return dict(counts)


def stored_counts(runtime: Runtime) -> dict[tuple[int, Any, str], int]:
    with runtime.engine.connect() as connection:
        rows = connection.execute(text("SELECT community_id, week, metric, value FROM weekly_counts WHERE value <> 0"))
        return {(int(c), str(week), str(metric)): int(value) for c, week, metric, value in rows}


def folded_to_the_end(runtime: Runtime) -> bool:
    with runtime.engine.connect() as connection:
        last = connection.execute(text("SELECT max(id) FROM events")).scalar()
        cursor = connection.execute(text("SELECT position FROM cursors WHERE name = :n"), {"n": CURSOR}).scalar()
    return last is not None and cursor is not None and int(cursor) == int(last)


def test_three_workers_fold_each_event_once_under_a_steady_load(any_url: str, standin: StandinServer,
                                                                 fleet: Callable[..., Fleet]) -> None:
    """The fold runs every 0.5 s in each of three workers (every minute as deployed), with events settling
    for 2 s (30 s as deployed), while ratings keep coming from four threads of the web app."""
    runtime, _ = in_process(any_url, standin)
    workers = fleet(any_url)  # no Mattermost: the fold needs none
    processes = [workers.worker(LEARNLOOP_TEST_ROLLUP_SECONDS="0.5", LEARNLOOP_TEST_SETTLE_SECONDS="2")
                 for _ in range(3)]
    sent = rate_steadily(lambda: in_process(any_url, standin)[1], standin, seconds=6, threads=4)
    assert sent > 100
    wait_until("the fold to reach the last event", lambda: folded_to_the_end(runtime), timeout=30, every=0.5)
    expected = recount(runtime)
    assert sum(value for (_, _, metric), value in expected.items() if metric == "ratings") == sent
    assert stored_counts(runtime) == expected
    assert [p.poll() for p in processes] == [None, None, None], workers.logs()
