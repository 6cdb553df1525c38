"""The rating widget on wiki pages: a small loader script and a frame served by learnloop.

Why a frame, not a script that posts to learnloop: the wiki page and learnloop are different origins, and the
rating control has to post as the signed-in person. In a frame the control is an ordinary learnloop page: its
forms post to its own origin with a CSRF token and answer post/redirect/get, so a reload repeats nothing; it
keeps learnloop's strict Content-Security-Policy (script-src 'self', no inline code), with frame-ancestors
naming only the configured wikis' origins; and the wiki's scripts cannot read or drive it. A script posting
across origins would need CORS with credentials opened to every wiki, a token readable by the wiki's own
scripts, and learnloop's markup mixed into the wiki's page and styles.

Identity in the frame: its own session cookie (web/session.py: SameSite=None; Secure; Partitioned, the one kind
of cookie a cross-site frame keeps when third-party cookies are blocked, as in Chromium here). Sign-in happens
in a popup (web/oauth.py), a top-level window of learnloop, which hands the frame a one-minute code by
`postMessage` (web/handoff.py). The frame is placed after the page's load event, so it never holds up `load`.

The loader (`GET /widget.js`) shows the frame only on content pages: on MediaWiki a page of a content namespace
viewed as an article (wgAction "view", not a diff, a redirect or a missing page; Special pages, talk pages, edit
forms and histories are left alone); on BookStack a page view (/books/<book>/page/<page>).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, make_response, redirect, render_template, request, session, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from learnloop.config import origin_of
from learnloop.context import Service
from learnloop.domain.ratings import LOW_STARS, MAX_COMMENT_LENGTH, REASONS, STAR_LABELS, InvalidRating
from learnloop.domain.urls import InvalidUrl, normalise_url
from learnloop.services.network.recognition import ThanksRefused
from learnloop.services.rating import Rater, UnknownItem, give_reason, rate_url, standing
from learnloop.web import handoff
from learnloop.web.session import (
    Visitor,
    allow_framing_by,
    csrf_token,
    current_visitor,
    require_csrf,
    sign_in,
    sign_out,
)

log = logging.getLogger(__name__)

LOADER = (Path(__file__).parent / "static" / "widget-loader.js").read_text(encoding="utf-8")
BASE_PLACEHOLDER = '"__LEARNLOOP_BASE__"'


class NotAWikiPage(ValueError):
    """The frame was asked for a page outside the configured wikis."""


Thank = Callable[[Visitor, int], bool]
"""Sends a rater's named thank-you for an item to whoever shared it (the chat layer does it; wired in
learnloop.wiring). False when sent before; raises ThanksRefused."""


def blueprint(site: Service, thank: Thank | None = None) -> Blueprint:
    bp = Blueprint("widget", __name__)

    def target() -> tuple[str, str]:
        """The page to rate and the wiki origin framing it, from the query or the form."""
        values = request.form if request.method == "POST" else request.args
        origin = values.get("origin", "")
        if origin not in site.settings.wiki_origins:
            raise NotAWikiPage("this box works on the pages of the wikis learnloop is connected to")
        url = normalise_url(values.get("url", ""))
        if origin_of(url) != origin:
            raise NotAWikiPage("this box rates the page it is on")
        return url, origin

    def back(url: str, origin: str, **extra: Any) -> Response:
        return redirect(url_for("widget.frame", url=url, origin=origin, **extra), code=303)

    def refused(text: str, status: int) -> tuple[str, int]:
        allow_framing_by(site.settings.wiki_origins)
        return render_template("widget_frame.html", problem=text), status

    @bp.errorhandler(HTTPException)
    def _http_problem(exc: HTTPException) -> tuple[str, int]:
        text = exc.description or exc.name
        return refused(text[:1].upper() + text[1:] + ".", exc.code or 500)

    @bp.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[str, int]:
        log.exception("unhandled error in the widget")
        return refused("learnloop hit an internal error; nothing was changed. Try again in a minute.", 500)

    def frame_nonce() -> str:
        if not handoff.is_nonce(str(session.get("frame", ""))):
            session["frame"] = handoff.new_nonce()
        return str(session["frame"])

    @bp.get("/widget.js")
    def loader() -> Response:
        body = LOADER.replace(BASE_PLACEHOLDER, f'"{site.settings.public_url_text}"')
        response = Response(body, mimetype="application/javascript")
        response.headers["Cache-Control"] = "public, max-age=3600"
        return response

    @bp.get("/widget/frame")
    def frame() -> tuple[str, int]:
        try:
            url, origin = target()
        except (InvalidUrl, NotAWikiPage) as exc:
            return refused(f"{exc}.", 400)
        allow_framing_by((origin,))
        visitor = current_visitor()
        with site.reader() as uow:
            found = standing(uow, url, visitor.user_id if visitor is not None else "")
        if found is not None and found.retired:
            return render_template("widget_frame.html", problem="This page was deleted from the wiki, so it can no "
                                   "longer be rated."), 200
        if visitor is None:
            found = None
        mine = found.my_stars if found else None
        return render_template(
            "widget_frame.html", url=url, origin=origin, visitor=visitor, standing=found, mine=mine,
            scale=sorted(STAR_LABELS.items()), reasons=REASONS, low=mine is not None and mine <= LOW_STARS,
            k=site.settings.min_group_size, max_note=MAX_COMMENT_LENGTH, csrf_token=csrf_token(),
            nonce=frame_nonce(), oauth=site.settings.oauth_enabled, asked=request.args.get("signin") == "1",
            can_thank=thank is not None and found is not None and found.shared_by_someone_else,
            thanked=request.args.get("thanked", "")), 200

    def posted() -> tuple[str, str, Visitor | None]:
        """A form of the frame: its CSRF token checked, its page and origin, who is signed in (if anyone)."""
        require_csrf()
        try:
            url, origin = target()
        except (InvalidUrl, NotAWikiPage) as exc:
            abort(make_response(refused(f"{exc}.", 400)))
        return url, origin, current_visitor()

    @bp.post("/widget/rate")
    def rate() -> Response | tuple[str, int]:
        url, origin, visitor = posted()
        if visitor is None:
            return back(url, origin, signin="1")
        try:
            item_id = record(visitor, url, request.form.get("stars", ""))
        except InvalidRating as exc:
            return refused(f"Not rated: {exc}.", 400)
        if request.form.get("thank") and thank is not None:
            try:
                return back(url, origin, thanked="sent" if thank(visitor, item_id) else "again")
            except ThanksRefused:
                return back(url, origin, thanked="refused")
        return back(url, origin)

    def record(visitor: Visitor, url: str, stars: str) -> int:
        with site.uow() as uow:
            return rate_url(uow, site.settings, Rater(visitor.user_id), url, stars, None, site.clock()).item_id

    @bp.post("/widget/reason")
    def reason() -> Response | tuple[str, int]:
        url, origin, visitor = posted()
        if visitor is None:
            return back(url, origin, signin="1")
        try:
            with site.uow() as uow:
                give_reason(uow, visitor.user_id, url, request.form.get("reason"), request.form.get("note"),
                            site.clock())
        except (InvalidRating, UnknownItem) as exc:
            return refused(f"Not sent: {exc}.", 400)
        return back(url, origin)

    @bp.post("/widget/signout")
    def signout() -> Response | tuple[str, int]:
        url, origin, _ = posted()
        sign_out()
        return back(url, origin)

    @bp.post("/widget/signin")
    def signin() -> Response | tuple[str, int]:
        url, origin, _ = posted()
        try:
            given = handoff.redeem(request.form.get("code", ""), site.signing_key, site.clock(),
                                   frame=str(session.get("frame", "")))
        except handoff.InvalidHandoff as exc:
            return refused(f"Not signed in: {exc}. Press \"Sign in with Mattermost\" again.", 403)
        visitor = Visitor(given.user_id, given.username)
        sign_in(visitor)
        session["frame"] = handoff.new_nonce()
        stars = request.form.get("stars", "")
        if stars:
            try:
                record(visitor, url, stars)
            except InvalidRating as exc:
                return refused(f"Signed in, but not rated: {exc}.", 400)
        return back(url, origin)

    return bp
