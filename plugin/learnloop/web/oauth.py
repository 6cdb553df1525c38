"""The sign-in popup the widget opens: "Sign in with Mattermost".

/oauth/start?frame=<nonce> runs in a top-level window (a popup), so it has learnloop's own session. Signed in
already (an earlier popup, or a `/learn signin` link opened in this browser): it hands over at once. Otherwise
it sends the browser to Mattermost's /oauth/authorize with a `state` kept in this session, and /oauth/callback
takes the browser back only with that state (no login CSRF: a callback made in another browser finds no state
here). The callback exchanges the code, reads who the person is, signs them in, and the page it shows passes
the frame a one-minute code (web/handoff.py) by `postMessage` to its opener, aimed at learnloop's own origin
only, then closes itself. Without OAuth configured, the popup says how to sign in with `/learn signin`.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Protocol

from flask import Blueprint, redirect, render_template, request, session
from werkzeug.wrappers import Response

from learnloop.config import origin_of
from learnloop.context import Service
from learnloop.domain.tokens import matches_any
from learnloop.errors import HostError
from learnloop.web import handoff
from learnloop.web.errors import message_page
from learnloop.web.session import Visitor, current_visitor, sign_in

log = logging.getLogger(__name__)
PENDING = "oauth"
FALLBACK = ("Type /learn signin in Mattermost and open the link it gives you in this browser. Then press "
            "\"Sign in with Mattermost\" on the wiki page again.")


class Person(Protocol):
    @property
    def user_id(self) -> str: ...

    @property
    def username(self) -> str | None: ...


class Provider(Protocol):
    """Mattermost's OAuth 2.0 provider, as the chat layer talks to it (wired in learnloop.wiring)."""

    def authorize_url(self, state: str) -> str: ...

    def person(self, code: str) -> Person:
        """Who signed in, from the callback's code; raises HostError."""
        ...


def blueprint(site: Service, provider: Callable[[], Provider]) -> Blueprint:
    bp = Blueprint("oauth", __name__)

    def hand_over(visitor: Visitor, frame: str) -> tuple[str, int]:
        code = handoff.issue(handoff.Handoff(visitor.user_id, visitor.username, frame), site.signing_key,
                             site.clock())
        return render_template("signed_in.html", visitor=visitor, code=code,
                               origin=origin_of(site.settings.public_url_text)), 200

    @bp.get("/oauth/start")
    def start() -> Response | tuple[str, int]:
        frame = request.args.get("frame", "")
        if not handoff.is_nonce(frame):
            return message_page("Open this from a wiki page", "This window signs you in for the \"Was this page "
                                "useful?\" box of a wiki page.", 400)
        visitor = current_visitor()
        if visitor is not None:
            return hand_over(visitor, frame)
        if not site.settings.oauth_enabled:
            return message_page("Sign in from Mattermost", "Signing in with Mattermost is not set up here.", 200,
                                next_step=FALLBACK)
        state = secrets.token_urlsafe(24)
        session[PENDING] = {"state": state, "frame": frame}
        return redirect(provider().authorize_url(state), code=302)

    @bp.get("/oauth/callback")
    def callback() -> tuple[str, int]:
        pending = session.pop(PENDING, None)
        state = request.args.get("state", "")
        if not isinstance(pending, dict) or not matches_any(state, [str(pending.get("state", ""))]):
            return message_page("Sign in again", "This answer from Mattermost belongs to a sign-in that did not start "
                                "in this browser, so nobody was signed in.", 403,
                                next_step="Press \"Sign in with Mattermost\" on the wiki page again.")
        if request.args.get("error") or not request.args.get("code"):
            return message_page("Not signed in", "Mattermost did not sign you in (you may have said no).", 403,
                                next_step="Press \"Sign in with Mattermost\" on the wiki page to try again.")
        try:
            person = provider().person(request.args["code"])
        except HostError as exc:
            log.warning("Mattermost sign-in failed: %s", exc)
            return message_page("Not signed in", "Mattermost did not confirm who you are; nothing was changed.", 502,
                                next_step="Try again in a minute. If it keeps failing, the admin finds the reason "
                                          "in learnloop's log.")
        visitor = Visitor(person.user_id, person.username)
        sign_in(visitor)
        return hand_over(visitor, str(pending.get("frame", "")))

    return bp
