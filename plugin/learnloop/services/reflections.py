"""Reflections: written privately first; shared with the community or published by the author's choice.

Private text never leaves this module in clear except to its author: it is sealed at rest,
it is not put in events, logs or error messages, and only the author's own id opens it."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from learnloop.domain import publication
from learnloop.domain.publication import ATTRIBUTIONS
from learnloop.domain.sealing import seal, unseal
from learnloop.domain.signing import row_handle, row_named
from learnloop.services.outbox_kinds import (
    ANSWERED_PROMPT,
    CREATE_POST,
    DELETE_POST,
    UPDATE_POST,
    edit_key,
    edit_number,
)
from learnloop.services.prompts.delivered import answerable
from learnloop.storage.tables import Reflection
from learnloop.storage.unit_of_work import UnitOfWork
from learnloop.wikis import PUBLISH_JOB, UNPUBLISH_JOB, Published, WikiError, check_marker

VISIBILITIES = ("private", "community", "wiki")
SHARED_TITLE = "A shared reflection"
"""How a shared reflection is named as content: never by its author."""
MAX_REFLECTION_LENGTH = 3000
JOURNAL_SIZE = 10
SENT_AGAIN_WITHIN = timedelta(minutes=10)
"""A reflection the same as its author's last one, written this soon after it, is the form sent twice."""


PostBuilder = Callable[["SharePost"], dict[str, Any]]
AnsweredText = Callable[["ReflectionView"], str]
"""What a prompt's post says once the reflection answered it; built by the Mattermost layer."""


SHARE_PREFIX, PUBLISH_PREFIX = "share-reflection:", "publish:"
"""The outbox keys of a reflection's channel post and of its wiki section begin so (`share_key`, `publish_key`)."""


UNPUBLISHED = ("failed", "no_wiki_space")
"""The publish states of a reflection chosen for the wiki that the wiki never showed."""


def share_key(reflection_id: int) -> str:
    """The outbox key of a shared reflection's channel post, which carries its text."""
    return f"{SHARE_PREFIX}{reflection_id}"


def shared_by_key(key: str) -> int | None:
    """The reflection a channel post's outbox key shares (`share_key`), if it is one."""
    number = key.removeprefix(SHARE_PREFIX)
    return int(number) if number != key and number.isdigit() else None


def never_posted(uow: UnitOfWork, reflection_id: int, now: datetime) -> None:
    """Its post was given up for good (Mattermost refused it): nobody will see it in the channel. Commits."""
    reflection = uow.reflections.get(reflection_id)
    if reflection is not None and reflection.visibility == "community":
        _never_seen(uow, reflection, now)
        uow.commit()


def posted(uow: UnitOfWork, reflection_id: int, post_id: str, now: datetime) -> bool:
    """Record its channel post, once made; False when the reflection was deleted (or erased) while it was being
    posted: the post's removal is then queued. Commits."""
    reflection = uow.reflections.get(reflection_id, for_update=True)
    if reflection is None:
        _queue_deletion(uow, post_id, now)
    else:
        reflection.shared_post_id = post_id
    uow.commit()
    return reflection is not None


def shared_post(uow: UnitOfWork, reflection: Reflection) -> str | None:
    """Its post in the channel, if one was made: recorded on it, or, for one shared before that was recorded, in
    the outbox message that made it (while it is kept)."""
    if reflection.shared_post_id:
        return reflection.shared_post_id
    message = uow.outbox.by_key(share_key(reflection.id))
    found = (message.result or {}).get("post_id") if message is not None and message.status == "sent" else None
    return str(found) if found else None


def post_goes_with_it(uow: UnitOfWork, reflection_id: int) -> bool:
    """Whether deleting the reflection takes its channel post too: one made that learnloop can still find, or one
    not made yet (it never will be). False for a post made so long ago that learnloop no longer knows it."""
    reflection = uow.reflections.get(reflection_id)
    if reflection is None or shared_post(uow, reflection) is not None:
        return reflection is not None
    message = uow.outbox.by_key(share_key(reflection.id))
    return message is not None and message.status == "pending"


