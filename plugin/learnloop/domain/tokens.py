"""Shared-secret checks that take the same time whether or not, and where, a token matches."""

from __future__ import annotations

import hmac
from collections.abc import Iterable


def matches_any(candidate: str | None, accepted: Iterable[str]) -> bool:
    """True when candidate equals one of the accepted tokens; every token is compared. Any text may be given
    (compared as UTF-8 bytes: hmac.compare_digest refuses str with characters beyond ASCII)."""
    given = (candidate or "").encode("utf-8", "surrogatepass")
    matched = False
    for token in accepted:
        matched |= hmac.compare_digest(given, token.encode("utf-8", "surrogatepass")) and bool(token)
    return matched and bool(given)
