"""Each person owns their data: what is stored about them, all of it to take away, and all of it erased.

Erasing deletes the person's ratings; a page's shown score keeps them, among at least k people's, until it
next moves (domain.scores.may_release; moving it at once would show their stars, and one rater fewer would tell
of the erasure: it moves once as many people newly rated the page, or k erased). The dashboards' rollups keep
their counts: they hold counts and, for people, keyed hashes of their ids. Whoever holds the key could hash the
id again and find the person's weeks, so their hash goes: in the weeks already released one random
stand-in takes its place (the figures shown stay as shown, and nothing ties the stand-in to them any more);
from the weeks not released yet it is removed, so if they act again before those weeks are shown they count
once, not as themselves and a stand-in."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from learnloop.domain.measures import member_key
from learnloop.domain.sealing import Unreadable, unseal
from learnloop.domain.wording import counted
from learnloop.services.network import co_ratings
from learnloop.services.outbox_kinds import DELETE_POST, SEND_NUDGE, SEND_PROMPT, delivery_keys
from learnloop.services.reflections import (
    UNPUBLISHED,
    PublishedSection,
    message_keys,
    publish_key,
    queue_post_removal,
    section_of,
    share_key,
    shared_post,
)
from learnloop.services.rollups import CURSOR as ROLLUPS_CURSOR
from learnloop.services.wiki_ingest import AnnouncementPost, forget_author
from learnloop.storage.unit_of_work import UnitOfWork
from learnloop.wikis import FETCH_JOB, UNPUBLISH_JOB, identify_event

EXPORT_FORMAT = "learnloop-personal-data"


@dataclass(frozen=True)
class Kind:
    """A kind of what is kept about a person, as `/learn mydata` lists it and the erase's reply counts it."""

    key: str
    """Its name in `Erased.counts` and `Summary.counts`."""
    one: str
    many: str
    unnamed: bool = False
    """Kept after an erase, no longer naming the person."""

    def counted(self, count: int) -> str:
        return counted(count, self.one, self.many)


SETTINGS = "settings"
KINDS = (
    Kind("ratings", "rating", "ratings"),
    Kind("feedback", "comment to owners", "comments to owners"),
    Kind("reflections", "reflection", "reflections"),
    Kind("channel_posts", "channel post of a shared reflection", "channel posts of shared reflections"),
    Kind("deliveries", "prompt delivery", "prompt deliveries"),
    Kind("events", "event that names you", "events that name you"),
    Kind("messages", "message that names you", "messages that name you"),
    Kind("links", "sign-in link", "sign-in links"),
    Kind(SETTINGS, "your settings (prompts, weekly suggestions, recognition notes)",
         "your settings (prompts, weekly suggestions, recognition notes)"),
    Kind("page_ownership", "page or space you own", "pages and spaces you own"),
    Kind("review_lists", "week you were a community owner", "weeks you were a community owner"),
    Kind("shared_items", "link you shared first", "links you shared first", unnamed=True),
    Kind("schedules", "prompt schedule you set up", "prompt schedules you set up", unnamed=True),
    Kind("notes_naming_you", "note by someone else that names you", "notes by others that name you", unnamed=True),
    Kind("page_announcements", "page announcement that names you", "page announcements that name you",
         unnamed=True),
)
"""Every kind an erase takes away or unnames, in the order both replies give them."""


def described(counts: dict[str, int], *, unnamed: bool) -> list[str]:
    """The kinds present in `counts`, each with its count (settings, one set at most, without)."""
    return [kind.one if kind.key == SETTINGS else kind.counted(counts[kind.key]) for kind in KINDS
            if kind.unnamed == unnamed and counts.get(kind.key)]


@dataclass(frozen=True)
class Summary:
    counts: dict[str, int]
    """By `Kind.key`: how many of each an erase would take away or unname."""

    @property
    def empty(self) -> bool:
        return not any(self.counts.values())


@dataclass(frozen=True)
class Erased:
    counts: dict[str, int] = field(default_factory=dict)
    wiki_pages: list[str] = field(default_factory=list)
    """Pages that still hold a reflection the person had published."""
    wiki_sections: list[PublishedSection] = field(default_factory=list)
    """Those of their sections learnloop can find again: their places and markers, for the person to have
    removed (nothing in learnloop keeps them once the erase is done)."""

    @property
    def nothing(self) -> bool:
        return not any(self.counts.values())


