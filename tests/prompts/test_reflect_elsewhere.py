"""`/learn reflect` typed in another community's channel while a prompt is open."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy import select

from learnloop.bootstrap import Runtime
from learnloop.storage.tables import Delivery
from tests.contract.mattermost_openapi import MattermostContract
from tests.prompts.test_reflecting import ANN, sent_prompt, settings  # noqa: F401  (fixtures)
from tests.prompts.world import BOT, CHANNEL, World, opened_dialog, slash, submit, uid

OTHER = uid("securityguild")


def test_a_reflection_shared_from_another_channel_is_not_posted_in_the_prompt_s_channel(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, sent_prompt: dict,  # noqa: F811
) -> None:
    """Ann has the data guild's prompt open; in #security-guild she types `/learn reflect` and shares what she
    learned "with my community"."""
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    slash(client, ANN, "reflect", channel=OTHER, channel_name="security-guild")
    form = opened_dialog(mattermost_contract)
    [visibility] = [e for e in form["elements"] if e["name"] == "visibility"]
    assert "~security-guild" in visibility["help_text"], "the form says where a shared reflection is posted"
    assert "What will you try next?" not in form["introduction_text"], "not the data guild's prompt"
    submit(client, ANN, "reflect", form["state"], {"answer1": "Rotate the signing keys before the audit",
                                                   "visibility": "community"}, channel=OTHER)
    mattermost_contract.add("PUT", f"/api/v4/posts/{uid('post1')}/patch", json={"id": uid("post1"), "message": ""})
    mattermost_contract.add("POST", "/api/v4/posts", status=201, json={"id": "s" * 26, "channel_id": CHANNEL,
                                                                       "message": ""})
    mattermost_contract.add_unvalidated(re.compile(r".*/hooks/commands/.*"), methods=("POST",))
    World(runtime, mattermost_contract).tick()
    posted_to = [c.json["channel_id"] for c in mattermost_contract.calls
                 if c.path == "/api/v4/posts" and c.json["channel_id"] in (CHANNEL, OTHER)]
    assert posted_to != [CHANNEL], "shared from #security-guild, it went to #data-guild, a channel Ann did not choose"


def test_in_the_direct_message_with_learnloop_reflect_answers_the_open_prompt(
    client: FlaskClient, runtime: Runtime, sent_prompt: dict,  # noqa: F811
) -> None:
    reply = slash(client, ANN, "reflect Small steps", channel=uid("dmann"), channel_name=f"{BOT}__{ANN.id}")
    assert "It answers your open prompt." in reply["text"]
    assert "posts it in ~data-guild" in reply["attachments"][0]["text"]


def test_in_another_community_s_channel_reflect_leaves_the_open_prompt_open(
    client: FlaskClient, runtime: Runtime, sent_prompt: dict,  # noqa: F811
) -> None:
    reply = slash(client, ANN, "reflect Rotate the keys", channel=OTHER, channel_name="security-guild")
    assert "open prompt" not in reply["text"]
    assert "posts it in ~security-guild" in reply["attachments"][0]["text"]
    with runtime.uow() as uow:
        assert uow.session.scalars(select(Delivery)).one().status == "sent"
