"""Requests the fuzz suite found answered with a 500, each now answered as it should be."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient

from learnloop.domain import signing
from tests.fuzz import chat, world

Unchanged = Callable[[], AbstractContextManager[None]]
NOT_ASCII = ["é", "\u00ff" * 43, "𝟓", "sig\u2028"]


@pytest.mark.parametrize("signature", NOT_ASCII)
def test_a_signature_that_is_not_ascii_does_not_match(signature: str) -> None:
    with pytest.raises(signing.BadSignature):
        signing.verify({"action": "rate", "sig": signature}, world.SIGNING_KEY)


@pytest.mark.parametrize("signature", NOT_ASCII)
def test_a_button_whose_signature_is_not_ascii_is_refused_without_a_500(
    world_client: FlaskClient, unchanged: Unchanged, signature: str
) -> None:
    context = chat.button("rate", item_id=1, stars=4) | {"sig": signature}
    with unchanged():
        response = world_client.post("/mattermost/actions", json=chat.action(world.MEMBER, context))
    assert response.status_code == 403 and "does not match" in response.get_json()["error"]["message"]


def test_a_dialog_state_whose_signature_is_not_ascii_cannot_be_verified(
    world_client: FlaskClient, unchanged: Unchanged
) -> None:
    signed = chat.state("journal_edit", world.MEMBER, reflection_id=1).replace('"sig":"', '"sig":"\\u00e9')
    with unchanged():
        response = world_client.post("/mattermost/dialogs", json=chat.dialog("journal_edit", world.MEMBER, signed,
                                                                              {"text": "x"}))
    assert response.status_code == 200 and "could not be verified" in response.get_json()["error"]


@pytest.mark.parametrize("state", ["[" * 100_000 + "]" * 100_000, '{"a":' * 5_000 + "1" + "}" * 5_000,
                                   '{"dialog": "rate", "user_id": "x", "sig": "\\ud800"}'])
def test_a_dialog_state_nested_too_deep_or_with_a_lone_surrogate_cannot_be_verified(
    world_client: FlaskClient, unchanged: Unchanged, state: str
) -> None:
    """The state is JSON inside a JSON string, so the body's own bound on nesting never saw it."""
    with unchanged():
        response = world_client.post("/mattermost/dialogs", json=chat.dialog("rate", world.MEMBER, state))
    assert response.status_code == 200 and "could not be verified" in response.get_json()["error"]


SETUP = {"question1": "What did you learn?", "repeat": "weekly fri", "time": "16:30", "window": "16h",
         "timezone": "Europe/Berlin", "visibility": "private"}


@pytest.mark.parametrize("repeat", ["every ² weeks mon", "FREQ=WEEKLY;INTERVAL=²", "FREQ=DAILY;COUNT=³",
                                    "FREQ=DAILY;COUNT=" + "9" * 5_000, "FREQ=DAILY;INTERVAL=" + "9" * 19])
def test_a_schedule_with_digits_int_cannot_read_is_a_form_error(
    world_client: FlaskClient, unchanged: Unchanged, repeat: str
) -> None:
    with unchanged():
        response = world_client.post("/mattermost/dialogs", json=chat.dialog(
            "prompt_setup", world.OWNER, chat.owner_state("prompt_setup"), SETUP | {"repeat": repeat}))
    assert response.status_code == 200 and set(response.get_json()["errors"]) == {"repeat"}


@pytest.mark.parametrize("zone", ["Europe", "Etc", "America", "zone.tab", "Europe/Berlin/"])
def test_a_time_zone_that_names_a_folder_or_file_of_the_database_is_a_form_error(
    world_client: FlaskClient, unchanged: Unchanged, zone: str
) -> None:
    with unchanged():
        response = world_client.post("/mattermost/dialogs", json=chat.dialog(
            "prompt_setup", world.OWNER, chat.owner_state("prompt_setup"), SETUP | {"timezone": zone}))
    assert response.status_code == 200
    assert response.get_json()["errors"] == {"timezone": f"'{zone}' is not a time zone; use one like Europe/Berlin"}


