"""The database schema. Changes here need an Alembic migration in storage/migrations/versions."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ColumnElement,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}



class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores none of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass a timezone-aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def table_of(model: type[Base]) -> Table:
    """A model's Core table (SQLAlchemy types `__table__` as any FromClause)."""
    return cast(Table, model.__table__)


Id = BigInteger().with_variant(Integer(), "sqlite")
UserId = String(26)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON, list[dict[str, Any]]: JSON}


class InstanceSecret(Base):
    """Secrets the service generates for itself when none is configured, shared by all workers."""

    __tablename__ = "instance_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class Community(Base):
    """A community, started by the Mattermost channel `channel_id` (its home); configured ones carry the
    configured name. Which channels count towards it is in community_channels."""

    __tablename__ = "communities"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(26), unique=True)
    team_id: Mapped[str | None] = mapped_column(String(26))
    name: Mapped[str] = mapped_column(String(100))
    announce_policy: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime]
    digest_weekday: Mapped[int | None] = mapped_column(Integer)
    """The weekly digest's day (0 = Monday) while the owners have it on; None when off."""
    digest_time: Mapped[str | None] = mapped_column(String(5))
    """The digest's local time of day (HH:MM), in the community's time zone."""
    digest_week: Mapped[date | None] = mapped_column(Date)
    """The Monday of the last week whose digest was posted or found to have nothing to say."""
    retired_at: Mapped[datetime | None]
    """Set when its channels joined another community, which took its history: no figure of its own is
    shown again (services.communities.join)."""
    joined_into: Mapped[int | None] = mapped_column(ForeignKey("communities.id"))
    review_interval_days: Mapped[int | None] = mapped_column(Integer)
    """How often its wiki pages need their owners' review (`/learn pages interval`); None: the default."""
    review_week: Mapped[date | None] = mapped_column(Date)
    """The Monday of the last week whose review list was worked out (services.page_review)."""


class CommunityChannel(Base):
    """The community a Mattermost channel counts towards: its own, or the one it joined. The member count is
    Mattermost's, as last read (a number only, never who)."""

    __tablename__ = "community_channels"

    channel_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    team_id: Mapped[str | None] = mapped_column(String(26))
    channel_name: Mapped[str | None] = mapped_column(String(64))
    member_count: Mapped[int | None] = mapped_column(Integer)
    member_count_at: Mapped[datetime | None]
    joined_at: Mapped[datetime]


