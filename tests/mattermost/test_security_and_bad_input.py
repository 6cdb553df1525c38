"""Tokens, signatures, malformed and oversized requests: clear errors, nothing half-written."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from tests.conftest import OLD_COMMAND_TOKEN
from tests.mattermost.inbound import ROUTES, load_form, load_json, send_fixture, send_form

from learnloop.bootstrap import Runtime
from learnloop.storage.tables import Community, ContentItem, Event, Feedback, Rating

RATE = "slash_command__rate.form"
RATE_TEXT_PREFIX = "rate https://wiki.acme.example/wiki/Page "


def _stored(runtime: Runtime) -> dict[str, int]:
    with runtime.uow() as uow:
        return {
            model.__tablename__: uow.session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Community, ContentItem, Rating, Feedback, Event)
        }


NOTHING = {"communities": 0, "content_items": 0, "ratings": 0, "feedback": 0, "events": 0}


@pytest.mark.parametrize("token", ["", "wrong-token", "xr3j5x7p8pfk7mqqddy9xkxs4", "xr3j5x7p8pfk7mqqddy9xkxs4ab"])
def test_slash_command_with_an_unknown_token_is_refused(client: FlaskClient, runtime: Runtime, token: str) -> None:
    response = send_form(client, ROUTES["slash_command"], load_form(RATE, token=token))
    assert response.status_code == 401
    assert "LEARNLOOP_MATTERMOST_COMMAND_TOKENS" in response.get_json()["error"]["message"]
    assert _stored(runtime) == NOTHING


def test_slash_command_header_token_must_match_the_form_token(client: FlaskClient, runtime: Runtime) -> None:
    response = send_form(client, ROUTES["slash_command"], load_form(RATE), header_token="someone-elses-token")
    assert response.status_code == 401
    assert _stored(runtime) == NOTHING


def test_slash_command_without_the_header_is_accepted_on_the_form_token(client: FlaskClient) -> None:
    """An admin-configured Outgoing OAuth Connection replaces the header (reference §2a)."""
    assert send_form(client, ROUTES["slash_command"], load_form(RATE), header_token=None).status_code == 200


def test_a_rotated_token_keeps_working_until_removed(client: FlaskClient) -> None:
    assert send_form(client, ROUTES["slash_command"], load_form(RATE, token=OLD_COMMAND_TOKEN)).status_code == 200


def test_slash_command_as_get_is_served(client: FlaskClient) -> None:
    fields = load_form("slash_command__help.form")
    response = client.get(ROUTES["slash_command"], query_string=fields,
                          headers={"Authorization": f"Token {fields['token']}"})
    assert response.status_code == 200 and "/learn rate" in response.get_json()["text"]


def test_outgoing_webhook_with_a_command_token_is_refused(client: FlaskClient, runtime: Runtime) -> None:
    fields = load_form("outgoing_webhook__link_shared.form", token=load_form(RATE)["token"])
    response = send_form(client, ROUTES["outgoing_webhook"], fields)
    assert response.status_code == 401
    assert _stored(runtime) == NOTHING


def test_no_configured_tokens_means_nothing_is_accepted(runtime: Runtime) -> None:
    from tests.conftest import make_settings

    from learnloop.wiring import create_app

    runtime.settings = make_settings(mattermost_command_tokens=[], mattermost_webhook_tokens=[])
    client = create_app(runtime).test_client()
    assert send_form(client, ROUTES["slash_command"], load_form(RATE, token="")).status_code == 401
    assert send_fixture(client, "outgoing_webhook__plain_post.form", token="").status_code == 401


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (RATE_TEXT_PREFIX + "9", "out of range"),
        (RATE_TEXT_PREFIX + "0", "out of range"),
        (RATE_TEXT_PREFIX + "great", "not a rating"),
        ("rate not-a-url 4", "not an http or https URL"),
        ("rate javascript:alert(1) 4", "not an http or https URL"),
        ("rate https://wiki.acme.example/wiki/Page", "give a URL and a rating"),
        (RATE_TEXT_PREFIX + "4 " + "x" * 2001, "at most 2000"),
        ("rate https://ru.wikipedia.org/wiki/" + "Ж" * 400 + " 4", "once its special characters are percent-encoded"),
    ],
)
def test_bad_rate_arguments_get_a_clear_ephemeral_message(
    client: FlaskClient, runtime: Runtime, text: str, expected: str
) -> None:
    response = send_fixture(client, RATE, text=text)
    assert response.status_code == 200
    body = response.get_json()
    assert body["response_type"] == "ephemeral"
    assert expected in body["text"] and "Usage: `/learn rate <url> <1-5> [comment]`" in body["text"]
    assert _stored(runtime) == NOTHING


def test_rate_accepts_the_rating_before_the_url(client: FlaskClient) -> None:
    body = send_fixture(client, RATE, text="rate 4 https://wiki.acme.example/wiki/Page").get_json()
    assert "4/5" in body["text"]


def test_text_longer_than_a_mattermost_post_is_refused(client: FlaskClient, runtime: Runtime) -> None:
    response = send_fixture(client, RATE, text=RATE_TEXT_PREFIX + "4 " + "y" * 16400)
    assert response.status_code == 200
    assert "16383" in response.get_json()["text"]
    assert _stored(runtime) == NOTHING


def test_body_over_one_mebibyte_is_refused(client: FlaskClient, runtime: Runtime) -> None:
    fields = load_form(RATE, padding="z" * (1024 * 1024 + 10))
    response = send_form(client, ROUTES["slash_command"], fields)
    assert response.status_code == 413
    assert "larger than 1048576 bytes" in response.get_json()["error"]["message"]
    assert _stored(runtime) == NOTHING


@pytest.mark.parametrize("missing", ["user_id", "channel_id"])
def test_slash_command_missing_fields_is_a_clear_400(client: FlaskClient, runtime: Runtime, missing: str) -> None:
    fields = load_form(RATE)
    del fields[missing]
    response = send_form(client, ROUTES["slash_command"], fields)
    assert response.status_code == 400
    assert missing in response.get_json()["error"]["message"]
    assert _stored(runtime) == NOTHING


@pytest.mark.parametrize("text", [RATE_TEXT_PREFIX + "4", "signin"])
@pytest.mark.parametrize(("field", "value", "limit"), [
    ("channel_id", "c" * 40, "at most 26"), ("team_id", "t" * 40, "at most 26"), ("user_id", "u" * 40, "at most 26"),
    ("user_id", "u" * 25, "at least 26"), ("channel_name", "c" * 65, "at most 64"),
    ("user_name", "u" * 65, "at most 64"),
])
def test_ids_and_names_longer_than_mattermost_makes_them_are_a_clear_400(
    client: FlaskClient, runtime: Runtime, text: str, field: str, value: str, limit: str
) -> None:
    """They would not fit their columns (ids String(26), names String(64)): a 500 on PostgreSQL, before."""
    response = send_fixture(client, RATE, text=text, **{field: value})
    assert response.status_code == 400
    message = response.get_json()["error"]["message"]
    assert message == f"malformed slash command: {field}: string should have {limit} characters"
    assert _stored(runtime) == NOTHING


def test_the_longest_names_mattermost_makes_are_stored(client: FlaskClient, runtime: Runtime) -> None:
    assert "4/5" in send_fixture(client, RATE, text=RATE_TEXT_PREFIX + "4", channel_name="c" * 64,
                                 user_name="u" * 64).get_json()["text"]
    assert "Sign in" in send_fixture(client, RATE, text="signin", user_name="u" * 64).get_json()["text"]
    with runtime.uow() as uow:
        assert uow.session.scalars(select(Community.name)).all() == ["~" + "c" * 64]


@pytest.mark.parametrize(("name", "field", "text"), [
    (RATE, "text", RATE_TEXT_PREFIX + "4 good\x00bad"),
    ("outgoing_webhook__plain_post.form", "text", "see https://example.com/ok\x00"),
    (RATE, "user_name", "ann\x00"),
])
def test_a_nul_character_is_a_clear_400(client: FlaskClient, runtime: Runtime, name: str, field: str,
                                        text: str) -> None:
    """PostgreSQL's text cannot hold NUL (a 500 there, before); no Mattermost post or name carries one."""
    response = send_fixture(client, name, **{field: text})
    assert response.status_code == 400
    assert f"field '{field}' contains a NUL character (\\x00)" in response.get_json()["error"]["message"]
    assert _stored(runtime) == NOTHING


