"""Outbox delivery: sent once, retried with backoff, 429 honoured, permanent errors parked."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from tests.conftest import FakeClock
from tests.contract.fixtures import MATTERMOST_TEST_URL
from tests.contract.mattermost_openapi import MattermostContract

from learnloop.bootstrap import Runtime
from learnloop.errors import MAX_RETRY_AFTER, retry_after
from learnloop.jobs import outbox
from learnloop.jobs.outbox import LEASE, MAX_ATTEMPTS, RATE_LIMITED_FOR, RETRY_FOR, Courier, Message, backoff
from learnloop.jobs.worker import run_once
from learnloop.mattermost import delivery as mattermost_delivery
from learnloop.services.outbox_kinds import CLASSIFY_POST, CREATE_POST, RESPOND, UPDATE_POST, edit_key, edit_number
from learnloop.storage.outbox import Outbox
from learnloop.storage.tables import Event, OutboxMessage
from learnloop.wikis import WIKI_RETRY_AFTER, WikiError

CHANNEL = "fukk3xq1bbn8fgmsiwh4xprwdh"
REPLY = "reply000000000000000000000"
ROOT = "root0000000000000000000000"
POST = {"id": "p0stidp0stidp0stidp0stid00", "channel_id": CHANNEL, "message": "hello"}


def enqueue_post(runtime: Runtime, key: str = "k1", message: str = "hello") -> None:
    with runtime.uow() as uow:
        uow.outbox.enqueue(CREATE_POST, {"channel_id": CHANNEL, "message": message}, key=key, now=runtime.clock())
        uow.commit()


def message(runtime: Runtime) -> OutboxMessage:
    with runtime.uow() as uow:
        return uow.session.scalars(select(OutboxMessage)).one()


def test_a_message_is_sent_once_and_marked_sent(runtime: Runtime, mattermost_contract: MattermostContract) -> None:
    enqueue_post(runtime)
    enqueue_post(runtime)
    mattermost_contract.add("POST", "/api/v4/posts", status=201, json=POST)
    assert run_once(runtime).sent == 1
    assert run_once(runtime).sent == 0
    assert len(mattermost_contract.calls) == 1
    assert message(runtime).status == "sent"


def test_a_reply_to_a_slash_command_is_not_kept_once_sent(
    runtime: Runtime, mattermost_contract: MattermostContract
) -> None:
    """An ephemeral reply has no use once it is out, and it holds what it told the person."""
    response_url = f"{MATTERMOST_TEST_URL}/hooks/commands/pbjfh1dcmfrq3qjtsdxnnyzq5w"
    enqueue_post(runtime)
    with runtime.uow() as uow:
        uow.outbox.enqueue(RESPOND, {"response_url": response_url, "body": {"text": "Erased: 3 ratings."}},
                           key="respond:erased", now=runtime.clock())
        uow.commit()
    mattermost_contract.add("POST", "/api/v4/posts", status=201, json=POST)
    mattermost_contract.add_unvalidated(response_url)
    assert run_once(runtime).sent == 2
    assert [c.json["text"] for c in mattermost_contract.calls if c.path.startswith("/hooks/commands/")] == [
        "Erased: 3 ratings."]
    assert (message(runtime).kind, message(runtime).status) == (CREATE_POST, "sent"), "only the post is kept"


def test_a_reply_mattermost_refuses_for_good_is_not_kept_either(
    runtime: Runtime, mattermost_contract: MattermostContract
) -> None:
    """A response_url lives 30 minutes; a reply that missed it has nobody to reach and still names them."""
    response_url = f"{MATTERMOST_TEST_URL}/hooks/commands/pbjfh1dcmfrq3qjtsdxnnyzq5w"
    with runtime.uow() as uow:
        uow.outbox.enqueue(RESPOND, {"response_url": response_url, "body": {"text": "Erased: 3 ratings."}},
                           key="respond:erased", now=runtime.clock())
        uow.commit()
    mattermost_contract.add_unvalidated(response_url, status=404, body="expired")
    assert run_once(runtime).failed == 1
    with runtime.uow() as uow:
        assert uow.outbox.pending() == [] and uow.outbox.by_key("respond:erased") is None


def test_server_errors_are_retried_with_exponential_backoff(
    runtime: Runtime, clock: FakeClock, mattermost_contract: MattermostContract
) -> None:
    enqueue_post(runtime)
    mattermost_contract.add("POST", "/api/v4/posts", status=503,
                            json={"id": "api.context.unavailable", "message": "down", "status_code": 503})
    mattermost_contract.add("POST", "/api/v4/posts", status=201, json=POST)
    report = run_once(runtime)
    assert (report.sent, report.retried) == (0, 1)
    stored = message(runtime)
    assert stored.status == "pending" and stored.next_attempt_at == clock.now + backoff(1)
    assert "HTTP 503" in stored.last_error
    assert run_once(runtime).sent == 0, "not due before the backoff ends"
    clock.advance(seconds=backoff(1).total_seconds())
    mattermost_contract.add("GET", f"/api/v4/channels/{CHANNEL}/posts", json={"order": [], "posts": {}})
    assert run_once(runtime).sent == 1
    assert message(runtime).attempts == 2
    assert [c.path for c in mattermost_contract.calls][-2:] == [f"/api/v4/channels/{CHANNEL}/posts", "/api/v4/posts"], \
        "a message tried before looks for its post before posting again"


def test_backoff_grows_and_is_capped() -> None:
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [2, 4, 8, 16]
    assert backoff(50) == timedelta(minutes=15)


def test_rate_limit_waits_for_the_reset_and_stops_the_pass(
    runtime: Runtime, clock: FakeClock, mattermost_contract: MattermostContract
) -> None:
    enqueue_post(runtime, key="a")
    enqueue_post(runtime, key="b")
    mattermost_contract.add("POST", "/api/v4/posts", status=429, body="limit exceeded\n",
                            headers={"Content-Type": "text/plain; charset=utf-8", "X-RateLimit-Reset": "7",
                                     "X-RateLimit-Limit": "101", "X-RateLimit-Remaining": "0"})
    report = run_once(runtime)
    assert (report.sent, report.retried) == (0, 1)
    assert len(mattermost_contract.calls) == 1, "no further calls in a pass once rate limited"
    with runtime.uow() as uow:
        first = uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).first()
    assert first.next_attempt_at == clock.now + timedelta(seconds=7)


def test_a_message_still_rate_limited_a_day_after_it_was_queued_is_given_up(
    runtime: Runtime, clock: FakeClock, mattermost_contract: MattermostContract
) -> None:
    enqueue_post(runtime)
    limited = {"status": 429, "body": "limit exceeded\n",
               "headers": {"Content-Type": "text/plain; charset=utf-8", "Retry-After": "3600"}}
    mattermost_contract.add("POST", "/api/v4/posts", **limited)
    assert run_once(runtime).retried == 1 and message(runtime).status == "pending"
    clock.advance(seconds=RATE_LIMITED_FOR.total_seconds())
    mattermost_contract.add("GET", f"/api/v4/channels/{CHANNEL}/posts", json={"order": [], "posts": {}})
    mattermost_contract.add("POST", "/api/v4/posts", **limited)
    assert run_once(runtime).failed == 1
    stored = message(runtime)
    assert stored.status == "failed" and stored.last_error.startswith("still rate limited a day after it was queued")


def test_client_errors_are_not_retried(runtime: Runtime, mattermost_contract: MattermostContract) -> None:
    enqueue_post(runtime)
    mattermost_contract.add("POST", "/api/v4/posts", status=403, json={
        "id": "api.context.permissions.app_error", "message": "You do not have the appropriate permissions.",
        "status_code": 403})
    assert run_once(runtime).failed == 1
    stored = message(runtime)
    assert stored.status == "failed" and "permissions" in stored.last_error


@pytest.mark.slow
def test_network_failures_are_retried_for_hours_then_given_up(
    runtime: Runtime, clock: FakeClock, mattermost_contract: MattermostContract
) -> None:
    """A Mattermost upgrade or a replaced bot token must not lose what was queued meanwhile."""
    enqueue_post(runtime)
    queued = clock.now
    for attempt in range(1, 100):
        mattermost_contract.add("POST", "/api/v4/posts", body=requests.ConnectionError("refused"))
        if attempt > 1:
            mattermost_contract.add("GET", f"/api/v4/channels/{CHANNEL}/posts", json={"order": [], "posts": {}})
        assert run_once(runtime).sent == 0
        if message(runtime).status == "failed":
            break
        clock.advance(seconds=backoff(attempt).total_seconds())
    assert attempt > MAX_ATTEMPTS and clock.now - queued >= RETRY_FOR
    assert clock.now - queued - backoff(attempt - 1) < RETRY_FOR, "given up at the first attempt past six hours"


@pytest.mark.parametrize("answer", [{}, [], None, {"id": None}], ids=["empty", "list", "null", "no_id"])
def test_an_answer_of_the_wrong_shape_fails_that_message_alone_and_never_twice(
    runtime: Runtime, clock: FakeClock, mattermost_contract: MattermostContract, answer: object
) -> None:
    enqueue_post(runtime)
    enqueue_post(runtime, key="second")
    mattermost_contract.add_misbehaving("POST", "/api/v4/posts", body=json.dumps(answer).encode())
    mattermost_contract.add("POST", "/api/v4/posts", status=201, json=POST)
    report = run_once(runtime)
    assert (report.sent, report.retried) == (1, 0) and report.failed == 1, "an odd answer is not retried for good"
    with runtime.reader() as uow:
        states = [m.status for m in uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]
    assert states == ["failed", "sent"]


def test_a_claimed_message_is_picked_up_again_after_its_lease(
    runtime: Runtime, clock: FakeClock, mattermost_contract: MattermostContract
) -> None:
    """A worker that died mid-call leaves the message leased, not lost."""
    from learnloop.jobs.worker import Worker

    enqueue_post(runtime)
    assert len(Worker(runtime).courier._claim(10, [CREATE_POST])) == 1
    mattermost_contract.add("GET", f"/api/v4/channels/{CHANNEL}/posts", json={"order": [], "posts": {}})
    mattermost_contract.add("POST", "/api/v4/posts", status=201, json=POST)
    assert run_once(runtime).sent == 0
    clock.advance(seconds=LEASE.total_seconds())
    assert run_once(runtime).sent == 1


def test_without_a_bot_messages_wait(engine, clock) -> None:
    from tests.conftest import make_settings

    from learnloop.bootstrap import build_runtime

    runtime = build_runtime(make_settings(mattermost_bot_token=None), clock=clock, engine=engine)
    enqueue_post(runtime)
    assert run_once(runtime).sent == 0
    assert message(runtime).status == "pending" and message(runtime).attempts == 0


def _classify(runtime: Runtime, post_id: str, user: str) -> None:
    with runtime.uow() as uow:
        community_id = uow.communities.ensure(CHANNEL, None, "~data-guild", runtime.clock())
        uow.outbox.enqueue(CLASSIFY_POST, {"post_id": post_id, "community_id": community_id, "user_id": user,
                                           "occurred_at": runtime.clock().isoformat()},
                           key=f"c:{post_id}", now=runtime.clock())
        uow.commit()


def _post(post_id: str, user: str, root: str = "") -> dict:
    return {"id": post_id, "user_id": user, "channel_id": CHANNEL, "root_id": root, "message": "m",
            "create_at": 1762074000000, "update_at": 1762074000000, "delete_at": 0}


def test_a_thread_reply_to_someone_else_is_an_exchange(runtime: Runtime, mattermost_contract: MattermostContract) -> None:
    bob, ann = "q1h5b9c3ypgtfe5kzjkdyrbs7c", "ob7m4qhjzjfy5c6qgbwkz3mn8r"
    _classify(runtime, REPLY, bob)
    mattermost_contract.add("GET", f"/api/v4/posts/{REPLY}",
                            json=_post(REPLY, bob, root=ROOT))
    mattermost_contract.add("GET", f"/api/v4/posts/{ROOT}",
                            json=_post(ROOT, ann))
    assert run_once(runtime).sent == 1
    with runtime.uow() as uow:
        [reply] = uow.session.scalars(select(Event)).all()
    assert (reply.kind, reply.actor_id, reply.data["root_id"]) == ("reply", bob, ROOT)


def test_a_root_post_or_a_reply_to_oneself_is_not_an_exchange(
    runtime: Runtime, mattermost_contract: MattermostContract
) -> None:
    ann = "ob7m4qhjzjfy5c6qgbwkz3mn8r"
    _classify(runtime, "rootpost000000000000000000", ann)
    _classify(runtime, "selfreply00000000000000000", ann)
    mattermost_contract.add("GET", "/api/v4/posts/rootpost000000000000000000", json=_post("rootpost000000000000000000", ann))
    mattermost_contract.add("GET", "/api/v4/posts/selfreply00000000000000000",
                            json=_post("selfreply00000000000000000", ann, root="rootpost000000000000000000"))
    mattermost_contract.add("GET", "/api/v4/posts/rootpost000000000000000000", json=_post("rootpost000000000000000000", ann))
    assert run_once(runtime).sent == 2
    with runtime.uow() as uow:
        assert uow.session.scalars(select(Event)).all() == []


def test_one_hosts_rate_limit_holds_back_its_own_messages_only(runtime: Runtime) -> None:
    """A wiki's 429 waits that wiki's jobs out; the chat messages of the same pass still go."""
    sent: list[int] = []

    def wiki_job(message: Message) -> dict[str, str]:
        raise WikiError("Outline documents.info: HTTP 429", retry_after=WIKI_RETRY_AFTER)

    def send_dm(message: Message) -> dict[str, str]:
        sent.append(message.payload["n"])
        return {"post_id": "x"}

    with runtime.uow() as uow:
        for n in range(2):
            uow.outbox.enqueue("wiki_job", {"wiki": "docs", "n": n}, key=f"w{n}", now=runtime.clock())
        for n in range(1, 4):
            uow.outbox.enqueue("send_dm", {"n": n}, key=f"d{n}", now=runtime.clock())
        uow.commit()
    report = Courier(runtime.uow, runtime.clock, {"wiki_job": wiki_job, "send_dm": send_dm}).deliver(200)
    assert sorted(sent) == [1, 2, 3] and report.sent == 3
    with runtime.reader() as uow:
        waiting = [m for m in uow.outbox.pending() if m.kind == "wiki_job"]
    assert len(waiting) == 2 and all(m.attempts == 0 for m in waiting), "waited out, not counted as attempts"


@pytest.mark.parametrize(("headers", "wait"), [
    ({"Retry-After": "30"}, 30.0), ({"Retry-After": "inf"}, 60.0), ({"Retry-After": "1e12"}, MAX_RETRY_AFTER),
    ({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, 60.0), ({"X-RateLimit-Reset": "1793952120"}, MAX_RETRY_AFTER),
    ({}, 60.0)])
def test_a_hosts_wait_is_bounded(headers: dict[str, str], wait: float) -> None:
    assert retry_after(429, headers, 60.0) == wait
    assert retry_after(503, headers, 60.0) is None


@pytest.mark.parametrize("concurrency", [1, 4])
def test_outcomes_a_failed_write_could_not_record_are_written_later_not_carried_out_again(
    runtime: Runtime, clock: FakeClock, mattermost_contract: MattermostContract, monkeypatch: pytest.MonkeyPatch,
    concurrency: int,
) -> None:
    """On PostgreSQL a write of outcomes can be chosen as a deadlock's victim: the outcomes stay with the pass and
    are written by its next write. Lost, the calls they record would be made again once their lease ended (a
    reply to a slash command twice: it cannot be looked for first)."""
    url = f"{MATTERMOST_TEST_URL}/hooks/commands/pbjfh1dcmfrq3qjtsdxnnyzq5w"
    with runtime.uow() as uow:
        for n in range(8):
            uow.outbox.enqueue(RESPOND, {"response_url": url, "body": {"text": f"reply {n}"}}, key=f"respond:{n}",
                               now=clock())
        uow.commit()
    mattermost_contract.add_unvalidated(url)
    original, failures = Outbox.finish_many, iter([True, True])

    def finish_many(self: Outbox, owner: str, outcomes: list[dict], *, gone: tuple[int, ...] = ()) -> None:
        if next(failures, False):
            raise OperationalError("UPDATE outbox", {}, Exception("deadlock detected"))
        original(self, owner, outcomes, gone=gone)

    monkeypatch.setattr(Outbox, "finish_many", finish_many)
    courier = Courier(runtime.uow, runtime.clock, mattermost_delivery.handlers(runtime, runtime.mattermost()),
                      concurrency=concurrency)
    assert courier.deliver().claimed == 8
    clock.advance(seconds=LEASE.total_seconds() + 1)
    assert courier.deliver().claimed == 0
    assert len([c for c in mattermost_contract.calls if c.path.startswith("/hooks/commands/")]) == 8
    with runtime.uow() as uow:
        assert uow.session.scalars(select(OutboxMessage)).all() == [], "each reply, sent, is gone"


def enqueue_replies(runtime: Runtime, count: int) -> str:
    """`count` replies to slash commands, waiting in the outbox; their response URL."""
    url = f"{MATTERMOST_TEST_URL}/hooks/commands/pbjfh1dcmfrq3qjtsdxnnyzq5w"
    with runtime.uow() as uow:
        for n in range(count):
            uow.outbox.enqueue(RESPOND, {"response_url": url, "body": {"text": f"reply {n}"}}, key=f"respond:{n}",
                               now=runtime.clock())
        uow.commit()
    return url


def refuse_writes(monkeypatch: pytest.MonkeyPatch, times: int | None) -> None:
    """The database refuses this many writes of outcomes (None: every one), as while it restarts."""
    original, failures = Outbox.finish_many, iter([True] * times) if times is not None else None

    def finish_many(self: Outbox, owner: str, outcomes: list[dict], *, gone: tuple[int, ...] = ()) -> None:
        if failures is None or next(failures, False):
            raise OperationalError("UPDATE outbox", {}, Exception("server closed the connection unexpectedly"))
        original(self, owner, outcomes, gone=gone)

    monkeypatch.setattr(Outbox, "finish_many", finish_many)


@pytest.mark.slow
def test_a_database_restart_of_a_few_seconds_during_the_last_write_does_not_send_replies_twice(
    runtime: Runtime, clock: FakeClock, mattermost_contract: MattermostContract, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pass's last write of outcomes is tried again while its lease lasts: given up after about a second, the
    replies it had sent were sent again once the lease ended."""
    mattermost_contract.add_unvalidated(enqueue_replies(runtime, 3))
    refuse_writes(monkeypatch, 8)
    courier = Courier(runtime.uow, runtime.clock, mattermost_delivery.handlers(runtime, runtime.mattermost()))
    assert courier.deliver().claimed == 3
    clock.advance(seconds=LEASE.total_seconds() + 1)
    assert courier.deliver().claimed == 0
    assert len([c for c in mattermost_contract.calls if c.path.startswith("/hooks/commands/")]) == 3


