"""What a request carries reaches the log as one escaped, bounded token: a newline cannot forge a log line and
a huge value cannot flood the log."""

from __future__ import annotations

import logging

import pytest
from flask.testing import FlaskClient
from tests.prompts.world import Person, click

from learnloop.mattermost.messages import rating_context

FORGED = "ann\n2026-11-02 09:00:00 CRITICAL learnloop: token rotated"


def test_a_newline_in_a_user_id_does_not_forge_a_log_line(client: FlaskClient, runtime,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    body = {"user_id": FORGED, "channel_id": "c" * 26, "context": {"action": "rate", "sig": "forged"}}
    response = client.post("/mattermost/actions", json=body)
    assert response.status_code < 500
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "refused an action" in logged and "x0a2026-11-02" in logged, "logged, with the newline escaped"
    assert "\n2026-11-02 09:00:00 CRITICAL" not in logged
    assert all("\n" not in record.getMessage() for record in caplog.records)


def test_a_huge_value_is_cut_short_in_the_log(client: FlaskClient, runtime, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    context = rating_context(1, 5, b"not the key")
    response = click(client, Person("ann" + "x" * 70_000), context)
    assert response.status_code < 500
    assert max((len(record.getMessage()) for record in caplog.records), default=0) < 1000
