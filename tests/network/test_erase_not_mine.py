"""A page owner's erase keeps the community owners' pending "nobody owns this page" message, which names nobody."""

from __future__ import annotations

import json

from flask.testing import FlaskClient
from sqlalchemy import select

from learnloop.bootstrap import Runtime
from learnloop.mattermost.wiki_messages import announcer
from learnloop.services import personal_data
from learnloop.storage.tables import OutboxMessage
from tests.conftest import FakeClock
from tests.network.standin import StandIn
from tests.network.test_page_review import (
    BOB,
    a_page,
    bob_owns,
    context_of,
    reviews_to,
    settings,  # noqa: F401  (fixture)
)
from tests.network.world import OWNER, tick
from tests.prompts.world import click


def test_a_page_owners_erase_keeps_the_community_owners_message_that_the_page_is_theirs_again(
        client: FlaskClient, runtime: Runtime, clock: FakeClock, standin: StandIn) -> None:
    a_page(runtime, clock, 200)
    bob_owns(client, standin)
    tick(runtime, clock)
    [dm] = reviews_to(standin, BOB)
    click(client, BOB, context_of(dm, "Not mine"))
    with runtime.reader() as uow:
        [waiting] = [m for m in uow.session.scalars(select(OutboxMessage)) if m.payload.get("user_id") == OWNER]
    assert BOB.id not in json.dumps(waiting.payload), "the owner's message names nobody (only its key has Bob's id)"
    with runtime.uow() as uow:  # Bob erases his data before the worker's next pass
        personal_data.erase(uow, BOB.id, BOB.name, runtime.clock(), runtime.signing_key, announcer(runtime))
    tick(runtime, clock)
    assert [p for p in standin.dms_to(OWNER) if p["message"].startswith("Nobody owns")], \
        "the community owner's message was deleted with Bob's data"
