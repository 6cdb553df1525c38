"""One-time sign-in links: single use, short-lived, bound to the person the bot gave it to."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from learnloop.storage.tables import SigninLink
from learnloop.storage.unit_of_work import UnitOfWork

LINK_LIFETIME = timedelta(minutes=10)


class InvalidLink(Exception):
    """Unknown, used or expired; deliberately one message for all three."""


@dataclass(frozen=True)
class SignedIn:
    user_id: str
    username: str | None
    next_path: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def safe_next(path: str | None) -> str:
    """Only paths on this service: never an open redirect."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path[:500]


def issue(uow: UnitOfWork, *, user_id: str, username: str | None, next_path: str, now: datetime) -> str:
    token = secrets.token_urlsafe(32)
    uow.session.add(SigninLink(token_hash=_hash(token), user_id=user_id, username=username,
                               next_path=safe_next(next_path), expires_at=now + LINK_LIFETIME, created_at=now))
    uow.commit()
    return token


def redeem(uow: UnitOfWork, token: str, now: datetime) -> SignedIn:
    link = uow.session.scalars(
        select(SigninLink).where(SigninLink.token_hash == _hash(token or "")).with_for_update()).one_or_none()
    if link is None or link.used_at is not None or link.expires_at <= now:
        raise InvalidLink("this sign-in link is not valid any more")
    link.used_at = now
    uow.commit()
    return SignedIn(link.user_id, link.username, link.next_path)


def peek(uow: UnitOfWork, token: str, now: datetime) -> bool:
    """Whether a link could still be redeemed (for the confirmation page), without using it."""
    link = uow.session.scalars(select(SigninLink).where(SigninLink.token_hash == _hash(token or ""))).one_or_none()
    return link is not None and link.used_at is None and link.expires_at > now
