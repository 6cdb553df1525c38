"""What joining one community to another, and a channel leaving it, writes: the channels' mapping, the
records that name a community (its items' shown scores among them), and whether it is retired."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from learnloop.storage.repositories import Repository
from learnloop.storage.tables import (
    Announcement,
    Community,
    CommunityChannel,
    ContentItem,
    Event,
    Feedback,
    ItemScore,
    PageOwner,
    PromptSchedule,
    Rating,
    Reflection,
    table_of,
)

_C, _M, _S = table_of(Community), table_of(CommunityChannel), table_of(PromptSchedule)
HISTORY = (ContentItem, ItemScore, Rating, Feedback, Event, Reflection, Announcement, PromptSchedule, PageOwner)
"""Every record that names the community it belongs to (the rollups aside: RollupStore merges those; the
week's review list is worked out again the next week). A page's owners follow its item; a space's owners move
with the community, whose pages are now the joined community's."""


class JoinStore(Repository):
    def lock(self, *community_ids: int) -> None:
        """Hold both communities' rows until the transaction ends: two joins at once take turns."""
        self.session.execute(select(_C.c.id).where(_C.c.id.in_(community_ids)).order_by(_C.c.id).with_for_update())

    def stop_schedules(self, community_id: int) -> list[int]:
        """Stop a community's active prompt schedules; the ids of those that were running."""
        return list(self.session.scalars(update(_S).where(_S.c.community_id == community_id, _S.c.active.is_(True))
                                         .values(active=False).returning(_S.c.id)))

    def move_history(self, source: int, target: int) -> None:
        for table in HISTORY:
            core = table_of(table)
            self.session.execute(update(core).where(core.c.community_id == source).values(community_id=target))

    def move_channels(self, source: int, target: int) -> None:
        self.session.execute(update(_M).where(_M.c.community_id == source).values(community_id=target))

    def move_channel(self, channel_id: str, community_id: int, now: datetime) -> None:
        self.session.execute(update(_M).where(_M.c.channel_id == channel_id).values(
            community_id=community_id, joined_at=now))

    def retire(self, source: int, target: int, now: datetime) -> None:
        """The source is retired into the target, its digest off (nothing of its own is left to post); those
        retired into the source before point at the target."""
        self.session.execute(update(_C).where(_C.c.joined_into == source).values(joined_into=target))
        self.session.execute(update(_C).where(_C.c.id == source).values(
            retired_at=now, joined_into=target, digest_weekday=None, digest_time=None))

    def revive(self, community_id: int) -> None:
        self.session.execute(update(_C).where(_C.c.id == community_id).values(retired_at=None, joined_into=None))

    def successors_holding(self, community_ids: set[int]) -> dict[int, int]:
        """Retired community to the community that took its history, with these communities' rows held
        (shared) until the transaction ends: a join of any of them waits for it (`lock`), and one that committed
        first is seen."""
        self.session.execute(select(_C.c.id).where(_C.c.id.in_(community_ids)).order_by(_C.c.id)
                             .with_for_update(read=True))
        return self.successors()

    def successors(self) -> dict[int, int]:
        """Retired community to the community that took its history."""
        return {int(c): int(j) for c, j in self.session.execute(
            select(_C.c.id, _C.c.joined_into).where(_C.c.joined_into.is_not(None)))}
