"""A slash command's `response_url` is only ever called on the configured Mattermost site, under the path
Mattermost makes them on (`/hooks/commands/`): a forged one is neither queued nor, if it reached the outbox
from before, called."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from tests.contract.fixtures import MATTERMOST_TEST_URL
from tests.contract.mattermost_openapi import MattermostContract
from tests.mattermost.inbound import load_form, send_form

from learnloop.bootstrap import Runtime
from learnloop.jobs.worker import run_once
from learnloop.mattermost.replies import allowed_response_url
from learnloop.services.outbox_kinds import RESPOND
from learnloop.storage.tables import OutboxMessage

GOOD = f"{MATTERMOST_TEST_URL}/hooks/commands/pbjfh1dcmfrq3qjtsdxnnyzq5w"
FORGED = [
    "http://169.254.169.254/latest/meta-data/",
    "http://mattermost.test.evil.example/hooks/commands/x",
    "http://mattermost.test:8065/hooks/commands/x",
    "https://mattermost.test/hooks/commands/x",
    "http://user@mattermost.test/hooks/commands/x",
    "http://mattermost.test/api/v4/users/me",
    "http://mattermost.test/hooks/commandsx/x",
    "http://[::1",
    "",
]


@pytest.mark.parametrize("url", FORGED)
def test_only_the_configured_sites_command_hooks_are_allowed(runtime: Runtime, url: str) -> None:
    assert allowed_response_url(runtime.settings, GOOD)
    assert not allowed_response_url(runtime.settings, url)


def responds(runtime: Runtime) -> list[OutboxMessage]:
    with runtime.reader() as uow:
        return list(uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == RESPOND)))


@pytest.mark.parametrize("url", FORGED[:3])
def test_a_forged_response_url_is_not_queued(client: FlaskClient, runtime: Runtime,
                                             mattermost_contract: MattermostContract, url: str) -> None:
    """The rate dialog answers through the command's response_url once it is submitted."""
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    fields = load_form("slash_command__help.form", text="rate", response_url=url)
    assert send_form(client, "/mattermost/command", fields).status_code == 200
    [call] = [c for c in mattermost_contract.calls if c.path == "/api/v4/actions/dialogs/open"]
    state = call.json["dialog"]["state"]
    response = client.post("/mattermost/dialogs", json={
        "type": "dialog_submission", "callback_id": "rate", "state": state, "user_id": fields["user_id"],
        "channel_id": fields["channel_id"], "team_id": "", "cancelled": False,
        "submission": {"url": "https://wiki.acme.example/wiki/Onboarding", "stars": "5"}})
    assert response.status_code == 200
    assert responds(runtime) == [], "the rating is kept; the forged reply address is not"


def test_a_forged_response_url_already_queued_is_never_called(
    runtime: Runtime, mattermost_contract: MattermostContract, caplog: pytest.LogCaptureFixture
) -> None:
    """Anything the harness has no reply for fails the test: the worker must not even try. The refusal is in
    the worker's log; the reply itself is not kept (a reply given up on is deleted like a sent one)."""
    with runtime.uow() as uow:
        uow.outbox.enqueue(RESPOND, {"response_url": FORGED[0], "body": {"text": "hi"}}, key="forged",
                           now=runtime.clock())
        uow.commit()
    report = run_once(runtime)
    assert (report.sent, report.failed) == (0, 1) and mattermost_contract.calls == []
    assert responds(runtime) == []
    assert any("failed for good" in r.getMessage() and "not the configured Mattermost" in r.getMessage()
               for r in caplog.records)
