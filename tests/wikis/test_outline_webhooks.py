"""Outline deliveries through the real route: POST /wiki/<name>/events, signed the way Outline signs them."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select
from werkzeug.test import TestResponse

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.domain.measures import contributions
from learnloop.domain.wiki_events import WikiEvent
from learnloop.services import wiki_ingest
from learnloop.services.network.digest import changed_pages
from learnloop.storage.tables import Announcement, ContentItem, Event, OutboxMessage
from learnloop.web.wiki_routes import MAX_DELIVERY_BYTES
from learnloop.wikis import FETCH_JOB
from learnloop.wiring import create_app
from tests.conftest import FakeClock, make_settings

FIXTURES = Path(__file__).parent.parent / "fixtures" / "outline"
WIKI = "docs"
OUTLINE_URL = "https://outline.example.com"
SECRET = "ol_whs_Zq8pN3vR6tY1wK4mB7cX9dF2gH5jL0sA"
API_TOKEN = "ol_api_x"
CHANNEL = "engchannel0000000000000001"
COLLECTION_ID = "5f4e6a3c-7b2d-4c1e-9a8f-0d3b2c1a4e5f"
DOCUMENT_ID = "8b9c7d6e-5f4a-4b3c-8d2e-1f0a9b8c7d6e"


def outline_runtime(engine: Engine, clock: FakeClock, space: str = "Engineering",
                    learning_log_page: str | None = None) -> Runtime:
    settings = make_settings(
        wikis=[{"name": WIKI, "kind": "outline", "url": OUTLINE_URL, "secret": SECRET, "api_token": API_TOKEN}],
        communities=[{"name": "Engineering", "channel_id": CHANNEL, "learning_log_page": learning_log_page,
                      "wiki_spaces": [{"wiki": WIKI, "space": space}]}],
    )
    return build_runtime(settings, clock=clock, engine=engine)


def fixture_body(event: str) -> bytes:
    return (FIXTURES / f"{event}.json").read_bytes()


def signature(body: bytes, at: datetime, secret: str = SECRET) -> str:
    """Outline's algorithm (WebhookSubscription.signature), written out independently of the host's code."""
    stamp = int(at.timestamp() * 1000)
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},s={digest}"


def deliver(client: FlaskClient, body: bytes, header: str | None, wiki: str = WIKI) -> TestResponse:
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["Outline-Signature"] = header
    return client.post(f"/wiki/{wiki}/events", data=body, headers=headers)


def stored(runtime: Runtime) -> dict[str, int]:
    with runtime.uow() as uow:
        return {table.__tablename__: uow.session.scalar(select(func.count()).select_from(table)) or 0
                for table in (OutboxMessage, Event, ContentItem, Announcement)}


def fetch_jobs(runtime: Runtime) -> list[dict[str, Any]]:
    with runtime.uow() as uow:
        return [message.payload for message in uow.outbox.pending() if message.kind == FETCH_JOB]


NOTHING = {"outbox": 0, "events": 0, "content_items": 0, "announcements": 0}


@pytest.fixture
def runtime(engine: Engine, clock: FakeClock) -> Runtime:
    return outline_runtime(engine, clock)


@pytest.fixture
def client(runtime: Runtime) -> FlaskClient:
    app = create_app(runtime)
    app.config["TESTING"] = True
    return app.test_client()


QUEUED = {
    "documents.create": ("created", "Ada Lovelace"),
    "documents.publish": ("created", "Ada Lovelace"),
    "documents.update": ("updated", "Grace Hopper"),
    "documents.move": ("moved", "Grace Hopper"),
    "documents.delete": ("deleted", "Grace Hopper"),
    "documents.permanent_delete": ("deleted", None),
    "documents.archive": ("deleted", "Grace Hopper"),
    "documents.restore": ("restored", "Grace Hopper"),
    "documents.unarchive": ("restored", "Grace Hopper"),
}
IGNORED = ["revisions.create", "users.signin", "comments.create"]
COLLECTIONS = ["collections.delete", "collections.archive", "collections.restore"]
"""Checked in tests/wikis/test_outline_collections.py."""


def test_every_fixture_is_covered() -> None:
    assert {path.stem for path in FIXTURES.glob("*.json")} == set(QUEUED) | set(IGNORED) | set(COLLECTIONS)


@pytest.mark.parametrize("event", sorted(QUEUED))
def test_document_event_queues_one_fetch(event: str, client: FlaskClient, runtime: Runtime,
                                         clock: FakeClock) -> None:
    body = fixture_body(event)
    response = deliver(client, body, signature(body, clock()))
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"status": "ok", "queued": 1, "ignored": False}
    action, actor = QUEUED[event]
    assert fetch_jobs(runtime) == [{"wiki": WIKI, "event_id": json.loads(body)["id"], "document_id": DOCUMENT_ID,
                                    "action": action, "actor": actor}]
    assert stored(runtime) == {**NOTHING, "outbox": 1}


@pytest.mark.parametrize("event", IGNORED)
def test_other_events_are_answered_and_ignored(event: str, client: FlaskClient, runtime: Runtime,
                                               clock: FakeClock) -> None:
    body = fixture_body(event)
    response = deliver(client, body, signature(body, clock()))
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "queued": 0, "ignored": True}
    assert stored(runtime) == NOTHING


def test_an_event_outline_may_add_later_is_ignored(client: FlaskClient, runtime: Runtime, clock: FakeClock) -> None:
    body = json.dumps({"id": "d0c1e5a7-00ff-4a1b-8c2d-3e4f5a6b7cff", "actorId": "x", "event": "documents.teleport",
                       "payload": {"id": DOCUMENT_ID, "model": None}}).encode()
    response = deliver(client, body, signature(body, clock()))
    assert response.status_code == 200 and response.get_json()["ignored"] is True
    assert stored(runtime) == NOTHING


def test_replayed_delivery_is_queued_once(client: FlaskClient, runtime: Runtime, clock: FakeClock) -> None:
    body = fixture_body("documents.update")
    first = deliver(client, body, signature(body, clock()))
    clock.advance(seconds=90)
    again = deliver(client, body, signature(body, clock()))  # Outline retrying, or someone replaying a capture
    same_header = deliver(client, body, signature(body, clock()))
    assert [r.status_code for r in (first, again, same_header)] == [200, 200, 200]
    assert [r.get_json()["queued"] for r in (first, again, same_header)] == [1, 0, 0]
    assert len(fetch_jobs(runtime)) == 1
    assert stored(runtime) == {**NOTHING, "outbox": 1}


def test_bad_signature_is_refused(client: FlaskClient, runtime: Runtime, clock: FakeClock) -> None:
    body = fixture_body("documents.create")
    header = signature(body, clock())
    stamp, digest = header.split(",")
    flipped = digest[:-1] + ("0" if digest[-1] != "0" else "1")
    response = deliver(client, body, f"{stamp},{flipped}")
    assert response.status_code == 401
    assert "signature" in response.get_json()["error"]["message"]
    assert stored(runtime) == NOTHING


def test_body_changed_after_signing_is_refused(client: FlaskClient, runtime: Runtime, clock: FakeClock) -> None:
    body = fixture_body("documents.create")
    header = signature(body, clock())
    response = deliver(client, body.replace(b"Onboarding guide", b"Onboarding guidf"), header)
    assert response.status_code == 401
    assert stored(runtime) == NOTHING


def test_wrong_secret_is_refused(client: FlaskClient, runtime: Runtime, clock: FakeClock) -> None:
    body = fixture_body("documents.create")
    response = deliver(client, body, signature(body, clock(), secret="ol_whs_some_other_subscription_secret0"))
    assert response.status_code == 401
    assert stored(runtime) == NOTHING


def test_missing_header_is_refused(client: FlaskClient, runtime: Runtime) -> None:
    response = deliver(client, fixture_body("documents.create"), None)
    assert response.status_code == 401
    assert "Outline-Signature" in response.get_json()["error"]["message"]
    assert stored(runtime) == NOTHING


@pytest.mark.parametrize("header", ["", "s=abc", "t=123", "t=abc,s=" + "0" * 64, "t=1,s=xyz", "garbage",
                                    "t=99999999999999999999,s=" + "0" * 64])
def test_malformed_header_is_refused(header: str, client: FlaskClient, runtime: Runtime) -> None:
    response = deliver(client, fixture_body("documents.create"), header)
    assert response.status_code == 401
    assert stored(runtime) == NOTHING


def test_stale_delivery_is_refused(client: FlaskClient, runtime: Runtime, clock: FakeClock) -> None:
    body = fixture_body("documents.create")
    header = signature(body, clock())
    clock.advance(minutes=6)
    response = deliver(client, body, header)
    assert response.status_code == 401
    assert "stale" in response.get_json()["error"]["message"]
    assert stored(runtime) == NOTHING


def test_delivery_signed_in_the_future_is_refused(client: FlaskClient, runtime: Runtime, clock: FakeClock) -> None:
    body = fixture_body("documents.create")
    response = deliver(client, body, signature(body, clock() + timedelta(minutes=6)))
    assert response.status_code == 401
    assert "stale" in response.get_json()["error"]["message"]
    assert stored(runtime) == NOTHING


def test_small_clock_skew_is_accepted(client: FlaskClient, runtime: Runtime, clock: FakeClock) -> None:
    body = fixture_body("documents.create")
    header = signature(body, clock())
    clock.advance(minutes=4, seconds=59)
    assert deliver(client, body, header).status_code == 200


def test_malformed_json_is_a_bad_delivery(client: FlaskClient, runtime: Runtime, clock: FakeClock) -> None:
    body = b'{"id": "d0c1e5a7-0001", "event": "documents.create", '
    response = deliver(client, body, signature(body, clock()))
    assert response.status_code == 400
    assert stored(runtime) == NOTHING


@pytest.mark.parametrize("delivery", [
    [],
    {"event": "documents.create", "payload": {"id": DOCUMENT_ID}},
    {"id": "d0c1e5a7-0001", "payload": {"id": DOCUMENT_ID}},
    {"id": "d0c1e5a7-0001", "event": "documents.create", "payload": "nope"},
    {"id": "d0c1e5a7-0001", "event": "documents.create", "payload": {"model": None}},
    {"id": "d0c1e5a7-0001", "event": "documents.create", "payload": {"id": "../../users.list"}},
])
def test_wrong_shapes_are_bad_deliveries(delivery: Any, client: FlaskClient, runtime: Runtime,
                                         clock: FakeClock) -> None:
    body = json.dumps(delivery).encode()
    response = deliver(client, body, signature(body, clock()))
    assert response.status_code == 400
    assert stored(runtime) == NOTHING


def test_unknown_wiki_name_is_refused(client: FlaskClient, runtime: Runtime, clock: FakeClock) -> None:
    body = fixture_body("documents.create")
    response = deliver(client, body, signature(body, clock()), wiki="other")
    assert response.status_code == 401
    assert stored(runtime) == NOTHING


def test_a_wiki_whose_secret_install_has_not_generated_yet_refuses_every_delivery(
        engine: Engine, clock: FakeClock) -> None:
    settings = make_settings(wikis=[{"name": WIKI, "kind": "outline", "url": OUTLINE_URL, "api_token": API_TOKEN}])
    runtime = build_runtime(settings, clock=clock, engine=engine)
    body = fixture_body("documents.create")
    response = create_app(runtime).test_client().post(
        f"/wiki/{WIKI}/events", data=body, headers={"Content-Type": "application/json",
                                                     "Outline-Signature": signature(body, clock(), secret="")})
    assert response.status_code == 401
    assert "run learnloop install manifests/outline.yaml" in response.get_json()["error"]["message"]
    assert stored(runtime) == NOTHING


def test_a_long_document_s_delivery_is_taken_and_one_past_the_limit_says_how_large_it_may_be(
        client: FlaskClient, runtime: Runtime, clock: FakeClock) -> None:
    """Outline's document events carry the whole text and its editor state: a long handbook page is over a
    megabyte (the limit of learnloop's other requests), and Outline switches off a webhook that keeps failing."""
    delivery = json.loads(fixture_body("documents.update"))
    paragraphs = ["Step: check the dashboard, then the runbook, then page the on-call. " * 4] * 1800
    delivery["payload"]["model"]["text"] = "\n\n".join(paragraphs)
    delivery["payload"]["model"]["data"] = {"type": "doc", "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": p}]} for p in paragraphs]}
    body = json.dumps(delivery).encode()
    assert len(body) > 1024 * 1024
    assert deliver(client, body, signature(body, clock())).status_code == 200
    assert len(fetch_jobs(runtime)) == 1
    huge = body + b" " * (MAX_DELIVERY_BYTES - len(body) + 1)
    refused = deliver(client, huge, signature(huge, clock()))
    assert refused.status_code == 413
    assert f"larger than {MAX_DELIVERY_BYTES} bytes" in refused.get_json()["error"]["message"]
    assert len(fetch_jobs(runtime)) == 1