def test_the_last_write_of_outcomes_is_given_up_before_the_lease_ends(
    runtime: Runtime, mattermost_contract: MattermostContract, monkeypatch: pytest.MonkeyPatch
) -> None:
    mattermost_contract.add_unvalidated(enqueue_replies(runtime, 1))
    refuse_writes(monkeypatch, None)
    monkeypatch.setattr(outbox, "RENEW_EVERY", LEASE - timedelta(seconds=0.5))
    started = time.monotonic()
    with pytest.raises(OperationalError):
        Courier(runtime.uow, runtime.clock, mattermost_delivery.handlers(runtime, runtime.mattermost())).deliver()
    assert time.monotonic() - started < 2


def test_an_error_text_with_a_nul_is_recorded_without_it(
        runtime: Runtime, mattermost_contract: MattermostContract) -> None:
    """PostgreSQL stores no NUL in text: an answer carrying one made the pass's outcomes unwritable."""
    enqueue_post(runtime)
    mattermost_contract.add("POST", "/api/v4/posts", status=500, json={
        "id": "app.post.save.app_error", "message": "bad\u0000byte", "request_id": "r", "status_code": 500})
    assert run_once(runtime).retried == 1
    stored = message(runtime)
    assert stored.status == "pending" and "\x00" not in (stored.last_error or "") and stored.attempts == 1


