"""What happened on a wiki page, in one shape whatever the wiki, and when it is worth a post."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

PageAction = Literal["created", "updated", "moved", "deleted", "restored"]
"""`moved`: the page has a new URL or title, or sits in another space (book, collection); `deleted`: gone
from the wiki (to its trash or for good); `restored`: back from the trash."""
MAJOR_CHANGE_CHARACTERS = 500
MAJOR_CHANGE_SHARE = 0.2
EDIT_SESSION = timedelta(minutes=30)
"""A wiki that saves as people type (Outline's editor sends documents.update at every store) has a page's
updates within one half hour counted as one edit (`edit_session`)."""


@dataclass(frozen=True)
class WikiEvent:
    """`event_id` is unique per change on that wiki (a revision, a delivery id): the same id twice is one event."""

    wiki: str
    event_id: str
    action: PageAction
    page_id: str
    title: str
    url: str
    spaces: tuple[str, ...]
    author: str | None
    summary: str | None
    occurred_at: datetime
    minor: bool = False
    old_size: int | None = None
    new_size: int | None = None
    bot: bool = False
    """Made by a bot account (the wiki says so): never announced."""
    old_url: str | None = None
    """Where a moved page was before, when the wiki says (MediaWiki's move log): finds items recorded before
    learnloop knew the page's id."""
    current: bool = False
    """The page as the wiki shows it now (re-read, not from a log): an event whose id was recorded already
    still brings the page's title and URL up to date (a save that joined an edit session may rename it)."""
    follow_only: bool = False
    """A page re-read because its book or chapter changed (renamed, moved, sorted): it brings a page learnloop
    follows up to date, and is no news of a page it does not."""


@dataclass(frozen=True)
class PagesUnder:
    """A book, chapter or collection went to the wiki's trash (or came back) with its pages, which the wiki's API
    does not list: each page learnloop follows under `prefix` (a URL), live ones (or, with `retired`, retired
    ones), is read again by its id. `job` is the host's fetch job for one page, less the page's id (set as
    `ref_field`) and the event id; its action says what to confirm (a deletion, a restore)."""

    wiki: str
    event_id: str
    prefix: str
    job: dict[str, Any]
    ref_field: str = "page_id"
    retired: bool = False


def edit_session(page_id: str, moment: datetime) -> str:
    """An event id shared by a page's updates in the same EDIT_SESSION: they are one edit."""
    return f"{page_id}:updated:{int(moment.timestamp() // EDIT_SESSION.total_seconds())}"


def is_major(event: WikiEvent) -> bool:
    """A new page always; an update when not marked minor and it changed enough of the page.

    Without sizes (Outline, BookStack) an update is major unless the wiki marked it minor."""
    if event.action == "created":
        return True
    if event.action != "updated" or event.minor:
        return False
    if event.old_size is None or event.new_size is None:
        return True
    change = abs(event.new_size - event.old_size)
    return change >= MAJOR_CHANGE_CHARACTERS or change >= MAJOR_CHANGE_SHARE * max(event.old_size, 1)


def should_announce(event: WikiEvent, policy: str) -> bool:
    """Only new pages and updates are news; a move, a deletion or a restore is not announced."""
    if event.action not in ("created", "updated") or policy == "digest_only":
        return False
    if policy == "new_pages":
        return event.action == "created"
    return is_major(event)
