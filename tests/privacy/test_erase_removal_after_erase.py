"""Taking a published section off the wiki with the button the erase reply offers does not store the erased person
again: the removal (her id, the page, the section's marker) and the message telling her are emptied once done.
Their keys stay, so a second click is told it was asked, and no second removal runs nor a second message goes out."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, select

from learnloop.bootstrap import Runtime
from learnloop.config import Settings
from learnloop.jobs import wiki as wiki_jobs
from learnloop.jobs.outbox import Courier
from learnloop.mattermost.wiki_removal_views import removal_offer
from learnloop.services.outbox_kinds import RESPOND, SEND_DM
from learnloop.services.reflections import PublishedSection
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
    """A wiki that takes the section off (and finds it gone after)."""
    names_pages_by_id = False

    def __init__(self) -> None:
        self.removed = False

    def remove(self, wiki: Any, *, page_ref: str, marker: str) -> Removed:
        first, self.removed = not self.removed, True
        return Removed(removed=first)


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


def test_a_second_click_on_remove_after_it_was_done_is_told_it_was_asked(
        client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract) -> None:
    section = PublishedSection("handbook", "42", "learnloop-reflection-abcdef12", "Learning log",
                               "https://wiki.acme.example/Log")
    [offer] = removal_offer(runtime, ANN.id, [section])
    remove = {a["name"]: a["integration"]["context"] for a in offer["actions"]}["Also remove it from the wiki"]
    wiki = Wiki()
    handlers = wiki_jobs.handlers(runtime, {"mediawiki": wiki},  # type: ignore[dict-item]
                                  lambda name: locks.held(runtime.engine, name, wait=True))
    world = World(runtime, mattermost_contract, people=[ANN])

    first = click(client, ANN, remove).get_json()["ephemeral_text"]
    assert first.startswith("Removing it")
    assert Courier(runtime.uow, runtime.clock, handlers).deliver(kinds=[UNPUBLISH_JOB]).sent == 1
    world.serve_dm_and_posts(2)
    assert courier(runtime).deliver(kinds=[SEND_DM]).sent == 1, "told it is removed"

    second = click(client, ANN, remove).get_json()["ephemeral_text"]  # she clicks the same button again
    Courier(runtime.uow, runtime.clock, handlers).deliver(kinds=[UNPUBLISH_JOB])
    again = courier(runtime).deliver(kinds=[SEND_DM]).sent
    assert (second.startswith("You asked already"), again) == (True, 0), "a second DM: 'learnloop found no section of yours ... Check the page.'"
    with runtime.reader() as uow:
        kept = [(m.kind, m.payload, m.result, m.last_error) for m in uow.session.scalars(select(OutboxMessage))]
    assert sorted(kept) == [(SEND_DM, {}, None, None), (UNPUBLISH_JOB, {}, None, None)], \
        "the rows that answer a second ask keep nothing of whom they told, nor where"
