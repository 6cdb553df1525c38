"""BookStack webhook deliveries through the real route: POST /wiki/<name>/events?secret=...

BookStack signs nothing, so the secret in the URL is the whole authentication. Fixtures are one
file per event, shaped like BookStack's WebhookFormatter output (see tests/fixtures/bookstack)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import responses
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.storage.tables import OutboxMessage
from learnloop.wikis import FETCH_JOB
from learnloop.wiring import create_app
from tests.conftest import make_settings

FIXTURES = Path(__file__).parents[1] / "fixtures" / "bookstack"
WIKI = "kb"
BASE_URL = "https://bookstack.example.com"
SECRET = "bs-hook-7c41e9a2f05d4b8e93a6c1d7f2e8b05a"
API_TOKEN = "abc:def"
CHANNEL = "kbchannel00000000000000001"
BOOK_SPACE = "book:onboarding-handbook"

EXPECTED_ACTION: dict[str, str | None] = {
    "page_create": "created",
    "page_update": "updated",
    "page_delete": "deleted",
    "page_move": "moved",
    "page_restore": "updated",
    "recycle_bin_restore": "restored",
    "book_create": None,
    "auth_login": None,
    "commented_on": None,
}
EXPECTED_CONTAINER_JOB: dict[str, dict[str, Any]] = {
    "book_update": {"action": "refresh", "book_id": 13},
    "book_sort": {"action": "refresh", "book_id": 13},
    "chapter_move": {"action": "refresh", "chapter_id": 7},
    "book_create_from_chapter": {"action": "refresh", "book_id": 22},
    "book_delete": {"action": "trashed", "book_id": 13},
    "chapter_delete": {"action": "trashed", "chapter_id": 7},
}
"""A change to a book or chapter: its pages are read again (refresh), or checked one by one (trashed)."""
EVENT_FIXTURES = sorted(path.stem for path in FIXTURES.glob("*.json"))


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def api_fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / "api" / f"{name}.json").read_text())


def bookstack_runtime(engine: Any, clock: Any, **wiki: Any) -> Runtime:
    settings = make_settings(
        wikis=[{"name": WIKI, "kind": "bookstack", "url": BASE_URL, "secret": SECRET, "api_token": API_TOKEN, **wiki}],
        communities=[{"name": "Onboarding", "channel_id": CHANNEL,
                      "wiki_spaces": [{"wiki": WIKI, "space": BOOK_SPACE}]}],
    )
    return build_runtime(settings, clock=clock, engine=engine)


def deliver(client: FlaskClient, body: bytes | dict[str, Any], *, query: str | None = None,
            headers: dict[str, str] | None = None) -> TestResponse:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    url = f"/wiki/{WIKI}/events" + (f"?{query}" if query is not None else f"?secret={quote(SECRET)}")
    return client.post(url, data=data, headers={"Content-Type": "application/json", **(headers or {})})


def fetch_messages(runtime: Runtime) -> list[OutboxMessage]:
    with runtime.uow() as uow:
        rows = list(uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == FETCH_JOB)))
        uow.session.expunge_all()
        return rows


def outbox_size(runtime: Runtime) -> int:
    with runtime.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(OutboxMessage)) or 0


@pytest.fixture
def runtime(engine: Any, clock: Any) -> Runtime:
    return bookstack_runtime(engine, clock)


@pytest.fixture
def client(runtime: Runtime) -> FlaskClient:
    app = create_app(runtime)
    app.config["TESTING"] = True
    return app.test_client()


@pytest.fixture
def no_http():
    """Receiving never calls BookStack: any request would fail against an empty mock."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
    assert len(mock.calls) == 0


def test_every_fixture_has_an_expectation() -> None:
    assert sorted([*EXPECTED_ACTION, *EXPECTED_CONTAINER_JOB]) == EVENT_FIXTURES


@pytest.mark.parametrize("name", sorted(EXPECTED_CONTAINER_JOB))
def test_each_book_or_chapter_event(name: str, client: FlaskClient, runtime: Runtime, no_http: Any) -> None:
    payload = fixture(name)
    response = deliver(client, payload)
    assert response.get_json() == {"status": "ok", "queued": 1, "ignored": False}
    [message] = fetch_messages(runtime)
    job = EXPECTED_CONTAINER_JOB[name]
    container = job.get("chapter_id") or job.get("book_id")
    assert message.payload == {"wiki": WIKI, "event_id": f"{name}:{container}:{payload['triggered_at']}", **job}


