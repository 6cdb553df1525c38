"""The requests issue 15 lists, one by one: each answered without a 5xx, refused ones changing nothing, and
states and contexts that only work for the dialog and the person they were made for."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
from flask.testing import FlaskClient

from tests.fuzz import chat, world

Unchanged = Callable[[], AbstractContextManager[None]]
DEEP = "[" * 100_000 + "]" * 100_000
ROUTES = ["/mattermost/actions", "/mattermost/dialogs", "/mattermost/outgoing", "/mattermost/command"]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("depth", [33, 5_000, 100_000])
def test_deeply_nested_json_is_a_400_before_any_token_or_signature(
    world_client: FlaskClient, unchanged: Unchanged, caplog: pytest.LogCaptureFixture, route: str, depth: int
) -> None:
    body = '{"token": "", "user_id": ' + "[" * depth + "]" * depth + "}"
    with unchanged():
        response = world_client.post(route, data=body, content_type="application/json")
    assert response.status_code == 400
    assert "nested more than 32 levels" in response.get_json()["error"]["message"]
    assert not [record for record in caplog.records if record.exc_info]


def test_json_nested_32_levels_deep_is_still_read(world_client: FlaskClient) -> None:
    """The bound is on nesting only: a body at the bound reaches the token check."""
    body = '{"token": "wrong", "channel_id": "c", "x": ' + "[" * 31 + "]" * 31 + "}"
    response = world_client.post("/mattermost/outgoing", data=body, content_type="application/json")
    assert response.status_code == 401


@pytest.mark.parametrize("surrogate", ["\\ud800", "\\udfff", "x\\udc80y"])
def test_a_lone_surrogate_in_an_action_context_is_a_400(
    world_client: FlaskClient, unchanged: Unchanged, surrogate: str
) -> None:
    body = json.dumps(chat.action(world.MEMBER, chat.button("rate", item_id=1, stars=4)))
    body = body.replace('"stars": 4', f'"stars": 4, "note": "{surrogate}"')
    with unchanged():
        response = world_client.post("/mattermost/actions", data=body, content_type="application/json")
    assert response.status_code == 400 and "lone surrogate" in response.get_json()["error"]["message"]


def test_a_70_kb_time_zone_is_a_form_error_and_stays_out_of_the_log(
    world_client: FlaskClient, unchanged: Unchanged, caplog: pytest.LogCaptureFixture
) -> None:
    zone = "Europe/" + "x" * 70_000
    submission = {"question1": "What did you learn?", "repeat": "weekly fri", "time": "16:30", "window": "16h",
                  "timezone": zone, "visibility": "private"}
    caplog.set_level(logging.DEBUG)
    with unchanged():
        response = world_client.post("/mattermost/dialogs", json=chat.dialog(
            "prompt_setup", world.OWNER, chat.owner_state("prompt_setup"), submission))
    assert response.status_code == 200
    assert "at most 64 characters" in response.get_json()["errors"]["timezone"]
    assert all(len(record.getMessage()) < 2_000 for record in caplog.records)


@pytest.mark.parametrize("scale", ["²", "³", "٣", "6", "0", "-1", " 3x"])
def test_a_scale_answer_that_is_not_1_to_5_is_a_form_error(
    world_client: FlaskClient, unchanged: Unchanged, scale: str
) -> None:
    submission = {"answer1": "Pairing taught me to read plans first.", "scale": scale, "visibility": "private"}
    with unchanged():
        response = world_client.post("/mattermost/dialogs", json=chat.dialog(
            "reflect", world.MEMBER, chat.state("reflect", world.MEMBER, delivery_id=None, community_id=None,
                                                response_url=None), submission))
    assert response.status_code == 200
    assert response.get_json() == {"errors": {"scale": "choose a whole number from 1 to 5"}}


def test_a_lone_surrogate_in_a_reflection_is_refused_from_the_dialog_and_the_command(
    world_client: FlaskClient, unchanged: Unchanged
) -> None:
    body = json.dumps(chat.dialog("reflect", world.MEMBER, chat.state(
        "reflect", world.MEMBER, delivery_id=None, community_id=None, response_url=None),
        {"answer1": "I learnt \ud800 something", "visibility": "private"}))
    with unchanged():
        from_dialog = world_client.post("/mattermost/dialogs", data=body, content_type="application/json")
        from_command = world_client.post(
            "/mattermost/command", content_type="application/x-www-form-urlencoded",
            data=f"token={world.COMMAND_TOKEN}&user_id={world.MEMBER}&channel_id={world.CHANNEL}"
                 "&text=reflect+I+learnt+%ED%A0%80+something",
            headers={"Authorization": f"Token {world.COMMAND_TOKEN}"})
    assert from_dialog.status_code == 400 and "lone surrogate" in from_dialog.get_json()["error"]["message"]
    assert from_command.status_code == 400 and "not UTF-8" in from_command.get_json()["error"]["message"]


DIALOGS = ["rate", "prompt_setup", "prompt_event", "reflect", "journal_edit", "journal_delete", "mydata_delete"]


@pytest.mark.parametrize(("made_for", "sent_to"), [(a, b) for a in DIALOGS for b in DIALOGS if a != b])
def test_a_state_replayed_into_another_dialog_is_refused(
    world_client: FlaskClient, unchanged: Unchanged, made_for: str, sent_to: str
) -> None:
    signed = chat.state(made_for, world.OWNER, reflection_id=1, channel_id=world.CHANNEL, response_url=None)
    with unchanged():
        response = world_client.post("/mattermost/dialogs", json=chat.dialog(sent_to, world.OWNER, signed, {
            "url": "https://wiki.example.com/Page", "stars": "5", "text": "x", "answer1": "x"}))
    assert response.status_code == 200
    assert "belong to another form" in response.get_json()["error"]


@pytest.mark.parametrize("dialog", DIALOGS)
def test_a_state_sent_by_another_person_is_refused(
    world_client: FlaskClient, unchanged: Unchanged, dialog: str
) -> None:
    signed = chat.state(dialog, world.OWNER, reflection_id=1, channel_id=world.CHANNEL, response_url=None)
    with unchanged():
        response = world_client.post("/mattermost/dialogs", json=chat.dialog(dialog, world.MEMBER, signed, {
            "url": "https://wiki.example.com/Page", "stars": "5", "text": "x", "answer1": "x"}))
    assert response.status_code == 200
    assert "opened by someone else" in response.get_json()["error"]


@pytest.mark.parametrize("name", ["reflect_now", "prompt_skip", "prompt_snooze", "reflection_share", "journal_edit",
                                  "journal_delete"])
def test_a_personal_button_clicked_by_someone_else_is_refused(
    world_client: FlaskClient, unchanged: Unchanged, name: str
) -> None:
    context = chat.button(name, for_user=world.OWNER, delivery_id=1, reflection_id=1, visibility="community")
    with unchanged():
        response = world_client.post("/mattermost/actions", json=chat.action(world.MEMBER, context))
    assert response.status_code == 200
    assert response.get_json()["ephemeral_text"].startswith("This button is not yours")
