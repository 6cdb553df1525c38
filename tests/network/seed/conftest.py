"""A community with a mapped wiki space, its owner, and the Mattermost stand-in, for the seeding tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.domain.wiki_events import WikiEvent
from learnloop.mattermost.wiki_messages import announcer
from learnloop.services import wiki_ingest
from learnloop.services.rating import Rater, rate_url
from learnloop.storage.tables import OutboxMessage
from learnloop.wiring import create_app
from tests.conftest import FakeClock, make_settings, shown_scores
from tests.contract.mattermost_openapi import MattermostContract
from tests.network.standin import StandIn
from tests.prompts.world import CHANNEL, Person

OWNER = Person("owner")
ANN = Person("ann")
K = 5
RESPONSE_URL = "http://mattermost.test/hooks/commands/pbjfh1dcmfrq3qjtsdxnnyzq5w"
"""The response_url of the recorded slash command (tests/fixtures/mattermost/slash_command__help.form)."""
WIKI = {"name": "handbook", "kind": "outline", "url": "https://outline.example.com", "secret": "s" * 32,
        "api_token": "ol_api_test"}
COMMUNITY = {"name": "Data guild", "channel_id": CHANNEL, "owners": [OWNER.id], "timezone": "Europe/Berlin",
             "announce": "digest_only", "wiki_spaces": [{"wiki": "handbook", "space": "Engineering"}]}
BLOG = "https://blog.example.com/pipelines"


@pytest.fixture
def seeded_runtime(engine: Engine, clock: FakeClock) -> Runtime:
    return build_runtime(make_settings(wikis=[WIKI], communities=[COMMUNITY]), clock=clock, engine=engine)


@pytest.fixture
def bare_runtime(engine: Engine, clock: FakeClock) -> Runtime:
    """A community with no wiki space and no ratings: nothing to put on a shelf."""
    community = {key: value for key, value in COMMUNITY.items() if key != "wiki_spaces"}
    return build_runtime(make_settings(communities=[community]), clock=clock, engine=engine)


@pytest.fixture
def standin(mattermost_contract: MattermostContract, clock: FakeClock) -> StandIn:
    found = StandIn(mattermost_contract, clock)
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    mattermost_contract.add_unvalidated(RESPONSE_URL)
    return found


@pytest.fixture
def chat(seeded_runtime: Runtime) -> FlaskClient:
    return create_app(seeded_runtime).test_client()


def page_event(n: int, page: str, title: str, *, action: str = "updated", minor: bool = False,
               minute: int = 0) -> WikiEvent:
    return WikiEvent(wiki="handbook", event_id=f"e{n}", action=action, page_id=page, title=title,  # type: ignore[arg-type]
                     url=f"https://outline.example.com/doc/{page}", spaces=("Engineering",), author="Bea",
                     summary=None, occurred_at=datetime(2026, 11, 2, 8, minute, tzinfo=UTC), minor=minor)


def ingest(runtime: Runtime, *events: WikiEvent) -> None:
    for event in events:
        with runtime.uow() as uow:
            wiki_ingest.ingest(uow, runtime.settings, event, runtime.clock(), announcer(runtime))


def rate(runtime: Runtime, url: str, stars: int, raters: int = K) -> None:
    for n in range(raters):
        with runtime.uow() as uow:
            rate_url(uow, runtime.settings, Rater(f"rater{n}".ljust(26, "x"), CHANNEL, channel_name="data-guild"),
                     url, stars, None, runtime.clock())


def stocked(runtime: Runtime) -> None:
    """Pages of the mapped space and ratings. On the shelf, in this order: the blog post and Deploying (rated by
    k people, the blog higher), then Onboarding and Runbook (improved lately, newest first). Not on it: a page
    with a minor edit only, a deleted page, and the community's learning log."""
    ingest(runtime,
           page_event(1, "runbook", "Runbook", action="created", minute=1),
           page_event(2, "old", "Old notes", action="created", minute=2),
           page_event(3, "onboarding", "Onboarding", action="created", minute=3),
           page_event(4, "deploying", "Deploying", minute=4),
           page_event(5, "typos", "Typos", minute=5, minor=True),
           page_event(6, "old", "Old notes", action="deleted", minute=6),
           page_event(7, "runbook", "Runbook", minute=7, minor=True),
           page_event(8, "log", "Learning log: Data guild", minute=8))
    rate(runtime, BLOG, 5)
    rate(runtime, "https://outline.example.com/doc/deploying", 4)
    shown_scores(runtime)



SHELF_TITLES = [BLOG, "Deploying", "Onboarding", "Runbook"]


def outbox(runtime: Runtime, kind: str | None = None) -> list[OutboxMessage]:
    with runtime.uow() as uow:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        return list(uow.session.scalars(query.where(OutboxMessage.kind == kind) if kind else query))


def count(runtime: Runtime, model: Any) -> int:
    with runtime.uow() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(model)) or 0)


def replies(contract: MattermostContract) -> list[str]:
    """What the owner was told through the slash command's response_url."""
    return [call.json["text"] for call in contract.calls if call.path.startswith("/hooks/commands/")]
