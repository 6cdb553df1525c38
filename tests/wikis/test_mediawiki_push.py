"""The optional signed push from LocalSettings.php, through POST /wiki/<name>/events.

One test per recorded body in tests/fixtures/mediawiki/ (signed here with the wiki's secret),
the signature cases, and the real snippet running in a real MediaWiki.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from pydantic import SecretStr
from sqlalchemy import Engine, select

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.jobs.worker import Worker
from learnloop.mediawiki.host import LOCALSETTINGS_SNIPPET, MediaWikiHost, localsettings_snippet
from learnloop.storage.tables import ContentItem, Event, OutboxMessage
from learnloop.wikis import FETCH_JOB
from learnloop.wiring import create_app
from tests.conftest import FakeClock, make_settings
from tests.wikis import jobs as wiki_jobs_support

from .mediawiki_support import WIKI_SECRET, Editor, needs_mediawiki, running_mediawiki, wiki_config

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mediawiki"
ROUTE = "/wiki/handbook/events"
CHANNEL = "fukk3xq1bbn8fgmsiwh4xprwdh"


def fixture_names() -> list[str]:
    return sorted(path.name for path in FIXTURES.glob("*.json"))


def body_of(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def sign(body: bytes, secret: str = WIKI_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def wiki_settings(url: str = "http://127.0.0.1:9", **community: Any) -> dict[str, Any]:
    return {
        "wikis": [{"name": "handbook", "kind": "mediawiki", "url": url, "secret": WIKI_SECRET,
                   "bot_user": "Admin@learnloop", "bot_password": "learnloopbot0123456789abcdefghijk"}],
        "communities": [{"name": "Onboarding", "channel_id": CHANNEL,
                         "wiki_spaces": [{"wiki": "handbook", "space": "Category:Onboarding"}], **community}],
    }


@pytest.fixture
def runtime(engine: Engine, clock: FakeClock) -> Runtime:
    return build_runtime(make_settings(**wiki_settings()), clock=clock, engine=engine)


@pytest.fixture
def client(runtime: Runtime) -> FlaskClient:
    app = create_app(runtime)
    app.config["TESTING"] = True
    return app.test_client()


def post(client: FlaskClient, body: bytes, signature: str | None = "good", route: str = ROUTE) -> Any:
    headers = {"Content-Type": "application/json"}
    if signature == "good":
        headers["X-Learnloop-Signature"] = sign(body)
    elif signature is not None:
        headers["X-Learnloop-Signature"] = signature
    return client.post(route, data=body, headers=headers)


def outbox(runtime: Runtime) -> list[OutboxMessage]:
    with runtime.uow() as uow:
        return list(uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_every_fixture_has_a_test() -> None:
    tested = {name.removeprefix("test_") for name in globals() if name.startswith("test_")}
    for fixture in fixture_names():
        assert fixture.replace(".", "_") in tested, f"{fixture} has no test named test_{fixture.replace('.', '_')}"


# ------------------------------------------------------------------------- one test per fixture

def test_push__page_saved_json(client: FlaskClient, runtime: Runtime) -> None:
    body = body_of("push__page_saved.json")
    response = post(client, body)
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "queued": 1, "ignored": False}
    [message] = outbox(runtime)
    assert message.kind == FETCH_JOB
    assert message.payload == {"wiki": "handbook", "event_id": "push:123", "poll": True, "rc_id": 123,
                               "timestamp": 1793610000}
    assert message.idempotency_key == "wiki:handbook:push:123"

    replay = post(client, body)
    assert replay.status_code == 200 and replay.get_json()["queued"] == 0
    assert [m.id for m in outbox(runtime)] == [message.id], "a replayed push queues nothing new"


def test_push__page_saved_sent_10s_earlier_json(client: FlaskClient, runtime: Runtime) -> None:
    response = post(client, body_of("push__page_saved_sent_10s_earlier.json"))
    assert response.status_code == 200
    [message] = outbox(runtime)
    assert message.payload["event_id"] == "push:124"


def _bad_fixture(client: FlaskClient, runtime: Runtime, name: str, message: str) -> None:
    response = post(client, body_of(name))
    assert response.status_code == 400, response.get_data(as_text=True)
    assert message in response.get_data(as_text=True)
    assert outbox(runtime) == []


def test_push__unknown_event_json(client: FlaskClient, runtime: Runtime) -> None:
    _bad_fixture(client, runtime, "push__unknown_event.json", "unknown event 'page_moved'")


def test_push__missing_rc_id_json(client: FlaskClient, runtime: Runtime) -> None:
    _bad_fixture(client, runtime, "push__missing_rc_id.json", "'rc_id' must be a positive integer")


def test_push__rc_id_not_a_number_json(client: FlaskClient, runtime: Runtime) -> None:
    _bad_fixture(client, runtime, "push__rc_id_not_a_number.json", "'rc_id' must be a positive integer")


def test_push__missing_timestamp_json(client: FlaskClient, runtime: Runtime) -> None:
    _bad_fixture(client, runtime, "push__missing_timestamp.json", "'timestamp' must be unix seconds")


def test_push__truncated_json_json(client: FlaskClient, runtime: Runtime) -> None:
    _bad_fixture(client, runtime, "push__truncated_json.json", "the body is not JSON")


def test_push__not_an_object_json(client: FlaskClient, runtime: Runtime) -> None:
    _bad_fixture(client, runtime, "push__not_an_object.json", "the body must be a JSON object")


# ------------------------------------------------------------------------- signatures and time

@pytest.mark.parametrize("signature", [
    None,
    "",
    "sha256=",
    sign(body_of("push__page_saved.json"), secret="another-secret-of-enough-length-000"),
    sign(body_of("push__page_saved.json")).replace("sha256=", "sha1="),
    sign(body_of("push__page_saved.json"))[:-2],
    "sha256=" + "é" * 64,
    sign(b'{"event": "page_saved", "rc_id": 999, "timestamp": 1793610000}\n'),  # signs another body
])
def test_a_missing_or_bad_signature_is_refused(client: FlaskClient, runtime: Runtime, signature: str | None) -> None:
    response = post(client, body_of("push__page_saved.json"), signature=signature)
    assert response.status_code == 401
    assert outbox(runtime) == []


def test_the_signature_header_and_hex_case_do_not_matter(client: FlaskClient, runtime: Runtime) -> None:
    body = body_of("push__page_saved.json")
    response = client.post(ROUTE, data=body, headers={"x-learnloop-signature": sign(body).upper().replace(
        "SHA256=", "sha256=")})
    assert response.status_code == 200
    assert len(outbox(runtime)) == 1


@pytest.mark.parametrize("minutes, accepted", [(-6, False), (-4.9, True), (4.9, True), (6, False)])
def test_a_stale_push_is_refused_either_way(client: FlaskClient, runtime: Runtime, clock: FakeClock,
                                            minutes: float, accepted: bool) -> None:
    body = body_of("push__page_saved.json")
    clock.advance(minutes=minutes)  # the push was sent `minutes` before (or after) our clock's now
    response = post(client, body)
    if accepted:
        assert response.status_code == 200
        assert len(outbox(runtime)) == 1
    else:
        assert response.status_code == 401
        assert "stale" in response.get_data(as_text=True)
        assert outbox(runtime) == []


def test_malformed_json_with_a_good_signature_is_a_bad_delivery(client: FlaskClient, runtime: Runtime) -> None:
    for body in (b"", b"not json", b"\xff\xfe", b'{"event": "page_saved", "rc_id": 1, "timestamp": true}',
                 b'{"event": "page_saved", "rc_id": 0, "timestamp": 1793610000}',
                 b'{"event": "page_saved", "rc_id": 1, "timestamp": 1e300}'):
        response = post(client, body)
        assert response.status_code == 400, body
    assert outbox(runtime) == []


def test_an_unknown_wiki_is_refused(client: FlaskClient, runtime: Runtime) -> None:
    body = body_of("push__page_saved.json")
    assert post(client, body, route="/wiki/elsewhere/events").status_code == 401
    assert outbox(runtime) == []


def test_the_snippet_names_learnloops_route_and_signs_with_the_secret() -> None:
    settings = make_settings(**wiki_settings())
    wiki = settings.wiki("handbook")
    assert wiki is not None
    snippet = localsettings_snippet(wiki, "https://learnloop.example.com/")
    assert "'https://learnloop.example.com/wiki/handbook/events'" in snippet
    assert f"'{WIKI_SECRET}'" in snippet
    assert "PageSaveComplete" in snippet and "X-Learnloop-Signature" in snippet
    assert "@@" in LOCALSETTINGS_SNIPPET and "@@" not in snippet
    quoted = localsettings_snippet(wiki.model_copy(update={"secret": SecretStr("it's a \\ secret-0123456789abcdef")}),
                                   "https://learnloop.example.com")
    assert r"'it\'s a \\ secret-0123456789abcdef'" in quoted


# ------------------------------------------------------------------------- against a real wiki

class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, str], bytes]]

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append((self.path, dict(self.headers.items()), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[str, dict[str, str], bytes]]]]:
    received: list[tuple[str, dict[str, str], bytes]] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _wait_for(received: list[Any], count: int, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while len(received) < count and time.monotonic() < deadline:
        time.sleep(0.05)


@needs_mediawiki
def test_the_localsettings_snippet_pushes_signed_saves_from_a_real_wiki(
        receiver: tuple[str, list[tuple[str, dict[str, str], bytes]]]) -> None:
    public_url, received = receiver
    for server in running_mediawiki():
        wiki = wiki_config(server)
        with (server.dir / "LocalSettings.php").open("a") as settings_file:
            settings_file.write("\n" + localsettings_snippet(wiki, public_url) + "\n")
        editor = Editor(server)
        saved = editor.save("Pushed from the hook", "Hello. [[Category:Onboarding]]", summary="push me")
        _wait_for(received, 1)
        editor.save("Pushed from the hook", "Hello. [[Category:Onboarding]]", summary="null edit: no push")
        time.sleep(0.3)

        [(path, headers, body)] = received
        assert path == "/wiki/handbook/events"
        rcid = editor.rc_of_revision(saved["newrevid"])["rcid"]
        now = datetime.now(UTC)
        [job] = MediaWikiHost().receive(wiki, body, headers, {}, now)
        assert job["event_id"] == f"push:{rcid}" and job["rc_id"] == rcid and job["poll"] is True
        assert abs(job["timestamp"] - now.timestamp()) < 60
        assert json.loads(body)["event"] == "page_saved"

        [event] = MediaWikiHost().fetch(wiki, {"wiki": "handbook", **job}, now)
        assert event.event_id == f"rc:{rcid}@{saved['newtimestamp']}" and event.title == "Pushed from the hook"
        assert event.url == f"{server.url}/wiki/Pushed_from_the_hook"
        assert "Category:Onboarding" in event.spaces


@needs_mediawiki
def test_a_push_through_the_route_is_fetched_by_the_worker_and_the_poll_records_nothing_twice(
        mediawiki: Any, mediawiki_editor: Editor, engine: Engine, clock: FakeClock) -> None:
    clock.now = datetime.now(UTC)  # pushes carry the wiki's real time
    runtime = build_runtime(make_settings(**wiki_settings(url=mediawiki.url)), clock=clock, engine=engine)
    client = create_app(runtime).test_client()
    assert wiki_jobs_support.poll_wikis(runtime) == 0  # first poll: starts at the newest change
    title = f"Routed push page {engine.dialect.name}"  # one wiki per session, a run per database
    saved = mediawiki_editor.save(title, "Hello. [[Category:Onboarding]]", summary="via push")
    rcid = mediawiki_editor.rc_of_revision(saved["newrevid"])["rcid"]
    body = json.dumps({"event": "page_saved", "rc_id": rcid, "timestamp": int(time.time())}).encode()

    assert post(client, body).status_code == 200
    assert post(client, body).get_json()["queued"] == 0
    [message] = outbox(runtime)
    assert message.kind == FETCH_JOB and message.payload["rc_id"] == rcid

    report = Worker(runtime).deliver_outbox()
    assert (report.sent, report.failed, report.retried) == (1, 0, 0), report.errors
    [message] = [m for m in outbox(runtime) if m.kind == FETCH_JOB]
    assert message.status == "sent" and message.result == {"events": 1, "recorded": 1}
    with runtime.uow() as uow:
        [item] = uow.session.scalars(select(ContentItem)).all()
        assert item.url == f"{mediawiki.url}/wiki/{title.replace(' ', '_')}" and item.kind == "wiki_page"
        keys = uow.session.scalars(select(Event.dedupe_key)).all()
        assert keys == [f"wiki:handbook:rc:{rcid}@{saved['newtimestamp']}"]

    assert wiki_jobs_support.poll_wikis(runtime) == 0, "the poll read the pushed change again but recorded nothing"
    with runtime.uow() as uow:
        assert uow.session.scalars(select(Event.dedupe_key)).all() == keys
