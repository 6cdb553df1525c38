"""The network tests' world: a community of one channel in Berlin with a mapped wiki space, and what people do
in it (rate, share, edit pages), then a worker pass."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from learnloop.bootstrap import Runtime
from learnloop.domain.wiki_events import WikiEvent
from learnloop.jobs.worker import Worker
from learnloop.mattermost.wiki_messages import announcer
from learnloop.services import wiki_ingest
from learnloop.services.rating import Rater, rate_url
from tests.conftest import FakeClock, make_settings

CHANNEL = "fukk3xq1bbn8fgmsiwh4xprwdh"


def uid(name: str) -> str:
    return (name + "0" * 26)[:26]


OWNER = uid("owner")


WIKI = {"name": "handbook", "kind": "outline", "url": "https://outline.example.com", "secret": "s" * 32,
        "api_token": "ol_api_test"}


def settings_for(owner: str, **community: Any) -> Any:
    """A community of one channel in Berlin's time zone, its pages in the handbook's Engineering collection."""
    return make_settings(wikis=[WIKI], communities=[{
        "name": "Data guild", "channel_id": CHANNEL, "owners": [owner], "timezone": "Europe/Berlin",
        "wiki_spaces": [{"wiki": "handbook", "space": "Engineering"}], **community}])


def rate(runtime: Runtime, user_id: str, url: str, stars: int) -> int:
    with runtime.uow() as uow:
        return rate_url(uow, runtime.settings, Rater(user_id, CHANNEL, channel_name="data-guild"), url, stars, None,
                        runtime.clock()).item_id


def share(runtime: Runtime, user_id: str, url: str, *, title: str | None = None) -> int:
    with runtime.uow() as uow:
        community_id = uow.communities.ensure(CHANNEL, None, "Data guild", runtime.clock())
        item, _ = uow.items.ensure(url, kind="link", community_id=community_id, shared_by=user_id, title=title,
                                   now=runtime.clock())
        uow.commit()
        return item.id


def page_event(n: int, action: str, when: datetime, *, page: str | None = None, author: str | None = None,
               minor: bool = False) -> WikiEvent:
    page = page or f"p{n}"
    return WikiEvent(wiki="handbook", event_id=f"e{n}", action=action, page_id=page, title=f"Page {page}",
                     url=f"https://outline.example.com/doc/{page}", spaces=("Engineering",), author=author,
                     summary=None, occurred_at=when, minor=minor)


def ingest(runtime: Runtime, *events: WikiEvent) -> None:
    for event in events:
        with runtime.uow() as uow:
            wiki_ingest.ingest(uow, runtime.settings, event, runtime.clock(), announcer(runtime))


def tick(runtime: Runtime, clock: FakeClock, *, settle: bool = True) -> None:
    """One worker pass after the events have settled (rollups.SETTLE)."""
    if settle:
        clock.advance(minutes=1)
    Worker(runtime).run_once()


def week_ends(runtime: Runtime, clock: FakeClock) -> None:
    """The week ends and the worker's pass runs, at 09:01 on the Monday (after the default quiet hours): shown
    scores move when a week ends (services.rollups.close_ended_weeks)."""
    clock.next_week()
    clock.advance(hours=9)
    Worker(runtime).run_once()


def at(clock: FakeClock, moment: datetime) -> None:
    clock.now = moment
