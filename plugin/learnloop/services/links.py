"""One-time links the bot hands to one person: to sign in to learnloop's pages, or to download their data.

Single use, ten minutes, bound to the person they were issued to; only a hash of the token is stored.
The token travels in the query string, which the access log never records."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from learnloop.storage.tables import SigninLink
from learnloop.storage.unit_of_work import UnitOfWork

LINK_LIFETIME = timedelta(minutes=10)
PURPOSES = ("signin", "mydata")


class InvalidLink(Exception):
    """Unknown, used or expired; deliberately one message for all three."""


@dataclass(frozen=True)
class Redeemed:
    user_id: str
    username: str | None
    next_path: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def safe_next(path: str | None) -> str:
    """Only paths on this service: never an open redirect."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path[:500]


def issue(uow: UnitOfWork, *, user_id: str, username: str | None, next_path: str, now: datetime,
          purpose: str = "signin") -> str:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown link purpose {purpose!r}")
    token = secrets.token_urlsafe(32)
    uow.links.add(SigninLink(token_hash=token_hash(token), purpose=purpose, user_id=user_id, username=username,
                             next_path=safe_next(next_path), expires_at=now + LINK_LIFETIME, created_at=now))
    uow.commit()
    return token


def _usable(uow: UnitOfWork, token: str, now: datetime, purpose: str, *, lock: bool) -> SigninLink | None:
    link = uow.links.by_hash(token_hash(token or ""), purpose, for_update=lock)
    if link is None or link.used_at is not None or link.expires_at <= now:
        return None
    return link


def redeem(uow: UnitOfWork, token: str, now: datetime, *, purpose: str = "signin") -> Redeemed:
    link = _usable(uow, token, now, purpose, lock=True)
    if link is None:
        raise InvalidLink("this link is not valid any more")
    link.used_at = now
    uow.commit()
    return Redeemed(link.user_id, link.username, link.next_path)


def peek(uow: UnitOfWork, token: str, now: datetime, *, purpose: str = "signin") -> str | None:
    """Whose account a link that could still be redeemed is for (its username, else its user id), without using
    it; None for one that cannot. The confirmation page names it: a link someone sent you would sign you in as
    them (and what you then rate and write would be theirs to read)."""
    link = _usable(uow, token, now, purpose, lock=False)
    return None if link is None else link.username or link.user_id


def url(public_url: str, purpose: str, token: str) -> str:
    return f"{public_url}/{purpose}?token={quote(token)}"


def signin_url(public_url: str, token: str) -> str:
    return url(public_url, "signin", token)