def test_two_chapters_deleted_in_one_second_are_two_jobs(client: FlaskClient, runtime: Runtime,
                                                         no_http: Any) -> None:
    """BookStack's triggered_at has whole seconds: the chapter's own id tells the deliveries apart."""
    for chapter in (7, 8):
        payload = fixture("chapter_delete")
        payload["related_item"]["id"] = chapter
        assert deliver(client, payload).get_json()["queued"] == 1


def test_a_book_or_chapter_back_from_the_recycle_bin_is_read_again(client: FlaskClient, runtime: Runtime,
                                                                    no_http: Any) -> None:
    for kind, number in (("book", 13), ("chapter", 7), ("bookshelf", 2)):
        payload = fixture("recycle_bin_restore")
        payload["related_item"].update(deletable_type=kind, deletable_id=number)
        assert deliver(client, payload).get_json()["queued"] == (kind != "bookshelf"), kind
    assert [m.payload for m in fetch_messages(runtime)] == [
        {"wiki": WIKI, "event_id": f"recycle_bin_restore:{kind}{number}:2026-11-02T09:30:00.000000Z",
         "action": "refresh", f"{kind}_id": number, "restore": True} for kind, number in (("book", 13), ("chapter", 7))]


@pytest.mark.parametrize(("name", "change"), [
    ("book_delete", {"id": None}),
    ("book_update", {"id": True}),
    ("book_sort", {"id": 0}),
    ("chapter_move", {"id": "7"}),
    ("chapter_delete", {"id": -7}),
    ("book_create_from_chapter", {"id": 2.5}),
])
def test_a_book_or_chapter_event_without_what_it_names_is_refused(name: str, change: dict[str, Any],
                                                                  client: FlaskClient, runtime: Runtime,
                                                                  no_http: Any) -> None:
    payload = fixture(name)
    payload["related_item"].update(change)
    response = deliver(client, payload)
    assert response.status_code == 400 and "related_item" in response.get_json()["error"]["message"]
    assert fetch_messages(runtime) == []


@pytest.mark.parametrize("name", sorted(EXPECTED_ACTION))
def test_each_documented_event(name: str, client: FlaskClient, runtime: Runtime, no_http: Any) -> None:
    payload = fixture(name)
    response = deliver(client, payload)
    assert response.status_code == 200, response.get_json()
    action = EXPECTED_ACTION[name]
    messages = fetch_messages(runtime)
    if action is None:
        assert response.get_json() == {"status": "ok", "queued": 0, "ignored": True}
        assert messages == []
        return
    assert response.get_json() == {"status": "ok", "queued": 1, "ignored": False}
    [message] = messages
    assert message.payload == {
        "wiki": WIKI,
        "event_id": f"{name}:2432:{payload['triggered_at']}",
        "page_id": 2432,
        "action": action,
        "actor": "Benny Lee",
    }
    assert message.idempotency_key == f"wiki:{WIKI}:{name}:2432:{payload['triggered_at']}"
    assert message.status == "pending"


def test_a_redelivery_queues_one_fetch(client: FlaskClient, runtime: Runtime, no_http: Any) -> None:
    payload = fixture("page_update")
    first, again = deliver(client, payload), deliver(client, payload)
    assert first.get_json()["queued"] == 1
    assert again.status_code == 200 and again.get_json()["queued"] == 0
    assert len(fetch_messages(runtime)) == 1


def test_a_later_edit_of_the_same_page_is_a_new_fetch(client: FlaskClient, runtime: Runtime, no_http: Any) -> None:
    deliver(client, fixture("page_update"))
    deliver(client, {**fixture("page_update"), "triggered_at": "2026-11-02T09:40:02.000000Z"})
    deliver(client, fixture("page_create"))
    assert len(fetch_messages(runtime)) == 3


NEAR_MISSES = {
    "missing": "",
    "empty": "secret=",
    "wrong": "secret=" + "x" * len(SECRET),
    "last character changed": "secret=" + quote(SECRET[:-1] + ("b" if SECRET[-1] != "b" else "c")),
    "one character short": "secret=" + quote(SECRET[:-1]),
    "one character long": "secret=" + quote(SECRET + "0"),
    "upper case": "secret=" + quote(SECRET.upper()),
    "padded": "secret=" + quote(f" {SECRET} "),
    "other parameter name": "token=" + quote(SECRET),
    "non-ascii": "secret=" + quote("é" * 20),
}


