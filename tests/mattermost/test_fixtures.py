"""One test per recorded Mattermost request shape (tests/fixtures/mattermost/<event>.<form|json>)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from tests.conftest import FakeClock
from tests.contract.mattermost_openapi import MattermostContract
from tests.mattermost.inbound import fixture_names, load_form, load_json, send_fixture

from learnloop.bootstrap import Runtime
from learnloop.jobs.outbox import RATE_LIMITED_FOR, Courier
from learnloop.jobs.worker import run_once
from learnloop.mattermost import delivery
from learnloop.mattermost.client import RateLimited
from learnloop.services.outbox_kinds import CREATE_POST, SEND_DM
from learnloop.storage.tables import ContentItem, Event, Feedback, OutboxMessage, Rating

ANN = "ob7m4qhjzjfy5c6qgbwkz3mn8r"
BOB = "q1h5b9c3ypgtfe5kzjkdyrbs7c"
CHANNEL = "fukk3xq1bbn8fgmsiwh4xprwdh"


def _rows(runtime: Runtime, model: type) -> list:
    with runtime.uow() as uow:
        return list(uow.session.scalars(select(model).order_by(model.id)))


def _count(runtime: Runtime, model: type) -> int:
    with runtime.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(model)) or 0


def test_every_fixture_has_a_test() -> None:
    tested = {name.removeprefix("test_").replace("__", "__", 1) for name in globals() if name.startswith("test_")}
    for fixture in fixture_names():
        stem = fixture.replace(".", "_")
        assert stem in tested, f"{fixture} has no test named test_{stem}"


def test_slash_command__rate_form(client: FlaskClient, runtime: Runtime) -> None:
    response = send_fixture(client, "slash_command__rate.form")
    assert response.status_code == 200
    assert response.content_type == "application/json"
    body = response.get_json()
    assert body["response_type"] == "ephemeral"
    assert "5/5" in body["text"]
    assert "Your comment went privately to the community's owners and the page's owners" in body["text"]
    [item] = _rows(runtime, ContentItem)
    assert item.url == "https://wiki.acme.example/wiki/Deploying_to_production"
    [rating] = _rows(runtime, Rating)
    assert (rating.user_id, rating.stars) == (ANN, 5)
    [feedback] = _rows(runtime, Feedback)
    assert feedback.comment == "Saved me an hour" and feedback.status == "new"


def test_slash_command__rate_with_mention_form(client: FlaskClient, runtime: Runtime) -> None:
    response = send_fixture(client, "slash_command__rate_with_mention.form")
    assert response.status_code == 200
    assert "4/5" in response.get_json()["text"]
    [feedback] = _rows(runtime, Feedback)
    assert feedback.comment == "thanks @bob for this"


def test_slash_command__rate_no_arguments_form(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract
) -> None:
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    response = send_fixture(client, "slash_command__rate_no_arguments.form")
    assert response.status_code == 200
    assert response.get_json() == {}
    [call] = mattermost_contract.calls
    dialog = call.json["dialog"]
    assert call.json["url"] == "https://learnloop.example.com/mattermost/dialogs"
    assert [element["name"] for element in dialog["elements"]] == ["url", "stars", "comment"]
    assert json.loads(dialog["state"])["user_id"] == ANN


def test_slash_command__share_form(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract
) -> None:
    response = send_fixture(client, "slash_command__share.form")
    assert response.status_code == 200
    assert "Thanks for sharing" in response.get_json()["text"]
    assert mattermost_contract.calls == [], "the web process must not call Mattermost for a share"
    mattermost_contract.add("POST", "/api/v4/posts", status=201,
                            json={"id": "p0stidp0stidp0stidp0stid00", "channel_id": CHANNEL, "message": ""})
    report = run_once(runtime)
    assert report.sent == 1
    [call] = mattermost_contract.calls
    attachment = call.json["props"]["attachments"][0]
    assert call.json["channel_id"] == CHANNEL
    assert attachment["title_link"] == "https://docs.python.org/3/library/zoneinfo.html"
    assert "The table of pitfalls is gold" in attachment["text"]
    *ratings, thanks = attachment["actions"]
    assert [action["integration"]["context"]["stars"] for action in ratings] == [1, 2, 3, 4, 5]
    assert thanks["name"] == "Thank the person who shared it" and thanks["integration"]["context"]["action"] == "thank"
    [message] = _rows(runtime, OutboxMessage)
    assert message.status == "sent" and message.result == {"post_id": "p0stidp0stidp0stidp0stid00"}
    assert len(load_form("slash_command__share.form")["trigger_id"]) > 200, "a trigger id as Mattermost makes them"
    assert len(message.idempotency_key) <= 200, "the key fits its column (PostgreSQL enforces it)"
    assert call.json["pending_post_id"] and call.json["props"]["learnloop_outbox"], "the post can be found again"
    assert set(call.json["props"]) == {"attachments", "learnloop_outbox"}, \
        "the item's id, which counts items made by private ratings too, is not among what everyone reads"


def test_a_share_command_sent_again_is_posted_and_counted_once(
    client: FlaskClient, runtime: Runtime, clock: FakeClock
) -> None:
    """A command sent again as it was (a replay, or a proxy retrying it) has the same trigger id."""
    for _ in range(2):
        assert "Thanks for sharing" in send_fixture(client, "slash_command__share.form").get_json()["text"]
        clock.advance(seconds=5)
    assert [message.kind for message in _rows(runtime, OutboxMessage)] == ["mattermost.create_post"]
    assert [event.kind for event in _rows(runtime, Event)] == ["link_shared"]
    send_fixture(client, "slash_command__share.form", trigger_id="another-trigger")
    assert len(_rows(runtime, OutboxMessage)) == 2, "the same link shared by a new command is posted again"


def test_slash_command__help_form(client: FlaskClient) -> None:
    text = send_fixture(client, "slash_command__help.form").get_json()["text"]
    for example in ("/learn rate https://", "/learn share https://", "/learn help"):
        assert example in text
    prompts = next(line for line in text.splitlines() if "prompts [" in line)
    for option in ("stop <number>", "time default", "quiet off", "nudges on"):
        assert option in prompts, "every option /learn prompts takes is listed"


def test_help_with_a_command_explains_that_command_alone(client: FlaskClient) -> None:
    text = send_fixture(client, "slash_command__help.form", text="help Prompts").get_json()["text"]
    lines = text.splitlines()
    assert lines[0].startswith("`/learn prompts [setup|event|stop <number>|pause <number> until YYYY-MM-DD|"
                               "resume <number>|off|on|pause 2w|")
    assert "Owners set up what the community is asked, and pause or stop a prompt for everyone" in lines[1]
    assert lines[2:] == ["Example: `/learn prompts pause 2w`", "Every command: `/learn help`."]
    assert "/learn rate" not in text, "not the whole list"


def test_help_with_an_unknown_topic_says_so_and_names_the_commands(client: FlaskClient) -> None:
    text = send_fixture(client, "slash_command__help.form", text="help frobnicate").get_json()["text"]
    assert text.startswith("learnloop has no `/learn frobnicate` command to explain. Its commands: `help`, ")
    assert "`prompts`" in text and "`digest`" in text and text.endswith("`/learn help` lists them with examples.")


def test_slash_command__empty_form(client: FlaskClient) -> None:
    body = send_fixture(client, "slash_command__empty.form").get_json()
    assert body["response_type"] == "ephemeral" and "/learn rate" in body["text"]


def test_slash_command__unknown_subcommand_form(client: FlaskClient, runtime: Runtime) -> None:
    response = send_fixture(client, "slash_command__unknown_subcommand.form")
    assert response.status_code == 200
    text = response.get_json()["text"]
    assert "`/learn frobnicate` is not a learnloop command" in text and "/learn help" in text
    assert _count(runtime, Event) == 0


def test_a_share_mattermost_refuses_to_post_is_told_to_its_sharer(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract
) -> None:
    """A private channel learnloop's bot is not in: its post is refused for good, and the person who shared
    hears so in their direct message with learnloop instead of never knowing."""
    send_fixture(client, "slash_command__share.form")
    mattermost_contract.add("POST", "/api/v4/posts", status=403, json={
        "id": "api.context.permissions.app_error", "message": "You do not have the appropriate permissions.",
        "request_id": "req1req1req1req1req1req1ab", "status_code": 403})
    assert run_once(runtime).failed == 1
    sharer = load_form("slash_command__share.form")["user_id"]
    [notice] = [m for m in _rows(runtime, OutboxMessage) if m.kind != "mattermost.create_post"]
    assert notice.payload["user_id"] == sharer
    assert "https://docs.python.org/3/library/zoneinfo.html was not posted" in notice.payload["message"]
    assert "HTTP 403" in notice.payload["message"]


def test_a_share_mattermost_rate_limits_for_a_day_is_told_to_its_sharer(
    client: FlaskClient, runtime: Runtime, clock: FakeClock, mattermost_contract: MattermostContract
) -> None:
    send_fixture(client, "slash_command__share.form")
    limited = {"status": 429, "body": "limit exceeded\n",
               "headers": {"Content-Type": "text/plain; charset=utf-8", "Retry-After": "3600"}}
    mattermost_contract.add("POST", "/api/v4/posts", **limited)
    assert run_once(runtime).retried == 1
    clock.advance(seconds=RATE_LIMITED_FOR.total_seconds())
    mattermost_contract.add("GET", f"/api/v4/channels/{load_form('slash_command__share.form')['channel_id']}/posts",
                            json={"order": [], "posts": {}})
    mattermost_contract.add("POST", "/api/v4/posts", **limited)
    assert run_once(runtime).failed == 1
    [notice] = [m for m in _rows(runtime, OutboxMessage) if m.kind != "mattermost.create_post"]
    assert notice.payload["user_id"] == load_form("slash_command__share.form")["user_id"]
    assert notice.payload["message"] == (
        "Your share of https://docs.python.org/3/library/zoneinfo.html was not posted: Mattermost was too busy to "
        "take learnloop's post for a day (HTTP 429). Share it again.")


def test_a_share_given_up_while_its_call_ran_past_the_deadline_is_given_up_by_the_outbox_too(
    client: FlaskClient, runtime: Runtime, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The call began a second before the day was up and failed after it: the sharer is told it was not posted,
    so the outbox must not post it later."""
    send_fixture(client, "slash_command__share.form")
    with runtime.reader() as uow:
        [queued] = uow.outbox.pending(CREATE_POST)
    clock.now = queued.created_at + RATE_LIMITED_FOR - timedelta(seconds=1)
    mattermost = runtime.mattermost()
    assert mattermost is not None

    def slow_429(*_args: object, **_kwargs: object) -> dict[str, object]:
        clock.advance(seconds=2)
        raise RateLimited("rate limited, retry after 60s", retry_after=60, call="POST /api/v4/posts")

    monkeypatch.setattr(mattermost, "create_post", slow_429)
    report = Courier(runtime.uow, runtime.clock, delivery.handlers(runtime, mattermost)).deliver()
    assert (report.failed, report.retried) == (1, 0)
    assert [m.payload["message"][:40] for m in _rows(runtime, OutboxMessage) if m.kind == SEND_DM] == [
        "Your share of https://docs.python.org/3/"]


