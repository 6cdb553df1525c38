"""A community's dashboard, for its members (read-only) and its owners (with the feedback list, the exports
and the button that does the stage's next step). Every figure is released through domain.disclosure; the
page, the CSV and the JSON show the same figures."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from werkzeug.exceptions import ServiceUnavailable
from werkzeug.wrappers import Response

from learnloop.context import Service
from learnloop.domain.disclosure import Figure
from learnloop.domain.learning_metrics import ACTIONS
from learnloop.domain.page_review import FEEDBACK_STATES
from learnloop.domain.ratings import REASONS
from learnloop.services import dashboard as dashboards
from learnloop.services import seeding
from learnloop.services.communities import JoinedElsewhere, fewer_members_than, standing_community
from learnloop.web.charts import split_chart, trend_chart
from learnloop.web.errors import message_page
from learnloop.web.session import Visitor, csrf_token, current_visitor, require_csrf

Role = Literal["owner", "member"]
Access = Callable[[str, str], Role | None]
"""Who someone is in a community, by its channel id and their user id."""
ACCESS_SECONDS = 300
ID = f"int(max={2**63 - 1})"
"""A row id in a path: larger numbers (which no 64-bit id column can hold) are a 404, not a database error."""
PERIOD_ARGS = ("period", "start", "end")
KEPT_ARGS = (*PERIOD_ARGS, "hidden")
"""What a form's redirect keeps of the page it came from: the period and whether hidden feedback shows."""
PERIODS = {"4w": 4, "12w": 12}
MAX_CUSTOM_WEEKS = 105
LABELS = {
    "ratings": "Ratings given", "items_rated": "Items rated", "links_shared": "Links shared",
    "new_pages": "New wiki pages", "page_updates": "Wiki page updates", "threads": "Threads with replies",
    "replies": "Replies", "mentions": "Mentions", "reflections": "Reflections written",
    "reflections.community": "Reflections written to share with the community",
    "reflection_ratings": "Ratings of shared reflections", "prompts_sent": "Prompts sent",
    "prompts_answered": "Prompts answered",
}
SECTIONS = {
    "People to content": ("ratings", "items_rated", "links_shared", "new_pages", "page_updates"),
    "People to people": ("threads", "replies", "mentions", "reflections.community", "reflection_ratings"),
    "Reflection": ("prompts_sent", "prompts_answered", "reflections"),
}
TREND = ("ratings", "links_shared", "replies", "reflections")
SPLIT_LABELS = {"private": "Kept private", "shared": "Shared with the community", "published": "Published to the wiki"}


@dataclass(frozen=True)
class NextSteps:
    """The buttons that do a stage's next step for an owner; the chat layer does the steps (wired in
    learnloop.wiring), through the same services and outbox as its commands."""

    label: Callable[[str, str], str]
    """The button's text, by the step and the community's name."""
    unavailable: Callable[[str, str], str | None]
    """Why the step cannot be done for a community, by its channel id and the step; None when it can."""
    run: Callable[[int, str, str], str]
    """Does the step for a community, by its id, the step and the owner's user id; what was done."""


def span_text(figure: Figure) -> str:
    """The weeks a figure covers, when it does not cover all the weeks asked for."""
    if figure.withheld or figure.complete or figure.first is None or figure.last is None:
        return ""
    return f"weeks of {figure.first:%d %b} to {figure.last:%d %b %Y}"


@dataclass(frozen=True)
class Loaded:
    view: dashboards.Dashboard
    choice: str
    name: str
    role: Role
    small: bool
    """Its channels are known to have fewer than k members: it may never show a figure on its own."""
    channels: int
    prompts_running: bool
    """A reflection prompt is set up for it: the page does not advise setting one up."""


def best_role(access: Access, channel_ids: list[str], user_id: str) -> Role | None:
    """Someone's role in a community of several channels: an owner of any of them owns it (its channels joined
    up by owners of both), a member of any is a member."""
    found: Role | None = None
    for channel_id in channel_ids:
        role = access(channel_id, user_id)
        if role == "owner":
            return role
        found = found or role
    return found


def rows(view: dashboards.Dashboard) -> list[dict[str, object]]:
    """The figures as rows, for the CSV and the JSON: each with the weeks it covers."""
    found: list[dict[str, object]] = []

    def add(scope: str, measure: str, figure: Figure) -> None:
        found.append({"scope": scope, "measure": measure, "value": figure.export(),
                      "from_week": figure.first.isoformat() if figure.first and not figure.withheld else "",
                      "to_week": figure.last.isoformat() if figure.last and not figure.withheld else ""})

    for metric, blocks in view.rows.items():
        for row in blocks:
            add("weeks", metric, row.figure if not row.figure.withheld else
                Figure(None, view.k, row.first, row.last, False))
    for metric, weekly in view.weekly.items():
        if metric in view.rows:
            continue
        for figure in weekly.values():
            add("weeks", metric, figure)
    for metric, figure in view.totals.items():
        add("period", metric, figure)
    add("period", "from_each_other_percent", view.from_each_other)
    add("period", "prompt_response_rate_percent", view.response_rate)
    for name, figure in view.reflection_split.items():
        add("period", f"reflections_{name}", figure)
    return found


