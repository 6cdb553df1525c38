"""Taking a published section off the wiki with the button the erase reply offers does not store the erased person
again: the removal (her id, the page, the section's marker) and the message telling her are deleted once done."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, select

from learnloop.bootstrap import Runtime
from learnloop.config import Settings
from learnloop.jobs import wiki as wiki_jobs
from learnloop.jobs.outbox import Courier
from learnloop.services.outbox_kinds import RESPOND, SEND_DM
from learnloop.storage import locks
from learnloop.storage.tables import OutboxMessage, Reflection
from learnloop.wikis import UNPUBLISH_JOB, Removed
from tests.conftest import make_settings
from tests.contract.mattermost_openapi import MattermostContract
from tests.privacy.test_personal_data import everything_stored
from tests.prompts.world import CHANNEL, Person, World, click, courier, opened_dialog, slash, submit

ANN = Person("ann")


@pytest.fixture
def settings() -> Settings:
    return make_settings(
        wikis=[{"name": "handbook", "kind": "mediawiki", "url": "https://wiki.acme.example/w", "secret": "s" * 32,
                "bot_user": "Admin@learnloop", "bot_password": "p" * 32}],
        communities=[{"name": "Data guild", "channel_id": CHANNEL,
                      "wiki_spaces": [{"wiki": "handbook", "space": "Category:Onboarding"}]}])


class Wiki:
    """A wiki that takes the section off."""
    names_pages_by_id = False

    def remove(self, wiki: Any, *, page_ref: str, marker: str) -> Removed:
        return Removed(removed=True)


def test_removing_a_section_with_the_erase_replys_button_does_not_store_me_again(
        client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, engine: Engine) -> None:
    slash(client, ANN, "reflect Published without my name")
    with runtime.uow() as uow:  # as the publish job leaves a reflection once it is on the wiki
        reflection = uow.session.scalars(select(Reflection)).one()
        reflection.visibility, reflection.publish_state = "wiki", "published"
        reflection.publish_attribution = "anonymous"
        reflection.publish_marker = "learnloop-reflection-abcdef12"
        reflection.published_wiki, reflection.published_page_ref = "handbook", "42"
        reflection.published_url, reflection.published_title = "https://wiki.acme.example/Log", "Learning log"
        uow.commit()
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    slash(client, ANN, "mydata delete")
    submit(client, ANN, "mydata_delete", opened_dialog(mattermost_contract)["state"], {})
    with runtime.reader() as uow:
        [reply] = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == RESPOND))
        remove = {a["name"]: a["integration"]["context"] for att in reply.payload["body"]["attachments"]
                  for a in att["actions"]}["Also remove it from the wiki"]
    with runtime.uow() as uow:  # the reply went out (RESPOND is deleted once sent)
        uow.session.delete(uow.session.get(OutboxMessage, reply.id))
        uow.commit()
    assert ANN.id not in everything_stored(engine), "erased"

    click(client, ANN, remove)  # she takes her anonymous section off, as the reply offers
    handlers = wiki_jobs.handlers(runtime, {"mediawiki": Wiki()},  # type: ignore[dict-item]
                                  lambda name: locks.held(runtime.engine, name, wait=True))
    assert Courier(runtime.uow, runtime.clock, handlers).deliver(kinds=[UNPUBLISH_JOB]).sent == 1
    World(runtime, mattermost_contract, people=[ANN]).serve_dm_and_posts(1)
    assert courier(runtime).deliver(kinds=[SEND_DM]).sent == 1, "she is told it is removed"
    stored = everything_stored(engine)
    assert ANN.id not in stored, \
        "her id, the page and the marker of the section she published anonymously are kept for retention_days"