def queue_post_removal(uow: UnitOfWork, reflection: Reflection, now: datetime, *, notify: str | None = None) -> bool:
    """Queue the removal of its channel post, if one was made, or may have been: an earlier try to make it that
    had no answer leaves it to be looked for by the post's marker. One still waiting goes with its outbox
    message, and one being made meanwhile is removed once made (`posted`). `notify`: whom to tell if the post
    stays (Mattermost no longer lets learnloop delete it), with the name of its community."""
    tell: dict[str, Any] = {}
    if notify is not None:
        community = uow.communities.get(reflection.community_id) if reflection.community_id else None
        tell = {"notify": notify, "community": community.name if community else None}
    post_id = shared_post(uow, reflection)
    if post_id is not None:
        return _queue_deletion(uow, post_id, now, **tell)
    message = uow.outbox.by_key(share_key(reflection.id))
    if message is None or message.status != "pending" or not message.attempts:
        return False
    return uow.outbox.enqueue(DELETE_POST, {"post_key": message.idempotency_key,
                                            "channel_id": message.payload.get("channel_id"),
                                            "since": message.created_at.isoformat(), **tell},
                              key=f"delete-post:{message.idempotency_key}", now=now)


def _queue_deletion(uow: UnitOfWork, post_id: str, now: datetime, **tell: Any) -> bool:
    return uow.outbox.enqueue(DELETE_POST, {"post_id": post_id, **tell}, key=f"delete-post:{post_id}", now=now)


def publish_key(reflection_id: int) -> str:
    return f"{PUBLISH_PREFIX}{reflection_id}"


def message_keys(uow: UnitOfWork, reflection_id: int) -> list[str]:
    """The keys of the outbox messages that carry a reflection's text: its channel post, the post's edits, its
    publication."""
    return [message.idempotency_key for message in uow.outbox.of_thread(share_key(reflection_id))] + \
        [publish_key(reflection_id)]


def removal_key(wiki: str, marker: str) -> str:
    """One removal per section, however often its author asks."""
    return f"unpublish:{wiki}:{marker}"


class InvalidReflection(ValueError):
    """Empty, too long, answered already, or a visibility that cannot be had; `field` names the form field."""

    def __init__(self, message: str, field: str = "answer1") -> None:
        super().__init__(message)
        self.field = field


NOT_YOURS = "that is not one of your reflections"


class NotYours(LookupError):
    """No reflection with that id belongs to this person (whether or not it exists)."""


@dataclass(frozen=True)
class PublishedSection:
    """A section on a wiki page, all learnloop needs to remove it: never the reflection's text, so it can be
    handed to its author after the reflection is erased (in a signed button) and to the worker."""

    wiki: str
    page_ref: str
    marker: str
    title: str
    url: str

    def to_payload(self) -> dict[str, str]:
        return {"wiki": self.wiki, "page_ref": self.page_ref, "marker": self.marker, "title": self.title,
                "url": self.url}

    @classmethod
    def from_payload(cls, data: object) -> PublishedSection:
        """Back from `to_payload`; ValueError with a sentence when it is not one."""
        if not isinstance(data, dict):
            raise ValueError("this is not a wiki section learnloop published")
        values = {name: data.get(name) for name in ("wiki", "page_ref", "marker", "title", "url")}
        if not all(isinstance(value, str) and value and len(value) <= 2048 for value in values.values()):
            raise ValueError("this is not a wiki section learnloop published")
        try:
            check_marker(str(values["marker"]))
        except WikiError:
            raise ValueError("this is not a wiki section learnloop published") from None
        return cls(**values)  # type: ignore[arg-type]


def section_of(reflection: Reflection) -> PublishedSection | None:
    """The section of a published reflection; None if it is not (yet) on a page learnloop recorded."""
    if not (reflection.publish_state == "published" and reflection.publish_marker and reflection.published_wiki
            and reflection.published_page_ref and reflection.published_url):
        return None
    return PublishedSection(reflection.published_wiki, reflection.published_page_ref, reflection.publish_marker,
                            reflection.published_title or reflection.published_url, reflection.published_url)


@dataclass(frozen=True)
class ReflectionView:
    id: int
    text: str
    scale: int | None
    visibility: str
    created_at: datetime
    publish_state: str | None
    community_id: int | None = None
    published_url: str | None = None
    attribution: str | None = None
    section: PublishedSection | None = None
    """Where its wiki section is, for a published reflection learnloop can find on its page again."""
    answers_prompt: bool = False
    again: bool = False
    """The same as the author's last reflection, sent again: nothing new was stored or posted."""
    post_updated: bool = False
    """Edited: its post in the channel is being brought up to date."""


