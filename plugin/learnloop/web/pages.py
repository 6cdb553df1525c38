"""Pages people open in a browser: sign-in from a one-time link, the rating page (the fallback for wikis where
the widget cannot be placed), downloading one's own data, and what learnloop keeps and who sees it. The
widget itself is in web/widget.py."""

from __future__ import annotations

import json

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from learnloop.context import Service
from learnloop.domain.ratings import MAX_COMMENT_LENGTH, STAR_LABELS, InvalidRating
from learnloop.domain.urls import InvalidUrl, normalise_url
from learnloop.services import links, personal_data
from learnloop.services.rating import Rater, rate_url, standing
from learnloop.web.errors import message_page
from learnloop.web.session import (
    SESSION_HOURS,
    Visitor,
    bind_link,
    csrf_token,
    current_visitor,
    link_bound,
    require_csrf,
    sign_in,
    sign_out,
)

EXPIRED = ("This link has expired", ("Links from learnloop's bot work once, for ten minutes, in the browser that "
                                    "opened them."))
NEW_LINK = {"signin": ("For a new link type /learn dashboard in your community's channel (for its dashboard) or "
                       "/learn signin in Mattermost (to sign in)."),
            "mydata": "Type /learn mydata in Mattermost for a new one."}


def blueprint(site: Service) -> Blueprint:
    bp = Blueprint("pages", __name__)

    def expired(purpose: str) -> tuple[str, int]:
        return message_page(*EXPIRED, 403, next_step=NEW_LINK[purpose])

    def confirm_page(purpose: str, template: str) -> tuple[str, int]:
        """Shows a button rather than acting on GET: link previews must not use up a link."""
        token = request.args.get("token", "")
        with site.reader() as uow:
            account = links.peek(uow, token, site.clock(), purpose=purpose)
        if account is None:
            return expired(purpose)
        return render_template(template, token=token, nonce=bind_link(links.token_hash(token)), account=account), 200

    def redeem(purpose: str) -> links.Redeemed | tuple[str, int]:
        token = request.form.get("token", "")
        if not link_bound(links.token_hash(token)):
            return message_page("Open the link again", "This confirmation did not come from the browser that "
                                "opened the link, so nothing happened.", 403, next_step=NEW_LINK[purpose])
        try:
            with site.uow() as uow:
                return links.redeem(uow, token, site.clock(), purpose=purpose)
        except links.InvalidLink:
            return expired(purpose)

    @bp.get("/signin")
    def signin_page() -> tuple[str, int]:
        return confirm_page("signin", "signin.html")

    @bp.post("/signin")
    def signin_submit() -> Response | tuple[str, int]:
        redeemed = redeem("signin")
        if isinstance(redeemed, tuple):
            return redeemed
        sign_in(Visitor(redeemed.user_id, redeemed.username))
        return redirect(links.safe_next(redeemed.next_path), code=303)

    @bp.get("/mydata")
    def mydata_page() -> tuple[str, int]:
        return confirm_page("mydata", "mydata.html")

    @bp.post("/mydata")
    def mydata_download() -> Response | tuple[str, int]:
        redeemed = redeem("mydata")
        if isinstance(redeemed, tuple):
            return redeemed
        with site.reader() as uow:
            data = personal_data.export(uow, redeemed.user_id, redeemed.username, site.signing_key, site.clock())
        response = Response(json.dumps(data, indent=2, ensure_ascii=False, default=str),
                            mimetype="application/json")
        response.headers["Content-Disposition"] = "attachment; filename=learnloop-my-data.json"
        return response

    @bp.post("/signout")
    def signout() -> tuple[str, int]:
        require_csrf()
        sign_out()
        return message_page("Signed out", "learnloop's pages no longer know you in this browser. The rating box on "
                            "the wiki's pages has a sign-in of its own: sign out there with its Sign out button.", 200)

    @bp.get("/privacy")
    def privacy() -> tuple[str, int]:
        settings = site.settings
        return render_template("privacy.html", k=settings.min_group_size, retention_days=settings.retention_days), 200

    @bp.get("/")
    def home() -> tuple[str, int]:
        visitor = current_visitor()
        if visitor is None:
            return message_page("learnloop", "Type /learn signin in Mattermost to sign in.", 200)
        return render_template("home.html", visitor=visitor, csrf_token=csrf_token(), hours=SESSION_HOURS), 200

    def rate_context(url: str, title: str | None, visitor: Visitor, **extra: object) -> dict[str, object]:
        return {"url": url, "title": title, "visitor": visitor, "csrf_token": csrf_token(),
                "scale": sorted(STAR_LABELS.items(), reverse=True), "max_comment": MAX_COMMENT_LENGTH,
                "k": site.settings.min_group_size, **extra}

    @bp.get("/rate")
    def rate_page() -> tuple[str, int]:
        visitor = current_visitor()
        if visitor is None:
            return message_page("Sign in to rate", "Your rating here is the same one you would give in chat.", 401,
                                next_step="Type /learn signin in Mattermost, open the link, then rate this page "
                                          "again.")
        try:
            url = normalise_url(request.args.get("url", ""))
        except InvalidUrl as exc:
            return message_page("Nothing to rate", f"{exc}.", 400)
        with site.reader() as uow:
            found = standing(uow, url, visitor.user_id)
        return render_template("rate.html", **rate_context(
            url, found.title if found else None, visitor, standing=found,
            rated=bool(found and found.my_stars) and request.args.get("rated") == "1")), 200

    @bp.post("/rate")
    def rate_submit() -> Response | tuple[str, int]:
        visitor = current_visitor()
        if visitor is None:
            return message_page("Sign in to rate", "Your sign-in has expired.", 401,
                                next_step="Type /learn signin in Mattermost.")
        require_csrf()
        try:
            with site.uow() as uow:
                outcome = rate_url(uow, site.settings, Rater(visitor.user_id), request.form.get("url", ""),
                                   request.form.get("stars", ""), request.form.get("comment"), site.clock())
        except (InvalidUrl, InvalidRating) as exc:
            return message_page("Not rated", f"{exc}.", 400)
        return redirect(url_for("pages.rate_page", url=outcome.url, rated="1"), code=303)

    return bp
