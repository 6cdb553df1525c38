"""The write probe sees a write, and only a write: without this, '0 refused requests wrote' could be vacuous."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import Engine

from tests.fuzz import chat, world
from tests.fuzz.probe import probe_for


def test_the_probe_sees_a_rating_and_not_a_refusal(engine: Engine, world_client: FlaskClient) -> None:
    probe = probe_for(engine)
    mark = probe.mark()
    assert chat.slash(world_client, world.MEMBER, "rate", token="wrong").status_code == 401
    assert not probe.changed_since(mark)
    assert "5/5" in chat.slash(world_client, world.MEMBER, "rate https://wiki.example.com/Page 5").get_json()["text"]
    assert probe.changed_since(mark)
    mark = probe.mark()
    assert not probe.changed_since(mark)
    getattr(probe, "close", lambda: None)()
