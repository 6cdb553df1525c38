"""An erase forgets the URL (and moment) of a page only the person rated, also once the worker identified it."""

from __future__ import annotations

import copy
import json

from sqlalchemy import Engine, select

from learnloop.bootstrap import Runtime
from learnloop.jobs.worker import Worker
from learnloop.mattermost.wiki_messages import announcer
from learnloop.services import personal_data
from learnloop.services.rating import Rater, rate_url
from learnloop.storage.tables import ContentItem, OutboxMessage
from tests.conftest import FakeClock
from tests.privacy.test_personal_data import everything_stored
from tests.wikis import jobs as wiki_jobs
from tests.wikis.test_outline_collections import Outline, outline, runtime  # noqa: F401  (fixtures)
from tests.wikis.test_outline_webhooks import OUTLINE_URL, fetch_jobs

RATER = "rater".ljust(26, "0")
RATED = OUTLINE_URL + "/doc/handbook-Cc33cc33cc"


def test_erase_forgets_a_page_only_the_person_rated_once_the_worker_identified_it(
        runtime: Runtime, clock: FakeClock, outline: Outline, engine: Engine) -> None:  # noqa: F811
    outline["doc-rated"] = {**copy.deepcopy(outline["doc-in-collection"]), "id": "doc-rated",
                            "url": "/doc/handbook-Cc33cc33cc", "title": "Handbook"}
    with runtime.uow() as uow:
        rate_url(uow, runtime.settings, Rater(RATER), RATED, 2, None, clock())
    clock.advance(minutes=1)
    Worker(runtime).run_wikis()  # the identify pass: "which page is this URL?"
    for job in fetch_jobs(runtime):
        wiki_jobs.fetch(runtime, job)
    with runtime.uow() as uow:
        personal_data.erase(uow, RATER, None, clock(), runtime.signing_key, announcer(runtime))
    with runtime.reader() as uow:
        urls = [item.url for item in uow.session.scalars(select(ContentItem))]
        payloads = [json.dumps(m.payload) for m in uow.session.scalars(select(OutboxMessage))]
    # without the identify pass the same erase removes the item (forget_items_only_they_knew)
    assert RATED not in urls, "the page only she rated stays, created at the moment of her rating"
    assert not any("handbook-Cc33cc33cc" in p for p in payloads), "and so does its identify job"
    assert "handbook-Cc33cc33cc" not in everything_stored(engine)
