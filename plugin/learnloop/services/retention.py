"""Retention: what learnloop keeps about people's activity is deleted once it is older than the retention
window (LEARNLOOP_RETENTION_DAYS, default 730), after the dashboards' rollups and the co-ratings have counted
it.

Events, delivery records, delivered outbox messages (which can hold a shared reflection's text) and page
announcements (which name wiki authors) go;
the rollups stay, since they hold only counts and keyed hashes, so the dashboards of old weeks still show
the same figures. Used one-time links go after a day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from learnloop.services.network import co_ratings
from learnloop.services.rollups import CURSOR
from learnloop.storage.unit_of_work import UnitOfWork

USED_LINKS_KEPT = timedelta(days=1)


@dataclass(frozen=True)
class Purged:
    events: int
    deliveries: int
    outbox: int
    links: int
    announcements: int

    @property
    def total(self) -> int:
        return self.events + self.deliveries + self.outbox + self.links + self.announcements


def purge(uow: UnitOfWork, now: datetime, days: int) -> Purged:
    before = now - timedelta(days=days)
    folded = int(uow.cursors.get(CURSOR) or 0)
    position = uow.cursors.get(co_ratings.CURSOR)  # it starts from the tables when it has no cursor yet
    folded = min(folded, int(position)) if position is not None else folded
    purged = Purged(
        events=uow.events.purge_folded(before=before, folded_through=folded),
        deliveries=uow.deliveries.purge_finished(before),
        outbox=uow.outbox.purge_delivered(before),
        links=uow.links.purge_spent(now - USED_LINKS_KEPT),
        announcements=uow.announcements.purge_older(before),
    )
    uow.commit()
    return purged