def feedback_rows(view: dashboards.Dashboard) -> list[dict[str, object]]:
    """The feedback per page for the CSV: how many in each triage state and the open reasons, counted (never
    who, nor what they wrote)."""
    found: list[dict[str, object]] = []
    for group in view.feedback:
        found += [{"scope": "feedback", "measure": f"state:{state}", "value": count, "page": group.url}
                  for state, count in group.states.items()]
        found += [{"scope": "feedback", "measure": f"open_reason:{reason}", "value": count, "page": group.url}
                  for reason, count in group.open_reasons.items()]
    return found


def blueprint(site: Service, access: Access, steps: NextSteps | None = None) -> Blueprint:
    bp = Blueprint("dashboards", __name__, url_prefix="/dashboard")

    def kept_role(community_id: int) -> Role | None:
        """The role kept in the session, while it is kept (ACCESS_SECONDS)."""
        role, until = session.get("roles", {}).get(str(community_id), (None, 0))
        return role if until > time.time() else None

    def role_in(community_id: int, *, fresh: bool = False) -> tuple[Visitor, Role]:
        """401 before signing in; 403 for anyone outside the community. The answer is kept in the session for
        a few minutes for reading the page; what only owners may see, do or take away (`fresh`) asks again, so a
        removed owner reads no comment, triages nothing and exports nothing in those minutes."""
        visitor = current_visitor()
        if visitor is None:
            abort(401, description="sign in first: type /learn dashboard in your community's channel")
        role = kept_role(community_id)
        if role and not fresh:
            return visitor, role
        with site.reader() as uow:
            community = uow.communities.get(community_id)
            channels = [c.channel_id for c in uow.communities.channels(community_id)]
        if community is not None and not channels:
            channels = [community.channel_id]
        found = best_role(access, channels, visitor.user_id)
        if found is None:
            abort(403, description="only this community's members can see its dashboard")
        known = session.get("roles", {})
        known[str(community_id)] = (found, time.time() + ACCESS_SECONDS)
        session["roles"] = known
        return visitor, found

    def owner_of(community_id: int) -> None:
        if role_in(community_id, fresh=True)[1] != "owner":
            abort(403, description="only this community's owners can see its feedback and exports")

    def period() -> tuple[dashboards.Period, str]:
        today = site.clock().date()
        choice = request.args.get("period", "4w")
        if choice in PERIODS:
            return dashboards.Period.last_weeks(today, PERIODS[choice]), choice
        if choice != "custom":
            abort(400, description="period must be 4w, 12w or custom (with start and end as YYYY-MM-DD)")
        try:
            first, last = date.fromisoformat(request.args["start"]), date.fromisoformat(request.args["end"])
        except (KeyError, ValueError):
            abort(400, description="a custom period needs start and end as YYYY-MM-DD, for example 2026-09-01")
        # the period's last week must end, and the period before it begin, within the calendar
        low, high = date.min + timedelta(weeks=MAX_CUSTOM_WEEKS + 1), date.max - timedelta(weeks=2)
        if not low <= min(first, last) <= max(first, last) <= high:
            abort(400, description=f"a custom period's dates must lie between {low} and {high}")
        chosen = dashboards.Period.whole_weeks(first, last)
        if chosen.last < chosen.first or len(chosen.weeks) > MAX_CUSTOM_WEEKS:
            abort(400, description=f"the custom period must run forwards and span at most {MAX_CUSTOM_WEEKS} weeks")
        return chosen, choice

    def standing_alone(community_id: int) -> str:
        """The community's name; 410 for one whose channels joined another."""
        with site.reader() as uow:
            try:
                return standing_community(uow, community_id).name
            except JoinedElsewhere as exc:
                abort(410, description=str(exc))

    def load(community_id: int, *, owner: bool) -> Loaded:
        kept = kept_role(community_id)
        try:  # an owner's page shows its comments: asked afresh, as for triage and exports
            _, role = role_in(community_id, fresh=owner or kept == "owner")
        except ServiceUnavailable:
            if owner or kept != "owner":
                raise
            role = "member"  # Mattermost cannot say now, the owner role is still kept: the page, without the comments
        if owner and role != "owner":
            abort(403, description="only this community's owners can see its feedback and exports")
        chosen, choice = period()
        k = site.settings.min_group_size
        name = standing_alone(community_id)
        with site.reader() as uow:
            view = dashboards.build(uow, community_id, chosen, k,
                                    feedback_key=site.signing_key if role == "owner" else None,
                                    show_hidden=request.args.get("hidden") == "1")
            channels = uow.communities.channels(community_id)
            running = bool(uow.schedules.for_community(community_id))
        return Loaded(view, choice, name, role, fewer_members_than(channels, k), len(channels), running)

    def kept_period() -> dict[str, Any]:
        return {name: request.args[name] for name in KEPT_ARGS if name in request.args}

    def first_offer(community_id: int, stage: str, role: Role) -> bool:
        """Whether to show the starter kit's banner: to an owner, at the seeding stage, once per community."""
        if role != "owner" or stage != "seeding":
            return False
        with site.reader() as uow:
            due = seeding.offer_due(uow, community_id)
        if not due:
            return False
        with site.uow() as uow:
            return seeding.take_offer(uow, community_id, site.clock())

    def step_button(view: dashboards.Dashboard, name: str, role: Role) -> tuple[str, str | None]:
        """The next step's button text (empty for members, or without one), or why it cannot be done."""
        if role != "owner" or steps is None or not view.stage.action:
            return "", None
        with site.reader() as uow:
            community = uow.communities.get(view.community_id)
        problem = steps.unavailable(community.channel_id, view.stage.action) if community else "unknown community"
        return ("", problem) if problem else (steps.label(view.stage.action, name), None)

    @bp.get(f"/<{ID}:community_id>")
    def page(community_id: int) -> str | tuple[str, int]:
        if current_visitor() is None:
            return message_page(
                "Sign in to see this dashboard",
                "In Mattermost, type /learn dashboard in the community's channel and open the link it gives you: it "
                "signs you in and brings you here.", 401,
                next_step="After that this address works as it is. A dashboard shows its community as a group, to "
                          "the community's own members, never one person.")
        loaded = load(community_id, owner=False)
        view, role = loaded.view, loaded.role
        offer = first_offer(community_id, view.stage.name, role)
        button, unavailable = step_button(view, loaded.name, role)
        weeks = view.period.weeks
        trend = trend_chart("Learning activity by week", weeks, {
            LABELS[m]: [view.weekly[m][w].value for w in weeks] for m in TREND})
        split = split_chart("From each other or from content, by week", weeks,
                            [view.weekly_from_each_other[w].value for w in weeks])
        return render_template("dashboard.html", view=view, name=loaded.name, choice=loaded.choice, labels=LABELS,
                               sections=SECTIONS, trend_svg=trend, split_svg=split, csrf_token=csrf_token(),
                               states=FEEDBACK_STATES, reasons=REASONS, show_hidden=request.args.get("hidden") == "1",
                               period_query=urlencode({n: request.args[n] for n in PERIOD_ARGS if n in request.args}),
                               weeks=weeks, role=role, span_text=span_text, trend=TREND, split_labels=SPLIT_LABELS,
                               query=request.query_string.decode("ascii", "replace"), week=timedelta(days=6),
                               offer=offer, step_button=button, step_unavailable=unavailable, small=loaded.small,
                               channels=loaded.channels, prompts_running=loaded.prompts_running)

    @bp.get(f"/<{ID}:community_id>/export.csv")
    def export_csv(community_id: int) -> Response:
        view = load(community_id, owner=True).view
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["scope", "measure", "from_week", "to_week", "value", "page"])
        writer.writeheader()
        writer.writerows(rows(view))
        writer.writerows(feedback_rows(view))
        response = Response(buffer.getvalue(), mimetype="text/csv")
        response.headers["Content-Disposition"] = f"attachment; filename=community-{community_id}.csv"
        return response

    @bp.get(f"/<{ID}:community_id>/export.json")
    def export_json(community_id: int) -> Response:
        view = load(community_id, owner=True).view
        body: dict[str, Any] = {
            "community_id": community_id,
            "period": {"first_week": view.period.first.isoformat(), "last_week": view.period.last.isoformat()},
            "min_group_size": view.k, "stage": view.stage.name, "rows": rows(view),
            "top_content": [{"title": item.title, "url": item.url, "kind": item.kind,
                             "score": round(item.score, 1), "ratings": item.ratings} for item in view.top],
            "feedback": [{"title": group.title, "url": group.url, "states": group.states,
                          "open_reasons": group.open_reasons} for group in view.feedback]}
        return Response(json.dumps(body, indent=2), mimetype="application/json")

    @bp.post(f"/<{ID}:community_id>/feedback/<handle>")
    def triage(community_id: int, handle: str) -> Response:
        """An owner puts a comment in a triage state (new, planned, resolved, hidden)."""
        owner_of(community_id)
        require_csrf()
        standing_alone(community_id)
        status = request.form.get("status", "")
        try:
            with site.uow() as uow:
                found = dashboards.triage(uow, community_id, handle, status, site.signing_key)
        except ValueError as exc:
            abort(400, description=str(exc))
        if not found:
            abort(404, description="no such feedback in this community")
        return redirect(url_for("dashboards.page", community_id=community_id, **kept_period()), code=303)

    @bp.post(f"/<{ID}:community_id>/step")
    def step(community_id: int) -> Response:
        """An owner has learnloop do the stage's next step; back to the page, with what was done."""
        owner_of(community_id)
        require_csrf()
        standing_alone(community_id)
        action = request.form.get("action", "")
        if steps is None or action not in ACTIONS:
            abort(400, description=f"'{action[:40]}' is not a next step learnloop can do")
        visitor = current_visitor()
        assert visitor is not None
        flash(steps.run(community_id, action, visitor.user_id))
        return redirect(url_for("dashboards.page", community_id=community_id, **kept_period()), code=303)

    return bp
