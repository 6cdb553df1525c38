"""The transactional outbox: intents to call a host, written in the transaction of the change that caused
them, then claimed, carried out and finished by workers."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, bindparam, cast, delete, or_, select, update

from learnloop.chunks import chunks
from learnloop.domain.markdown import MENTION_BREAK, plain, unplain
from learnloop.storage.repositories import (
    Repository,
    check_key,
    insert_ignoring_conflicts,
    insert_many_ignoring_conflicts,
    rowcount,
)
from learnloop.storage.tables import OutboxMessage, table_of

_O = table_of(OutboxMessage)
NAME_STARTS = r"(?<![a-z0-9_.-])"
NAME_ENDS = r"(?![a-z0-9_-]|\.[a-z0-9_-])"
"""Where a Mattermost id or username ends: at a character they cannot hold (they hold lower-case letters,
digits, '.', '_' and '-', per model/user.go's IsValidUsername), or at a full stop that ends a sentence; and
where one starts, after a character they cannot hold."""
QUOTE, SHORTENED, QUOTE_CUT = "> ", "…", 100
ERASED_QUOTE = "> (a note its writer has since erased)"
"""How a message quotes a note on a line of its own, and how much of a long one a shortened quote keeps at
least (mattermost.page_messages keeps NOTE_LENGTH - 1 characters)."""
KEYS_PER_STATEMENT = 200
"""Key patterns one statement matches at most: SQLite refuses an expression of 1,000 terms or more ("Expression
tree is too large"), and an erase matches thousands for someone prompted every workday for years."""
_FINISH = update(_O).where(
    _O.c.id == bindparam("b_id"), _O.c.claimed_by == bindparam("b_owner"), _O.c.status == "pending",
).values(
    status=bindparam("b_status", type_=_O.c.status.type), sent_at=bindparam("b_sent_at", type_=_O.c.sent_at.type),
    result=bindparam("b_result", type_=_O.c.result.type), last_error=bindparam("b_error", type_=_O.c.last_error.type),
    next_attempt_at=bindparam("b_next", type_=_O.c.next_attempt_at.type), claimed_by=None,
    attempts=_O.c.attempts - bindparam("b_undo", type_=_O.c.attempts.type))
_FORGET = delete(_O).where(
    _O.c.id == bindparam("b_id"), _O.c.claimed_by == bindparam("b_owner"), _O.c.status == "pending")


@dataclass(frozen=True)
class ClaimedMessage:
    """An outbox message leased to one worker."""

    id: int
    kind: str
    key: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime


class Outbox(Repository):
    def enqueue(self, kind: str, payload: dict[str, Any], *, key: str, now: datetime,
                at: datetime | None = None) -> bool:
        """Queue an intent once per key, to go out now or `at`; False when the same key was queued before."""
        return insert_ignoring_conflicts(self.tx, _O, {
            "kind": kind, "payload": payload, "idempotency_key": check_key(key), "status": "pending",
            "attempts": 0, "next_attempt_at": at or now, "created_at": now}, ["idempotency_key"]) is not None

    def enqueue_many(self, kind: str, messages: list[tuple[str, dict[str, Any]]], *, now: datetime) -> None:
        """`enqueue` for many (key, payload) pairs in one statement; a key queued before is skipped."""
        insert_many_ignoring_conflicts(self.tx, _O, [
            {"kind": kind, "payload": payload, "idempotency_key": check_key(key), "status": "pending",
             "attempts": 0, "next_attempt_at": now, "created_at": now} for key, payload in messages],
            ["idempotency_key"])

    def claim(self, owner: str, now: datetime, limit: int, kinds: list[str],
              lease_until: datetime) -> list[ClaimedMessage]:
        """Lease what is due, oldest first, to `owner`: one attempt more each, not due again before
        `lease_until` unless the owner renews the lease. On PostgreSQL rows another worker is claiming
        are skipped."""
        ids = list(self.session.scalars(
            select(_O.c.id).where(_O.c.status == "pending", _O.c.next_attempt_at <= now, _O.c.kind.in_(kinds))
            .order_by(_O.c.next_attempt_at, _O.c.id).limit(limit).with_for_update(skip_locked=True)))
        if not ids:
            return []
        rows = self.session.execute(
            update(_O).where(_O.c.id.in_(ids))
            .values(attempts=_O.c.attempts + 1, next_attempt_at=lease_until, claimed_by=owner)
            .returning(_O.c.id, _O.c.kind, _O.c.idempotency_key, _O.c.payload, _O.c.attempts, _O.c.created_at))
        claimed = {row.id: ClaimedMessage(row.id, row.kind, row.idempotency_key, dict(row.payload), row.attempts,
                                          row.created_at) for row in rows}
        return [claimed[message_id] for message_id in ids]

    def renew(self, owner: str, ids: list[int], lease_until: datetime) -> int:
        """Extend the lease on messages this owner is still working on."""
        if not ids:
            return 0
        self._lock_in_order(ids)
        result = self.session.execute(
            update(_O).where(_O.c.id.in_(ids), _O.c.claimed_by == owner, _O.c.status == "pending")
            .values(next_attempt_at=lease_until))
        return rowcount(result)

    def _lock_in_order(self, ids: list[int]) -> None:
        """Lock these rows in id order before changing them (PostgreSQL): a lease's renewal and a pass's
        outcomes, each locking the same rows in its own order, would deadlock."""
        if ids and self.tx.dialect == "postgresql":  # SQLite's writer lock already runs writers one at a time
            self.session.execute(select(_O.c.id).where(_O.c.id.in_(ids)).order_by(_O.c.id).with_for_update())

    def finish_many(self, owner: str, outcomes: list[dict[str, Any]], *, gone: Sequence[int] = ()) -> None:
        """Write back what became of claimed messages this owner still holds, in one executemany UPDATE. Each
        dict has b_id, b_status, b_sent_at, b_result, b_error, b_next (next_attempt_at) and b_undo (1 when the
        claim did not count as an attempt, as after a 429). The messages `gone` names are done with (sent, or
        given up) and deleted instead of kept."""
        self._lock_in_order([outcome["b_id"] for outcome in outcomes] + list(gone))
        if outcomes:
            self.run(_FINISH, [{**outcome, "b_owner": owner} for outcome in outcomes])
        if gone:
            self.run(_FORGET, [{"b_id": message_id, "b_owner": owner} for message_id in gone])

    def blank_done(self, ids: Sequence[int]) -> None:
        """Empty these messages of payload, result and error if they are done (sent, or given up): their rows
        and keys stay, saying they were carried out."""
        if ids:
            self.session.execute(update(_O).where(_O.c.id.in_(list(ids)), _O.c.status != "pending")
                                 .values(payload={}, result=None, last_error=None))

    def get(self, message_id: int) -> OutboxMessage | None:
        return self.session.get(OutboxMessage, message_id)

    def by_key(self, key: str) -> OutboxMessage | None:
        return self.session.scalars(select(OutboxMessage).where(OutboxMessage.idempotency_key == key)).one_or_none()

    def still_queued(self, key: str) -> bool:
        """Whether the message with this key is still here, its row held until the transaction ends. A handler
        asks before it writes about the person its message names: an erase deletes every message naming them,
        so one gone means its person erased their data meanwhile (and an erase under way waits for the row)."""
        return self.session.scalars(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key)
                                    .with_for_update()).one_or_none() is not None

    def of_thread(self, key: str) -> list[OutboxMessage]:
        """The message with this key and those keyed after it (`key:...`: the later edits of one post)."""
        return list(self.session.scalars(select(OutboxMessage).where(or_(
            OutboxMessage.idempotency_key == key,
            OutboxMessage.idempotency_key.startswith(f"{key}:", autoescape=True))).order_by(OutboxMessage.id)))

    def pending(self, kind: str | None = None) -> list[OutboxMessage]:
        """Messages not carried out yet, oldest first; only those of `kind` if given."""
        query = select(OutboxMessage).where(OutboxMessage.status == "pending")
        if kind is not None:
            query = query.where(OutboxMessage.kind == kind)
        return list(self.session.scalars(query.order_by(OutboxMessage.id)))

    def remove(self, keys: list[str]) -> int:
        """Forget these messages, sent or not (a shared reflection its author deleted)."""
        if not keys:
            return 0
        result = self.session.execute(delete(OutboxMessage).where(OutboxMessage.idempotency_key.in_(keys)))
        return rowcount(result)

    def remove_keyed(self, kinds: Sequence[str], *, exact: Sequence[str] = (), starting: Sequence[str] = (),
                     ending: Sequence[str] = ()) -> int:
        """Forget the messages of these kinds, sent or not, whose key is one of `exact`, starts with one of
        `starting` or ends with one of `ending`; KEYS_PER_STATEMENT keys or patterns at a time, as SQLite refuses
        a statement of 1,000 terms or more."""
        key = OutboxMessage.idempotency_key
        patterns = [key.startswith(text, autoescape=True) for text in starting] + \
            [key.endswith(text, autoescape=True) for text in ending]
        conditions = [key.in_(keys) for keys in chunks(sorted(set(exact)), KEYS_PER_STATEMENT)] + \
            [or_(*terms) for terms in chunks(patterns, KEYS_PER_STATEMENT)]
        return sum(rowcount(self.session.execute(delete(OutboxMessage).where(OutboxMessage.kind.in_(kinds), condition)))
                   for condition in conditions)

    def naming(self, texts: list[str]) -> list[int]:
        """The ids of messages whose payload, result or key names any of these (a person's id or @name), sent
        or not: a sent message's result can name whom it went to, and a key whom it came from. A name counts
        only as a whole name, so @ann does not find @anna's messages."""
        wanted = [text for text in texts if text]
        if not wanted:
            return []
        columns = (cast(_O.c.payload, String), cast(_O.c.result, String), _O.c.idempotency_key)
        bare = {text.removeprefix("@") for text in wanted}  # an @ may be followed by a word joiner (naming_pattern)
        candidates = self.session.execute(select(_O.c.id, _O.c.payload, _O.c.result, _O.c.idempotency_key).where(
            or_(*(column.contains(t, autoescape=True) for column in columns for t in sorted(bare)))))
        naming = naming_pattern(wanted)  # on the strings themselves: in the JSON text "\n@ann" is "\\n@ann"
        return [message_id for message_id, payload, result, key in candidates
                if any(naming.search(text) for text in (*_texts(payload), *_texts(result), key or ""))]

    def remove_naming(self, texts: list[str]) -> int:
        """Forget the messages `naming` finds."""
        return self._remove_ids(self.naming(texts))

    def redact_name(self, message_ids: list[int], name: str) -> int:
        """In these messages (to someone else, naming a person by @name only), the name becomes "someone"; the
        rest of each message stays theirs. The number of messages changed."""
        naming = naming_pattern([name])
        changed = 0
        for message in self.session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(message_ids))):
            redacted = _each_text(message.payload, lambda text: naming.sub("someone", text))
            if redacted != message.payload:
                message.payload = redacted
                changed += 1
        return changed

    def lines_naming(self, message_ids: list[int], name: str) -> list[dict[str, Any]]:
        """Of these messages (to someone else, naming a person by @name only: an owner's weekly message that
        quotes a reader's note mentioning them), the lines that name them, as written (without the Markdown
        escapes of domain.markdown.plain): the rest is another person's message."""
        naming, found = naming_pattern([name]), []
        for message in self.session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(message_ids))
                                            .order_by(OutboxMessage.id)) if message_ids else ():
            lines = [unplain(line) for text in _texts(message.payload) for line in text.split("\n")
                     if naming.search(line)]
            if lines:
                found.append({"kind": message.kind, "created_at": message.created_at, "lines_naming_you": lines})
        return found

    def redact_quoting(self, notes: list[str]) -> int:
        """Take the quotes of these notes out of the messages that hold them, sent or not (a page owner's weekly
        message quotes readers' notes word for word): a line that is '> ' and the note with its white space
        collapsed, or its first QUOTE_CUT characters or more ended with '…' (a long note shortened), becomes
        ERASED_QUOTE; the rest of the message stays. Only a whole line counts, so a short note ('ok') does not
        touch messages that merely hold the word. The number of messages changed."""
        wanted = {" ".join(note.split()) for note in notes} - {""}
        if not wanted:
            return 0
        payload = cast(_O.c.payload, String)  # JSON as json.dumps writes it, on both backends
        quoted = {form[:QUOTE_CUT] for note in wanted for form in (note, plain(note))}  # as written, or escaped
        candidates = self.session.scalars(select(OutboxMessage).where(or_(
            *(payload.contains(json.dumps(QUOTE + text)[1:-1], autoescape=True) for text in sorted(quoted)))))
        changed = 0
        for message in candidates:
            redacted = _redacted(message.payload, wanted)
            if redacted != message.payload:
                message.payload = redacted
                changed += 1
        return changed

    def _remove_ids(self, ids: list[int]) -> int:
        if not ids:
            return 0
        return rowcount(self.session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(ids))))

    def purge_delivered(self, before: datetime) -> int:
        """Sent and failed messages older than `before` (retention: their payloads can hold shared text)."""
        result = self.session.execute(delete(OutboxMessage).where(
            OutboxMessage.status.in_(("sent", "failed")), OutboxMessage.created_at < before))
        return rowcount(result)


