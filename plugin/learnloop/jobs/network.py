"""The network pass of the worker: co-ratings folded, milestones noted and told, digests and suggestions
posted when due. Statuses for do-not-disturb are asked of Mattermost outside any transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from learnloop.jobs.outbox import CallGate
from learnloop.jobs.prompts import statuses, writing
from learnloop.mattermost.context import Chat
from learnloop.mattermost.network_messages import digest_post, milestone_dm, suggestions_dm
from learnloop.services.network import digest, recognition, suggestions
from learnloop.services.network.co_ratings import fold_co_ratings

log = logging.getLogger(__name__)


@dataclass
class NetworkReport:
    folded: int = 0
    digests: int = 0
    suggestions: int = 0
    recognitions: int = 0

    @property
    def sent(self) -> int:
        return self.digests + self.suggestions + self.recognitions


def run_network_pass(chat: Chat, gate: CallGate | None = None) -> NetworkReport:
    report = NetworkReport()
    settings, key, k = chat.settings, chat.signing_key, chat.settings.min_group_size
    public_url = settings.public_url_text
    client = chat.mattermost()
    with writing(gate):
        report.folded = fold_co_ratings(chat.uow, key, chat.clock(), reader=chat.reader)
    with writing(gate), chat.uow() as uow:
        recognition.note_milestones(uow, k, chat.clock())
    with writing(gate), chat.uow() as uow:
        report.digests = digest.post_due(uow, settings, chat.clock(), k,
                                         lambda found: digest_post(found, k, public_url, key))
    with chat.reader() as uow:
        owed = recognition.owed(uow)
    if owed:
        presence = statuses(client, sorted({m.sharer for m in owed}))
        with writing(gate), chat.uow() as uow:
            report.recognitions = recognition.tell(uow, owed, presence, chat.clock(),
                                                   lambda m: milestone_dm(m, public_url, key))
    now = chat.clock()
    with chat.reader() as uow:
        due = suggestions.due(uow, now)
    if due:
        presence = statuses(client, sorted({d.user_id for d in due}))
        with chat.reader() as uow:
            planned = suggestions.plan(uow, due, presence, key, k, now,
                                       lambda user, items: suggestions_dm(user, items, public_url, key))
        with writing(gate), chat.uow() as uow:
            report.suggestions = suggestions.record(uow, planned, now)
    return report
