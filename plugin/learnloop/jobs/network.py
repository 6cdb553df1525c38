"""The network pass of the worker: co-ratings folded, milestones noted and told, digests and suggestions
posted when due, each week's pages to review listed and their owners told. Statuses for do-not-disturb, which
accounts are deactivated (nobody reads a message sent to one), who is in which channel (suggestions come only
from the communities a person is in) and the communities' owners are asked of Mattermost outside any
transaction."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass

from learnloop.jobs.outbox import CallGate
from learnloop.jobs.prompts import community_channels, writing
from learnloop.mattermost.client import MattermostClient, MattermostError
from learnloop.mattermost.context import Chat
from learnloop.mattermost.network_messages import digest_post, milestone_dm, suggestions_dm
from learnloop.mattermost.ownership import community_owners
from learnloop.mattermost.page_messages import review_dm
from learnloop.mattermost.people import deactivated, in_channels, statuses
from learnloop.services import page_review
from learnloop.services.network import digest, recognition, suggestions
from learnloop.services.network.co_ratings import fold_co_ratings

log = logging.getLogger(__name__)


@dataclass
class NetworkReport:
    folded: int = 0
    digests: int = 0
    suggestions: int = 0
    recognitions: int = 0
    pages_listed: int = 0
    reviews: int = 0

    @property
    def sent(self) -> int:
        return self.digests + self.suggestions + self.recognitions + self.reviews


def run_network_pass(chat: Chat, gate: CallGate | None = None) -> NetworkReport:
    report = NetworkReport()
    settings, key, k = chat.settings, chat.signing_key, chat.settings.min_group_size
    public_url = settings.public_url_text
    client = chat.mattermost()
    with writing(gate):
        report.folded = fold_co_ratings(chat.uow, key, chat.clock(), reader=chat.reader)
    with writing(gate), chat.uow() as uow:
        recognition.start(uow, k, chat.clock())
    with writing(gate), chat.uow() as uow:
        report.digests = digest.post_due(uow, settings, chat.clock(), k,
                                         lambda found: digest_post(found, k, public_url, key))
    with chat.reader() as uow:
        owed = recognition.owed(uow)
    if owed:
        sharers = sorted({m.sharer for m in owed})
        presence, gone = statuses(client, sharers), deactivated(client, sharers)
        with writing(gate), chat.uow() as uow:
            report.recognitions = recognition.tell(uow, owed, presence, chat.clock(),
                                                   lambda m: milestone_dm(m, public_url, key), gone)
    now = chat.clock()
    with chat.reader() as uow:
        due = suggestions.due(uow, now)
    if due:
        people = sorted({d.user_id for d in due})
        presence, gone = statuses(client, people), deactivated(client, people)
        inside = _inside(chat, client, suggestions.sending(due, presence, now, gone))
        with chat.reader() as uow:
            planned = suggestions.plan(uow, due, presence, inside, key, k, now,
                                       lambda user, items: suggestions_dm(user, items, public_url, key), gone)
        with writing(gate), chat.uow() as uow:
            report.suggestions = suggestions.record(uow, planned, now)
    review_pages(chat, report, gate)
    return report


def _inside(chat: Chat, client: MattermostClient | None, people: list[str]) -> dict[str, set[int]]:
    """Each person to those of their communities in one of whose channels they are now, as Mattermost says (per
    USERS_PER_CALL people, one call per channel). A community Mattermost cannot tell about is left out this
    time: nothing shared in it is suggested on a guess."""
    if client is None:
        return {}
    with chat.reader() as uow:
        liked = [(community_id, community_channels(uow, community_id), users)
                 for community_id, users in suggestions.liked_in(uow, people, chat.signing_key).items()]
    inside: dict[str, set[int]] = defaultdict(set)
    for community_id, channel_ids, users in liked:
        try:
            found = in_channels(client, channel_ids or [], users)
        except MattermostError as exc:
            log.warning("could not ask who is in the channels of community %s, so nothing of it is suggested "
                        "this time: %s", community_id, exc)
            continue
        for user_id in found:
            inside[user_id].add(community_id)
    return dict(inside)


def review_pages(chat: Chat, report: NetworkReport, gate: CallGate | None) -> None:
    """Once a week each community's pages to review are listed (with its owners as Mattermost names them
    then, where any page is listed); each owner's message goes out at their own Monday moment."""
    settings, k, now = chat.settings, chat.settings.min_group_size, chat.clock()
    with chat.reader() as uow:
        worked = page_review.work_out(uow, page_review.communities_due(uow, now), now, k)
    if worked:
        owners = {community_id: community_owners(chat, community_id) for community_id, rows in worked.items() if rows}
        with writing(gate), chat.uow() as uow:
            report.pages_listed = page_review.list_week(uow, worked, owners, now)
    with chat.reader() as uow:
        due = page_review.due(uow, settings, now)
    if not due:
        return
    people = sorted(owner.person.user_id for owner in due)
    presence, gone = statuses(chat.mattermost(), people), deactivated(chat.mattermost(), people)
    public_url, key = settings.public_url_text, chat.signing_key
    with chat.reader() as uow:
        planned = page_review.plan(uow, due, presence, now,
                                   lambda user, pages, more: review_dm(user, pages, more, k, public_url, key), gone)
    with writing(gate), chat.uow() as uow:
        report.reviews = page_review.record(uow, planned, now)

