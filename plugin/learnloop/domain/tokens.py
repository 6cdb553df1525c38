"""Shared-secret checks that take the same time whether or not, and where, a token matches."""

from __future__ import annotations

import hmac
from collections.abc import Iterable


def matches_any(candidate: str | None, accepted: Iterable[str]) -> bool:
    """True when candidate equals one of the accepted tokens; every token is compared."""
    given = (candidate or "").encode("utf-8")
    matched = False
    for token in accepted:
        matched |= hmac.compare_digest(given, token.encode("utf-8")) and bool(token)
    return matched and bool(given)