class ContentItem(Base):
    """Anything with a URL that people can rate: a wiki page, a shared link, a chat permalink.

    A wiki page also knows its wiki and the wiki's own id of it (`page_ref`), so the page is followed when
    it is moved (its URL and title change, the item stays) and retired when it is deleted."""

    __tablename__ = "content_items"
    __table_args__ = (
        # Items that are wiki pages: one per page of a wiki. Links and chat permalinks have none.
        Index("uq_content_items_page", "wiki", "page_ref", unique=True,
              sqlite_where=text("page_ref IS NOT NULL"), postgresql_where=text("page_ref IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str | None] = mapped_column(String(300))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"), index=True)
    first_shared_by: Mapped[str | None] = mapped_column(UserId)
    shared_at: Mapped[datetime | None]
    """When someone first shared it in chat; kept when that person erases their data (first_shared_by is not)."""
    created_at: Mapped[datetime]
    wiki: Mapped[str | None] = mapped_column(String(40))
    page_ref: Mapped[str | None] = mapped_column(String(100))
    """The wiki's id of the page (MediaWiki's page id, Outline's document id, BookStack's page id)."""
    retired_at: Mapped[datetime | None]
    """When the page was deleted from its wiki: it is no longer rated nor ranked, and keeps its ratings."""
    recognition_due: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    """The highest milestone of people it helped that its sharer is owed a message for."""
    recognised: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    """The highest milestone its sharer was told of (or chose not to hear about)."""
    space: Mapped[str | None] = mapped_column(String(200))
    """The mapped wiki space the page lies in, as the configuration names it (its space owners hear of it)."""
    reviewed_at: Mapped[datetime | None]
    """When one of its owners last marked it reviewed."""
    followed_at: Mapped[datetime | None]
    """When an event of the wiki's own (a page created, edited, moved...) first named the page: from then on
    everyone can know of it, and its review interval runs. Not when learnloop looked up which page a rated URL
    is (`claim_page` alone): that would say that someone rated it, and when."""


class ItemAlias(Base):
    """A URL a wiki page had before it moved (a rename): an Outline embed keeps the document's URL as it was
    pasted, so a rating or a question by that URL still finds the page's item. A page or link that comes to be at
    the URL itself takes it over."""

    __tablename__ = "item_aliases"

    url: Mapped[str] = mapped_column(String(2048), primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("content_items.id", ondelete="CASCADE"), index=True)


class ParkedRemoval(Base):
    """A section its author asked to have taken off while its page was deleted (perhaps in the wiki's trash): it
    is taken off when the page comes back. Where it is and its marker only, never whom it was for."""

    __tablename__ = "parked_removals"
    __table_args__ = (UniqueConstraint("wiki", "page_ref", "marker", name="uq_parked_removals_section"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    wiki: Mapped[str] = mapped_column(String(40))
    page_ref: Mapped[str] = mapped_column(String(100))
    marker: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(300))
    url: Mapped[str] = mapped_column(String(2048))
    parked_at: Mapped[datetime]


class Rating(Base):
    """One person's current rating of one item; rating again replaces it."""

    __tablename__ = "ratings"
    __table_args__ = (
        UniqueConstraint("item_id", "user_id", name="uq_ratings_item_user"),
        CheckConstraint("stars BETWEEN 1 AND 5", name="stars_range"),
        Index("ix_ratings_user", "user_id"),
        Index("ix_ratings_item_changed", "item_id", "updated_at"),
        Index("ix_ratings_item_created", "item_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("content_items.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(UserId)
    stars: Mapped[int] = mapped_column(Integer)
    previous_stars: Mapped[int | None] = mapped_column(Integer)
    """The rating this one replaced, if any: one upsert sets a rating and returns what it replaced."""
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Feedback(Base):
    """A private comment left with a rating, for the content's community owners to triage, or the reason a
    reader gave for a low rating in the wiki widget (with an optional note: `comment` is empty without one)."""

    __tablename__ = "feedback"
    __table_args__ = (
        CheckConstraint("status IN ('new', 'planned', 'resolved', 'hidden')", name="status_known"),
        CheckConstraint("reason IS NULL OR reason IN ('outdated', 'unclear', 'incomplete', 'broken_link', 'other')",
                        name="reason_known"),
        # the triage list: a community's feedback by state, newest first, without sorting all it ever had
        Index("ix_feedback_triage", "community_id", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("content_items.id", ondelete="CASCADE"))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"))
    author_id: Mapped[str] = mapped_column(UserId)
    stars: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(10), default="new")
    """new, planned, resolved or hidden (domain.page_review.FEEDBACK_STATES), as the owners triage it."""
    created_at: Mapped[datetime]


class Event(Base):
    """Append-only log of what happened; dashboards aggregate it, nothing updates it.

    `dedupe_key` makes ingestion idempotent: the same delivery twice is one event.
    """

    __tablename__ = "events"
    __table_args__ = (
        # Only the events that have a key: a rating has none, and indexing its NULL cost every rating a
        # page read and a page written.
        Index("uq_events_dedupe_key", "dedupe_key", unique=True,
              sqlite_where=text("dedupe_key IS NOT NULL"), postgresql_where=text("dedupe_key IS NOT NULL")),
        # The folds' cursors are event ids: one given again after the newest events were deleted (an erase,
        # retention) would never be counted.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime]
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"))
    actor_id: Mapped[str | None] = mapped_column(UserId)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("content_items.id", ondelete="SET NULL"))
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class OutboxMessage(Base):
    """An intent to call a host, written in the same transaction as the change that caused it.

    The worker delivers it with retries; `idempotency_key` stops one intent being queued twice.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    """The worker holding the lease while it carries the message out; it renews the lease while it works."""


class Member(Base):
    """A person's own prompt settings, and what learnloop caches about them from Mattermost."""

    __tablename__ = "members"

    user_id: Mapped[str] = mapped_column(UserId, primary_key=True)
    username: Mapped[str | None] = mapped_column(String(64))
    timezone: Mapped[str | None] = mapped_column(String(64))
    dm_channel_id: Mapped[str | None] = mapped_column(String(26))
    prompts_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    paused_until: Mapped[datetime | None]
    time_of_day: Mapped[str | None] = mapped_column(String(5))
    quiet_hours: Mapped[str | None] = mapped_column(String(11))
    nudges: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime]
    suggestions: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    """A weekly private "you might also find useful" message, which the person asked for."""
    recognition: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    """Messages when something the person shared helped others, and thank-yous (they can turn them off)."""
    suggested_week: Mapped[date | None] = mapped_column(Date)
    """The Monday of the last week the person's suggestions were sent or skipped."""
    review_week: Mapped[date | None] = mapped_column(Date)
    """The Monday of the last week the person's pages to review were sent, or found to need nothing."""
    review_notes_after: Mapped[datetime | None]
    """Notes written up to this moment were in the person's last message about pages to review."""


class PromptSchedule(Base):
    """A community's reflection questions and when to ask them; one-off prompts have COUNT=1."""

    __tablename__ = "prompt_schedules"
    __table_args__ = (
        CheckConstraint("default_visibility IN ('private', 'community', 'wiki')", name="visibility_known"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    label: Mapped[str | None] = mapped_column(String(100))
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    rrule: Mapped[str] = mapped_column(String(300))
    local_time: Mapped[str] = mapped_column(String(5))
    window_minutes: Mapped[int] = mapped_column(Integer)
    timezone: Mapped[str] = mapped_column(String(64))
    anchor_date: Mapped[date] = mapped_column(Date)
    default_visibility: Mapped[str] = mapped_column(String(10))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    planned_through: Mapped[date | None] = mapped_column(Date)
    paused_from: Mapped[date | None] = mapped_column(Date)
    paused_through: Mapped[date | None] = mapped_column(Date)
    """Its owners paused it from the first date to this one (local dates, its own time zone): nothing of those
    dates is sent."""
    created_by: Mapped[str] = mapped_column(UserId)
    created_at: Mapped[datetime]
    event_name: Mapped[str | None] = mapped_column(String(100))
    event_date: Mapped[date | None] = mapped_column(Date)
    event_part: Mapped[str | None] = mapped_column(String(6))
    """An event prompt's place: 'before' (the day before the event) or 'after' (on the day)."""
    event_key: Mapped[str | None] = mapped_column(String(16))
    """Shared by an event's prompts before and after."""


class PromptRun(Base):
    """One occurrence of a schedule, by the community's local date."""

    __tablename__ = "prompt_runs"
    __table_args__ = (UniqueConstraint("schedule_id", "local_date", name="uq_prompt_runs_schedule_date"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("prompt_schedules.id", ondelete="CASCADE"))
    local_date: Mapped[date] = mapped_column(Date)
    members_planned: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class Delivery(Base):
    """One person's copy of a run: when it is due for them, and what became of it."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("run_id", "user_id", name="uq_deliveries_run_user"),
        Index("ix_deliveries_due", "status", "due_at"),
        CheckConstraint(
            "status IN ('scheduled', 'queued', 'sent', 'answered', 'skipped', 'expired')", name="status_known"
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("prompt_runs.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(UserId)
    due_at: Mapped[datetime]
    window_end: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(10), default="scheduled")
    reason: Mapped[str | None] = mapped_column(String(40))
    post_id: Mapped[str | None] = mapped_column(String(26))
    sent_at: Mapped[datetime | None]
    nudge_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    zone_read_at: Mapped[datetime | None]
    """When the receiver's time zone was read again ahead of the prompt (services.prompts.membership.ZONE_SPREAD)."""


class Reflection(Base):
    """What a person wrote. The text is encrypted at rest; private ones are only ever shown to their author."""

    __tablename__ = "reflections"
    __table_args__ = (
        CheckConstraint("visibility IN ('private', 'community', 'wiki')", name="visibility_known"),
        CheckConstraint("publish_attribution IN ('name', 'anonymous')", name="attribution_known"),
        Index("ix_reflections_user_time", "user_id", "created_at"),
        # Which pages learnloop published to (ingest asks for each wiki change).
        Index("ix_reflections_published_page", "published_wiki", "published_page_ref",
              sqlite_where=text("published_page_ref IS NOT NULL"),
              postgresql_where=text("published_page_ref IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[str] = mapped_column(UserId)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"))
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id", ondelete="SET NULL"))
    answered_prompt: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    """Kept here: the delivery goes after the retention window."""
    body: Mapped[str] = mapped_column(Text)
    scale: Mapped[int | None] = mapped_column(Integer)
    visibility: Mapped[str] = mapped_column(String(10))
    shared_item_id: Mapped[int | None] = mapped_column(ForeignKey("content_items.id", ondelete="SET NULL"))
    shared_post_id: Mapped[str | None] = mapped_column(String(26))
    """Its post in the community's channel, once made: edited and deleted with it (the outbox message that made it
    goes after the retention window)."""
    publish_state: Mapped[str | None] = mapped_column(String(20))
    published_url: Mapped[str | None] = mapped_column(String(2048))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    publish_attribution: Mapped[str | None] = mapped_column(String(10))
    """For the wiki: "name" (the section names its author) or "anonymous"; the author's choice."""
    publish_marker: Mapped[str | None] = mapped_column(String(64))
    """The invisible mark its wiki section carries (domain.publication.marker), set when it is queued."""
    published_wiki: Mapped[str | None] = mapped_column(String(40))
    published_page_ref: Mapped[str | None] = mapped_column(String(100))
    """The wiki's own id of the page the section is on (MediaWiki page id, Outline document, BookStack page)."""
    published_title: Mapped[str | None] = mapped_column(String(255))


class Cursor(Base):
    """Where a background reader got to: `wiki:<name>` (a MediaWiki rcid), `rollups` (the last event id); also
    `learning-log:<wiki>:<space>:<title>`, the page that learning log is (wikis.learning_log_cursor)."""

    __tablename__ = "cursors"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    position: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime]


class Announcement(Base):
    """One channel post about a page, posted at once; later changes before `due_at` (the end of the
    community's burst window) update it. ('pending' rows are from before posts went out at once.)"""

    __tablename__ = "announcements"
    __table_args__ = (
        Index("ix_announcements_due", "status", "due_at"),
        CheckConstraint("status IN ('pending', 'queued', 'dropped')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("content_items.id", ondelete="CASCADE"))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    created_page: Mapped[bool] = mapped_column(Boolean, default=False)
    edits: Mapped[int] = mapped_column(Integer, default=1)
    authors: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    summaries: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    first_event_at: Mapped[datetime]
    due_at: Mapped[datetime]


class SigninLink(Base):
    """A one-time link the bot hands to one person (to sign in, or to download their data); only its hash is
    stored."""

    __tablename__ = "signin_links"
    __table_args__ = (CheckConstraint("purpose IN ('signin', 'mydata')", name="purpose_known"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(10), default="signin", server_default="signin")
    user_id: Mapped[str] = mapped_column(UserId)
    username: Mapped[str | None] = mapped_column(String(64))
    next_path: Mapped[str] = mapped_column(String(500))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class WeeklyCount(Base):
    """A community's weekly total of one measure, kept up to date from the event log."""

    __tablename__ = "weekly_counts"

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), primary_key=True)
    week: Mapped[date] = mapped_column(Date, primary_key=True)
    metric: Mapped[str] = mapped_column(String(30), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class WeeklyMember(Base):
    """Who (pseudonymously) or what stood behind a weekly measure, so distinct counts over any weeks need
    no rescan of history. People appear only as keyed hashes, never as ids."""

    __tablename__ = "weekly_members"
    __table_args__ = (Index("ix_weekly_members_member", "member"),)

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), primary_key=True)
    metric: Mapped[str] = mapped_column(String(30), primary_key=True)
    week: Mapped[date] = mapped_column(Date, primary_key=True)
    member: Mapped[str] = mapped_column(String(40), primary_key=True)


class ReleaseBlock(Base):
    """Consecutive weeks of one measure that together cover at least k people once `closed`: the only
    stretches of time a dashboard releases figures for (see domain.disclosure). Kept by the fold; a closed
    block keeps its weeks for good."""

    __tablename__ = "release_blocks"

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), primary_key=True)
    metric: Mapped[str] = mapped_column(String(30), primary_key=True)
    first_week: Mapped[date] = mapped_column(Date, primary_key=True)
    last_week: Mapped[date] = mapped_column(Date)
    value: Mapped[int] = mapped_column(Integer)
    people: Mapped[int] = mapped_column(Integer)
    closed: Mapped[bool] = mapped_column(Boolean)


class ScoreBasis(Base):
    """The community mean a community's stored item scores were computed with."""

    __tablename__ = "score_bases"

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), primary_key=True)
    prior_mean: Mapped[float]
    updated_at: Mapped[datetime]


class ItemScore(Base):
    """An item's shown score: the totals of its ratings as last released at a week's end, and the score they give
    with its community's stored basis. New totals are released only once at least k people have rated or
    re-rated the item since (domain.scores.may_release), so two scores seen one after the other never differ
    by fewer than k people's ratings, nor their numbers of raters by 1 to k-1. The totals before the last release
    give the page's trend. The index lets top content read the first rows instead of sorting every rated item."""

    __tablename__ = "item_scores"
    __table_args__ = (Index("ix_item_scores_rank", "community_id", "score"),)

    item_id: Mapped[int] = mapped_column(ForeignKey("content_items.id", ondelete="CASCADE"), primary_key=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"))
    """None for a page in no community (rated only from the wiki): scored with the neutral prior."""
    stars_sum: Mapped[int] = mapped_column(Integer)
    ratings_count: Mapped[int] = mapped_column(Integer)
    score: Mapped[float]
    released_through: Mapped[datetime]
    """The newest rating change the totals hold: the ratings changed after it are the ones not shown yet."""
    counted_through: Mapped[datetime]
    """The totals count the people who rated the item by then (less those who erased their ratings since): those who
    first rated it later wait while their number may not move (domain.scores.may_release), and the score moves
    with the others' ratings."""
    released_at: Mapped[datetime | None]
    """When the totals were shown: what moved lately goes by it, never by when someone rated."""
    before_stars_sum: Mapped[int | None] = mapped_column(Integer)
    before_ratings_count: Mapped[int | None] = mapped_column(Integer)

    @classmethod
    def shown(cls, k: int | ColumnElement[int]) -> ColumnElement[bool]:
        """domain.scores.shown in SQL: at least k people stand behind the stored score."""
        return cls.ratings_count >= k


class CoRating(Base):
    """How many people found both items of a pair useful (rated both 4 or more), kept incrementally from the
    rating events. Only a pair at least k people share ever leads to a suggestion; no row names anyone."""

    __tablename__ = "co_ratings"
    __table_args__ = (Index("ix_co_ratings_a_people", "community_id", "item_a", "people"),
                      Index("ix_co_ratings_b_people", "community_id", "item_b", "people"))

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), primary_key=True)
    item_a: Mapped[int] = mapped_column(ForeignKey("content_items.id", ondelete="CASCADE"), primary_key=True)
    item_b: Mapped[int] = mapped_column(ForeignKey("content_items.id", ondelete="CASCADE"), primary_key=True)
    people: Mapped[int] = mapped_column(Integer)


class CoRatingLike(Base):
    """The useful items each person (as a keyed hash) counts towards the co-ratings, as last folded; what
    changed since is what moves the pair counts."""

    __tablename__ = "co_rating_likes"

    member: Mapped[str] = mapped_column(String(40), primary_key=True)
    """First in the key: a person's likes are read and replaced together."""
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("content_items.id", ondelete="CASCADE"), primary_key=True)


