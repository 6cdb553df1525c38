"""An erase forgets the URL (and moment) of a link the person shared only in their DM with learnloop."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import Engine

from learnloop.bootstrap import Runtime
from learnloop.mattermost.wiki_messages import announcer
from learnloop.services import personal_data
from tests.privacy.test_personal_data import everything_stored
from tests.prompts.world import BOT, Person, slash, uid

ANN = Person("ann")


def test_erase_forgets_a_link_shared_only_in_ones_direct_message_with_learnloop(
        client: FlaskClient, runtime: Runtime, engine: Engine) -> None:
    private = "https://docs.example.com/ann-job-applications"
    reply = slash(client, ANN, f"share {private}", channel=uid("annbotdm"), channel_name=f"{ANN.id}__{BOT}")
    assert "Thanks for sharing" in reply["text"]
    with runtime.uow() as uow:
        personal_data.erase(uow, ANN.id, ANN.name, runtime.clock(), runtime.signing_key, announcer(runtime))
    stored = everything_stored(engine)
    assert ANN.id not in stored
    assert private not in stored, "content_items keeps the link nobody else saw, created when she shared it"