def summary(uow: UnitOfWork, user_id: str, username: str | None) -> Summary:
    """What an erase would take away or unname, kind by kind (`KINDS`)."""
    records = uow.personal
    member = records.member(user_id)
    username = username or (member.username if member else None)
    reflections = records.reflections(user_id)
    theirs, mentioning = _messages_naming(uow, user_id, username)
    return Summary({
        "ratings": len(records.ratings(user_id)), "feedback": len(records.feedback(user_id)),
        "reflections": len(reflections),
        "channel_posts": sum(shared_post(uow, reflection) is not None for reflection in reflections),
        "deliveries": len(records.deliveries(user_id)), "events": len(records.events(user_id)),
        "messages": len(_messages_to_them(uow, user_id, theirs)) + len(mentioning),
        "links": len(records.signin_links(user_id)),
        SETTINGS: int(member is not None), "page_ownership": len(records.page_ownership(user_id)),
        "review_lists": len(records.community_owner_weeks(user_id)),
        "shared_items": len(records.shared_items(user_id)), "schedules": len(records.schedules_created(user_id)),
        "notes_naming_you": len(records.notes_naming(f"@{username}")) if username else 0,
        "page_announcements": len(uow.announcements.naming(username, lock=False)) if username else 0,
    })


def export(uow: UnitOfWork, user_id: str, username: str | None, key: bytes, now: datetime) -> dict[str, Any]:
    """Everything stored about one person, reflections opened for them alone, each with its community, the
    prompt delivery it answered (among the deliveries, with the questions asked) and what became of its
    publication. Besides what they did and chose:
    the messages learnloop keeps or has yet to send that name them (kind, when queued, payload) and are not
    another person's private messages (a thank-you to the sharer is the sharer's: it would name them, and
    whether one waits tells their setting; the thanking is among the person's events), the pages
    whose announcements name them as a changer, the weeks they were a community's owner, and their sign-in
    links (never the token). `username` (as Mattermost gives it; else the one kept with their settings) finds
    what names them by @name, as `summary` and `erase` do."""
    records = uow.personal
    member = records.member(user_id)
    username = username or (member.username if member else None)
    reflections = []
    for row in records.reflections(user_id):
        try:
            text = unseal(row.body, key)
        except Unreadable:
            text = None
        community = uow.communities.get(row.community_id) if row.community_id is not None else None
        reflections.append({"id": row.id, "text": text, "scale": row.scale, "visibility": row.visibility,
                            "community": community.name if community else None,
                            "answered_prompt": row.answered_prompt, "prompt_delivery_id": row.delivery_id,
                            "publish_state": row.publish_state, "published_wiki": row.published_wiki,
                            "published_url": row.published_url, "published_page": row.published_title,
                            "published_with_your_name": (row.publish_attribution == "name"
                                                         if row.publish_attribution else None),
                            "channel_post_id": row.shared_post_id,
                            "created_at": row.created_at, "updated_at": row.updated_at})
    settings = None
    if member is not None:
        settings = {"username": member.username, "dm_channel_id": member.dm_channel_id, "timezone": member.timezone,
                    "prompts_enabled": member.prompts_enabled,
                    "paused_until": member.paused_until, "time_of_day": member.time_of_day,
                    "quiet_hours": member.quiet_hours, "nudges": member.nudges,
                    "weekly_suggestions": member.suggestions, "recognition_notes": member.recognition,
                    "suggestions_last_week": member.suggested_week, "page_review_last_week": member.review_week,
                    "page_review_notes_after": member.review_notes_after, "updated_at": member.updated_at}
    to_you, mentioning = _messages_naming(uow, user_id, username)
    return {
        "format": EXPORT_FORMAT, "user_id": user_id, "exported_at": now,
        "ratings": records.ratings(user_id), "comments_to_owners": records.feedback(user_id),
        "reflections": reflections, "settings": settings, "prompt_deliveries": records.deliveries(user_id),
        "events": records.events(user_id), "content_you_shared_first": records.shared_items(user_id),
        "prompt_schedules_you_set_up": records.schedules_created(user_id),
        "pages_and_spaces_you_own": records.page_ownership(user_id),
        "weeks_you_were_a_community_owner": records.community_owner_weeks(user_id),
        "signin_links": records.signin_links(user_id),
        "messages_naming_you": _messages_to_them(uow, user_id, to_you),
        "messages_to_others_naming_you": uow.outbox.lines_naming(mentioning, f"@{username}"),
        "page_announcements_naming_you": records.announcements(
            [row.id for row in uow.announcements.naming(username, lock=False)] if username else [], username or ""),
    }