@dataclass(frozen=True)
class SharePost:
    """What the channel post of a shared reflection needs; built by the Mattermost layer."""

    channel_id: str
    item_id: int
    item_url: str
    author_name: str
    text: str


def has_text(text: str) -> bool:
    """Whether the text shows anything: a zero-width space or a direction mark alone does not."""
    return any(char.isprintable() and not char.isspace() for char in text)


def clean_text(text: str) -> str:
    body = (text or "").strip()
    if not has_text(body):
        raise InvalidReflection("a reflection needs some text")
    if len(body) > MAX_REFLECTION_LENGTH:
        raise InvalidReflection(f"the reflection is {len(body)} characters long; keep it to at most "
                                f"{MAX_REFLECTION_LENGTH}")
    return body


def check_visibility(value: str, *, can_publish: bool = True) -> str:
    if value not in VISIBILITIES:
        raise InvalidReflection(f"'{value[:20]}' is not a visibility: choose private, community or wiki", "visibility")
    if value == "wiki" and not can_publish:
        raise InvalidReflection("your community has no wiki space to publish to yet; keep it private or share it "
                                "with your community", "visibility")
    return value


def check_attribution(value: str) -> str:
    if value not in ATTRIBUTIONS:
        raise InvalidReflection(f"'{value[:20]}' is not a choice for the wiki: choose with or without your name",
                                "attribution")
    return value


def _view(reflection: Reflection, key: bytes) -> ReflectionView:
    return ReflectionView(reflection.id, unseal(reflection.body, key), reflection.scale, reflection.visibility,
                          reflection.created_at, reflection.publish_state, reflection.community_id,
                          reflection.published_url, reflection.publish_attribution, section_of(reflection),
                          reflection.delivery_id is not None)


def write(
    uow: UnitOfWork, *, user_id: str, author_name: str | None, text: str, scale: int | None, visibility: str,
    community_id: int | None, delivery_id: int | None, now: datetime, key: bytes, public_url: str,
    post_builder: PostBuilder, can_publish: bool = True, attribution: str = "name",
    prompt_post_id: str | None = None, answered_text: AnsweredText | None = None,
) -> ReflectionView:
    """Store a reflection and, if shared, queue its channel post, in one transaction. An answer to a prompt
    answers it once; a second answer is refused (the first can be edited in the journal). `attribution` is
    the author's choice for the wiki: named ("name") or not ("anonymous").

    `post_builder(SharePost) -> dict` makes the outbox payload (the Mattermost layer owns the format); when it
    answers a prompt whose post is `prompt_post_id`, that post's change to `answered_text(view)` is queued too."""
    body = clean_text(text)
    check_visibility(visibility, can_publish=can_publish)
    check_attribution(attribution)
    if scale is not None and not 1 <= scale <= 5:
        raise InvalidReflection(f"{scale} is out of range: the scale goes from 1 to 5", "scale")
    answered = False
    if delivery_id is not None:
        delivery = uow.deliveries.get(delivery_id, for_update=True)
        if delivery is not None and delivery.user_id == user_id:
            if delivery.status == "answered":
                raise InvalidReflection("you have answered this prompt already; /learn journal shows your answer, "
                                        "with Edit")
            if answerable(delivery, now):  # else it was, or will be, unanswered
                delivery.status, delivery.nudge_at, delivery.updated_at = "answered", None, now
                answered = True
    last = None if answered else next(iter(uow.reflections.recent(user_id, 1)), None)
    wanted = (community_id, scale, visibility, attribution if visibility == "wiki" else None, body)
    if last is not None and last.created_at >= now - SENT_AGAIN_WITHIN and last.delivery_id is None and (
            last.community_id, last.scale, last.visibility, last.publish_attribution if last.visibility == "wiki"
            else None, unseal(last.body, key)) == wanted:
        return replace(_view(last, key), again=True)
    reflection = uow.reflections.add(Reflection(
        user_id=user_id, community_id=community_id, delivery_id=delivery_id if answered else None,
        answered_prompt=answered,
        body=seal(body, key), scale=scale, visibility="private", created_at=now, updated_at=now,
    ))
    uow.events.append("reflection", occurred_at=now, recorded_at=now, community_id=community_id, actor_id=user_id,
                      data={"answered_prompt": answered, "visibility": visibility})
    _apply_visibility(uow, reflection, visibility, author_name, now, key, public_url, post_builder, attribution,
                      later=False)
    view = _view(reflection, key)
    if answered and prompt_post_id and answered_text is not None:
        uow.outbox.enqueue(ANSWERED_PROMPT, {"user_id": user_id, "delivery_id": delivery_id, "post_id": prompt_post_id,
                                             "text": answered_text(view)},
                           key=f"answered-prompt:{delivery_id}", now=now)
    uow.commit()
    return view


