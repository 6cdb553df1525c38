"""The kit's bookmarks: channel bookmarks on a licensed 9.5+ server, one pinned post where there are none
(501 unlicensed, 404 before 9.5, 403 without the permission), and never a second bookmark or post when the
worker tries again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update

from learnloop.bootstrap import Runtime
from learnloop.services.outbox_kinds import CHANNEL_BOOKMARKS
from learnloop.storage.tables import OutboxMessage
from tests.conftest import FakeClock
from tests.contract.mattermost_openapi import MattermostContract
from tests.network.seed.conftest import BLOG, outbox, stocked
from tests.network.seed.test_seed_kit import DASHBOARD, run_kit
from tests.network.standin import StandIn
from tests.prompts.world import CHANNEL, courier

BOOKMARKS_ONLY = {"prompt": "none", "shelf": False, "bookmarks": True}


def calls(contract: MattermostContract, method: str, suffix: str) -> list:
    return [c for c in contract.calls if c.method == method and c.path.endswith(suffix)]


def as_if_the_worker_died_before_recording(runtime: Runtime, clock: FakeClock) -> None:
    """The calls were made, but the outbox never heard: the message is claimed again, as attempt 2."""
    with runtime.uow() as uow:
        uow.session.execute(update(OutboxMessage).where(OutboxMessage.kind == CHANNEL_BOOKMARKS).values(
            status="pending", attempts=1, sent_at=None, result=None, next_attempt_at=clock.now, claimed_by=None))
        uow.commit()


def test_a_licensed_server_gets_channel_bookmarks_checked_against_the_server_source(
    seeded_runtime: Runtime, chat: FlaskClient, standin: StandIn, mattermost_contract: MattermostContract
) -> None:
    stocked(seeded_runtime)
    run_kit(chat, mattermost_contract, **BOOKMARKS_ONLY)
    courier(seeded_runtime).deliver()
    made = calls(mattermost_contract, "POST", "/bookmarks")
    assert made[0].json == {"display_name": "Learning dashboard", "type": "link",
                                         "link_url": DASHBOARD, "emoji": "bar_chart"}
    assert len(made) == 5 and len(calls(mattermost_contract, "GET", "/bookmarks")) == 1
    assert standin.channel_posts(CHANNEL) == [], "no pinned post where bookmarks work"
    [message] = outbox(seeded_runtime, CHANNEL_BOOKMARKS)
    assert message.status == "sent" and len(message.result["bookmarks"]) == 5


@pytest.mark.parametrize(("server", "status"), [("unlicensed", 501), ("before_9_5", 404), ("forbidden", 403)])
def test_without_channel_bookmarks_one_post_listing_the_links_is_pinned(
    seeded_runtime: Runtime, chat: FlaskClient, standin: StandIn, mattermost_contract: MattermostContract,
    clock: FakeClock, server: str, status: int
) -> None:
    stocked(seeded_runtime)
    standin.bookmarks_mode = server  # type: ignore[assignment]
    run_kit(chat, mattermost_contract, **BOOKMARKS_ONLY)
    courier(seeded_runtime).deliver()
    [post] = standin.channel_posts(CHANNEL)
    assert post["is_pinned"] and post["props"]["learnloop_outbox"]
    assert f"[Learning dashboard]({DASHBOARD})" in post["message"] and "/learn dashboard" in post["message"]
    assert f"[{BLOG}]({BLOG})" in post["message"] and "[Deploying](https://outline.example.com/doc/deploying)" \
        in post["message"]
    [pin] = calls(mattermost_contract, "POST", "/pin")
    assert pin.operation_id == "PinPost", "validated against the OpenAPI source"
    [message] = outbox(seeded_runtime, CHANNEL_BOOKMARKS)
    assert message.result["pinned_post_id"] == post["id"] and f"HTTP {status}" in message.result["reason"]
    assert standin.channel_bookmarks(CHANNEL) == []

    clock.advance(seconds=40)
    as_if_the_worker_died_before_recording(seeded_runtime, clock)
    courier(seeded_runtime).deliver()
    assert len(standin.channel_posts(CHANNEL)) == 1, "the retry found its post and made no second one"
    assert standin.channel_posts(CHANNEL)[0]["is_pinned"]
    assert outbox(seeded_runtime, CHANNEL_BOOKMARKS)[0].result["pinned_post_id"] == post["id"]


def test_a_retry_after_a_failed_bookmark_adds_only_the_missing_ones(
    seeded_runtime: Runtime, chat: FlaskClient, standin: StandIn, mattermost_contract: MattermostContract,
    clock: FakeClock
) -> None:
    stocked(seeded_runtime)
    standin.fail_next("POST", r"/bookmarks", 500, after=1)
    run_kit(chat, mattermost_contract, **BOOKMARKS_ONLY)
    report = courier(seeded_runtime).deliver()
    assert report.retried == 1 and len(standin.channel_bookmarks(CHANNEL)) == 1
    clock.advance(seconds=3)
    courier(seeded_runtime).deliver()
    links = [b["link_url"] for b in standin.channel_bookmarks(CHANNEL)]
    assert len(links) == len(set(links)) == 5
    assert len(calls(mattermost_contract, "POST", "/bookmarks")) == 1 + 1 + 4, "the one made is not made again"
    assert outbox(seeded_runtime, CHANNEL_BOOKMARKS)[0].status == "sent"


def test_a_delivery_repeated_after_a_crash_makes_no_second_bookmark(
    seeded_runtime: Runtime, chat: FlaskClient, standin: StandIn, mattermost_contract: MattermostContract,
    clock: FakeClock
) -> None:
    stocked(seeded_runtime)
    run_kit(chat, mattermost_contract, **BOOKMARKS_ONLY)
    courier(seeded_runtime).deliver()
    clock.advance(minutes=1)
    as_if_the_worker_died_before_recording(seeded_runtime, clock)
    courier(seeded_runtime).deliver()
    assert len(standin.channel_bookmarks(CHANNEL)) == 5
    assert len(calls(mattermost_contract, "POST", "/bookmarks")) == 5
    assert outbox(seeded_runtime, CHANNEL_BOOKMARKS)[0].result == {"bookmarks": [], "already": 5}


def test_a_link_the_channel_already_has_is_not_bookmarked_again(
    seeded_runtime: Runtime, chat: FlaskClient, standin: StandIn, mattermost_contract: MattermostContract
) -> None:
    stocked(seeded_runtime)
    standin.bookmarks[CHANNEL] = [{"id": "b" * 26, "create_at": 1, "update_at": 1, "delete_at": 0,
                                   "channel_id": CHANNEL, "owner_id": "o" * 26, "file_id": "",
                                   "display_name": "Our numbers", "sort_order": 0, "link_url": DASHBOARD + "/",
                                   "type": "link"}]
    run_kit(chat, mattermost_contract, **BOOKMARKS_ONLY)
    courier(seeded_runtime).deliver()
    names = [b["display_name"] for b in standin.channel_bookmarks(CHANNEL)]
    assert names.count("Learning dashboard") == 0 and names[0] == "Our numbers" and len(names) == 5


def test_a_full_channel_gets_the_pinned_post_instead(
    seeded_runtime: Runtime, chat: FlaskClient, standin: StandIn, mattermost_contract: MattermostContract
) -> None:
    stocked(seeded_runtime)
    standin.bookmarks[CHANNEL] = [
        {"id": f"{n:026d}", "create_at": 1, "update_at": 1, "delete_at": 0, "channel_id": CHANNEL,
         "owner_id": "o" * 26, "file_id": "", "display_name": f"Link {n}", "sort_order": n,
         "link_url": f"https://example.com/{n}", "type": "link"} for n in range(48)]
    run_kit(chat, mattermost_contract, **BOOKMARKS_ONLY)
    courier(seeded_runtime).deliver()
    assert not calls(mattermost_contract, "POST", "/bookmarks"), "the server would answer 500 past 50"
    [post] = standin.channel_posts(CHANNEL)
    assert post["is_pinned"]
    assert "48 of its 50 bookmarks" in outbox(seeded_runtime, CHANNEL_BOOKMARKS)[0].result["reason"]


def test_the_kit_posts_exactly_once_through_a_retried_delivery(
    seeded_runtime: Runtime, chat: FlaskClient, standin: StandIn, mattermost_contract: MattermostContract,
    clock: FakeClock
) -> None:
    """The shelf post carries its outbox key; a retry that follows a lost reply finds it instead of posting
    again (and Mattermost's pending_post_id would drop a second one within 30 s anyway)."""
    stocked(seeded_runtime)
    run_kit(chat, mattermost_contract, prompt="none", bookmarks=False)
    courier(seeded_runtime).deliver()
    with seeded_runtime.uow() as uow:
        uow.session.execute(update(OutboxMessage).where(OutboxMessage.kind == "mattermost.create_post").values(
            status="pending", attempts=1, result=None, sent_at=None, next_attempt_at=clock.now + timedelta(minutes=5)))
        uow.commit()
    clock.advance(minutes=5)
    courier(seeded_runtime).deliver()
    assert len(standin.channel_posts(CHANNEL)) == 1
    assert calls(mattermost_contract, "GET", f"/channels/{CHANNEL}/posts"), "it looked for its post"
