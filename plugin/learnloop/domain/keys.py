"""Idempotency and dedupe keys fit their column, whatever comes from outside."""

from __future__ import annotations

import hashlib

MAX_KEY_LENGTH = 200


def fit(key: str, limit: int = MAX_KEY_LENGTH) -> str:
    """`key` itself when it fits; otherwise its start and a hash of all of it (so two long keys that
    share a start stay apart), the hash cut to half the limit in a short column. Parts from outside (a
    Mattermost trigger id is over 200 characters) make keys of any length."""
    if len(key) <= limit:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:limit // 2]
    return f"{key[:limit - len(digest) - 1]}#{digest}"