def test_the_learning_log_s_changes_are_not_counted_as_wiki_activity(runtime: Runtime, clock: FakeClock) -> None:
    """Outline delivers documents.update for each section learnloop appends to a community's learning log: its
    sections are reflections, counted as such, so neither the digest's changed pages nor the wiki measures count
    the page again (and again for each publication)."""
    log_title = runtime.settings.communities[0].learning_log_title
    page = dict(wiki=WIKI, page_id="doc-1", title=log_title, url="https://outline.example.com/doc/log-abc1234567",
                spaces=(COLLECTION_ID, "Engineering"), author="learnloop bot", summary=None, current=True)
    results = []
    for action in ("created", "updated"):
        with runtime.uow() as uow:
            results.append(wiki_ingest.ingest(uow, runtime.settings, WikiEvent(
                event_id=f"doc-1:{action}", action=action, occurred_at=clock(), **page), clock(), lambda _: {}))
        clock.advance(hours=1)
    with runtime.reader() as uow:
        community_id = uow.items.get(results[0].item_id).community_id
        assert changed_pages(uow, community_id, clock() - timedelta(days=1), clock()) == ([], [])
        events = uow.session.scalars(select(Event).where(Event.kind.like("wiki_page_%"))).all()
    assert len(events) == 2
    assert all(contributions(event, "wiki_page", runtime.signing_key) == [] for event in events)
