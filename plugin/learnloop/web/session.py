"""Who is signed in to learnloop's pages, and the CSRF token every form carries.

Sessions live in Flask's signed cookie (HttpOnly, SameSite=Lax, Secure behind https). The rating widget's
frame, under /widget/, is shown inside the wikis' pages, so it has a session of its own in another cookie
(`learnloop_frame`, path /widget/, signed with another salt): SameSite=None; Secure; Partitioned where the
browser takes it (https, or loopback, which browsers count as secure), because a frame on another site gets
no SameSite=Lax cookie and, with third-party cookies blocked, no unpartitioned cookie at all. Partitioned
(CHIPS) means the browser keeps one such cookie per top-level site: each wiki is signed in on its own.
Served over plain http from elsewhere, the frame cookie is SameSite=Lax, which works only when learnloop and
the wiki are the same site (learnloop.example.com beside wiki.example.com)."""

from __future__ import annotations

import ipaddress
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Flask, Response, abort, g, has_request_context, request, session
from flask.sessions import SecureCookieSessionInterface

from learnloop.domain.tokens import matches_any

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
SESSION_HOURS = 12
FRAME_PATH = "/widget/"
FRAME_COOKIE = "learnloop_frame"


def in_frame() -> bool:
    """Whether this request is the widget's frame (its own session cookie, framed by the wikis)."""
    return has_request_context() and request.path.startswith(FRAME_PATH)


def cross_site_cookies(public_url: str) -> bool:
    """Whether browsers accept a Secure cookie from this address: https, or a loopback host."""
    parts = urlsplit(public_url)
    if parts.scheme == "https":
        return True
    host = parts.hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Sessions(SecureCookieSessionInterface):
    """The pages' session, or the frame's under /widget/."""

    def __init__(self, *, frame_cross_site: bool) -> None:
        self.frame_cross_site = frame_cross_site

    @property
    def salt(self) -> str:  # type: ignore[override]
        return "learnloop-frame" if in_frame() else "cookie-session"

    def get_cookie_name(self, app: Flask) -> str:
        return FRAME_COOKIE if in_frame() else super().get_cookie_name(app)

    def get_cookie_path(self, app: Flask) -> str:
        return FRAME_PATH if in_frame() else super().get_cookie_path(app)

    def get_cookie_samesite(self, app: Flask) -> str | None:
        return "None" if self._cross_site_frame() else super().get_cookie_samesite(app)

    def get_cookie_secure(self, app: Flask) -> bool:
        return True if self._cross_site_frame() else super().get_cookie_secure(app)

    def get_cookie_partitioned(self, app: Flask) -> bool:
        return True if self._cross_site_frame() else super().get_cookie_partitioned(app)

    def _cross_site_frame(self) -> bool:
        return self.frame_cross_site and in_frame()


@dataclass(frozen=True)
class Visitor:
    user_id: str
    username: str | None


def configure(app: Flask, secret_key: bytes, *, secure: bool, frame_cross_site: bool = False) -> None:
    app.secret_key = secret_key
    app.session_interface = _Sessions(frame_cross_site=frame_cross_site)
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=secure,
                      SESSION_COOKIE_NAME="learnloop_session", PERMANENT_SESSION_LIFETIME=60 * 60 * SESSION_HOURS,
                      SESSION_REFRESH_EACH_REQUEST=False)  # a session lasts from signing in; a cacheable answer
                      # (the widget's loader) then sets no cookie
    app.add_template_global(current_visitor, "signed_in")
    app.add_template_global(in_frame)  # an error page under /widget/ has the frame's session: no pages' sign-out
    app.add_template_global(csrf_token, "form_token")  # the footer's Sign out, on every page

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        if response.mimetype == "text/html":
            hashes = " ".join(getattr(g, "csp_style_hashes", []))
            policy = CSP.replace("style-src 'self'", f"style-src 'self' {hashes}") if hashes else CSP
            ancestors = getattr(g, "frame_ancestors", None)
            if ancestors:
                policy = policy.replace("frame-ancestors 'none'", "frame-ancestors " + " ".join(ancestors))
            else:
                headers.setdefault("X-Frame-Options", "DENY")
            headers.setdefault("Content-Security-Policy", policy)
        if response.mimetype in ("text/html", "application/json", "text/csv"):  # pages, exports, data downloads
            headers.setdefault("Cache-Control", "no-store")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        return response


def allow_framing_by(origins: tuple[str, ...]) -> None:
    """This HTML response may be framed by these origins only (CSP frame-ancestors), instead of by nobody."""
    g.frame_ancestors = origins or ("'none'",)


def sign_in(visitor: Visitor) -> None:
    session.clear()
    session.permanent = True
    session["user_id"], session["username"] = visitor.user_id, visitor.username
    session["since"] = int(time.time())
    session["csrf"] = secrets.token_urlsafe(24)


IDENTITY = ("user_id", "username", "since", "roles")
"""What says who is signed in; a session keeps the rest (a one-time link's nonce) when it ends."""


def sign_out() -> None:
    for key in IDENTITY:
        session.pop(key, None)


def current_visitor() -> Visitor | None:
    """Who is signed in, for SESSION_HOURS from signing in however often they come back (a browser in use keeps
    its cookie fresh, and a shared one would keep the first person signed in for good)."""
    user_id, since = session.get("user_id"), session.get("since")
    if not user_id:
        return None
    if not isinstance(since, int) or time.time() - since > SESSION_HOURS * 3600:
        sign_out()
        return None
    return Visitor(str(user_id), session.get("username"))


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return str(session["csrf"])


def require_csrf() -> None:
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    if not matches_any(str(sent), [str(expected)]):
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
    return matches_any(str(sent), [str(expected)])
