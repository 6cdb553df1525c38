"""POST /wiki/<name>/events: every wiki's deliveries. Verify, queue, answer at once."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify, request

from learnloop.bootstrap import Runtime
from learnloop.web.errors import json_error
from learnloop.wikis import FETCH_JOB, BadDelivery, Unauthorized, host_for

log = logging.getLogger(__name__)
bp = Blueprint("wikis", __name__, url_prefix="/wiki")


@bp.post("/<name>/events")
def events(name: str) -> tuple[Response, int]:
    runtime: Runtime = current_app.extensions["learnloop"]
    wiki = runtime.settings.wiki(name)
    if wiki is None:
        return json_error(401, "no wiki of that name is configured")
    now = runtime.clock()
    try:
        jobs = host_for(wiki).receive(wiki, request.get_data(cache=False), request.headers,
                                      request.args.to_dict(), now)
    except Unauthorized as exc:
        log.warning("refused a delivery for wiki %s: %s", name, exc)
        return json_error(401, str(exc))
    except BadDelivery as exc:
        return json_error(400, str(exc))
    with runtime.uow() as uow:
        queued = sum(
            uow.outbox.enqueue(FETCH_JOB, {"wiki": name, **job}, key=f"wiki:{name}:{job['event_id']}"[:200], now=now)
            for job in jobs
        )
        uow.commit()
    return jsonify({"status": "ok", "queued": queued, "ignored": len(jobs) == 0}), 200
