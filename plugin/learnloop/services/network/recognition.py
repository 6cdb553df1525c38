"""Recognition for sharing: the person who shared something (a link, a chat post, a wiki page they created, a
reflection) hears privately, once per milestone, when at least k other people found it useful; and a rater
may send a named thank-you, because they chose to.

Never a count below k, never who, never public: the milestone message goes to the sharer alone. Milestones
are noted when an item's shown score moves (services.rollups, at a week's end), counted from the ratings that
score holds, so a milestone takes k people and never follows one person's rating, nor tells when they rated;
they are told when the sharer's pause, quiet hours and do-not-disturb allow; the item keeps the milestone owed
and the one told, and the message's key names item and milestone, so a restart or a second worker tells nothing
twice. The `recognition` cursor only says that recognition has started; `recognition_owed` is the last item a
pass read owed milestones of, and the next reads on from it, round the items, so milestones that wait (their
sharer on do not disturb or paused) do not keep everyone else's unread.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from learnloop.domain.network import dm_decision, reached
from learnloop.domain.preferences import Action
from learnloop.services.outbox_kinds import SEND_DM
from learnloop.services.prompts.timing import preferences_of, zone
from learnloop.storage.network_store import NetworkStore
from learnloop.storage.tables import Member
from learnloop.storage.unit_of_work import UnitOfWork

CURSOR = "recognition"
STARTED = "started"
WAIT_AT_MOST = timedelta(days=366)
"""How far ahead a thank-you may wait for its receiver's pause and quiet hours to end."""
OWED_PER_PASS = 500
OWED_CURSOR = "recognition_owed"


@dataclass(frozen=True)
class Milestone:
    item_id: int
    sharer: str
    people: int
    title: str | None
    url: str
    kind: str


MilestoneDM = Callable[[Milestone], dict[str, Any]]
ThanksDM = Callable[[str, str | None, str, str], dict[str, Any]]
"""(sharer's user id, the item's title, URL and kind) to the SEND_DM payload of a thank-you."""


def switch(uow: UnitOfWork, user_id: str, on: bool, now: datetime) -> None:
    """Turned off, the milestone and thank-you messages still waiting for this person go too."""
    uow.members.ensure(user_id, now).recognition = on
    if not on:
        uow.outbox.remove([message.idempotency_key for message in uow.outbox.pending(SEND_DM)
                           if message.payload.get("user_id") == user_id
                           and message.idempotency_key.startswith(("thanks:", "recognition:"))])
    uow.commit()


def start(uow: UnitOfWork, k: int, now: datetime) -> None:
    """Once: milestones reached before recognition existed are taken as told. On an install that noted them from
    the rating events (its cursor an event id), those the last of them had not reached yet are noted now, so
    none is lost in the upgrade (noting one already noted or told changes nothing). Commits."""
    position = uow.cursors.get(CURSOR)
    if position == STARTED:
        return
    store = uow.network
    store.owe_recognition(_reached(store.useful_to_others(store.shared_rated_items()), k))
    if position is None:
        store.settle_all_owed()
    uow.cursors.move(CURSOR, STARTED, now)
    uow.commit()


def note_moved(store: NetworkStore, item_ids: set[int], k: int) -> None:
    """Note the milestones reached by these items, whose shown scores have just moved (services.rollups)."""
    store.owe_recognition(_reached(store.useful_to_others(item_ids), k))


def _reached(counts: dict[int, int], k: int) -> dict[int, int]:
    found = {item: reached(people, k) for item, people in counts.items()}
    return {item: milestone for item, milestone in found.items() if milestone is not None}


def owed(uow: UnitOfWork) -> list[Milestone]:
    """OWED_PER_PASS owed milestones, read on from where the last pass left off."""
    after = int(uow.cursors.get(OWED_CURSOR) or 0)
    return [Milestone(row.id, row.sharer, row.milestone, row.title, row.url, row.kind)
            for row in uow.network.owed_recognition(OWED_PER_PASS, after)]


def tell(uow: UnitOfWork, milestones: list[Milestone], presence: dict[str, str], now: datetime,
         render: MilestoneDM, gone: Collection[str] = ()) -> int:
    """Queue the milestone messages the sharers can receive now; one who turned them off, or whose account is
    `gone` (deactivated), is not told (the milestone is settled all the same). The next pass reads on from the
    last of `milestones`. Commits; the number queued."""
    queued = 0
    members = uow.members.many(sorted({m.sharer for m in milestones}))
    for milestone in milestones:
        member = members.get(milestone.sharer)
        if milestone.sharer in gone or (member is not None and not member.recognition):
            uow.network.settle_recognition(milestone.item_id, milestone.people, milestone.sharer)
            continue
        decision = dm_decision(preferences_of(member), now, now, zone(member.timezone if member else None, "UTC"),
                               presence.get(milestone.sharer))
        if decision.action != Action.SEND:
            continue
        if uow.network.settle_recognition(milestone.item_id, milestone.people, milestone.sharer):
            queued += uow.outbox.enqueue(SEND_DM, render(milestone),
                                         key=f"recognition:{milestone.item_id}:{milestone.people}", now=now)
    if milestones:
        uow.cursors.move(OWED_CURSOR, str(milestones[-1].item_id), now)
    uow.commit()
    return queued


class ThanksRefused(ValueError):
    """Why a thank-you cannot be sent, in words for the rater."""


def thank(uow: UnitOfWork, item_id: int, rater_id: str, now: datetime, render: ThanksDM) -> bool:
    """Record a named thank-you from a rater to the item's sharer, once per rater and item, and queue it to the
    sharer unless they turned thank-you notes off or have erased their data since; False when this rater had
    thanked them already. The rater is answered the same either way: that is the sharer's business. It waits out
    the sharer's pause and quiet hours. Raises ThanksRefused. Commits."""
    item = uow.items.get(item_id, shared_lock=True)
    if item is None:
        raise ThanksRefused("this item is no longer in learnloop")
    if item.shared_at is None:
        raise ThanksRefused("nobody in chat shared this, so there is nobody to thank")
    sharer = item.first_shared_by
    if sharer == rater_id:
        raise ThanksRefused("you shared this yourself")
    if uow.ratings.of(item_id, rater_id) is None:
        raise ThanksRefused("rate it first: a thank-you goes with a rating")
    key = f"thanks:{item_id}:{rater_id}"
    first = uow.events.append("thanks", occurred_at=now, recorded_at=now, community_id=item.community_id,
                              actor_id=rater_id, item_id=item_id, dedupe_key=key)
    member = uow.members.get(sharer) if sharer is not None else None
    if first and sharer is not None and (member is None or member.recognition):
        first = uow.outbox.enqueue(SEND_DM, render(sharer, item.title, item.url, item.kind), key=key,
                                   now=now, at=_reachable(member, now))  # False: thanked before thanks were events
    uow.commit()
    return first


def _reachable(member: Member | None, now: datetime) -> datetime | None:
    """When a message that can wait may reach this person: after their pause, then after their quiet hours
    (None: now). Do not disturb, having no known end, is not waited for."""
    at, prefs, tz = now, preferences_of(member), zone(member.timezone if member else None, "UTC")
    for _ in range(3):  # a pause that ends in quiet hours waits for both, and no more
        decision = dm_decision(prefs, at, at, tz, None, window=WAIT_AT_MOST)
        if decision.action != Action.WAIT_UNTIL or decision.until is None:
            break
        at = decision.until
    return at if at > now else None