def test_a_link_too_long_once_percent_encoded_is_skipped_and_the_post_still_counts(
    client: FlaskClient, runtime: Runtime
) -> None:
    text = "see https://example.com/ok and https://ru.wikipedia.org/wiki/" + "Ж" * 400
    response = send_fixture(client, "outgoing_webhook__plain_post.form", text=text)
    assert response.status_code == 200
    with runtime.uow() as uow:
        assert uow.session.scalars(select(ContentItem.url)).all() == ["https://example.com/ok"]
        assert sorted(uow.session.scalars(select(Event.kind))) == ["chat_post", "link_shared"]


@pytest.mark.parametrize("route", ["action", "dialog"])
@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]", b'{"user_id": ""}'])
def test_malformed_json_bodies_are_a_clear_400(client: FlaskClient, route: str, body: bytes) -> None:
    response = client.post(ROUTES[route], data=body, content_type="application/json")
    assert response.status_code == 400
    assert "malformed" in response.get_json()["error"]["message"]


def test_malformed_outgoing_webhook_is_a_clear_400(client: FlaskClient, runtime: Runtime) -> None:
    fields = load_form("outgoing_webhook__link_shared.form")
    del fields["post_id"]
    response = send_form(client, ROUTES["outgoing_webhook"], fields)
    assert response.status_code == 400 and "post_id" in response.get_json()["error"]["message"]
    assert _stored(runtime) == NOTHING


