"""Who is signed in to learnloop's pages, and the CSRF token every form carries.

Sessions live in Flask's signed cookie (HttpOnly, SameSite=Lax, Secure behind https)."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from flask import Flask, Response, abort, g, request, session

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
SESSION_HOURS = 12


@dataclass(frozen=True)
class Visitor:
    user_id: str
    username: str | None


def configure(app: Flask, secret_key: bytes, *, secure: bool) -> None:
    app.secret_key = secret_key
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=secure,
                      SESSION_COOKIE_NAME="learnloop_session", PERMANENT_SESSION_LIFETIME=60 * 60 * SESSION_HOURS)

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        if response.mimetype == "text/html":
            hashes = " ".join(getattr(g, "csp_style_hashes", []))
            policy = CSP.replace("style-src 'self'", f"style-src 'self' {hashes}") if hashes else CSP
            headers.setdefault("Content-Security-Policy", policy)
            headers.setdefault("X-Frame-Options", "DENY")
            headers.setdefault("Cache-Control", "no-store")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        return response


def sign_in(visitor: Visitor) -> None:
    session.clear()
    session.permanent = True
    session["user_id"], session["username"] = visitor.user_id, visitor.username
    session["csrf"] = secrets.token_urlsafe(24)


def current_visitor() -> Visitor | None:
    user_id = session.get("user_id")
    return Visitor(str(user_id), session.get("username")) if user_id else None


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return str(session["csrf"])


def require_csrf() -> None:
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    if not expected or not hmac.compare_digest(str(sent), str(expected)):
        abort(400, description="the form's security token is missing or out of date; reload the page and try again")


def bind_link(token_hash: str) -> str:
    """The browser that opens a one-time link gets a nonce for it in its session; confirming the link needs
    it back. A page elsewhere that posts someone's link to another browser (login CSRF) has no nonce there:
    the session cookie is SameSite=Lax, so a cross-site POST carries none."""
    nonce = secrets.token_urlsafe(24)
    opened = dict(session.get("links", {}))
    opened[token_hash[:16]] = nonce
    session["links"] = dict(list(opened.items())[-4:])
    return nonce


def link_bound(token_hash: str) -> bool:
    sent = request.form.get("nonce", "")
    expected = dict(session.get("links", {})).get(token_hash[:16], "")
    return bool(expected) and hmac.compare_digest(str(sent), str(expected))