def test_outgoing_webhook__link_shared_form(client: FlaskClient, runtime: Runtime) -> None:
    response = send_fixture(client, "outgoing_webhook__link_shared.form")
    assert response.status_code == 200 and response.get_json() == {}
    urls = [item.url for item in _rows(runtime, ContentItem)]
    assert urls == ["https://www.postgresql.org/docs/current/tutorial-window.html",
                    "https://wiki.acme.example/wiki/SQL_tips"]
    events = _rows(runtime, Event)
    assert [event.kind for event in events] == ["chat_post", "link_shared", "link_shared"]
    assert all(event.actor_id == BOB for event in events)
    assert events[0].occurred_at.timestamp() == 1762074000
    [classify] = _rows(runtime, OutboxMessage)
    assert classify.kind == "mattermost.classify_post"


def test_outgoing_webhook__link_shared_json(client: FlaskClient, runtime: Runtime) -> None:
    response = send_fixture(client, "outgoing_webhook__link_shared.json")
    assert response.status_code == 200
    events = _rows(runtime, Event)
    assert len(events) == 3
    assert events[0].occurred_at.timestamp() == 1762074000.123, "JSON deliveries carry milliseconds"


def test_outgoing_webhook_json_with_a_timestamp_too_big_for_a_float_is_taken_as_now(
        client: FlaskClient, runtime: Runtime, clock: FakeClock) -> None:
    body = {**load_json("outgoing_webhook__link_shared.json"), "timestamp": 10 ** 400}
    response = client.post("/mattermost/outgoing", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 200
    assert _rows(runtime, Event)[0].occurred_at.timestamp() == clock.now.timestamp()


@pytest.mark.parametrize("fixture", ["outgoing_webhook__link_shared.form", "outgoing_webhook__link_shared.json"])
@pytest.mark.parametrize("ahead", [timedelta(days=1), timedelta(days=2_900_000)])
def test_outgoing_webhook_from_the_future_is_taken_as_now(
        client: FlaskClient, runtime: Runtime, clock: FakeClock, fixture: str, ahead: timedelta) -> None:
    """Year 9999 was stored, then could not be read back from PostgreSQL in a zone east of UTC (the person's
    data and every fold after it failed); a day ahead would count the post in a week still to come."""
    seconds = int(min(clock.now + ahead, datetime(9999, 12, 31, tzinfo=UTC)).timestamp())
    if fixture.endswith(".json"):  # milliseconds, as a number
        body = {**load_json(fixture), "timestamp": seconds * 1000}
        response = client.post("/mattermost/outgoing", json=body, headers={"Accept": "application/json"})
    else:
        response = send_fixture(client, fixture, timestamp=str(seconds))
    assert response.status_code == 200
    assert {event.occurred_at for event in _rows(runtime, Event)} == {clock.now}


def test_outgoing_webhook__mention_form(client: FlaskClient, runtime: Runtime) -> None:
    assert send_fixture(client, "outgoing_webhook__mention.form").status_code == 200
    mention = [event for event in _rows(runtime, Event) if event.kind == "mention"]
    assert len(mention) == 1 and mention[0].data == {"people": 2}, "@all is not a person"


def test_outgoing_webhook__plain_post_form(client: FlaskClient, runtime: Runtime) -> None:
    assert send_fixture(client, "outgoing_webhook__plain_post.form").status_code == 200
    assert [event.kind for event in _rows(runtime, Event)] == ["chat_post"]
    assert _count(runtime, ContentItem) == 0


def test_action__rate_button_json(client: FlaskClient, runtime: Runtime) -> None:
    send_fixture(client, "slash_command__rate.form", user_id=BOB, text="rate https://wiki.acme.example/wiki/Deploying_to_production 2")
    response = send_fixture(client, "action__rate_button.json")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"ephemeral_text"}, "the post itself must not change for everyone"
    assert "4/5" in body["ephemeral_text"] and "too early to tell (a page's score shows once 5 people" in body["ephemeral_text"], \
        "no community score until 5 people have rated"
    ratings = {rating.user_id: rating.stars for rating in _rows(runtime, Rating)}
    assert ratings == {BOB: 2, ANN: 4}


