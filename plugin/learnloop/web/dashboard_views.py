"""A community's dashboard for its owners: group figures only, every people figure held to k."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import date, timedelta

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request, session, url_for

from learnloop.bootstrap import Runtime
from learnloop.mattermost.ownership import is_community_owner
from learnloop.services import dashboard as dashboards
from learnloop.web.charts import split_chart, trend_chart
from learnloop.web.session import csrf_token, current_visitor, require_csrf

bp = Blueprint("dashboards", __name__, url_prefix="/dashboard")
OWNERSHIP_SECONDS = 300
PERIODS = {"4w": 4, "12w": 12}
MAX_CUSTOM_DAYS = 2 * 366
LABELS = {
    "ratings": "Ratings given", "items_rated": "Items rated", "links_shared": "Links shared",
    "new_pages": "New wiki pages", "page_updates": "Wiki page updates", "threads": "Threads with replies",
    "replies": "Replies", "mentions": "Mentions", "reflections": "Reflections written",
    "reflections_shared": "Reflections shared", "reflections_published": "Reflections published",
    "reflection_ratings": "Ratings of shared reflections", "prompts_sent": "Prompts sent",
    "prompts_answered": "Prompts answered",
}
SECTIONS = {
    "People to content": ("ratings", "items_rated", "links_shared", "new_pages", "page_updates"),
    "People to people": ("threads", "replies", "mentions", "reflections_shared", "reflection_ratings"),
    "Reflection": ("prompts_sent", "prompts_answered", "reflections"),
}


def _runtime() -> Runtime:
    return current_app.extensions["learnloop"]


def _owner_of(runtime: Runtime, community_id: int) -> None:
    """403 for anyone but the community's owners; the answer is kept in the session for 5 minutes."""
    visitor = current_visitor()
    if visitor is None:
        abort(401, description="sign in first: type /learn dashboard in your community's channel")
    cache = session.get("owns", {})
    if cache.get(str(community_id), 0) > time.time():
        return
    with runtime.reader() as uow:
        community = uow.communities.get(community_id)
    if community is None or not is_community_owner(runtime, community.channel_id, visitor.user_id):
        abort(403, description="only this community's owners can see its dashboard")
    cache[str(community_id)] = time.time() + OWNERSHIP_SECONDS
    session["owns"] = cache


def _period(runtime: Runtime) -> tuple[dashboards.Period, str]:
    today = runtime.clock().date()
    choice = request.args.get("period", "4w")
    if choice in PERIODS:
        return dashboards.Period.last_weeks(today, PERIODS[choice]), choice
    if choice != "custom":
        abort(400, description="period must be 4w, 12w or custom (with start and end as YYYY-MM-DD)")
    try:
        first, last = date.fromisoformat(request.args["start"]), date.fromisoformat(request.args["end"])
    except (KeyError, ValueError):
        abort(400, description="a custom period needs start and end as YYYY-MM-DD, for example 2026-09-01")
    if last < first or (last - first) > timedelta(days=MAX_CUSTOM_DAYS):
        abort(400, description=f"the custom period must run forwards and span at most {MAX_CUSTOM_DAYS} days")
    return dashboards.Period(first, last), choice


def _load(community_id: int) -> tuple[Runtime, dashboards.Dashboard, str, str]:
    runtime = _runtime()
    _owner_of(runtime, community_id)
    period, choice = _period(runtime)
    with runtime.reader() as uow:
        community = uow.communities.get(community_id)
        view = dashboards.build(uow, community_id, period, runtime.settings.min_group_size)
    return runtime, view, choice, community.name if community else ""


@bp.get("/<int:community_id>")
def page(community_id: int) -> str:
    runtime, view, choice, name = _load(community_id)
    weeks = view.period.weeks
    trend = trend_chart("Learning activity by week", weeks, {
        LABELS[m]: [view.weekly[w][m].value for w in weeks] for m in ("ratings", "links_shared", "replies", "reflections")
    })
    split = split_chart("From each other or from content, by week", weeks,
                        [view.weekly_from_each_other[w].value for w in weeks])
    return render_template("dashboard.html", view=view, name=name, choice=choice, labels=LABELS, sections=SECTIONS,
                           trend_svg=trend, split_svg=split, csrf_token=csrf_token(), weeks=weeks)


def _rows(view: dashboards.Dashboard) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for week in view.period.weeks:
        for metric, figure in view.weekly[week].items():
            rows.append({"week": week.isoformat(), "measure": metric, "value": figure.export()})
    for metric, figure in view.totals.items():
        rows.append({"week": "period", "measure": metric, "value": figure.export()})
    rows.append({"week": "period", "measure": "from_each_other_percent", "value": view.from_each_other.export()})
    rows.append({"week": "period", "measure": "prompt_response_rate_percent", "value": view.response_rate.export()})
    for name, figure in view.reflection_split.items():
        rows.append({"week": "period", "measure": f"reflections_{name}_split", "value": figure.export()})
    return rows


@bp.get("/<int:community_id>/export.csv")
def export_csv(community_id: int) -> Response:
    _, view, _, _ = _load(community_id)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["week", "measure", "value"])
    writer.writeheader()
    writer.writerows(_rows(view))
    response = Response(buffer.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f"attachment; filename=community-{community_id}.csv"
    return response


@bp.get("/<int:community_id>/export.json")
def export_json(community_id: int) -> Response:
    _, view, _, _ = _load(community_id)
    body = {"community_id": community_id, "period": {"start": view.period.first.isoformat(),
                                                     "end": view.period.last.isoformat()},
            "min_group_size": view.k, "stage": view.stage.name, "rows": _rows(view),
            "top_content": [vars(item) for item in view.top]}
    return Response(json.dumps(body, indent=2), mimetype="application/json")


@bp.post("/<int:community_id>/feedback/<int:feedback_id>")
def triage(community_id: int, feedback_id: int) -> Response:
    runtime = _runtime()
    _owner_of(runtime, community_id)
    require_csrf()
    status = request.form.get("status", "")
    try:
        with runtime.uow() as uow:
            found = dashboards.triage(uow, community_id, feedback_id, status)
    except ValueError as exc:
        abort(400, description=str(exc))
    if not found:
        abort(404, description="no such feedback in this community")
    kept = {name: request.args[name] for name in ("period", "start", "end") if name in request.args}
    return redirect(url_for("dashboards.page", community_id=community_id, **kept), code=303)
