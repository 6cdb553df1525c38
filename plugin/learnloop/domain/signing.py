"""Signed button contexts and dialog states.

Mattermost signs nothing it sends back to us, and a user can alter the context of a button
or the state of a dialog, so everything we hand out is signed with the service's secret and
checked on the way back in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable
from typing import Any

SIGNATURE_FIELD = "sig"


class BadSignature(ValueError):
    """The context was not produced by this service, or was changed after it was."""


def _digest(payload: dict[str, Any], key: bytes) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    mac = hmac.new(key, canonical.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")


def sign(payload: dict[str, Any], key: bytes) -> dict[str, Any]:
    unsigned = {name: value for name, value in payload.items() if name != SIGNATURE_FIELD}
    return {**unsigned, SIGNATURE_FIELD: _digest(unsigned, key)}


def verify(signed: object, key: bytes) -> dict[str, Any]:
    """The payload without its signature, or BadSignature."""
    if not isinstance(signed, dict):
        raise BadSignature("the context is missing or not an object")
    signature = signed.get(SIGNATURE_FIELD)
    if not isinstance(signature, str):
        raise BadSignature("the context is not signed")
    payload = {name: value for name, value in signed.items() if name != SIGNATURE_FIELD}
    if not hmac.compare_digest(signature.encode("utf-8", "surrogatepass"), _digest(payload, key).encode("ascii")):
        raise BadSignature("the context signature does not match")
    return payload


def row_handle(kind: str, row_id: int, key: bytes) -> str:
    """What a button, form or page names a row by where its id would say too much (ids are given in order
    across everyone, so two of them tell how many others were made between): a keyed hash of it."""
    return hmac.new(key, f"{kind}:{row_id}".encode(), hashlib.sha256).hexdigest()[:32]


def row_named(kind: str, row_ids: Iterable[int], handle: object, key: bytes) -> int | None:
    """Which of these rows `handle` names, if any."""
    return next((row_id for row_id in row_ids if row_handle(kind, row_id, key) == handle), None)
