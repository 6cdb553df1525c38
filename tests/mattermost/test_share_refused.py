"""A `/learn share` whose post Mattermost refuses for good, against the HTTP stand-in answering as the server
does: a thread deleted meanwhile takes the post to the channel itself, an archived channel and a private channel
the bot is not in are each told to the sharer as what they are."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from tests.conftest import FakeClock, make_settings
from tests.mattermost.inbound import send_fixture
from tests.prompts.world import courier
from tests.standins import mattermost_http
from tests.standins.mattermost_http import Faults, StandinServer, World, start_in_thread

from learnloop.bootstrap import Runtime
from learnloop.config import Settings

CHANNEL = "fukk3xq1bbn8fgmsiwh4xprwdh"
LINK = "https://docs.python.org/3/library/zoneinfo.html"


@pytest.fixture
def standin() -> Iterator[StandinServer]:
    server = start_in_thread(World.synthetic(1, zones=("UTC",), extra_accounts=False), latency_ms=0)
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def sharer(standin: StandinServer) -> str:
    return standin.world.people()[0]["id"]


@pytest.fixture
def settings(standin: StandinServer) -> Settings:
    world = standin.world
    return make_settings(mattermost_url=standin.url, mattermost_bot_token=world.token,
                         mattermost_bot_user_id=world.bot["id"])


def share(client: FlaskClient, sharer: str, root_id: str = "") -> None:
    reply = send_fixture(client, "slash_command__share.form", user_id=sharer, root_id=root_id).get_json()
    assert "Thanks for sharing" in reply["text"]


def posts_in(standin: StandinServer, channel_id: str) -> list[dict[str, Any]]:
    record = standin.world.record
    return [record.posts[post_id] for post_id in record.channel_posts.get(channel_id, [])]


def dms(standin: StandinServer, person: str) -> list[str]:
    channel = standin.world.dm_channel(standin.world.bot["id"], person)
    return [post["message"] for post in posts_in(standin, channel)]


def shared_posts(standin: StandinServer) -> list[dict[str, Any]]:
    return [p for p in posts_in(standin, CHANNEL) if "learnloop_outbox" in p["props"]]


def refused_for_good(runtime: Runtime, standin: StandinServer, status: int, error_id: str) -> None:
    """Mattermost refuses the share's post with this answer; the worker gives it up and tells the sharer."""
    standin.faults = Faults(rate=1.0, status=status, error_id=error_id)
    assert courier(runtime).deliver().failed == 1
    standin.faults = Faults()
    courier(runtime).deliver()


def test_a_share_typed_in_a_thread_deleted_since_is_posted_in_the_channel(
        client: FlaskClient, runtime: Runtime, standin: StandinServer, sharer: str) -> None:
    root = standin.world.create_post({"channel_id": CHANNEL, "message": "Who has notes on time zones?"})[1]
    share(client, sharer, root["id"])
    standin.world.delete_post(root["id"])
    report = courier(runtime).deliver()
    [post] = shared_posts(standin)
    assert post["root_id"] == "" and post["props"]["attachments"][0]["title_link"] == LINK
    courier(runtime).deliver()
    assert (report.sent, report.failed) == (1, 0) and dms(standin, sharer) == []


def test_a_share_typed_in_a_thread_still_there_is_posted_in_it(
        client: FlaskClient, runtime: Runtime, standin: StandinServer, sharer: str) -> None:
    root = standin.world.create_post({"channel_id": CHANNEL, "message": "Who has notes on time zones?"})[1]
    share(client, sharer, root["id"])
    courier(runtime).deliver()
    [post] = shared_posts(standin)
    assert post["root_id"] == root["id"]


def test_a_share_in_an_archived_channel_tells_its_sharer_the_channel_is_archived(
        client: FlaskClient, runtime: Runtime, standin: StandinServer, sharer: str) -> None:
    share(client, sharer)
    standin.world.archived.add(CHANNEL)
    assert courier(runtime).deliver().failed == 1
    courier(runtime).deliver()
    assert shared_posts(standin) == []
    assert dms(standin, sharer) == [
        f"Your share of {LINK} was not posted: that channel is archived, so nothing can be posted there. Share it "
        "in another channel."]


def test_a_share_in_a_private_channel_without_the_bot_tells_its_sharer_to_add_it(
        client: FlaskClient, runtime: Runtime, standin: StandinServer, sharer: str) -> None:
    share(client, sharer)
    refused_for_good(runtime, standin, 403, "api.context.permissions.app_error")
    assert dms(standin, sharer) == [
        f"Your share of {LINK} was not posted: Mattermost refused learnloop's post in that channel (HTTP 403). If "
        "it is a private channel, add learnloop's bot to it and share again."]


def test_a_share_refused_for_another_reason_is_not_blamed_on_a_private_channel(
        client: FlaskClient, runtime: Runtime, standin: StandinServer, sharer: str) -> None:
    share(client, sharer)
    refused_for_good(runtime, standin, 400, "api.context.invalid_param.app_error")
    [notice] = dms(standin, sharer)
    assert "(HTTP 400)" in notice and "private channel" not in notice


def test_a_share_made_into_a_thread_deleted_before_its_retry_is_posted_again_in_the_channel(
        client: FlaskClient, runtime: Runtime, standin: StandinServer, sharer: str, clock: FakeClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The first try was made in the thread though learnloop heard a 503; the thread was deleted, and its reply
    with it (Mattermost deletes a root's replies). The retry found the deleted reply and called it sent: nobody
    saw the share."""
    clock.now = datetime.now(UTC)  # the stand-in dates its posts by the real clock, and the retry looks from then
    root = standin.world.create_post({"channel_id": CHANNEL, "message": "Who has notes on time zones?"})[1]
    share(client, sharer, root["id"])
    standin.faults = Faults(rate=1.0, status=503, after_effect=True, routes=("POST /posts",))
    assert courier(runtime).deliver().retried == 1
    standin.faults = Faults()
    [reply] = shared_posts(standin)
    assert reply["root_id"] == root["id"]
    for post_id in (root["id"], reply["id"]):
        standin.world.delete_post(post_id)
    clock.advance(minutes=1)
    assert courier(runtime).deliver().retried == 1, "within 30 s Mattermost refuses the deleted reply's pending id"
    later = mattermost_http.monotonic() + 31
    monkeypatch.setattr(mattermost_http, "monotonic", lambda: later)
    clock.advance(minutes=1)
    courier(runtime).deliver()
    [visible] = [post for post in shared_posts(standin) if not post["delete_at"]]
    assert visible["root_id"] == ""
