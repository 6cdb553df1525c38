"""Wiki work in the worker: read pages a delivery named, poll wikis that cannot push, publish reflections
to a community's learning log, and take a section off it again when its author asks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

from learnloop.config import WikiConfig
from learnloop.domain import publication
from learnloop.domain.wiki_events import PagesUnder
from learnloop.jobs import POLL_RESTARTED, POLL_STATUS
from learnloop.jobs.outbox import BLANK_FLAG, Handler, Message, gives_up
from learnloop.mattermost.context import Chat
from learnloop.mattermost.wiki_messages import announcer
from learnloop.services import reflections, wiki_ingest
from learnloop.services.outbox_kinds import SEND_DM
from learnloop.services.reflections import PublishedSection
from learnloop.storage.unit_of_work import UnitOfWork
from learnloop.wikis import (
    FETCH_JOB,
    PUBLISH_JOB,
    UNPUBLISH_JOB,
    PollRestarted,
    WikiError,
    WikiHost,
    fetch_key,
    learning_log_cursor,
)

log = logging.getLogger(__name__)


PageLock = Callable[[str], AbstractContextManager[bool]]
"""A lock by name that every worker thread and process on the database shares (storage.locks.held, waiting)."""


def page_writes(wiki: WikiConfig) -> str:
    """The lock a wiki's learning-log writes take: BookStack and Outline pages are read, changed and saved whole,
    so two writes side by side would each save over the other's section."""
    return f"wiki-page-writes:{wiki.name}"


def handlers(chat: Chat, hosts: Mapping[str, WikiHost], lock: PageLock) -> dict[str, Handler]:
    announce = announcer(chat)

    def host_for(wiki: WikiConfig) -> WikiHost:
        return hosts[wiki.kind]

    def fetch(message: Message) -> dict[str, Any]:
        wiki = chat.settings.wiki(message.payload["wiki"])
        if wiki is None:
            return {"skipped": "wiki no longer configured"}
        events = host_for(wiki).fetch(wiki, message.payload, chat.clock())
        recorded = checks = 0
        for event in events:
            with chat.uow() as uow:
                if isinstance(event, PagesUnder):
                    checks += check_pages(uow, event)
                else:
                    recorded += not wiki_ingest.ingest(uow, chat.settings, event, chat.clock(), announce).duplicate
        return {"events": len(events), "recorded": recorded, **({"pages_to_check": checks} if checks else {})}

    def check_pages(uow: UnitOfWork, under: PagesUnder) -> int:
        """One fetch job per page learnloop follows under the prefix, queued in one transaction."""
        now = chat.clock()
        queued = 0
        for page_ref in wiki_ingest.pages_under(uow, under.wiki, under.prefix, retired=under.retired):
            event_id = f"{under.event_id}:{page_ref}"
            queued += uow.outbox.enqueue(FETCH_JOB, {"wiki": under.wiki, **under.job, under.ref_field: page_ref,
                                                     "event_id": event_id},
                                         key=fetch_key(under.wiki, event_id), now=now)
        uow.commit()
        return queued

    def publish(message: Message) -> dict[str, Any]:
        """Append a reflection its author chose to publish to the community's learning-log page, its heading
        naming them only if they chose so, and dated when they chose to publish it (dated when it was written, a
        reflection published later would say which week's private ones it had been among). A failure is retried;
        one the wiki refuses for good (or the last try) is told to the author. The section carries the
        reflection's marker: a retry after the wiki saved it but before this was recorded finds it there and does
        not append it again."""
        now = chat.clock()
        with chat.reader() as uow:
            target = reflections.publication_of(uow, int(message.payload["reflection_id"]), chat.signing_key)
        if target is None:
            return {"skipped": "reflection gone or not for the wiki"}
        community = chat.settings.community_for_channel(target.channel_id) if target.channel_id else None
        space = community.wiki_spaces[0] if community and community.wiki_spaces else None
        wiki = chat.settings.wiki(space.wiki) if space else None
        if space is None or wiki is None or community is None:
            with chat.uow() as uow:
                if reflections.mark_publication(uow, target.reflection_id, state="no_wiki_space", now=now):
                    uow.outbox.enqueue(SEND_DM, {"user_id": target.user_id, "message": (
                        "Your reflection stays in your journal: your community has no wiki space to publish to "
                        "yet.")}, key=f"published:{target.reflection_id}", now=now)
                uow.commit()
            return {"published": False}
        heading = publication.heading(message.created_at, author=target.author, community=community.name)
        log_cursor = learning_log_cursor(wiki.name, space.space, community.learning_log_title)
        with chat.reader() as uow:
            last_page = uow.cursors.get(log_cursor)
        try:
            with lock(page_writes(wiki)):
                published = host_for(wiki).publish(wiki, space=space.space, page_title=community.learning_log_title,
                                                   heading=heading, text=target.text, marker=target.marker,
                                                   last_page=last_page)
        except WikiError as exc:
            if not gives_up(message, exc, chat.clock()):
                raise
            failed_at = chat.clock()  # the call may have run past a week's end
            with chat.uow() as uow:
                if reflections.mark_publication(uow, target.reflection_id, state="failed", now=failed_at):
                    uow.outbox.enqueue(SEND_DM, {"user_id": target.user_id, "message": (
                        f"Your reflection could not be published to the wiki {wiki.name}: {exc}. It stays in your "
                        "journal; nothing of it is on the wiki.")}, key=f"published:{target.reflection_id}",
                        now=failed_at)
                uow.commit()
            return {"published": False, "error": str(exc)[:300]}
        with chat.uow() as uow:
            uow.cursors.move(log_cursor, published.page_ref, now)
            if reflections.mark_published(uow, target.reflection_id, wiki=wiki.name, published=published, now=now):
                uow.outbox.enqueue(SEND_DM, {"user_id": target.user_id,
                                             "message": f"Your reflection is in the learning log: {published.url}"},
                                   key=f"published:{target.reflection_id}", now=now)
                uow.commit()
            else:  # its author deleted it while it was being published: it does not stay on the page
                section = PublishedSection(wiki.name, published.page_ref, target.marker, published.page_title,
                                           published.url)
                reflections.queue_removal(uow, [section], notify=None, now=now)
        return {"published": True, "url": published.url}

    def unpublish(message: Message) -> dict[str, Any]:
        """Take a published section off its page at its author's request, and tell them how it went. The job
        holds the section's place and marker only, never the reflection's text (which may be erased by now)."""
        try:
            section = PublishedSection.from_payload(message.payload)
        except ValueError:
            return {"skipped": "not a section learnloop published"}
        notify = message.payload.get("notify")
        where = f"“{section.title}” ({section.url})"
        wiki = chat.settings.wiki(section.wiki)
        if wiki is None:
            tell(notify, section, f"learnloop is no longer connected to the wiki {section.wiki}, so it cannot remove "
                 f"your reflection. It stays on {where}: remove the section there, or ask the wiki's admins.")
            return {"removed": False, "skipped": "wiki no longer configured"}
        try:
            with lock(page_writes(wiki)):
                removed = host_for(wiki).remove(wiki, page_ref=section.page_ref, marker=section.marker)
        except WikiError as exc:
            if not gives_up(message, exc, chat.clock()):
                raise
            tell(notify, section, f"The wiki refused to remove your reflection: {exc}. It is still on {where}: "
                 "remove the section there, or ask the wiki's admins.")
            return {"removed": False, "error": str(exc)[:300]}
        if removed.removed:
            tell(notify, section, f"Removed: your reflection is no longer on {where}.")
        elif removed.gone and len(section.page_ref) <= 100:  # kept for when the page is restored
            with chat.uow() as uow:
                uow.items.park_removal(wiki=section.wiki, page_ref=section.page_ref, marker=section.marker,
                                       title=section.title, url=section.url, now=chat.clock())
                uow.commit()
            tell(notify, section, f"The page {where} is deleted on the wiki (it may be in the wiki's trash), so "
                 "learnloop cannot take your reflection off it now. If someone restores the page, your reflection "
                 "is back on it with the page, and learnloop then takes it off (without another message to you).")
        elif removed.gone:
            tell(notify, section, f"Nothing to remove: the page {where} is no longer on the wiki.")
        else:
            tell(notify, section, f"learnloop found no section of yours on {where}: it was removed already, or "
                 "edited so much that learnloop no longer recognises it. Check the page.")
        return {"removed": removed.removed, "gone": removed.gone}

    def tell(user_id: object, section: PublishedSection, text: str) -> None:
        """A direct message to the person who asked (nobody for a removal learnloop started itself); they may
        have erased their data, and a message stores no one (mattermost.delivery.dm_channel) nor keeps whom it
        went to once sent."""
        if not isinstance(user_id, str) or not user_id:
            return
        with chat.uow() as uow:
            uow.outbox.enqueue(SEND_DM, {"user_id": user_id, "message": text, BLANK_FLAG: True},
                               key=f"unpublished:{section.wiki}:{section.marker}", now=chat.clock())
            uow.commit()

    return {FETCH_JOB: fetch, PUBLISH_JOB: publish, UNPUBLISH_JOB: unpublish}