def erase(uow: UnitOfWork, user_id: str, username: str | None, now: datetime, key: bytes,
          announce: AnnouncementPost, *, keep_off: bool = False) -> Erased:
    """Erase everything that names the person, in one transaction, and queue the removal of their shared
    reflections' channel posts; a second erase finds nothing. With `keep_off`, the one thing kept after is, at
    their word, that their prompts and recognition notes stay off (else they come back on, as for anyone
    learnloop knows nothing of). The folds'
    cursors are held first, so a fold that read the person's events before this commits is refused after.
    Page announcements name wiki authors by the username they share with Mattermost; `announce` draws them
    again without the name."""
    uow.cursors.lock([ROLLUPS_CURSOR, co_ratings.CURSOR])
    records = uow.personal
    reflections = records.reflections(user_id, lock=True)
    records.hold_shared(user_id)
    wiki_pages = sorted({r.published_url for r in reflections if r.published_url})
    sections = [section for section in map(section_of, reflections) if section is not None]
    co_ratings.forget_person(uow, key, user_id)
    made_known = records.items_made_known(user_id)
    counts = {"ratings": records.take_back_ratings(user_id)}
    queued = [key for r in reflections for key in message_keys(uow, r.id)]
    never_seen = [r for r in reflections if r.publish_state not in UNPUBLISHED and any(
        message is not None and message.status != "sent" for message in map(uow.outbox.by_key, (
            share_key(r.id), publish_key(r.id))))]  # chosen for everyone, but their posts will not be made
    removals = [(kind, message_key, payload) for kind in (UNPUBLISH_JOB, DELETE_POST)
                for message_key, payload in _removals_asked_by(uow, user_id, kind)]
    notes = [row["comment"] for row in records.feedback(user_id) if row["comment"]]  # owners' messages quote them
    _, mentioning = _messages_naming(uow, user_id, username)
    counts["channel_posts"] = sum(queue_post_removal(uow, reflection, now) for reflection in reflections)
    counts["messages"] = (uow.outbox.remove(queued) + uow.outbox.remove_naming([user_id])
                          + uow.outbox.redact_name(mentioning, f"@{username}") + uow.outbox.redact_quoting(notes))
    # a prompt or nudge the worker is posting names her only by delivery id until it records whom it went to
    deliveries = [delivery_keys(int(row["id"])) for row in records.deliveries(user_id)]
    uow.outbox.remove_keyed([SEND_PROMPT], starting=[prompt for prompt, _ in deliveries])
    uow.outbox.remove_keyed([SEND_NUDGE], exact=[nudge for _, nudge in deliveries])
    for kind, message_key, payload in removals:  # still carried out, no longer naming whom to tell
        uow.outbox.enqueue(kind, payload, key=message_key, now=now)
    counts.update(records.erase_rest(user_id))
    forgotten = records.forget_items_only_they_knew(made_known)  # not counted: it would tell who else knew them
    uow.outbox.remove_keyed([FETCH_JOB], ending=[f":{identify_event(item_id)}" for item_id in forgotten])
    for reflection in never_seen:  # named by nobody: the count stays with what nobody else sees
        uow.events.append("reflection_unseen", occurred_at=now, recorded_at=now,
                          community_id=reflection.community_id, data={"answered_prompt": reflection.answered_prompt})
    if username:
        counts["notes_naming_you"] = records.unname_in_notes(f"@{username}")
        counts["page_announcements"] = forget_author(uow, username, announce)
    uow.rollups.forget_member(member_key(user_id, key), lambda: secrets.token_hex(16))
    # again, as a new statement: a worker's message to them committed while this waited for a row it held
    counts["messages"] += uow.outbox.remove_naming([user_id])
    if keep_off:
        kept = uow.members.ensure(user_id, now)
        kept.prompts_enabled, kept.recognition = False, False
    uow.commit()
    return Erased(counts, wiki_pages, sections)


def _messages_naming(uow: UnitOfWork, user_id: str, username: str | None) -> tuple[list[int], list[int]]:
    """The outbox messages that name the person by id (to them, or keyed by them: theirs), and those to others
    that name them only by @username (an owner's message quoting a note that mentions them: the owner's)."""
    theirs = uow.outbox.naming([user_id])
    mentioning = [i for i in uow.outbox.naming([f"@{username}"]) if i not in theirs] if username else []
    return theirs, mentioning


def _messages_to_them(uow: UnitOfWork, user_id: str, theirs: list[int]) -> list[dict[str, Any]]:
    """Of the messages naming the person by id, those that are not another person's private message (a thank-you
    to the sharer is the sharer's: whether one waits tells their setting)."""
    return [message for message in uow.personal.messages(theirs)
            if message["payload"].get("user_id") in (None, user_id)]


def _removals_asked_by(uow: UnitOfWork, user_id: str, kind: str) -> list[tuple[str, dict[str, Any]]]:
    """Removals of this kind (wiki sections, channel posts of reflections) the person asked for that have not been
    carried out yet, with their payloads no longer naming whom to tell."""
    return [(message.idempotency_key, {**message.payload, "notify": None})
            for message in uow.outbox.pending(kind) if message.payload.get("notify") == user_id]