def change_visibility(
    uow: UnitOfWork, *, user_id: str, reflection_id: int, visibility: str, author_name: str | None, now: datetime,
    key: bytes, public_url: str, post_builder: PostBuilder, can_publish: bool = True, attribution: str = "name",
) -> ReflectionView:
    """Private can become shared or published, once: something already shared cannot be unshared from chat
    history, and a reflection goes to the channel or to the wiki, not both (what nobody sees of a reflection,
    counted for the dashboards, follows its one destination)."""
    check_visibility(visibility, can_publish=can_publish)
    check_attribution(attribution)
    reflection = uow.reflections.of_author(reflection_id, user_id)
    if reflection is None:
        raise NotYours(NOT_YOURS)
    if reflection.visibility != "private" and visibility == "private":
        raise InvalidReflection("this reflection was already shared; you can delete it from your journal instead")
    if reflection.visibility == "community" and visibility == "wiki":
        raise InvalidReflection("this reflection is already shared in your community's channel, so it does not go "
                                "to the wiki as well; /learn reflect writes one for the wiki")
    if reflection.visibility == "wiki" and visibility == "community" and not _publication_failed(reflection):
        raise InvalidReflection("this reflection is already on the wiki, or on its way there, so it is not posted "
                                "in the channel as well; once it is there, /learn journal shows its link, which "
                                "/learn share posts in a channel")
    _apply_visibility(uow, reflection, visibility, author_name, now, key, public_url, post_builder, attribution,
                      later=True)
    uow.commit()
    return _view(reflection, key)


def _publication_failed(reflection: Reflection) -> bool:
    """Chosen for the wiki, which never showed it (counted since with what nobody else sees)."""
    return reflection.visibility == "wiki" and reflection.publish_state in UNPUBLISHED


def _apply_visibility(uow: UnitOfWork, reflection: Reflection, visibility: str, author_name: str | None,
                      now: datetime, key: bytes, public_url: str, post_builder: PostBuilder,
                      attribution: str, *, later: bool) -> None:
    """`later`: shared or published after it was written; its event then says so, and whether it answered a
    prompt, since everyone can count it from now on (domain.measures.SHARED_LATER)."""
    if visibility == reflection.visibility or visibility == "private":
        return
    seen_later = {"later": True, "answered_prompt": reflection.answered_prompt} \
        if later and (reflection.visibility == "private" or _publication_failed(reflection)) else None
    reflection.visibility, reflection.updated_at = visibility, now
    if visibility == "wiki":
        if attribution == "name" and author_name:  # the name the section will carry, as Mattermost gave it
            uow.members.ensure(reflection.user_id, now, username=author_name)
        reflection.publish_state, reflection.publish_attribution = "queued", attribution
        uow.flush()
        reflection.publish_marker = publication.marker(secrets.token_hex(5))
        uow.outbox.enqueue(PUBLISH_JOB, {"reflection_id": reflection.id}, key=publish_key(reflection.id), now=now)
        uow.events.append("reflection_published", occurred_at=now, recorded_at=now,
                          community_id=reflection.community_id, actor_id=reflection.user_id, data=seen_later)
        return
    community = uow.communities.get(reflection.community_id) if reflection.community_id else None
    if community is None:
        raise InvalidReflection("this reflection belongs to no community, so it cannot be shared", "visibility")
    url = f"{public_url}/reflections/{secrets.token_hex(8)}"  # not its id, which counts private ones too
    item, _ = uow.items.ensure(url, kind="reflection", community_id=community.id, shared_by=reflection.user_id,
                               title=SHARED_TITLE, now=now)
    reflection.shared_item_id = item.id
    uow.events.append("reflection_shared", occurred_at=now, recorded_at=now, community_id=community.id,
                      actor_id=reflection.user_id, item_id=item.id, data=seen_later)
    payload = post_builder(_share_post(uow, reflection, community.channel_id, item.id, url, author_name, key))
    uow.outbox.enqueue(CREATE_POST, payload, key=share_key(reflection.id), now=now)


