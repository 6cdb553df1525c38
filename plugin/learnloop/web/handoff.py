"""How a sign-in in the popup reaches the widget's frame that opened it.

The popup is a top-level learnloop page, so it has learnloop's own (first-party) session; the frame, shown
inside a wiki's page, has a session of its own (web/session.py). The popup hands the frame a code: signed
with the service's key, valid for a minute, naming the person and the frame's nonce. The frame gets it by
`postMessage` from a window of its own origin (the popup it opened), posts it to /widget/signin, and the code
counts only in the frame whose session holds that nonce. The frame's nonce changes when it signs in, so a code
works once; a code taken elsewhere works in no other browser (login CSRF)."""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from learnloop.domain.signing import BadSignature, sign, verify
from learnloop.inbound import parse_json

HANDOFF_LIFETIME = timedelta(seconds=60)
NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
PURPOSE = "frame-signin"


class InvalidHandoff(ValueError):
    """Not a code this service made, made for another frame, or too old."""


@dataclass(frozen=True)
class Handoff:
    user_id: str
    username: str | None
    frame: str


def new_nonce() -> str:
    return secrets.token_urlsafe(18)


def is_nonce(value: str) -> bool:
    return bool(NONCE.match(value))


def issue(handoff: Handoff, key: bytes, now: datetime) -> str:
    expires = int((now + HANDOFF_LIFETIME).timestamp())
    signed = sign({"p": PURPOSE, "u": handoff.user_id, "n": handoff.username, "f": handoff.frame, "exp": expires},
                  key)
    return base64.urlsafe_b64encode(json.dumps(signed, separators=(",", ":")).encode()).decode().rstrip("=")


def redeem(code: str, key: bytes, now: datetime, *, frame: str) -> Handoff:
    try:
        raw = base64.urlsafe_b64decode(code + "=" * (-len(code) % 4))
        payload = verify(parse_json(raw), key)
    except (BadSignature, ValueError, binascii.Error):
        raise InvalidHandoff("this sign-in code was not made by learnloop") from None
    if payload.get("p") != PURPOSE or not isinstance(payload.get("exp"), int):
        raise InvalidHandoff("this is not a sign-in code")
    if payload["exp"] < now.timestamp():
        raise InvalidHandoff("this sign-in took more than a minute")
    if not frame or payload.get("f") != frame:
        raise InvalidHandoff("this sign-in was started from another page")
    username = payload.get("n")
    return Handoff(str(payload["u"]), str(username) if username is not None else None, frame)