class PageOwner(Base):
    """Who hears about a page, by name: the owner of one page ('page'), of a wiki space a community maps
    ('space'), or a space owner who said one page of the space is not theirs ('declined'). A page with none
    of its own goes to its space's owners, then to its community's owners."""

    __tablename__ = "page_owners"
    __table_args__ = (
        CheckConstraint("(kind = 'space' AND item_id IS NULL AND community_id IS NOT NULL AND wiki IS NOT NULL "
                        "AND space IS NOT NULL) OR (kind IN ('page', 'declined') AND item_id IS NOT NULL "
                        "AND space IS NULL)", name="kind_fits"),
        Index("uq_page_owners_item", "item_id", "user_id", unique=True,
              sqlite_where=text("item_id IS NOT NULL"), postgresql_where=text("item_id IS NOT NULL")),
        Index("uq_page_owners_space", "community_id", "wiki", "space", "user_id", unique=True,
              sqlite_where=text("kind = 'space'"), postgresql_where=text("kind = 'space'")),
        Index("ix_page_owners_user", "user_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("content_items.id", ondelete="CASCADE"))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"))
    """A space's community; a page's is its item's (it follows the page)."""
    wiki: Mapped[str | None] = mapped_column(String(40))
    space: Mapped[str | None] = mapped_column(String(200))
    user_id: Mapped[str] = mapped_column(UserId)
    username: Mapped[str | None] = mapped_column(String(64))
    """As Mattermost gave it when the owner was named: for listing owners, never for finding them."""
    created_at: Mapped[datetime]