def poll_wiki(chat: Chat, wiki: WikiConfig, host: WikiHost) -> int:
    """Read a wiki that cannot push (MediaWiki core) from where the last poll stopped; say how it went."""
    with chat.reader() as uow:
        position = wiki_ingest.cursor(uow, wiki.name)
    now = chat.clock()
    try:
        events, new_position = host.poll(wiki, position, now)
    except PollRestarted as exc:
        with chat.uow() as uow:
            wiki_ingest.move_cursor(uow, wiki.name, exc.position, now)
            uow.cursors.move(POLL_RESTARTED + wiki.name, str(exc)[:100], now)
            uow.cursors.move(POLL_STATUS + wiki.name, "ok", now)
            uow.commit()
        return 0
    except Exception as exc:  # a WikiError, or an answer of a shape the client does not read: say so, go on
        problem = str(exc) if isinstance(exc, WikiError) else f"an answer learnloop cannot read ({exc!r:.200})"
        log.warning("could not poll wiki %s: %s", wiki.name, problem, exc_info=not isinstance(exc, WikiError))
        with chat.uow() as uow:
            uow.cursors.move(POLL_STATUS + wiki.name, f"error: {problem}"[:100], now)
            uow.commit()
        return 0
    recorded = 0
    announce = announcer(chat)
    with chat.uow() as uow:
        for event in events:
            recorded += not wiki_ingest.ingest(uow, chat.settings, event, now, announce).duplicate
        if new_position is not None and new_position != position:
            wiki_ingest.move_cursor(uow, wiki.name, new_position, now)
        uow.cursors.move(POLL_STATUS + wiki.name, "ok", now)
        uow.commit()
    return recorded


def identify_pages(chat: Chat, wiki: WikiConfig) -> int:
    """Queue a fetch job for each item first rated or shared by its URL on this wiki since the last pass; each
    asks the wiki which page is there (`wiki_ingest.identify_new_items`)."""
    with chat.uow() as uow:
        return wiki_ingest.identify_new_items(uow, wiki, chat.clock())
