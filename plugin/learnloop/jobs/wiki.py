"""Wiki work in the worker: read pages a delivery named, poll wikis that cannot push,
post gathered announcements, and publish reflections to a community's learning log."""

from __future__ import annotations

import logging
from typing import Any

from learnloop.bootstrap import Runtime
from learnloop.jobs.outbox import BatchHandler, Handler
from learnloop.mattermost.client import MattermostClient, MattermostError
from learnloop.mattermost.wiki_messages import page_announcement_post
from learnloop.services import reflections, wiki_ingest
from learnloop.services.outbox_kinds import SEND_DM
from learnloop.wikis import FETCH_JOB, PUBLISH_JOB, WikiError, host_for

log = logging.getLogger(__name__)


def _as_mattermost_error(exc: WikiError) -> MattermostError:
    """The outbox retries by MattermostError's rules; a wiki failure follows the same ones."""
    return MattermostError(str(exc), status_code=None if exc.retryable else 400, call="wiki")


def fetch(runtime: Runtime, _client: MattermostClient | None, payload: dict[str, Any], attempt: int) -> dict[str, Any]:
    wiki = runtime.settings.wiki(payload["wiki"])
    if wiki is None:
        return {"skipped": "wiki no longer configured"}
    try:
        events = host_for(wiki).fetch(wiki, payload, runtime.clock())
    except WikiError as exc:
        raise _as_mattermost_error(exc) from None
    recorded = 0
    for event in events:
        with runtime.uow() as uow:
            recorded += not wiki_ingest.ingest(uow, runtime.settings, event, runtime.clock()).duplicate
    return {"events": len(events), "recorded": recorded}


def publish(runtime: Runtime, _client: MattermostClient | None, payload: dict[str, Any], attempt: int) -> dict[str, Any]:
    """Append a reflection its author chose to publish to the community's learning-log page.

    A failure is retried by the outbox; the reflection itself is never touched until it worked."""
    now = runtime.clock()
    with runtime.uow() as uow:
        target = reflections.publication_of(uow, int(payload["reflection_id"]), runtime.signing_key)
    if target is None:
        return {"skipped": "reflection gone or not for the wiki"}
    community = runtime.settings.community_for_channel(target.channel_id) if target.channel_id else None
    space = community.wiki_spaces[0] if community and community.wiki_spaces else None
    wiki = runtime.settings.wiki(space.wiki) if space else None
    if space is None or wiki is None or community is None:
        with runtime.uow() as uow:
            reflections.mark_publication(uow, target.reflection_id, state="no_wiki_space", url=None, now=now)
            uow.outbox.enqueue(SEND_DM, {"user_id": target.user_id, "message": (
                "Your reflection stays in your journal: your community has no wiki space to publish to yet.")},
                key=f"published:{target.reflection_id}", now=now)
            uow.commit()
        return {"published": False}
    try:
        url = host_for(wiki).publish(wiki, space=space.space, page_title=community.learning_log_title,
                                     heading=f"{target.created_at:%Y-%m-%d} · {target.author}", text=target.text)
    except WikiError as exc:
        raise _as_mattermost_error(exc) from None
    with runtime.uow() as uow:
        reflections.mark_publication(uow, target.reflection_id, state="published", url=url, now=now)
        uow.outbox.enqueue(SEND_DM, {"user_id": target.user_id,
                                     "message": f"Your reflection is in the learning log: {url}"},
                           key=f"published:{target.reflection_id}", now=now)
        uow.commit()
    return {"published": True, "url": url}


def poll_wikis(runtime: Runtime) -> int:
    """Wikis without webhooks (MediaWiki core) are read from where the last poll stopped."""
    recorded = 0
    for wiki in runtime.settings.wikis:
        host = host_for(wiki)
        with runtime.uow() as uow:
            position = wiki_ingest.cursor(uow, wiki.name)
        try:
            events, new_position = host.poll(wiki, position, runtime.clock())
        except WikiError as exc:
            log.warning("could not poll wiki %s: %s", wiki.name, exc)
            continue
        with runtime.uow() as uow:
            for event in events:
                recorded += not wiki_ingest.ingest(uow, runtime.settings, event, runtime.clock()).duplicate
            if new_position is not None and new_position != position:
                wiki_ingest.move_cursor(uow, wiki.name, new_position, runtime.clock())
            uow.commit()
    return recorded


def announce_due(runtime: Runtime) -> int:
    def build(announcement: wiki_ingest.PageAnnouncement) -> dict[str, Any]:
        return page_announcement_post(announcement, public_url=runtime.settings.public_url_text,
                                      key=runtime.signing_key)

    with runtime.uow() as uow:
        return wiki_ingest.queue_due_announcements(uow, runtime.clock(), build)


HANDLERS: dict[str, Handler | BatchHandler] = {FETCH_JOB: fetch, PUBLISH_JOB: publish}
