"""`Outbox.naming` finds the messages that name a person: by their whole id or @name, never by a part of
someone else's (an erase removes what it finds)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from learnloop.bootstrap import Runtime
from learnloop.services.outbox_kinds import SEND_DM

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ANN = "ann0000000000000000000000a"


@pytest.mark.parametrize(("key", "payload", "named"), [
    (f"thanks:1:{ANN}", {"user_id": "bob0000000000000000000000b"}, True),
    ("suggest:x:1", {"user_id": ANN, "message": "hi"}, True),
    ("note:1", {"user_id": "bob0000000000000000000000b", "message": "ask @ann."}, True),
    (f"thanks:1:x{ANN}", {"user_id": "bob0000000000000000000000b"}, False),
    ("note:2", {"user_id": "bob0000000000000000000000b", "message": "ask @anna or mail bob@ann"}, False),
    ("note:3", {"user_id": "bob0000000000000000000000b", "message": "ask @ann.b"}, False),
    ("note:4", {"user_id": "bob0000000000000000000000b", "message": "Thanks to\n@ann"}, True),
    ("note:5", {"user_id": "bob0000000000000000000000b", "message": "Merci é@ann, ☃@ann"}, True),
    ("note:6", {"user_id": "bob0000000000000000000000b", "props": {"attachments": [{"text": "> by @ann"}]}}, True),
])
def test_a_message_is_found_by_a_whole_id_or_name_only(runtime: Runtime, key: str, payload: dict[str, str],
                                                        named: bool) -> None:
    with runtime.uow() as uow:
        uow.outbox.enqueue(SEND_DM, payload, key=key, now=NOW)
        uow.commit()
    with runtime.reader() as uow:
        assert bool(uow.outbox.naming([ANN, "@ann"])) == named
        assert uow.outbox.naming([ANN[1:], ANN[:-1], "@nn", "nn"]) == []