def test_an_edits_key_names_its_post_and_its_number() -> None:
    assert edit_number(edit_key("share-reflection:7", 3), "share-reflection:7") == 3
    assert edit_number(edit_key("share-reflection:7", 3), "share-reflection:71") is None
    assert edit_number("share-reflection:7", "share-reflection:7") is None


def test_an_older_edit_retried_after_a_newer_one_went_out_does_not_undo_it(
        runtime: Runtime, clock: FakeClock, mattermost_contract: MattermostContract) -> None:
    """Each edit of a page announcement carries the whole post as it then was: applied last, an older one would
    leave the post showing the older state for good."""
    with runtime.uow() as uow:
        uow.outbox.enqueue(CREATE_POST, {"channel_id": CHANNEL, "message": "page changed"}, key="announce:1",
                           now=clock())
        uow.commit()
    mattermost_contract.add("POST", "/api/v4/posts", status=201, json=POST)
    assert run_once(runtime).sent == 1
    with runtime.uow() as uow:
        for edits in (2, 3):
            uow.outbox.enqueue(UPDATE_POST, {"post_key": "announce:1", "props": {"edits": edits}},
                               key=edit_key("announce:1", edits), now=clock())
        uow.commit()
    path = f"/api/v4/posts/{POST['id']}/patch"
    mattermost_contract.add("PUT", path, status=503, json={"id": "x", "message": "busy", "status_code": 503})
    mattermost_contract.add("PUT", path, json=POST)
    run_once(runtime)
    clock.advance(seconds=3)
    run_once(runtime)
    applied = [c.json["props"]["edits"] for c in mattermost_contract.calls if c.path == path]
    assert applied[-1] == 3, f"the post shows the newest edit: patches {applied}"
