"""Who counts as a community's owner: a team admin in a channel learnloop has not recorded yet, and an owner's
form sent after its opener stopped being one."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select
from tests.contract.mattermost_openapi import MattermostContract
from tests.mattermost.inbound import ROUTES, send_fixture

from learnloop.bootstrap import Runtime
from learnloop.storage.tables import PromptSchedule

USER, CHANNEL, TEAM = "ob7m4qhjzjfy5c6qgbwkz3mn8r", "fukk3xq1bbn8fgmsiwh4xprwdh", "rdc9bgriktyx9p4kowh3dmgqyc"
SETUP = {"question1": "What did you try this week?", "repeat": "daily", "time": "09:00", "window": "16h",
         "timezone": "UTC", "visibility": "private"}


def roles(contract: MattermostContract, channel: dict[str, Any], team: dict[str, Any] | None = None) -> None:
    contract.add_handler("GET", re.compile(r"/api/v4/channels/(\w+)/members/(\w+)"),
                         lambda _req, m: (200, {"channel_id": m.group(1), "user_id": m.group(2), **channel}))
    contract.add_handler("GET", re.compile(r"/api/v4/teams/(\w+)/members/(\w+)"),
                         lambda _req, m: (200, {"team_id": m.group(1), "user_id": m.group(2),
                                                **(team or {"roles": "team_user", "scheme_admin": False})}))
    contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})


def schedules(runtime: Runtime) -> int:
    with runtime.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(PromptSchedule)) or 0


def test_a_form_sent_after_its_opener_stopped_being_an_owner_saves_nothing(
        client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract) -> None:
    channel = {"roles": "channel_user channel_admin", "scheme_admin": True}
    roles(mattermost_contract, channel)
    assert send_fixture(client, "slash_command__help.form", text="prompts setup").get_json() == {}
    [dialog] = [c.json["dialog"] for c in mattermost_contract.calls if c.path.endswith("/dialogs/open")]
    channel.update(roles="channel_user", scheme_admin=False)
    body = {"type": "dialog_submission", "callback_id": dialog["callback_id"], "state": dialog["state"],
            "user_id": USER, "channel_id": CHANNEL, "team_id": TEAM, "cancelled": False, "submission": SETUP}
    answer = client.post(ROUTES["dialog"], json=body)
    assert answer.status_code == 200 and answer.get_json()["error"] == (
        "Only this community's owners (its channel admins, its team's admins, or owners named in learnloop's "
        "configuration) can send this form, and Mattermost no longer counts you as one; nothing was saved.")
    assert schedules(runtime) == 0
    channel.update(roles="channel_user channel_admin", scheme_admin=True)
    assert client.post(ROUTES["dialog"], json=body).status_code == 200
    assert schedules(runtime) == 1, "an owner's form is saved"


def test_a_team_admin_owns_a_channel_learnloop_has_not_recorded_yet(
        client: FlaskClient, mattermost_contract: MattermostContract) -> None:
    roles(mattermost_contract, {"roles": "channel_user", "scheme_admin": False},
          {"roles": "team_user team_admin", "scheme_admin": True})
    assert send_fixture(client, "slash_command__help.form", text="seed").get_json() == {}, "the form opened"


def test_a_team_that_cannot_be_asked_is_try_again_not_a_refusal(
        client: FlaskClient, mattermost_contract: MattermostContract) -> None:
    mattermost_contract.add("GET", f"/api/v4/channels/{CHANNEL}/members/{USER}",
                            json={"channel_id": CHANNEL, "user_id": USER, "roles": "channel_user", "scheme_admin": False})
    mattermost_contract.add("GET", f"/api/v4/teams/{TEAM}/members/{USER}", status=503,
                            json={"id": "api.context.server_busy.app_error", "message": "busy", "status_code": 503})
    text = send_fixture(client, "slash_command__help.form", text="seed").get_json()["text"]
    assert "Try again in a moment" in text and "Only this community's owners" not in text


def test_a_team_admin_owns_no_direct_message(client: FlaskClient, runtime: Runtime,
                                            mattermost_contract: MattermostContract) -> None:
    """Mattermost names the team on screen for a command typed in a direct message: its admins own no one's
    conversation, so no prompts are set up to message the other person."""
    roles(mattermost_contract, {"roles": "channel_user", "scheme_admin": False},
          {"roles": "team_user team_admin", "scheme_admin": True})
    reply = send_fixture(client, "slash_command__help.form", text="prompts setup", channel_id="d" * 26,
                         channel_name=f"{USER}__{'b' * 26}").get_json()
    assert "Only this community's owners" in reply["text"]
    assert not [c for c in mattermost_contract.calls if c.path.endswith("/dialogs/open")]
    assert schedules(runtime) == 0
