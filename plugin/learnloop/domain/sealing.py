"""Reflection text is sealed at rest, so a database dump or an export never shows it in clear.

The key is derived from the service's secret key; only code that holds the key (the author's
own views, the shared post of a reflection its author chose to share) opens it.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken

_CONTEXT = b"learnloop reflection sealing v1"


class Unreadable(ValueError):
    """Sealed text that this key did not seal, or that was changed."""


def _fernet(secret: bytes) -> Fernet:
    key = hashlib.sha256(_CONTEXT + secret).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(text: str, secret: bytes) -> str:
    return _fernet(secret).encrypt(text.encode("utf-8")).decode("ascii")


def unseal(token: str, secret: bytes) -> str:
    try:
        return _fernet(secret).decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError, ValueError):
        raise Unreadable("this text was sealed with another key or has been altered") from None