def naming_pattern(names: list[str]) -> re.Pattern[str]:
    """Any of these ids or @names, as a whole name; an @name also as posts write text from outside, with a word
    joiner after the @ (domain.markdown.plain)."""
    return re.compile("|".join(NAME_STARTS + (f"@{MENTION_BREAK}?{re.escape(name[1:])}" if name.startswith("@")
                                              else re.escape(name)) + NAME_ENDS for name in names))


def _each_text(value: Any, change: Callable[[str], str]) -> Any:
    """A JSON payload with `change` applied to every string in it."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {key: _each_text(part, change) for key, part in value.items()}
    if isinstance(value, list):
        return [_each_text(part, change) for part in value]
    return value


def _texts(value: Any) -> Iterator[str]:
    """Every string in a JSON payload."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict | list):
        for part in value.values() if isinstance(value, dict) else value:
            yield from _texts(part)


def _redacted(value: Any, notes: set[str]) -> Any:
    """A payload with every line that quotes one of these notes replaced by ERASED_QUOTE."""
    return _each_text(value, lambda text: "\n".join(ERASED_QUOTE if _quotes(line, notes) else line
                                                    for line in text.split("\n")))


def _quotes(line: str, notes: set[str]) -> bool:
    if not line.startswith(QUOTE):
        return False
    quoted = unplain(line[len(QUOTE):])  # a note is quoted as text from outside is (domain.markdown.plain)
    if quoted in notes:
        return True
    kept = quoted.removesuffix(SHORTENED)
    return len(kept) >= QUOTE_CUT and kept != quoted and any(note.startswith(kept) for note in notes)