class PageReview(Base):
    """A page on this week's review list and why, with its shown score and the one before its last move where k
    people allow them (domain.page_review). Worked out once a week per community, replacing the last week's."""

    __tablename__ = "page_reviews"

    item_id: Mapped[int] = mapped_column(ForeignKey("content_items.id", ondelete="CASCADE"), primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    week: Mapped[date] = mapped_column(Date)
    reasons: Mapped[bool] = mapped_column(Boolean)
    score_drop: Mapped[bool] = mapped_column(Boolean)
    overdue: Mapped[bool] = mapped_column(Boolean)
    score: Mapped[float | None]
    score_before: Mapped[float | None]
    trend: Mapped[str | None] = mapped_column(String(5))
    ratings: Mapped[int | None] = mapped_column(Integer)
    """How many people its shown score is from, only where at least k are."""
    last_reviewed: Mapped[datetime]
    flagged_at: Mapped[datetime]


class ReviewOwner(Base):
    """A community's owners as Mattermost and the configuration named them when the week's review list was
    worked out: they hear about the pages nobody owns by name."""

    __tablename__ = "review_owners"

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), primary_key=True)
    week: Mapped[date] = mapped_column(Date, primary_key=True)
    user_id: Mapped[str] = mapped_column(UserId, primary_key=True)
