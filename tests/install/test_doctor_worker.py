"""`learnloop doctor` also tells whether a worker is running, whether polled wikis answer and when a wiki's webhook
last delivered."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.install.doctor import last_delivery, secret_key_check, worker_checks
from learnloop.install.plan import Check
from learnloop.jobs import POLL_STATUS
from learnloop.jobs.worker import Worker
from learnloop.services import wiki_ingest
from learnloop.services.rating import Rater, rate_url
from learnloop.storage.tables import OutboxMessage
from learnloop.wiring import create_app
from tests.conftest import FakeClock, make_settings
from tests.wikis.test_bookstack_webhooks import BASE_URL, bookstack_runtime, deliver, fixture

WIKI = {"name": "handbook", "kind": "mediawiki", "url": "https://wiki.acme.example/w", "secret": "s" * 32,
        "bot_user": "Admin@learnloop", "bot_password": "p" * 32}


def rows(runtime: Runtime, clock: FakeClock) -> dict[str, tuple[str, str]]:
    return {c.check: (c.status, c.detail) for c in worker_checks(runtime.engine, runtime.settings, clock.now)}


def test_no_heartbeat_a_stale_one_and_a_fresh_one(runtime: Runtime, clock: FakeClock) -> None:
    assert rows(runtime, clock)["worker"][0] == "fix"
    Worker(runtime).heartbeat()
    assert rows(runtime, clock)["worker"] == ("ok", "running (heartbeat 0 s ago)")
    clock.advance(minutes=10)
    status, detail = rows(runtime, clock)["worker"]
    assert status == "fix" and "10 min ago" in detail


def test_a_failed_or_missing_poll_is_named(engine: Engine, clock: FakeClock) -> None:
    runtime = build_runtime(make_settings(wikis=[WIKI]), clock=clock, engine=engine)
    Worker(runtime).heartbeat()
    assert rows(runtime, clock)["polling"] == ("fix", "never polled: is a worker running?")
    with runtime.uow() as uow:
        uow.cursors.move(POLL_STATUS + "handbook", "error: wiki handbook: HTTP 503", clock.now)
        uow.commit()
    assert rows(runtime, clock)["polling"] == ("fix", "the last poll failed: error: wiki handbook: HTTP 503")
    with runtime.uow() as uow:
        uow.cursors.move(POLL_STATUS + "handbook", "ok", clock.now - timedelta(seconds=30))
        uow.commit()
    assert rows(runtime, clock)["polling"] == ("ok", "polled 30 s ago")


def test_messages_that_failed_or_keep_failing_are_named_with_their_error(runtime: Runtime, clock: FakeClock) -> None:
    assert rows(runtime, clock)["messages"] == ("ok", "none failed in the last day")
    with runtime.uow() as uow:
        uow.outbox.enqueue("mattermost.create_post", {"channel_id": "c" * 26, "message": "hi"}, key="a", now=clock.now)
        uow.commit()
        message = uow.session.scalars(select(OutboxMessage)).one()
        message.attempts, message.last_error = 4, "Mattermost POST /api/v4/posts: HTTP 401: Invalid or expired session"
        uow.commit()
    status, detail = rows(runtime, clock)["messages"]
    assert status == "fix" and detail.startswith("1 tried 3 times or more and still waiting, e.g. Mattermost POST")
    with runtime.uow() as uow:
        uow.session.scalars(select(OutboxMessage)).one().status = "failed"
        uow.commit()
    assert rows(runtime, clock)["messages"][1].startswith("1 failed for good in the last day, e.g. Mattermost")
    clock.advance(days=2)
    assert rows(runtime, clock)["messages"] == ("ok", "none failed in the last day")


def test_the_secret_key_row_warns_while_the_key_is_kept_in_the_database(engine: Engine, clock: FakeClock) -> None:
    configured = make_settings()
    assert secret_key_check(engine, configured) == Check("learnloop", "secret key", "ok",
                                                         "LEARNLOOP_SECRET_KEY, kept outside the database")
    runtime = build_runtime(make_settings(secret_key=None), clock=clock, engine=engine)
    before = secret_key_check(engine, runtime.settings)
    assert before.status == "warn" and before.detail.startswith("LEARNLOOP_SECRET_KEY is not set: the first start")
    runtime.check_signing_key()  # what serve and worker do on start: the key is generated
    after = secret_key_check(engine, runtime.settings)
    assert after.status == "warn" and after.detail.startswith(
        "generated and kept in the database: anyone with the database or a backup of it can open private reflections")
    assert secret_key_check(engine, configured).status == "warn", "setting a key later does not move the generated one"


def test_deliveries_are_the_wikis_own_not_the_pages_the_worker_asks_it_about(engine: Engine, clock: FakeClock) -> None:
    runtime = bookstack_runtime(engine, clock)
    wiki = runtime.settings.wikis[0]
    with runtime.uow() as uow:  # someone rates a BookStack page in chat; the wiki never sent a webhook
        rate_url(uow, runtime.settings, Rater("u1"), f"{BASE_URL}/books/handbook/page/onboarding", "5", None, clock())
        uow.commit()
    clock.advance(minutes=2)
    with runtime.uow() as uow:  # the worker's identify pass asks the wiki which page that is
        assert wiki_ingest.identify_new_items(uow, wiki, clock()) == 1
    assert last_delivery(engine, wiki) is None, "doctor reports a webhook delivery that never happened"
    clock.advance(minutes=1)
    assert deliver(create_app(runtime).test_client(), fixture("page_update")).status_code == 200
    assert last_delivery(engine, wiki) == clock()
