"""The batched fan-out: a pass claims, reads and records many prompts at once, and still sends each
prompt once, to everyone, through partial failures, 429s mid batch, a worker killed mid batch and a
restart. Every call goes through the contract harness; time is the fake clock."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.jobs import outbox, prompts, worker
from learnloop.jobs.outbox import LEASE, backoff
from learnloop.mattermost.client import MattermostClient
from learnloop.services.outbox_kinds import SEND_PROMPT
from learnloop.services.prompts import runs as prompt_planning
from learnloop.services.prompts.delivered import SentPrompt, mark_sent, mark_undelivered
from learnloop.storage.tables import Delivery, Event, Member, OutboxMessage
from tests.conftest import FakeClock, make_settings
from tests.contract.mattermost_openapi import MattermostContract
from tests.prompts.world import (
    FRIDAY_DUE,
    THURSDAY,
    Person,
    World,
    add_schedule,
    courier,
    planned_world,
    reasons,
    statuses,
    uid,
)

NO_POSTS = {"order": [], "posts": {}}
ANY_DM_POSTS = re.compile(r"/api/v4/channels/[a-z0-9]{26}/posts")
LIMITED = {"Content-Type": "text/plain; charset=utf-8", "X-RateLimit-Reset": "5", "X-RateLimit-Limit": "101",
           "X-RateLimit-Remaining": "0"}


class Killed(BaseException):
    """The worker process is gone: nothing it would still have done happens (like SIGKILL)."""


def people(count: int) -> list[Person]:
    return [Person(f"b{n:02d}") for n in range(count)]


def due_world(runtime: Runtime, contract: MattermostContract, clock: FakeClock, count: int, *,
              dm_known: bool = False) -> World:
    """`count` people whose prompts are queued; their DM channels are asked of Mattermost unless `dm_known`."""
    world = planned_world(runtime, contract, clock, people(count))
    clock.now = FRIDAY_DUE
    world.serve_statuses()
    if dm_known:
        with runtime.uow() as uow:
            uow.members.keep_dm_channels({person.id: uid("dm" + person.name) for person in world.people})
            uow.commit()
    else:
        for person in world.people:
            contract.add("POST", "/api/v4/channels/direct", status=201,
                         json={"id": uid("dm" + person.name), "type": "D", "name": f"x__{person.id}"})
    assert prompts.run_prompt_pass(runtime).dispatch.queued == count
    return world


def serve_post(world: World, status: int = 201, **reply: Any) -> None:
    if status == 201:
        world.posts += 1
        world.contract.add("POST", "/api/v4/posts", status=201,
                           json={"id": uid(f"post{world.posts}"), "channel_id": "x", "message": ""})
    else:
        world.contract.add("POST", "/api/v4/posts", status=status, **reply)


def threaded(runtime: Runtime) -> Runtime:
    """The same database and clock, delivering with eight threads as deployed."""
    return build_runtime(make_settings(outbox_concurrency=8), clock=runtime.clock, engine=runtime.engine)


def post_calls(world: World) -> Counter[int]:
    """POST /posts calls per delivery id, accepted or not."""
    return Counter(call.json["props"]["learnloop_delivery"] for call in world.prompt_posts())


def outbox_rows(runtime: Runtime) -> list[OutboxMessage]:
    with runtime.uow() as uow:
        return list(uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == SEND_PROMPT)
                                        .order_by(OutboxMessage.id)))


def prompt_sent_events(runtime: Runtime) -> int:
    with runtime.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(Event).where(Event.kind == "prompt_sent"))


def delivery_ids(runtime: Runtime) -> list[int]:
    with runtime.uow() as uow:
        return list(uow.session.scalars(select(Delivery.id).order_by(Delivery.id)))


def test_a_pass_claims_and_records_a_whole_batch_in_two_write_transactions(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    world = due_world(runtime, mattermost_contract, clock, 30)
    for _ in world.people:
        serve_post(world)
    commits: list[int] = []

    def count(_connection: Any) -> None:
        commits.append(1)

    event.listen(runtime.engine, "commit", count)
    try:
        report = courier(runtime, concurrency=8).deliver(200)
    finally:
        event.remove(runtime.engine, "commit", count)
    assert report.sent == 30
    assert 2 <= len(commits) <= 5, "one claim, then the outcomes (DM channels and sent prompts included) written " \
        "in batches every 0.25 s or 50 messages, never one transaction per message"
    assert statuses(runtime) == {"sent": 30} and prompt_sent_events(runtime) == 30
    assert sorted(post_calls(world)) == delivery_ids(runtime) and set(post_calls(world).values()) == {1}
    with runtime.uow() as uow:
        kept = select(func.count()).select_from(Member).where(Member.dm_channel_id.is_not(None))
        assert uow.session.scalar(kept) == 30


def test_a_partial_batch_failure_records_the_rest_and_retries_only_the_failed(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    """Six prompts in one pass, eight threads: one 503 (retried with backoff), one 403 (parked)."""
    world = due_world(runtime, mattermost_contract, clock, 6)
    unavailable = {"id": "api.context.unavailable", "message": "down", "status_code": 503}
    forbidden = {"id": "api.context.permissions.app_error", "message": "no", "status_code": 403}
    for status in (201, 201, 503, 201, 403, 201):
        serve_post(world, status, json=unavailable if status == 503 else forbidden)
    mattermost_contract.add("GET", ANY_DM_POSTS, json=NO_POSTS)
    serve_post(world)
    runtime = threaded(runtime)
    report = worker.Worker(runtime).deliver_outbox()
    assert (report.sent, report.retried, report.failed) == (4, 1, 1)
    assert statuses(runtime) == {"sent": 4, "queued": 1, "skipped": 1} and prompt_sent_events(runtime) == 4
    assert reasons(runtime, "skipped") == ["not delivered: HTTP 403"], "refused for good: it is not left queued"
    by_status = Counter(m.status for m in outbox_rows(runtime))
    assert by_status == {"sent": 4, "pending": 1, "failed": 1}
    [retry] = [m for m in outbox_rows(runtime) if m.status == "pending"]
    assert retry.attempts == 1 and retry.next_attempt_at == clock.now + backoff(1) and "HTTP 503" in retry.last_error

    assert worker.Worker(runtime).deliver_outbox().sent == 0, "nothing again before the backoff ends"
    clock.advance(seconds=backoff(1).total_seconds())
    assert worker.Worker(runtime).deliver_outbox().sent == 1
    assert statuses(runtime) == {"sent": 5, "skipped": 1} and prompt_sent_events(runtime) == 5
    calls = post_calls(world)
    assert sorted(calls) == delivery_ids(runtime) and sum(calls.values()) == 7, "six first tries and one retry"
    assert len(world.calls("GET", r"/api/v4/channels/\w+/posts")) == 1, "the retry looked for its post first"


def test_prompts_that_failed_for_good_end_skipped_with_what_mattermost_answered(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    due_world(runtime, mattermost_contract, clock, 4)
    first, second, third, fourth = delivery_ids(runtime)
    with runtime.uow() as uow:
        mark_sent(uow, [SentPrompt(fourth, "p" * 26, "u" * 26, "c" * 26, False)], clock.now)
        mark_undelivered(uow, [(first, "Mattermost create_post: HTTP 503: down [api.context.unavailable]"),
                               (second, "Mattermost create_post: no response: timed out"),
                               (third, "something else went wrong"),
                               (fourth, "Mattermost create_post: HTTP 403: no")], clock.now)
        uow.commit()
    assert statuses(runtime) == {"skipped": 3, "sent": 1}, "a prompt already sent is not touched"
    assert reasons(runtime, "skipped") == ["not delivered: HTTP 503", "not delivered: error",
                                           "not delivered: no response"]


def test_a_429_mid_batch_puts_the_rest_back_without_counting_an_attempt(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    world = due_world(runtime, mattermost_contract, clock, 5)
    serve_post(world)
    serve_post(world)
    serve_post(world, 429, body="limit exceeded\n", headers=LIMITED)
    for _ in range(3):
        serve_post(world)
    report = worker.Worker(runtime).deliver_outbox()
    assert (report.sent, report.retried, report.failed) == (2, 1, 0)
    assert len(world.prompt_posts()) == 3, "no call after the 429 in that pass"
    assert statuses(runtime) == {"sent": 2, "queued": 3}
    waiting = [m for m in outbox_rows(runtime) if m.status == "pending"]
    assert len(waiting) == 3
    assert all(m.attempts == 0 and m.next_attempt_at == clock.now + timedelta(seconds=5) for m in waiting)

    assert worker.Worker(runtime).deliver_outbox().sent == 0, "not before X-RateLimit-Reset"
    clock.advance(seconds=5)
    assert worker.Worker(runtime).deliver_outbox().sent == 3
    assert statuses(runtime) == {"sent": 5} and prompt_sent_events(runtime) == 5
    assert world.calls("GET", r"/api/v4/channels/\w+/posts") == [], "a 429 is not a post of unknown fate"
    assert all(m.status == "sent" and m.attempts == 1 for m in outbox_rows(runtime))


def test_a_worker_killed_mid_batch_neither_duplicates_nor_skips_after_a_restart(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed right after Mattermost accepted the third of five posts: none of the pass's outcomes is
    written. A second worker leaves the leased messages alone; after the lease, the retry finds the posts
    that went out and sends only the rest."""
    world = due_world(runtime, mattermost_contract, clock, 5, dm_known=True)
    for _ in range(3):
        serve_post(world)
    send = MattermostClient.create_post
    accepted: list[str] = []

    def create_post(self: MattermostClient, *args: Any, **kwargs: Any) -> dict[str, Any]:
        post = send(self, *args, **kwargs)
        accepted.append(post["id"])
        if len(accepted) == 3:
            raise Killed
        return post

    def dead(*_args: Any, **_kwargs: Any) -> None:
        raise Killed

    monkeypatch.setattr(MattermostClient, "create_post", create_post)
    monkeypatch.setattr(outbox.Courier, "_record", dead)
    with pytest.raises(Killed):
        worker.Worker(runtime).deliver_outbox()
    monkeypatch.undo()
    assert statuses(runtime) == {"queued": 5} and prompt_sent_events(runtime) == 0
    assert all(m.status == "pending" and m.attempts == 1 for m in outbox_rows(runtime)), "leased, not lost"

    restarted = build_runtime(runtime.settings, clock=clock, engine=runtime.engine)
    clock.advance(seconds=30)
    assert worker.Worker(restarted).deliver_outbox().claimed == 0, "a lease still running keeps a second worker off"

    ids = delivery_ids(runtime)
    for index, person in enumerate(world.people):
        found = {"order": [], "posts": {}}
        if index < 3:
            post = {"id": accepted[index], "channel_id": uid("dm" + person.name), "user_id": uid("bot"), "message": "",
                    "props": {"learnloop_delivery": ids[index]}, "create_at": 1, "update_at": 1, "delete_at": 0}
            found = {"order": [post["id"]], "posts": {post["id"]: post}}
        mattermost_contract.add("GET", f"/api/v4/channels/{uid('dm' + person.name)}/posts", json=found)
    serve_post(world)
    serve_post(world)
    clock.advance(seconds=LEASE.total_seconds())
    report = worker.Worker(restarted).deliver_outbox()
    assert (report.sent, report.failed) == (5, 0)
    assert statuses(runtime) == {"sent": 5} and prompt_sent_events(runtime) == 5
    assert set(post_calls(world).values()) == {1} and sorted(post_calls(world)) == ids, "each prompt posted once"
    with runtime.uow() as uow:
        recorded = {row.id: row.post_id for row in uow.session.execute(select(Delivery.id, Delivery.post_id))}
    assert [recorded[i] for i in ids[:3]] == accepted, "the posts found on retry are the ones recorded"
    assert all(m.status == "sent" and m.attempts == 2 for m in outbox_rows(runtime))