def test_action__rate_button_tampered_json(client: FlaskClient, runtime: Runtime) -> None:
    send_fixture(client, "slash_command__rate.form", user_id=BOB, text="rate https://wiki.acme.example/wiki/Deploying_to_production 2")
    response = send_fixture(client, "action__rate_button_tampered.json")
    assert response.status_code == 403
    assert "signature" in response.get_json()["error"]["message"]
    assert {rating.user_id for rating in _rows(runtime, Rating)} == {BOB}


def test_dialog__rate_submission_json(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract
) -> None:
    response = send_fixture(client, "dialog__rate_submission.json")
    assert response.status_code == 200 and response.data == b""
    [rating] = _rows(runtime, Rating)
    assert (rating.user_id, rating.stars) == (ANN, 5)
    [feedback] = _rows(runtime, Feedback)
    assert feedback.comment == "The VPN section is out of date"
    response_url = json.loads(load_json("dialog__rate_submission.json")["state"])["response_url"]
    mattermost_contract.add_unvalidated(response_url)
    assert run_once(runtime).sent == 1, "the confirmation goes to the command's response_url"
    [call] = mattermost_contract.calls
    assert call.json["response_type"] == "ephemeral" and "5/5" in call.json["text"]


def test_dialog__rate_submission_invalid_json(client: FlaskClient, runtime: Runtime) -> None:
    response = send_fixture(client, "dialog__rate_submission_invalid.json")
    assert response.status_code == 200
    errors = response.get_json()["errors"]
    assert set(errors) == {"url", "stars"}
    assert "spaces" in errors["url"] and "out of range" in errors["stars"]
    assert _count(runtime, Rating) == 0 and _count(runtime, ContentItem) == 0


def test_dialog__rate_cancelled_json(client: FlaskClient, runtime: Runtime) -> None:
    response = send_fixture(client, "dialog__rate_cancelled.json")
    assert response.status_code == 200 and response.data == b""
    assert _count(runtime, Rating) == 0


def test_help_with_an_option_of_a_command_names_that_command(client: FlaskClient) -> None:
    text = send_fixture(client, "slash_command__help.form", text="help pause").get_json()["text"]
    assert text.startswith("learnloop has no `/learn pause` command to explain. `pause` belongs to "
                           "`/learn help prompts`. Its commands: ")
