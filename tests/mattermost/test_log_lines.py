"""What a request carries reaches the log as one escaped, bounded token: a newline cannot forge a log line and
a huge value cannot flood the log."""

from __future__ import annotations

import logging

import pytest
from flask.testing import FlaskClient
from tests.prompts.world import Person, click

from learnloop.inbound import for_log
from learnloop.mattermost.messages import rating_context

FORGED = "a\n2026-11-02 09:00:00 CRIT"
"""26 characters, as a Mattermost id must be, or the request is refused before anything is logged."""


def test_a_newline_in_a_user_id_does_not_forge_a_log_line(client: FlaskClient, runtime,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    body = {"user_id": FORGED, "channel_id": "c" * 26, "context": {"action": "rate", "sig": "forged"}}
    response = client.post("/mattermost/actions", json=body)
    assert response.status_code < 500
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "refused an action" in logged and "x0a2026-11-02" in logged, "logged, with the newline escaped"
    assert "\n2026-11-02 09:00:00 CRIT" not in logged
    assert all("\n" not in record.getMessage() for record in caplog.records)


def test_a_huge_value_is_refused_by_name_and_never_floods_the_log(client: FlaskClient, runtime,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    response = click(client, Person("ann" + "x" * 70_000), rating_context(1, 5, b"not the key"))
    assert response.status_code == 400
    assert "user_name: string should have at most 64 characters" in response.get_json()["error"]["message"]
    assert max((len(record.getMessage()) for record in caplog.records), default=0) < 1000


def test_what_is_logged_of_a_request_is_one_short_token() -> None:
    logged = for_log("x" * 70_000 + "\n2026-11-02 09:00:00 CRIT")
    assert len(logged) <= 90 and "\n" not in logged