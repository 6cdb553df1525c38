"""The contract every wiki host folder (mediawiki/, outline/, bookstack/) fulfils.

Inbound deliveries are verified and parsed in the web process, which only queues work; reading
pages through the wiki's API, polling and publishing happen in the worker."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from learnloop.config import WikiConfig
from learnloop.domain.keys import fit
from learnloop.domain.urls import InvalidUrl, normalise_url
from learnloop.domain.wiki_events import PagesUnder, WikiEvent
from learnloop.errors import HostError
from learnloop.inbound import BadBody, parse_json

FETCH_JOB = "wiki.fetch"
PUBLISH_JOB = "wiki.publish"
UNPUBLISH_JOB = "wiki.unpublish"
IDENTIFY = "identify"
"""The action of a fetch job that names a URL, not a page: which page of the wiki is at that URL."""


def fetch_key(wiki: str, event_id: str) -> str:
    """The outbox key of the fetch job for one event of a wiki: the same event queued again is one job."""
    return fit(f"wiki:{wiki}:{event_id}")


def learning_log_cursor(wiki: str, space: str, title: str) -> str:
    """The cursor naming the page (the wiki's id of it) that reflections published to this wiki space under
    this learning-log title last went to, wherever an admin moved or renamed it since. Another space or title
    in the configuration is another cursor: its log is looked for there by title."""
    return fit(f"learning-log:{wiki}:{space}:{title}", limit=60)  # the cursors' name column


def identify_job(wiki: str, item_id: int, url: str) -> dict[str, Any]:
    """The fetch job that asks the wiki which page is at the URL an item was first rated or shared by."""
    return {"wiki": wiki, "action": IDENTIFY, "url": url, "event_id": identify_event(item_id)}


def identify_event(item_id: int) -> str:
    """The event id of an item's identify job: its key (`fetch_key`) ends with `:` and this, whatever the wiki."""
    return f"{IDENTIFY}:{item_id}"


_MARKER = re.compile(r"learnloop-reflection-(?:[0-9]{1,19}(?:-[a-z0-9]{6,16})?|[a-z0-9]{6,16})")


class Unauthorized(Exception):
    """Unsigned, badly signed, stale, or from nobody we know: 401, and nothing changes."""


class BadDelivery(ValueError):
    """Malformed body or fields: 400 with this message."""


WIKI_RETRY_AFTER = 60.0
"""Seconds to wait after a wiki's 429 that says nothing of when to come back."""


class WikiError(HostError):
    """The wiki's API failed; `retryable` says whether the worker should try again, `retry_after` when (a 429:
    the wiki's rate limit, waited out by the outbox without counting an attempt)."""

    def __init__(self, message: str, *, retryable: bool = True, retry_after: float | None = None,
                 refused: bool = False) -> None:
        super().__init__(message)
        self._retryable = retryable
        self.retry_after = retry_after
        self.refused = refused

    @property
    def retryable(self) -> bool:
        return self._retryable


class PollRestarted(WikiError):
    """The wiki's changes go back to before the stored poll position (restored from an older backup, or
    reinstalled): the poll starts again at `position`, and the message says why for `learnloop doctor`."""

    def __init__(self, message: str, position: str) -> None:
        super().__init__(message, retryable=False)
        self.position = position


def check_marker(marker: str) -> str:
    """A publication marker as learnloop makes them (letters, digits and dashes only), so a host can put it in
    wikitext, Markdown or an HTML id without escaping; WikiError otherwise."""
    if not isinstance(marker, str) or not _MARKER.fullmatch(marker):
        raise WikiError(f"not a learnloop publication marker: {str(marker)[:80]!r}", retryable=False)
    return marker


@dataclass(frozen=True)
class Published:
    """Where a published section is: enough to find it again (with its marker) and to tell its author."""

    url: str
    page_title: str
    page_ref: str
    """The wiki's own id of the page (MediaWiki page id, Outline document id, BookStack page id)."""


@dataclass(frozen=True)
class Removed:
    """What became of a request to take a published section off its page."""

    removed: bool
    """True when the section was there and is gone now; False when nothing carrying the marker was found."""
    gone: bool = False
    """The page itself is no longer on the wiki (deleted, in the trash)."""


class WikiHost(Protocol):
    names_pages_by_id: bool
    """The wiki's deliveries name a page by its id alone (Outline, BookStack), so an item first rated or shared
    by its URL must learn the page's id (a fetch job with action IDENTIFY) before the page is deleted or moved;
    MediaWiki's changes name pages by title, which gives their URL."""

    def receive(self, wiki: WikiConfig, body: bytes, headers: Mapping[str, str], query: Mapping[str, str],
                now: datetime) -> list[dict[str, Any]]:
        """Verify then parse a delivery. Returns fetch jobs (JSON-able dicts, each with a unique
        `event_id`); an empty list means a known event that learnloop does not need."""

    def fetch(self, wiki: WikiConfig, job: dict[str, Any], now: datetime) -> Sequence[WikiEvent | PagesUnder]:
        """Re-read what a job names through the wiki's API, at the configured wiki URL only; the pages a trashed
        book or chapter took with it, which the API no longer shows, as `PagesUnder` to check one by one. For an
        IDENTIFY job (where `names_pages_by_id`), the page at the job's `url` as it is now, as a follow-only event
        whose `old_url` is that URL (deleted, if it is in the wiki's trash); nothing for a URL that names no
        page."""

    def poll(self, wiki: WikiConfig, position: str | None, now: datetime) -> tuple[list[WikiEvent], str | None]:
        """Changes since `position` and the new position; wikis without polling return ([], position)."""

    def publish(self, wiki: WikiConfig, *, space: str, page_title: str, heading: str, text: str, marker: str,
                last_page: str | None = None) -> Published:
        """Append a section carrying `marker` (invisibly) to the page in the space, creating the page if needed.
        The author's text and the heading are escaped: nothing in them acts as markup. A page that already
        carries the marker is not changed: a retry after a lost answer publishes once. `last_page`, the page
        reflections published to this space under this title last went to (learning_log_cursor), is tried first
        unless it is trashed, archived, a draft, or out of the API token's reach (the wiki refuses to show or change
        it): a log an admin moved or renamed on the wiki stays the log, while a space or title changed in the
        configuration is looked for there by title (MediaWiki looks it up by the configured title and follows the
        redirect a move leaves instead)."""

    def remove(self, wiki: WikiConfig, *, page_ref: str, marker: str) -> Removed:
        """Take the section carrying `marker` off the page `page_ref` (the wiki's id of it), keeping the rest of
        the page. Removing twice is fine: the second time nothing carries the marker."""


def path_on(wiki: WikiConfig, url: str) -> str | None:
    """The path of `url` below the wiki's configured URL (with its leading slash), or None when `url` is not on
    that wiki. Scheme and host are compared as `normalise_url` writes them."""
    try:
        base, given = urlsplit(normalise_url(wiki.base_url)), urlsplit(normalise_url(url))
    except InvalidUrl:
        return None
    root = base.path.rstrip("/")
    if (given.scheme, given.netloc) != (base.scheme, base.netloc) or not given.path.startswith(root + "/"):
        return None
    return given.path[len(root):]


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, ignoring case also for plain dicts (Flask's headers already do)."""
    value = headers.get(name)
    if value is None:
        wanted = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == wanted), None)
    return value


def json_object(body: bytes) -> dict[str, Any]:
    """A delivery's body as a JSON object (UTF-8, as JSON between systems is); BadDelivery if it is not."""
    try:
        data = parse_json(body)
    except BadBody as exc:
        raise BadDelivery(str(exc)) from None
    if not isinstance(data, dict):
        raise BadDelivery("the body must be a JSON object")
    return data