@pytest.mark.parametrize("path", [
    "/dashboard/9223372036854775808", "/dashboard/1" + "0" * 30 + "/export.csv", "/dashboard/" + "9" * 5_000,
    "/dashboard/99999999999999999999/export.json",
])
def test_a_dashboard_id_too_large_for_any_row_is_a_404(world_client: FlaskClient, path: str) -> None:
    chat.sign_in(world_client, world.OWNER)
    assert world_client.get(path).status_code == 404


@pytest.mark.parametrize("handle", ["9223372036854775808", "1", "é" * 40, "0" * 32])
def test_a_feedback_handle_that_names_no_comment_is_a_404(world_client: FlaskClient, unchanged: Unchanged,
                                                          handle: str) -> None:
    chat.sign_in(world_client, world.OWNER)
    chat.slash(world_client, world.OWNER, "wiki")
    with world_client.session_transaction() as cookie:
        cookie["csrf"] = "token-for-this-test"
    with unchanged():
        response = world_client.post(f"/dashboard/1/feedback/{handle}",
                                     data={"status": "resolved", "csrf_token": "token-for-this-test"})
    assert response.status_code == 404


def test_the_largest_id_a_row_can_have_is_still_looked_up(world_client: FlaskClient) -> None:
    chat.sign_in(world_client, world.OWNER)
    assert world_client.get("/dashboard/9223372036854775807").status_code == 403


@pytest.mark.parametrize("number", ["9223372036854775808", "9" * 30, "9" * 5_000])
def test_stopping_a_prompt_numbered_beyond_any_row_says_which_to_choose(
    world_client: FlaskClient, unchanged: Unchanged, number: str
) -> None:
    chat.slash(world_client, world.OWNER, "wiki")
    with unchanged():
        response = chat.slash(world_client, world.OWNER, f"prompts stop {number}")
    assert response.status_code == 200 and response.get_json()["text"].startswith("Which one?")


@pytest.mark.parametrize(("start", "end"), [("9999-12-31", "9999-12-31"), ("9999-12-27", "9999-12-28"),
                                            ("9999-12-20", "9999-12-31"), ("0001-01-01", "0001-01-01"),
                                            ("0001-01-01", "0002-12-31"), ("0002-06-01", "0002-06-30")])
def test_a_custom_dashboard_period_at_either_end_of_the_calendar_is_a_400(
    world_client: FlaskClient, start: str, end: str
) -> None:
    chat.sign_in(world_client, world.OWNER)
    chat.slash(world_client, world.OWNER, "wiki")
    response = world_client.get(f"/dashboard/1?period=custom&start={start}&end={end}",
                                headers={"Accept": "application/json"})
    assert response.status_code == 400 and "must lie between" in response.get_json()["error"]["message"]


def test_a_custom_dashboard_period_far_back_is_still_shown(world_client: FlaskClient) -> None:
    chat.sign_in(world_client, world.OWNER)
    chat.slash(world_client, world.OWNER, "wiki")
    assert world_client.get("/dashboard/1?period=custom&start=0004-01-05&end=0004-02-10").status_code == 200


def test_a_custom_dashboard_period_far_ahead_is_still_shown(world_client: FlaskClient) -> None:
    chat.sign_in(world_client, world.OWNER)
    chat.slash(world_client, world.OWNER, "wiki")
    assert world_client.get("/dashboard/1?period=custom&start=9999-11-01&end=9999-12-10").status_code == 200


NUL_HOST = "https://wi\x00ki.example.com/Page"


def test_the_rate_page_for_a_url_with_a_nul_in_its_host_is_a_400(world_client: FlaskClient) -> None:
    """PostgreSQL's text cannot hold a NUL: looking the URL up answered 500 there."""
    chat.sign_in(world_client, world.MEMBER)
    response = world_client.get("/rate?url=" + quote(NUL_HOST, safe=""), headers={"Accept": "text/html"})
    assert response.status_code == 400 and b"not a valid host name" in response.data


def test_rating_a_url_with_a_nul_in_its_host_on_the_rate_page_is_a_400_and_stores_nothing(
    world_client: FlaskClient, unchanged: Unchanged
) -> None:
    chat.sign_in(world_client, world.MEMBER)
    with world_client.session_transaction() as cookie:
        cookie["csrf"] = "t"
    with unchanged():
        response = world_client.post("/rate", data={"csrf_token": "t", "url": NUL_HOST, "stars": "4"})
    assert response.status_code == 400 and b"not a valid host name" in response.data
