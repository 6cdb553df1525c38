"""An erase that commits while the worker's page-review pass plans does not have the person stored again."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import Engine

from learnloop.bootstrap import Runtime
from learnloop.mattermost.wiki_messages import announcer
from learnloop.services import page_review, personal_data
from tests.conftest import FakeClock
from tests.network.standin import StandIn
from tests.network.test_page_review import (
    BOB,
    K,
    a_page,
    bob_owns,
    reasons,
    settings,  # noqa: F401  (fixture)
)
from tests.privacy.test_personal_data import everything_stored


def test_an_erase_during_the_page_review_pass_leaves_no_member_row_nor_message_for_the_owner(
        client: FlaskClient, runtime: Runtime, clock: FakeClock, standin: StandIn, engine: Engine) -> None:
    a_page(runtime, clock, 2)
    bob_owns(client, standin)
    reasons(runtime, 3)
    with runtime.uow() as uow:
        page_review.list_week(uow, page_review.work_out(uow, page_review.communities_due(uow, clock.now), clock.now, K),
                              {}, clock.now)
    with runtime.reader() as uow:  # the worker has read who is due and planned their messages ...
        due = page_review.due(uow, runtime.settings, clock.now)
        planned = page_review.plan(uow, due, {}, clock.now, lambda user, pages, more: {"user_id": user,
                                                                                       "message": "pages"})
    assert [p.user_id for p in planned] == [BOB.id]
    with runtime.uow() as uow:  # ... Bob erases his data meanwhile (his page ownership goes with it) ...
        personal_data.erase(uow, BOB.id, BOB.name, clock.now, runtime.signing_key, announcer(runtime))
    assert BOB.id not in everything_stored(engine)
    with runtime.uow() as uow:  # ... and the worker records its plan
        page_review.record(uow, planned, clock.now)
    assert BOB.id not in everything_stored(engine), "a members row and a review DM for pages he no longer owns"