def _share_post(uow: UnitOfWork, reflection: Reflection, channel_id: str, item_id: int, item_url: str,
                author_name: str | None, key: bytes) -> SharePost:
    if author_name is None:
        member = uow.members.get(reflection.user_id)
        author_name = member.username if member else None
    return SharePost(channel_id=channel_id, item_id=item_id, item_url=item_url, author_name=author_name or "someone",
                     text=unseal(reflection.body, key))


@dataclass(frozen=True)
class Publication:
    reflection_id: int
    user_id: str
    author: str | None
    """The author's name when they chose to be named and learnloop knows it; None otherwise."""
    channel_id: str | None
    text: str
    marker: str


def publication_of(uow: UnitOfWork, reflection_id: int, key: bytes) -> Publication | None:
    """What the worker needs to publish a reflection its author chose to put on the wiki."""
    reflection = uow.reflections.get(reflection_id)
    if reflection is None or reflection.visibility != "wiki" or not reflection.publish_marker:
        return None
    community = uow.communities.get(reflection.community_id) if reflection.community_id else None
    member = uow.members.get(reflection.user_id) if reflection.publish_attribution == "name" else None
    return Publication(reflection.id, reflection.user_id, member.username if member else None,
                       community.channel_id if community else None, unseal(reflection.body, key),
                       reflection.publish_marker)


def mark_publication(uow: UnitOfWork, reflection_id: int, *, state: str, now: datetime) -> bool:
    """Record that publishing did not happen (no wiki space, the wiki refused); False if the reflection is gone."""
    reflection = uow.reflections.get(reflection_id, for_update=True)
    if reflection is None:
        return False
    if reflection.publish_state != state:
        _never_seen(uow, reflection, now)
    reflection.publish_state, reflection.updated_at = state, now
    return True


def _never_seen(uow: UnitOfWork, reflection: Reflection, now: datetime) -> None:
    """Its author chose the channel or the wiki, and it was counted as seen, but nobody will see it there: it goes
    back to what nobody else sees (domain.measures.NEVER_SEEN)."""
    uow.events.append("reflection_unseen", occurred_at=now, recorded_at=now, community_id=reflection.community_id,
                      actor_id=reflection.user_id, dedupe_key=f"reflection-unseen:{reflection.id}",
                      data={"answered_prompt": reflection.answered_prompt})


def mark_published(uow: UnitOfWork, reflection_id: int, *, wiki: str, published: Published, now: datetime) -> bool:
    """Record where the section went; False if the reflection was deleted while it was being published."""
    reflection = uow.reflections.get(reflection_id, for_update=True)
    if reflection is None:
        return False
    reflection.publish_state, reflection.published_url, reflection.updated_at = "published", published.url, now
    reflection.published_wiki, reflection.published_page_ref = wiki, published.page_ref[:100]
    reflection.published_title = published.page_title[:255]
    return True


def handle_of(reflection_id: int, key: bytes) -> str:
    """What buttons and forms name a reflection by: a keyed hash of its id. The id counts everyone's
    reflections, so two of a person's own would tell how many others wrote between them."""
    return row_handle("reflection", reflection_id, key)


def own_id(uow: UnitOfWork, user_id: str, handle: object, key: bytes) -> int:
    """The id of the person's own reflection that `handle` names; NotYours for any other."""
    found = row_named("reflection", uow.reflections.ids_of(user_id), handle, key)
    if found is None:
        raise NotYours(NOT_YOURS)
    return found


@dataclass(frozen=True)
class JournalPage:
    entries: list[ReflectionView]
    page: int
    pages: int
    """How many pages the journal has (at least one, even empty)."""