def test_a_worker_killed_while_planning_plans_everyone_once_after_a_restart(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World(runtime, mattermost_contract, people=people(5))
    add_schedule(runtime, anchor=date(2026, 11, 2))
    clock.now = THURSDAY
    world.serve_members()
    world.serve_members()
    monkeypatch.setattr(prompts, "PLAN_CHUNK", 2)
    plan = prompt_planning.plan_deliveries
    chunks: list[int] = []

    def plan_then_die(*args: Any, **kwargs: Any) -> int:
        if len(chunks) == 2:
            raise Killed
        chunks.append(1)
        return plan(*args, **kwargs)

    monkeypatch.setattr(prompts, "plan_deliveries", plan_then_die)
    with pytest.raises(Killed):
        prompts.run_prompt_pass(runtime)
    monkeypatch.setattr(prompts, "plan_deliveries", plan)
    assert len(delivery_ids(runtime)) == 4, "two chunks of two were planned before the kill"

    assert prompts.run_prompt_pass(runtime).deliveries_planned == 1, "the restart adds only who was missing"
    with runtime.uow() as uow:
        planned = list(uow.session.scalars(select(Delivery.user_id)))
    assert sorted(planned) == sorted(p.id for p in world.people)


def test_the_worker_runs_passes_back_to_back_while_they_come_full(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = due_world(runtime, mattermost_contract, clock, 5)
    for _ in world.people:
        serve_post(world)
    monkeypatch.setattr(worker, "OUTBOX_PASS_LIMIT", 2)
    report = worker.Worker(runtime).deliver_outbox()
    assert (report.claimed, report.sent) == (5, 5), "passes of 2, 2 and 1 in one scheduler tick"
    assert statuses(runtime) == {"sent": 5}
