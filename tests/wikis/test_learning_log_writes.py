"""Writes to a learning log take turns: BookStack's and Outline's pages are read, changed and saved whole, so two
jobs side by side (the outbox runs several at once, in one worker or several) would each save over the
other's section, and both would tell their author it is on the wiki."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import responses
from sqlalchemy import Engine

from learnloop.bookstack.client import BookStackClient
from learnloop.bootstrap import Runtime, build_runtime
from learnloop.services import reflections
from learnloop.services.communities import community_for_channel
from tests.conftest import FakeClock, make_settings
from tests.prompts.world import CHANNEL, uid
from tests.wikis import jobs as wiki_jobs
from tests.wikis.standins import BookStackStandIn
from tests.wikis.test_bookstack_webhooks import API_TOKEN, BASE_URL, SECRET, WIKI


@pytest.fixture
def runtime(engine: Engine, clock: FakeClock) -> Runtime:
    settings = make_settings(
        wikis=[{"name": WIKI, "kind": "bookstack", "url": BASE_URL, "secret": SECRET, "api_token": API_TOKEN}],
        communities=[{"name": "Data guild", "channel_id": CHANNEL, "learning_log_page": "Learning log",
                      "wiki_spaces": [{"wiki": WIKI, "space": "book:onboarding-handbook"}]}])
    return build_runtime(settings, clock=clock, engine=engine)


@pytest.fixture
def bookstack() -> Iterator[BookStackStandIn]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield BookStackStandIn(mock, BASE_URL, API_TOKEN)


def published(runtime: Runtime, author: str, text: str, channel: str = CHANNEL) -> int:
    """The id of a reflection its author chose to publish to the wiki (its job not queued)."""
    with runtime.uow() as uow:
        community_id = community_for_channel(uow, runtime.settings, channel_id=channel, team_id=None,
                                             channel_name="data-guild", now=runtime.clock())
        return reflections.write(
            uow, user_id=uid(author), author_name=author, text=text, scale=None, visibility="wiki",
            community_id=community_id, delivery_id=None, now=runtime.clock(), key=runtime.signing_key,
            public_url=runtime.settings.public_url_text, post_builder=lambda post: {}).id


def test_two_reflections_published_side_by_side_both_stay_on_the_page(
        runtime: Runtime, bookstack: BookStackStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    bookstack.add_page(name="Learning log", markdown="## 2026-11-01 · Bo\n\nEarlier.")
    first, second = published(runtime, "ann", "Ann reflects."), published(runtime, "bob", "Bob reflects.")
    results: dict[int, Any] = {}
    other = threading.Thread(target=lambda: results.update({second: wiki_jobs.publish(
        runtime, {"reflection_id": second})}))
    save = BookStackClient.update_page

    def save_while_another_job_runs(client: BookStackClient, page_id: int, **content: Any) -> Any:
        if not other.is_alive() and second not in results:
            other.start()  # read, change and save while this one has read and not yet saved
            time.sleep(0.5)
        return save(client, page_id, **content)

    monkeypatch.setattr(BookStackClient, "update_page", save_while_another_job_runs)
    results[first] = wiki_jobs.publish(runtime, {"reflection_id": first})
    other.join(10)
    assert results[first]["published"] and results[second]["published"]
    [log] = bookstack.pages.values()
    assert "Ann reflects." in log["markdown"] and "Bob reflects." in log["markdown"]
