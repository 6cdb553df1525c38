"""The Mattermost stand-in answers as the server does where exactly-once delivery depends on it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.standins import mattermost_http
from tests.standins.mattermost_http import Faults, StandinServer, World, start_in_thread


@pytest.fixture
def standin() -> Iterator[StandinServer]:
    server = start_in_thread(World.synthetic(5, zones=("UTC",)), latency_ms=0)
    yield server
    server.shutdown()
    server.server_close()


def call(server: StandinServer, method: str, path: str, body: Any = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {server.world.token}"}
    return requests.request(method, server.url + path, json=body, headers=headers, timeout=5)


def post(server: StandinServer, props: dict[str, Any], pending: str = "") -> requests.Response:
    body = {"channel_id": server.world.channel_id, "message": "hi", "props": props}
    return call(server, "POST", "/api/v4/posts", {**body, "pending_post_id": pending} if pending else body)


def stats(server: StandinServer) -> dict[str, Any]:
    return requests.get(server.url + "/_stats", timeout=5).json()


def test_a_repeated_pending_post_id_returns_the_first_post(standin: StandinServer) -> None:
    first = post(standin, {"learnloop_outbox": "m1"}, pending="learnloop:m1")
    again = post(standin, {"learnloop_outbox": "m1"}, pending="learnloop:m1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]
    assert stats(standin)["posts"]["outbox"] == 1
    assert stats(standin)["deduplicated_by_pending_post_id"] == 1


def test_after_30_seconds_the_pending_post_id_is_forgotten(standin: StandinServer,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    post(standin, {"learnloop_outbox": "m1"}, pending="learnloop:m1")
    later = mattermost_http.monotonic() + 31
    monkeypatch.setattr(mattermost_http, "monotonic", lambda: later)
    post(standin, {"learnloop_outbox": "m1"}, pending="learnloop:m1")
    counted = stats(standin)
    assert counted["posts"]["outbox"] == 2 and counted["duplicates"]["outbox"] == 1


def test_posts_are_counted_per_kind_by_their_marker(standin: StandinServer) -> None:
    post(standin, {"learnloop_delivery": 7})
    post(standin, {"learnloop_delivery": 7})
    post(standin, {"learnloop_outbox": "a"})
    post(standin, {})
    requests.post(standin.url + "/hooks/commands/abc123", json={"text": "done"}, timeout=5)
    requests.post(standin.url + "/hooks/commands/abc123", json={"text": "done"}, timeout=5)
    counted = stats(standin)
    assert counted["posts"] == {"prompt": 2, "outbox": 1, "other": 1, "response": 2}
    assert counted["duplicates"] == {"prompt": 1, "outbox": 0, "other": 0, "response": 1}


def test_posts_since_selects_on_update_at_strictly_after(standin: StandinServer) -> None:
    made = post(standin, {"learnloop_outbox": "a"}).json()
    path = f"/api/v4/channels/{standin.world.channel_id}/posts?since="
    assert call(standin, "GET", path + str(made["update_at"] - 1)).json()["order"] == [made["id"]]
    assert call(standin, "GET", path + str(made["update_at"])).json()["order"] == []


def test_posts_since_returns_at_most_1000(standin: StandinServer) -> None:
    for n in range(1005):
        standin.world.create_post({"channel_id": standin.world.channel_id, "props": {"learnloop_outbox": str(n)}})
    found = call(standin, "GET", f"/api/v4/channels/{standin.world.channel_id}/posts?since=0").json()
    assert len(found["order"]) == 1000


def test_a_fault_after_the_work_still_makes_the_post(standin: StandinServer) -> None:
    standin.configure({"faults": {"rate": 1.0, "status": 502, "after_effect": True}})
    assert post(standin, {"learnloop_outbox": "a"}).status_code == 502
    standin.configure({"faults": {"rate": 1.0, "status": 503}})
    assert post(standin, {"learnloop_outbox": "b"}).status_code == 503
    counted = stats(standin)
    assert counted["posts"]["outbox"] == 1 and counted["faults_injected"] == 2


def test_a_fault_answers_the_error_id_it_is_given(standin: StandinServer) -> None:
    standin.configure({"faults": {"rate": 1.0, "status": 403, "error_id": "api.context.permissions.app_error"}})
    answer = post(standin, {"learnloop_outbox": "a"})
    assert (answer.status_code, answer.json()["id"]) == (403, "api.context.permissions.app_error")


def test_an_archived_channel_takes_no_post(standin: StandinServer) -> None:
    standin.world.archived.add(standin.world.channel_id)
    answer = post(standin, {"learnloop_outbox": "a"})
    assert (answer.status_code, answer.json()["id"]) == (400, "api.post.create_post.can_not_post_to_deleted.error")
    assert stats(standin)["posts_created"] == 0


def test_a_reply_to_a_deleted_root_is_refused_and_its_pending_id_forgotten(standin: StandinServer) -> None:
    channel = standin.world.channel_id
    root = post(standin, {}).json()
    reply = {"channel_id": channel, "message": "hi", "root_id": root["id"], "pending_post_id": "learnloop:r"}
    assert call(standin, "POST", "/api/v4/posts", reply).status_code == 201
    standin.world.delete_post(root["id"])
    again = {**reply, "pending_post_id": "learnloop:s"}
    refused = call(standin, "POST", "/api/v4/posts", again)
    assert (refused.status_code, refused.json()["id"]) == (400, "api.post.create_post.root_id.app_error")
    top_level = call(standin, "POST", "/api/v4/posts", {**again, "root_id": ""})
    assert top_level.status_code == 201 and top_level.json()["root_id"] == "", "the same pending id, saved"
    nested = {**reply, "root_id": top_level.json()["id"], "pending_post_id": ""}
    reply_to_reply = {**nested, "root_id": call(standin, "POST", "/api/v4/posts", nested).json()["id"]}
    assert call(standin, "POST", "/api/v4/posts", reply_to_reply).json()["id"] == \
        "api.post.create_post.root_id.app_error", "a reply to a reply"


def test_deleting_a_post_answers_as_the_server_does(standin: StandinServer) -> None:
    """404 for a post deleted already or never made, 403 for one the bot may no longer delete (it was removed from
    the private channel); reading the post tells the two apart the same way."""
    made = post(standin, {"learnloop_outbox": "a"}).json()
    kept = post(standin, {"learnloop_outbox": "b"}).json()
    assert call(standin, "DELETE", f"/api/v4/posts/{made['id']}").json() == {"status": "OK"}
    for method in ("DELETE", "GET"):
        gone = call(standin, method, f"/api/v4/posts/{made['id']}")
        assert (gone.status_code, gone.json()["id"]) == (404, "app.post.get.app_error")
        never = call(standin, method, "/api/v4/posts/" + "x" * 26)
        assert (never.status_code, never.json()["id"]) == (404, "app.post.get.app_error")
    standin.world.left.add(standin.world.channel_id)
    for method in ("DELETE", "GET"):
        refused = call(standin, method, f"/api/v4/posts/{kept['id']}")
        assert (refused.status_code, refused.json()["id"]) == (403, "api.context.permissions.app_error")
    assert post(standin, {"learnloop_outbox": "c"}).status_code == 403
    assert not standin.world.record.posts[kept["id"]]["delete_at"], "still there for the channel to read"


def test_the_bot_token_is_required(standin: StandinServer) -> None:
    answer = requests.get(standin.url + "/api/v4/users/me", timeout=5)
    assert answer.status_code == 401


def test_faults_default_to_posts_only() -> None:
    assert Faults().routes == ("POST /posts",)


def test_a_membership_is_answered_for_the_channel_and_the_other_channels() -> None:
    team, first, second, bot, ann, bob = (name.ljust(26, "0") for name in ("team", "first", "second", "bot", "ann",
                                                                           "bob"))
    server = start_in_thread(World.given(team_id=team, channels={first: [ann], second: [ann, bob]}, bot_id=bot),
                             latency_ms=0)
    try:
        found = call(server, "GET", f"/api/v4/channels/{second}/members/{bob}")
        assert (found.status_code, found.json()["user_id"], found.json()["scheme_admin"]) == (200, bob, False)
        assert call(server, "GET", f"/api/v4/channels/{first}/members/{ann}").status_code == 200
        missing = call(server, "GET", f"/api/v4/channels/{first}/members/{bob}")
        assert (missing.status_code, missing.json()["id"]) == (404, "app.channel.get_member.missing.app_error")
        assert call(server, "GET", f"/api/v4/channels/{'x' * 26}/members/{ann}").status_code == 404
    finally:
        server.shutdown()
        server.server_close()


def test_a_dialog_opens_for_the_bot(standin: StandinServer) -> None:
    body = {"trigger_id": "any", "url": "https://learnloop.example/mattermost/dialogs", "dialog": {}}
    assert call(standin, "POST", "/api/v4/actions/dialogs/open", body).json() == {"status": "OK"}
    assert requests.post(standin.url + "/api/v4/actions/dialogs/open", json=body, timeout=5).status_code == 401