@pytest.mark.parametrize("query", NEAR_MISSES.values(), ids=NEAR_MISSES.keys())
def test_a_wrong_or_missing_secret_is_refused(query: str, client: FlaskClient, runtime: Runtime,
                                              no_http: Any) -> None:
    response = deliver(client, fixture("page_create"), query=query)
    assert response.status_code == 401
    assert SECRET not in response.get_data(as_text=True)
    assert outbox_size(runtime) == 0


def test_the_secret_in_a_header_is_not_enough(client: FlaskClient, runtime: Runtime, no_http: Any) -> None:
    response = deliver(client, fixture("page_create"), query="",
                       headers={"Authorization": f"Token {SECRET}", "X-Secret": SECRET})
    assert response.status_code == 401
    assert outbox_size(runtime) == 0


def test_another_wikis_secret_is_refused(engine: Any, clock: Any) -> None:
    runtime = bookstack_runtime(engine, clock, secret="another-wiki-secret-0123456789abcdef")
    client = create_app(runtime).test_client()
    assert deliver(client, fixture("page_create")).status_code == 401
    assert outbox_size(runtime) == 0


def test_the_secret_is_checked_before_the_body_is_read(client: FlaskClient, runtime: Runtime) -> None:
    assert deliver(client, b"{not json", query="secret=wrong").status_code == 401


@pytest.mark.parametrize("body", [
    b"{not json",
    b"",
    b"\xff\xfe\x00garbage",
    b"[1, 2, 3]",
    b'"page_update"',
    b"[" * 100_000,
    json.dumps({"text": "no event"}).encode(),
    json.dumps({"event": "page_update", "triggered_at": "2026-11-02T08:55:10.000000Z"}).encode(),
    json.dumps({"event": "page_update", "triggered_at": "2026-11-02T08:55:10.000000Z",
                "related_item": {"id": "2432"}}).encode(),
    json.dumps({"event": "page_update", "triggered_at": "2026-11-02T08:55:10.000000Z",
                "related_item": {"id": -1}}).encode(),
    json.dumps({"event": "page_update", "related_item": {"id": 2432}}).encode(),
], ids=["truncated", "empty", "binary", "array", "string", "deeply nested", "no event", "no related item",
        "string id", "negative id", "no triggered_at"])
def test_a_malformed_delivery_is_a_400(body: bytes, client: FlaskClient, runtime: Runtime, no_http: Any) -> None:
    response = deliver(client, body)
    assert response.status_code == 400
    assert response.get_json()["error"]["status"] == 400
    assert SECRET not in response.get_data(as_text=True)
    assert outbox_size(runtime) == 0


@pytest.mark.parametrize("where", ["triggered_at", "triggered_by.name"])
def test_a_nul_character_in_a_delivery_is_a_clear_400(where: str, client: FlaskClient, runtime: Runtime,
                                                       no_http: Any) -> None:
    """PostgreSQL's text cannot hold NUL (a 500 there, before): refused, saying where, and nothing is queued."""
    body = fixture("page_update")
    deliver(client, body)
    if where == "triggered_at":
        body["triggered_at"] += "\x00"
    else:
        body["triggered_by"]["name"] = "Ann\x00"
    response = deliver(client, body)
    assert response.status_code == 400
    message = response.get_json()["error"]["message"]
    assert message == f"body.{where} contains a NUL character (\\x00), which text cannot hold"
    assert outbox_size(runtime) == 1, "the delivery queued before stays; the refused one adds nothing"


def test_the_secret_never_appears_in_responses_or_logs(client: FlaskClient, runtime: Runtime, no_http: Any,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bodies = [deliver(client, fixture(name)) for name in EVENT_FIXTURES]
    bodies += [deliver(client, fixture("page_update"), query=query) for query in NEAR_MISSES.values()]
    bodies += [deliver(client, b"{not json"), deliver(client, {"event": "page_update"})]
    for response in bodies:
        assert SECRET not in response.get_data(as_text=True)
    assert SECRET not in caplog.text
    assert quote(SECRET) not in caplog.text