def journal(uow: UnitOfWork, user_id: str, key: bytes, page: int) -> JournalPage:
    """One page of the person's reflections, newest first; no entries on a page past the last."""
    pages = max(1, -(-uow.reflections.count_of(user_id) // JOURNAL_SIZE))
    rows = uow.reflections.recent(user_id, JOURNAL_SIZE, (page - 1) * JOURNAL_SIZE) if 1 <= page <= pages else []
    return JournalPage([_view(reflection, key) for reflection in rows], page, pages)


def read_own(uow: UnitOfWork, user_id: str, reflection_id: int, key: bytes) -> ReflectionView:
    reflection = uow.reflections.of_author(reflection_id, user_id)
    if reflection is None:
        raise NotYours(NOT_YOURS)
    return _view(reflection, key)


def edit(uow: UnitOfWork, user_id: str, reflection_id: int, text: str, now: datetime, key: bytes, *,
         author_name: str | None, post_builder: PostBuilder) -> ReflectionView:
    """The new text replaces the old, in its channel post too if it was shared."""
    body = clean_text(text)
    reflection = uow.reflections.of_author(reflection_id, user_id, for_update=True)
    if reflection is None:
        raise NotYours(NOT_YOURS)
    reflection.body, reflection.updated_at = seal(body, key), now
    updated = _update_post(uow, reflection, now, key, author_name, post_builder)
    uow.commit()
    return replace(_view(reflection, key), post_updated=updated)


def _update_post(uow: UnitOfWork, reflection: Reflection, now: datetime, key: bytes, author_name: str | None,
                 post_builder: PostBuilder) -> bool:
    """Queue the patch of its channel post to its text as it is now, after the post if it is still to be made;
    the copies the outbox holds get the new text too (one still to be posted is posted so). False when it has no
    post to update: not shared, refused by Mattermost, or made so long ago that learnloop no longer knows it."""
    item = uow.items.get(reflection.shared_item_id) if reflection.shared_item_id is not None else None
    thread = uow.outbox.of_thread(share_key(reflection.id))
    first = next((message for message in thread if message.idempotency_key == share_key(reflection.id)), None)
    if reflection.visibility != "community" or item is None or (first is not None and first.status == "failed") \
            or (first is None and not reflection.shared_post_id):
        return False
    channel_id = str(first.payload.get("channel_id") or "") if first is not None else ""
    props = post_builder(_share_post(uow, reflection, channel_id, item.id, item.url, author_name, key))["props"]
    for message in thread:
        message.payload = {**message.payload, "props": props}
    edits = [number for message in thread
             if (number := edit_number(message.idempotency_key, share_key(reflection.id))) is not None]
    uow.outbox.enqueue(UPDATE_POST, {"post_key": share_key(reflection.id), "props": props,
                                     "post_id": reflection.shared_post_id},
                       key=edit_key(share_key(reflection.id), max(edits, default=0) + 1), now=now)
    return True


def delete(uow: UnitOfWork, user_id: str, reflection_id: int, now: datetime) -> ReflectionView:
    """Deleted for good, with its channel post (queued for removal, or never made) and a publication still
    waiting in the outbox; what it was is returned, with its wiki section (its author is offered its removal, or
    told where it stays). Its row
    is held first: the worker recording its publication meanwhile waits, and finds it gone (or this finds the
    section it recorded)."""
    reflection = uow.reflections.of_author(reflection_id, user_id, for_update=True)
    if reflection is None:
        raise NotYours(NOT_YOURS)
    waiting = [message for message in map(uow.outbox.by_key, (share_key(reflection.id), publish_key(reflection.id)))
               if message is not None and message.status != "sent"]
    if waiting and reflection.publish_state not in UNPUBLISHED:
        _never_seen(uow, reflection, now)
    view = ReflectionView(reflection.id, "", reflection.scale, reflection.visibility, reflection.created_at,
                          reflection.publish_state, reflection.community_id, reflection.published_url,
                          reflection.publish_attribution, section_of(reflection))
    queue_post_removal(uow, reflection, now, notify=user_id)
    uow.outbox.remove(message_keys(uow, reflection.id))
    uow.reflections.delete(reflection)
    uow.commit()
    return view


def removal_payload(section: PublishedSection, *, notify: str | None) -> dict[str, Any]:
    """The worker's removal job: the section's place and marker, and whom to tell how it went (None: nobody)."""
    return {**section.to_payload(), "notify": notify}


def queue_removal(uow: UnitOfWork, sections: list[PublishedSection], *, notify: str | None, now: datetime) -> int:
    """Queue the removal of these sections from their wiki pages, once each; how many were newly queued."""
    queued = sum(uow.outbox.enqueue(UNPUBLISH_JOB, removal_payload(section, notify=notify),
                                    key=removal_key(section.wiki, section.marker), now=now)
                 for section in sections)
    uow.commit()
    return queued
