"""Everything stored that names one person, found and erased by their Mattermost user id."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, or_, select, union, update

from learnloop.storage.outbox import naming_pattern
from learnloop.storage.repositories import Repository, rowcount
from learnloop.storage.tables import (
    Announcement,
    Community,
    ContentItem,
    Delivery,
    Event,
    Feedback,
    Member,
    OutboxMessage,
    PageOwner,
    PromptRun,
    PromptSchedule,
    Rating,
    Reflection,
    ReviewOwner,
    SigninLink,
)

ERASED = "erased"
"""What stands where a person's id was required (who set up a prompt schedule) once they are erased."""


def _rows(result: Any) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in result]


class PersonalRecords(Repository):
    def ratings(self, user_id: str) -> list[dict[str, Any]]:
        return _rows(self.session.execute(
            select(ContentItem.url, ContentItem.title, Rating.stars, Rating.previous_stars, Rating.community_id,
                   Rating.created_at, Rating.updated_at)
            .join(ContentItem, ContentItem.id == Rating.item_id).where(Rating.user_id == user_id)
            .order_by(Rating.id)))

    def feedback(self, user_id: str) -> list[dict[str, Any]]:
        return _rows(self.session.execute(
            select(ContentItem.url, ContentItem.title, Feedback.stars, Feedback.reason, Feedback.comment,
                   Feedback.status, Feedback.created_at)
            .join(ContentItem, ContentItem.id == Feedback.item_id).where(Feedback.author_id == user_id)
            .order_by(Feedback.id)))

    def reflections(self, user_id: str, *, lock: bool = False) -> list[Reflection]:
        """The person's reflections; with `lock`, their rows held (an erase) until the transaction ends, as the
        worker holds one to record its publication (PostgreSQL)."""
        mine = select(Reflection).where(Reflection.user_id == user_id).order_by(Reflection.id)
        return list(self.session.scalars(mine.with_for_update() if lock else mine))

    def hold_shared(self, user_id: str) -> None:
        """Hold the rows of what the person shared first until the transaction ends (an erase): the worker's
        milestone message for one waits, then finds no sharer (PostgreSQL)."""
        self.session.execute(select(ContentItem.id).where(ContentItem.first_shared_by == user_id).with_for_update())

    def member(self, user_id: str) -> Member | None:
        return self.session.get(Member, user_id)

    def deliveries(self, user_id: str) -> list[dict[str, Any]]:
        return _rows(self.session.execute(
            select(Delivery.id, PromptSchedule.label, PromptSchedule.questions, PromptRun.local_date,
                   Delivery.due_at, Delivery.status, Delivery.reason, Delivery.sent_at)
            .join(PromptRun, PromptRun.id == Delivery.run_id)
            .join(PromptSchedule, PromptSchedule.id == PromptRun.schedule_id)
            .where(Delivery.user_id == user_id).order_by(Delivery.id)))

    def events(self, user_id: str) -> list[dict[str, Any]]:
        return _rows(self.session.execute(
            select(Event.kind, Event.occurred_at, Event.community_id, Event.item_id, Event.data)
            .where(Event.actor_id == user_id).order_by(Event.id)))

    def shared_items(self, user_id: str) -> list[dict[str, Any]]:
        """What the person shared first, without when learnloop first heard of it: that may be the moment of
        someone's private rating (their own shares are among their events, with their times)."""
        return _rows(self.session.execute(
            select(ContentItem.url, ContentItem.title)
            .where(ContentItem.first_shared_by == user_id).order_by(ContentItem.id)))

    def schedules_created(self, user_id: str) -> list[dict[str, Any]]:
        return _rows(self.session.execute(
            select(PromptSchedule.id, PromptSchedule.label, PromptSchedule.created_at)
            .where(PromptSchedule.created_by == user_id).order_by(PromptSchedule.id)))

    def page_ownership(self, user_id: str) -> list[dict[str, Any]]:
        """The pages and wiki spaces the person is named owner of, and pages of their spaces they declined."""
        return _rows(self.session.execute(
            select(PageOwner.kind, ContentItem.url, ContentItem.title, PageOwner.wiki, PageOwner.space,
                   PageOwner.created_at)
            .outerjoin(ContentItem, ContentItem.id == PageOwner.item_id).where(PageOwner.user_id == user_id)
            .order_by(PageOwner.id)))

    def community_owner_weeks(self, user_id: str) -> list[dict[str, Any]]:
        """The weeks the person was among a community's owners when its pages to review were worked out."""
        return _rows(self.session.execute(
            select(Community.name.label("community"), ReviewOwner.week)
            .join(Community, Community.id == ReviewOwner.community_id).where(ReviewOwner.user_id == user_id)
            .order_by(ReviewOwner.week, Community.name)))

    def signin_links(self, user_id: str) -> list[dict[str, Any]]:
        """The one-time links handed to the person (their hashes stay out: they open nothing once used)."""
        return _rows(self.session.execute(
            select(SigninLink.purpose, SigninLink.next_path, SigninLink.created_at, SigninLink.expires_at,
                   SigninLink.used_at)
            .where(SigninLink.user_id == user_id).order_by(SigninLink.id)))

    def messages(self, message_ids: list[int]) -> list[dict[str, Any]]:
        """These outbox messages (those that name the person: `Outbox.naming`), waiting or kept once sent."""
        return _rows(self.session.execute(
            select(OutboxMessage.kind, OutboxMessage.created_at, OutboxMessage.payload)
            .where(OutboxMessage.id.in_(message_ids)).order_by(OutboxMessage.id))) if message_ids else []

    def announcements(self, announcement_ids: list[int], author: str) -> list[dict[str, Any]]:
        """The pages of these channel announcements (those that name the person among a page's changers), with
        the edit summaries the person wrote."""
        if not announcement_ids:
            return []
        name = author.strip().lower()
        return [{"url": url, "title": title, "first_event_at": first,
                 "your_edit_summaries": [entry["text"] for entry in summaries
                                         if str(entry.get("by") or "").lower() == name]}
                for url, title, first, summaries in self.session.execute(
                    select(ContentItem.url, ContentItem.title, Announcement.first_event_at, Announcement.summaries)
                    .join(ContentItem, ContentItem.id == Announcement.item_id)
                    .where(Announcement.id.in_(announcement_ids)).order_by(Announcement.id))]

    # -- erasure -------------------------------------------------------------------------------

    def items_made_known(self, user_id: str) -> list[int]:
        """The items the person rated, shared first, or acted on (a link shared in their direct message with
        learnloop is known by their event alone)."""
        return list(self.session.scalars(union(
            select(Rating.item_id).where(Rating.user_id == user_id),
            select(Event.item_id).where(Event.actor_id == user_id, Event.item_id.is_not(None)),
            select(ContentItem.id).where(ContentItem.first_shared_by == user_id))))

    def forget_items_only_they_knew(self, item_ids: list[int]) -> list[int]:
        """Of these items (the ones an erased person made known), those nothing else knows of any more: no one
        else's rating, feedback or event, never shared in chat, not a page a wiki told learnloop of (a page
        learnloop only looked up by its URL is not), not a reflection. Their URL, and a creation time that was
        the moment of that person's rating or share, would otherwise stay. The ids of those forgotten."""
        if not item_ids:
            return []
        return list(self.session.scalars(
            delete(ContentItem).where(*_only_known_by(item_ids, None)).returning(ContentItem.id)))

    def take_back_ratings(self, user_id: str) -> int:
        """Remove the person's ratings; how many there were. Shown scores keep them, with at least k other
        people's, until they next move (domain.scores.may_release): moving one now would show their stars, and
        its number of raters falling by one would tell of the erasure."""
        return rowcount(self.session.execute(delete(Rating).where(Rating.user_id == user_id)))

    def unname_in_notes(self, name: str) -> int:
        """In the notes others left the owners, the person's @name becomes "someone", as in the owners' messages
        that quote them (Outbox.redact_name); the rest of each note stays its writer's. The number changed."""
        naming = naming_pattern([name])
        notes = self.notes_naming(name)
        for note in notes:
            note.comment = naming.sub("someone", note.comment or "")
        return len(notes)

    def notes_naming(self, name: str) -> list[Feedback]:
        """The notes that name the person by @name (as a whole name)."""
        naming = naming_pattern([name])
        return [note for note in self.session.scalars(select(Feedback).where(
            Feedback.comment.contains(name.removeprefix("@"), autoescape=True))) if naming.search(note.comment or "")]

    def erase_rest(self, user_id: str) -> dict[str, int]:
        """Everything else that names the person: removed, or (where a row must stay) no longer naming them."""
        counts: dict[str, int] = {}
        for name, statement in (
            ("feedback", delete(Feedback).where(Feedback.author_id == user_id)),
            ("reflections", delete(Reflection).where(Reflection.user_id == user_id)),
            ("deliveries", delete(Delivery).where(Delivery.user_id == user_id)),
            ("events", delete(Event).where(Event.actor_id == user_id)),
            ("links", delete(SigninLink).where(SigninLink.user_id == user_id)),
            ("settings", delete(Member).where(Member.user_id == user_id)),
            ("page_ownership", delete(PageOwner).where(PageOwner.user_id == user_id)),
            ("review_lists", delete(ReviewOwner).where(ReviewOwner.user_id == user_id)),
            ("shared_items", update(ContentItem).where(ContentItem.first_shared_by == user_id)
             .values(first_shared_by=None)),
            ("schedules", update(PromptSchedule).where(PromptSchedule.created_by == user_id)
             .values(created_by=ERASED)),
        ):
            counts[name] = rowcount(self.session.execute(statement))
        return counts


def _only_known_by(item_ids: list[int], user_id: str | None) -> list[Any]:
    """Where an item is among these and nothing but the person's own rows (None: any rows) knows it."""
    others = [~select(table.item_id).where(
        table.item_id == ContentItem.id, *([or_(column.is_(None), column != user_id)] if user_id else [])).exists()
        for table, column in ((Rating, Rating.user_id), (Feedback, Feedback.author_id), (Event, Event.actor_id))]
    return [ContentItem.id.in_(item_ids), ContentItem.shared_at.is_(None), ContentItem.followed_at.is_(None),
            ContentItem.kind != "reflection", *others]
