"""Pages people open in a browser: sign-in from a one-time link, and rating a wiki page."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, redirect, render_template, request

from learnloop.bootstrap import Runtime
from learnloop.domain.ratings import MAX_COMMENT_LENGTH, STAR_LABELS, InvalidRating
from learnloop.domain.urls import InvalidUrl, normalise_url
from learnloop.services import signin
from learnloop.services.rating import Rater, rate_url
from learnloop.web.session import Visitor, csrf_token, current_visitor, require_csrf, sign_in

bp = Blueprint("pages", __name__)


def _runtime() -> Runtime:
    return current_app.extensions["learnloop"]


def message(heading: str, text: str, status: int) -> tuple[str, int]:
    return render_template("message.html", heading=heading, text=text), status


@bp.get("/signin/<token>")
def signin_page(token: str) -> tuple[str, int]:
    """Shows a button rather than signing in on GET: link previews must not use up the link."""
    runtime = _runtime()
    with runtime.uow() as uow:
        usable = signin.peek(uow, token, runtime.clock())
    if not usable:
        return message("This link has expired", "Sign-in links work once, for ten minutes. "
                       "Type /learn signin in Mattermost for a new one.", 403)
    return render_template("signin.html"), 200


@bp.post("/signin/<token>")
def signin_submit(token: str) -> Response | tuple[str, int]:
    runtime = _runtime()
    try:
        with runtime.uow() as uow:
            signed_in = signin.redeem(uow, token, runtime.clock())
    except signin.InvalidLink:
        return message("This link has expired", "Sign-in links work once, for ten minutes. "
                       "Type /learn signin in Mattermost for a new one.", 403)
    sign_in(Visitor(signed_in.user_id, signed_in.username))
    return redirect(signin.safe_next(signed_in.next_path), code=303)


@bp.get("/")
def home() -> tuple[str, int]:
    visitor = current_visitor()
    if visitor is None:
        return message("learnloop", "Type /learn signin in Mattermost to sign in.", 200)
    return message(f"Signed in as {visitor.username or visitor.user_id}",
                   "You can now rate wiki pages with their \"Was this useful?\" box.", 200)


def _rate_context(url: str, title: str | None, visitor: Visitor, **extra: object) -> dict[str, object]:
    return {"url": url, "title": title, "visitor": visitor, "csrf_token": csrf_token(),
            "scale": sorted(STAR_LABELS.items(), reverse=True), "max_comment": MAX_COMMENT_LENGTH, **extra}


@bp.get("/rate")
def rate_page() -> tuple[str, int]:
    visitor = current_visitor()
    if visitor is None:
        return message("Sign in to rate", "Type /learn signin in Mattermost, open the link, then rate this page "
                       "again. Your rating is the same one you would give in chat.", 401)
    try:
        url = normalise_url(request.args.get("url", ""))
    except InvalidUrl as exc:
        return message("Nothing to rate", f"{exc}.", 400)
    runtime = _runtime()
    with runtime.uow() as uow:
        item = uow.items.by_url(url)
        rating = uow.ratings.of(item.id, visitor.user_id) if item else None
    current = rating.stars if rating else None
    return render_template("rate.html", **_rate_context(url, item.title if item else None, visitor,
                                                        current=current, outcome=None)), 200


@bp.post("/rate")
def rate_submit() -> tuple[str, int]:
    visitor = current_visitor()
    if visitor is None:
        return message("Sign in to rate", "Your sign-in has expired. Type /learn signin in Mattermost.", 401)
    require_csrf()
    runtime = _runtime()
    try:
        with runtime.uow() as uow:
            outcome = rate_url(uow, runtime.settings, Rater(visitor.user_id), request.form.get("url", ""),
                               request.form.get("stars", ""), request.form.get("comment"), runtime.clock())
    except (InvalidUrl, InvalidRating) as exc:
        return message("Not rated", f"{exc}.", 400)
    return render_template("rate.html", **_rate_context(outcome.url, outcome.title, visitor, current=outcome.stars,
                                                        outcome=outcome)), 200


WIDGET_JS = """(function () {
  "use strict";
  var base = %(base)s;
  if (document.getElementById("learnloop-widget")) { return; }
  var canonical = document.querySelector("link[rel=canonical]");
  var page = canonical ? canonical.href : window.location.href.split("#")[0];
  var mw = window.mw;
  if (mw && mw.config && mw.util && mw.config.get("wgPageName")) {
    page = (mw.config.get("wgCanonicalServer") || window.location.origin) + mw.util.getUrl(mw.config.get("wgPageName"));
  }
  var box = document.createElement("aside");
  box.id = "learnloop-widget";
  box.setAttribute("aria-label", "Was this page useful?");
  box.style.cssText = "margin:1.5em 0;padding:.6em .9em;border:1px solid #d0d7de;border-radius:6px;font:inherit";
  var text = document.createElement("span");
  text.textContent = "Was this page useful? ";
  var link = document.createElement("a");
  link.textContent = "Rate it";
  link.href = base + "/rate?url=" + encodeURIComponent(page);
  link.target = "_blank";
  link.rel = "noopener";
  box.appendChild(text);
  box.appendChild(link);
  var content = document.querySelector("#mw-content-text, .page-content, main, article") || document.body;
  content.appendChild(box);
})();
"""


@bp.get("/widget.js")
def widget() -> Response:
    import json

    body = WIDGET_JS % {"base": json.dumps(_runtime().settings.public_url_text)}
    response = Response(body, mimetype="application/javascript")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response
