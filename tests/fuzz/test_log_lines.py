"""A request cannot forge a log line: whatever control characters it puts in a field that is logged (a user id
on a refused button, a response_url off the Mattermost site, a wiki's name or event), each record is one line
without terminal escapes, as `learnloop serve` formats it."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz import chat, values, world

FORMAT = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
FORGERIES = ["\n2026-11-02 09:00:00,000 WARNING learnloop.web: forged", "\r\nforged", "x\u2028forged", "\x85forged",
             "\x0bforged", "\x1c\x1d\x1eforged", "\x1b[2K\rforged", "\x00forged", "\u2029forged"]


def assert_one_line_each(records: list[logging.LogRecord]) -> None:
    for record in records:
        if record.exc_info:
            continue
        text = FORMAT.format(record)
        assert len(text.splitlines()) == 1 and "\x1b" not in text and "\x00" not in text, repr(text)


def _as_id(value: str) -> str:
    """The value cut or padded to 26 characters: a user id of any other length is refused before it is logged."""
    return value[:26].ljust(26, "x")


def _refused_button(client: FlaskClient, value: str) -> None:
    client.post("/mattermost/actions",
                json=chat.action(_as_id(value), chat.button("rate", item_id=1, stars=4) | {"sig": "x"}))


def _someone_elses_button(client: FlaskClient, value: str) -> None:
    client.post("/mattermost/actions", json=chat.action(_as_id(value), chat.button("journal_edit", for_user=world.OWNER,
                                                                             reflection_id=1)))


def _response_url_off_site(client: FlaskClient, value: str) -> None:
    signed = chat.state("rate", world.MEMBER, channel_name="fuzzers", team_id=world.TEAM,
                        response_url="http://elsewhere.example/" + value)
    client.post("/mattermost/dialogs", json=chat.dialog("rate", world.MEMBER, signed, {
        "url": "https://wiki.example.com/Page", "stars": "4"}))


def _unsigned_wiki(client: FlaskClient, value: str) -> None:
    client.post(f"/wiki/{world.OUTLINE}/events", data=b"{}", content_type="application/json",
                headers={"Outline-Signature": "t=1,s=" + "0" * 64})


def _outline_event(client: FlaskClient, value: str) -> None:
    body = json.dumps({"id": "delivery-1", "event": value, "payload": {}}).encode()
    stamp = int(time.time() * 1000)
    digest = hmac.new(world.WIKI_SECRETS[world.OUTLINE].encode(), f"{stamp}.".encode() + body, hashlib.sha256)
    client.post(f"/wiki/{world.OUTLINE}/events", data=body, content_type="application/json",
                headers={"Outline-Signature": f"t={stamp},s={digest.hexdigest()}"})


def _bookstack_event(client: FlaskClient, value: str) -> None:
    client.post(f"/wiki/{world.BOOKSTACK}/events?secret={world.WIKI_SECRETS[world.BOOKSTACK]}",
                json={"event": value, "related_item": {"id": 1}})


LOGGED_FIELDS: dict[str, Callable[[FlaskClient, str], None]] = {
    "user_id of a button with a bad signature": _refused_button,
    "user_id of someone else's button": _someone_elses_button,
    "response_url off the Mattermost site": _response_url_off_site,
    "name of a wiki whose delivery is refused": _unsigned_wiki,
    "event of an Outline delivery learnloop ignores": _outline_event,
    "event of a BookStack delivery learnloop ignores": _bookstack_event,
}


@pytest.mark.parametrize("field", sorted(LOGGED_FIELDS))
@pytest.mark.parametrize("forgery", FORGERIES)
def test_control_characters_in_a_logged_field_never_make_a_second_line(
    world_client: FlaskClient, caplog: pytest.LogCaptureFixture, field: str, forgery: str
) -> None:
    caplog.set_level(logging.DEBUG)
    LOGGED_FIELDS[field](world_client, "ann" + forgery)
    assert caplog.records or "\x00" in forgery, "the request was logged (one with a NUL is refused as it is read)"
    assert_one_line_each(caplog.records)


@pytest.mark.parametrize("field", sorted(LOGGED_FIELDS))
def test_any_text_in_a_logged_field_makes_one_line(
    world_client: FlaskClient, caplog: pytest.LogCaptureFixture, field: str
) -> None:
    @settings(max_examples=25, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(values.atom(), min_size=1, max_size=4).map("".join))
    def check(value: str) -> None:
        caplog.clear()
        LOGGED_FIELDS[field](world_client, value)
        assert_one_line_each(caplog.records)

    caplog.set_level(logging.DEBUG)
    check()
