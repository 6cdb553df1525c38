"""POST /wiki/<name>/events: every wiki's deliveries. Verify, queue, answer at once."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from flask import Blueprint, Response, jsonify, request

from learnloop.context import Service
from learnloop.inbound import for_log, json_error
from learnloop.wikis import FETCH_JOB, BadDelivery, Unauthorized, WikiHost, fetch_key

log = logging.getLogger(__name__)

MAX_DELIVERY_BYTES = 16 * 1024 * 1024
"""Outline's document events carry the whole text and its editor state: a long handbook page is over a
megabyte, and Outline switches off a webhook whose deliveries keep failing."""


def blueprint(site: Service, hosts: Mapping[str, WikiHost]) -> Blueprint:
    bp = Blueprint("wikis", __name__, url_prefix="/wiki")

    @bp.post("/<name>/events")
    def events(name: str) -> tuple[Response, int]:
        wiki = site.settings.wiki(name)
        if wiki is None:
            return json_error(401, "no wiki of that name is configured")
        now = site.clock()
        request.max_content_length = MAX_DELIVERY_BYTES
        try:
            jobs = hosts[wiki.kind].receive(wiki, request.get_data(cache=False), dict(request.headers),
                                            request.args.to_dict(), now)
        except Unauthorized as exc:
            log.warning("refused a delivery for wiki %s: %s", for_log(name), exc)
            return json_error(401, str(exc))
        except BadDelivery as exc:
            return json_error(400, str(exc))
        with site.uow() as uow:
            queued = sum(uow.outbox.enqueue(FETCH_JOB, {"wiki": name, **job},
                                            key=fetch_key(name, job["event_id"]), now=now) for job in jobs)
            uow.commit()
        return jsonify({"status": "ok", "queued": queued, "ignored": len(jobs) == 0}), 200

    return bp