def test_outgoing_webhook_over_long_text_is_refused(client: FlaskClient, runtime: Runtime) -> None:
    response = send_fixture(client, "outgoing_webhook__plain_post.form", text="w" * 16384)
    assert response.status_code == 400
    assert _stored(runtime) == NOTHING


@pytest.mark.parametrize(
    "change",
    [
        lambda context: context.pop("sig"),
        lambda context: context.update(item_id=2),
        lambda context: context.update(sig="AAAA"),
        lambda context: context.update(action="delete"),
    ],
)
def test_tampered_button_contexts_are_refused(client: FlaskClient, runtime: Runtime, change) -> None:
    body = load_json("action__rate_button.json")
    change(body["context"])
    response = client.post(ROUTES["action"], json=body)
    assert response.status_code == 403
    assert _stored(runtime) == NOTHING


def test_a_signed_context_cannot_rate_as_someone_else(client: FlaskClient, runtime: Runtime) -> None:
    """The rater is always the user Mattermost asserts, whoever the button was built for."""
    send_fixture(client, RATE)
    body = load_json("action__rate_button.json")
    body["user_id"] = "mallory0000000000000000000"
    response = client.post(ROUTES["action"], json=body)
    assert response.status_code == 200
    with runtime.uow() as uow:
        ratings = {r.user_id: r.stars for r in uow.session.scalars(select(Rating))}
    assert ratings == {"ob7m4qhjzjfy5c6qgbwkz3mn8r": 5, "mallory0000000000000000000": 4}


def test_a_button_for_an_item_that_is_gone_says_so(client: FlaskClient, runtime: Runtime) -> None:
    response = send_fixture(client, "action__rate_button.json")
    assert response.status_code == 200
    assert "no longer in learnloop" in response.get_json()["ephemeral_text"]
    assert _stored(runtime)["ratings"] == 0


