"""Who is signed in to learnloop's pages, and the CSRF token every form carries.

Sessions live in Flask's signed cookie (HttpOnly, SameSite=Lax, Secure behind https)."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from flask import Flask, Request, Response, abort, g, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from itsdangerous import URLSafeTimedSerializer

from learnloop.bootstrap import Runtime

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")

EVERY_RESPONSE_HEADERS = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin"))


@dataclass(frozen=True)
class Visitor:
    user_id: str
    username: str | None


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, minus their cost on requests that carry no cookie (every webhook
    and slash command): the signing serializer is built once, not per request."""

    _serializer: tuple[object, URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        if self._serializer is None or self._serializer[0] != keys:
            self._serializer = (keys, super().get_signing_serializer(app))
        return self._serializer[1]

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if "HTTP_COOKIE" not in request.environ and app.secret_key:
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not session and not session.modified and not session.accessed:
            return  # nothing to set, remove or vary on, as after every webhook (Flask reads seven settings first)
        super().save_session(app, session, response)


def configure(app: Flask, runtime: Runtime) -> None:
    app.session_interface = CookieSessions()
    app.secret_key = runtime.signing_key
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=runtime.settings.public_url_text.startswith("https://"),
                      SESSION_COOKIE_NAME="learnloop_session", PERMANENT_SESSION_LIFETIME=60 * 60 * 12)

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        if response.mimetype == "text/html":
            hashes = " ".join(getattr(g, "csp_style_hashes", []))
            policy = CSP.replace("style-src 'self'", f"style-src 'self' {hashes}") if hashes else CSP
            headers.setdefault("Content-Security-Policy", policy)
            headers.setdefault("X-Frame-Options", "DENY")
            headers.setdefault("Cache-Control", "no-store")
        headers.extend(EVERY_RESPONSE_HEADERS)  # no view sets these, so no check for one already there
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