def test_a_dialog_state_signed_for_another_user_is_refused(client: FlaskClient, runtime: Runtime) -> None:
    body = load_json("dialog__rate_submission.json")
    body["user_id"] = "mallory0000000000000000000"
    response = client.post(ROUTES["dialog"], json=body)
    assert response.status_code == 200 and "someone else" in response.get_json()["error"]
    assert _stored(runtime)["ratings"] == 0


def test_the_rate_form_rates_in_the_channel_it_was_opened_in_not_the_one_on_screen(
        client: FlaskClient, runtime: Runtime) -> None:
    """Mattermost's webapp fills a submission's channel_id with the channel on screen when the form is sent (a
    thread of another channel, another tab); the channel the command was typed in comes from the signed state."""
    other = "zzzzzzzzzzzzzzzzzzzzzzzzzz"
    send_fixture(client, "slash_command__rate.form", channel_id=other, channel_name="town-square",
                 text="rate https://wiki.acme.example/wiki/A 4")
    body = load_json("dialog__rate_submission.json")
    body["channel_id"] = other
    assert client.post(ROUTES["dialog"], json=body).status_code == 200
    opened_in = json.loads(body["state"])["channel_id"]
    with runtime.uow() as uow:
        communities = {c.id: (c.channel_id, c.name) for c in uow.session.scalars(select(Community))}
        [item] = uow.session.scalars(select(ContentItem).where(ContentItem.url.endswith("/Onboarding"))).all()
    assert sorted(communities.values()) == sorted([(other, "~town-square"), (opened_in, "~data-guild")]), \
        "nobody's community was renamed"
    assert communities[item.community_id] == (opened_in, "~data-guild"), "the new page is the data guild's"


def test_a_forged_dialog_state_is_refused(client: FlaskClient, runtime: Runtime) -> None:
    body = load_json("dialog__rate_submission.json")
    body["state"] = body["state"].replace("data-guild", "other")
    response = client.post(ROUTES["dialog"], json=body)
    assert "could not be verified" in response.get_json()["error"]
    assert _stored(runtime)["ratings"] == 0


def test_unknown_dialog_and_action_are_answered_not_crashed(client: FlaskClient, runtime: Runtime) -> None:
    from learnloop.domain import signing

    body = load_json("dialog__rate_submission.json")
    body["callback_id"] = "something-else"
    assert "error" in client.post(ROUTES["dialog"], json=body).get_json()
    action = load_json("action__rate_button.json")
    action["context"] = signing.sign({"action": "future-feature"}, runtime.signing_key)
    assert "does not have" in client.post(ROUTES["action"], json=action).get_json()["ephemeral_text"]


def test_an_expired_trigger_says_how_to_go_on(client: FlaskClient, mattermost_contract) -> None:
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", status=400, json={
        "id": "interactive_message.decode_trigger_id.expired", "message": "Trigger ID for interactive dialog is expired.",
        "status_code": 400})
    text = send_fixture(client, "slash_command__rate_no_arguments.form").get_json()["text"]
    assert "expired" in text and "/learn rate <url> <1-5> [comment]" in text


def test_an_unreachable_mattermost_while_opening_the_form_is_explained(client: FlaskClient, mattermost_contract) -> None:
    import requests

    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", body=requests.ConnectionError("refused"))
    text = send_fixture(client, "slash_command__rate_no_arguments.form").get_json()["text"]
    assert "no answer" in text and "Rate directly" in text


@pytest.mark.parametrize("comment", [{"a": 1}, ["hello"]])
def test_a_dialog_field_that_is_a_list_or_object_is_refused_and_nothing_stored(
        client: FlaskClient, runtime: Runtime, comment: object) -> None:
    body = load_json("dialog__rate_submission.json")
    body["submission"]["comment"] = comment
    response = client.post(ROUTES["dialog"], json=body)
    assert response.status_code == 400
    assert "field 'comment' must be text, a number or true/false" in response.get_json()["error"]["message"]
    assert _stored(runtime)["ratings"] == 0
