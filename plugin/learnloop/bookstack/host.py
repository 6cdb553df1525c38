"""BookStack as a learnloop wiki: webhook deliveries in, page reads and learning-log sections out.

BookStack does not sign its webhooks and cannot send a custom header, so its webhook URL carries
the wiki's secret as a query parameter (`webhook_url` builds it; the access log drops query
strings). Nothing in a delivery is trusted beyond "page N changed": the worker re-reads the page
through the API at the configured wiki URL (`fetch`).

Spaces of a page: ("book:<id>", "book:<slug>", "<book name>"). Shelves are not included: BookStack's
shelf list does not say which books a shelf holds, so finding a book's shelves costs one call per
shelf on every change; map the shelf's books in the configuration instead.

A published section is HTML with the author's text HTML-escaped, on a Markdown page too: there it is one
raw HTML block (no blank line inside, so CommonMark reads none of it as Markdown). Its heading carries the
section's marker as its id, `bkmrk-<marker>`: BookStack keeps an element id that starts with `bkmrk` and
replaces any other (`PageContent::setUniqueId`), so the marker survives the WYSIWYG editor, a switch of
editors, and every later save; it shows nowhere.
"""

from __future__ import annotations

import hmac
import html
import logging
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote, urlencode

from learnloop.bookstack.client import ApiError, Book, BookStackClient, NotFound, Page
from learnloop.clock import reported
from learnloop.config import WikiConfig
from learnloop.domain.wiki_events import PageAction, PagesUnder, WikiEvent
from learnloop.wikis import (
    IDENTIFY,
    BadDelivery,
    Published,
    Removed,
    Unauthorized,
    WikiError,
    check_marker,
    json_object,
    path_on,
)

log = logging.getLogger(__name__)

ACTIONS: dict[str, PageAction] = {
    "page_create": "created",
    "page_update": "updated",
    "page_restore": "updated",  # an older revision restored: new content, maybe a new slug
    "page_move": "moved",  # to another book or chapter: a new URL, maybe another space
    "page_delete": "deleted",  # to the recycle bin
    "recycle_bin_restore": "restored",  # back from the recycle bin (read only when the deletion is a page's)
}
CONTAINER_EVENTS = ("book_update", "book_sort", "chapter_move", "book_create_from_chapter", "book_delete",
                    "chapter_delete")
"""Changes to a book or chapter that change its pages' URLs (a book renamed, a chapter moved to another book or
made a book of its own, pages sorted into another book) or take its pages to the recycle bin with it."""
WEBHOOK_EVENTS = (*ACTIONS, *CONTAINER_EVENTS)
"""BookStack webhook events learnloop reads; the admin ticks these when creating the webhook."""
REFRESH = "refresh"
"""A job that re-reads the pages of a book or chapter (their URLs and book may have changed)."""
TRASHED = "trashed"
"""A job for a book or chapter gone to the recycle bin: the pages learnloop follows in its book are checked."""
PAGE_ACTIONS = frozenset(ACTIONS.values())
RECYCLE_BIN_RESTORE = "recycle_bin_restore"
EMPTY_PAGE = "<p></p>"
"""What a page holds when the only section on it is removed (BookStack refuses empty content)."""
_NEXT_SECTION = re.compile(r"<h[12][\s>/]", re.IGNORECASE)
SECRET_PARAMETER = "secret"
_MAX_TRIGGERED_AT = 64

CUSTOM_HEAD_SNIPPET = """<!-- learnloop: ratings and reflection prompts on every page of this wiki -->
<script src="{widget_url}" data-learnloop-wiki="{wiki}" defer></script>
"""
"""What a BookStack admin pastes into Settings → Customization → Custom HTML Head Content.
`{widget_url}` and `{wiki}` are filled by `custom_head_snippet`."""


def custom_head_snippet(widget_url: str, wiki: WikiConfig) -> str:
    return CUSTOM_HEAD_SNIPPET.format(widget_url=html.escape(widget_url, quote=True),
                                      wiki=html.escape(wiki.name, quote=True))


def webhook_url(public_url: str, wiki: WikiConfig) -> str:
    """The URL to paste into BookStack's Settings → Webhooks (events: `WEBHOOK_EVENTS`)."""
    query = urlencode({SECRET_PARAMETER: wiki.secret_text})
    return f"{public_url.rstrip('/')}/wiki/{quote(wiki.name, safe='')}/events?{query}"


def page_url(wiki: WikiConfig, book_slug: str, page_slug: str) -> str:
    return f"{wiki.base_url}/books/{quote(book_slug, safe='')}/page/{quote(page_slug, safe='')}"


class BookStackHost:
    names_pages_by_id = True

    def receive(self, wiki: WikiConfig, body: bytes, headers: Mapping[str, str], query: Mapping[str, str],
                now: datetime) -> list[dict[str, Any]]:
        _check_secret(wiki, query)
        payload = json_object(body)
        event = payload.get("event")
        if not isinstance(event, str) or not event:
            raise BadDelivery("the delivery has no 'event'")
        if event in CONTAINER_EVENTS:
            return [_container_job(event, payload)]
        action = ACTIONS.get(event)
        if action is None:
            log.info("BookStack wiki %s: ignored a %r delivery", wiki.name, event[:60])
            return []
        item = payload.get("related_item")
        if event == RECYCLE_BIN_RESTORE:
            # related_item is the recycle bin's Deletion: {id, deleted_by, deletable_type, deletable_id, ...}.
            kind = item.get("deletable_type") if isinstance(item, dict) else None
            if isinstance(item, dict) and kind in ("book", "chapter"):
                container = _positive_id(item, "deletable_id", event)
                return [{"event_id": f"{event}:{kind}{container}:{_triggered_at(event, payload)}",
                         "action": REFRESH, f"{kind}_id": container, "restore": True}]
            if not isinstance(item, dict) or kind != "page":
                log.info("BookStack wiki %s: ignored a restore that is not a page's", wiki.name)
                return []
            page_id = item.get("deletable_id")
        else:
            page_id = item.get("id") if isinstance(item, dict) else None
        if isinstance(page_id, bool) or not isinstance(page_id, int) or page_id <= 0:
            raise BadDelivery(f"a {event} delivery needs the page id in related_item")
        triggered_at = _triggered_at(event, payload)
        triggered_by = payload.get("triggered_by")
        actor = triggered_by.get("name") if isinstance(triggered_by, dict) else None
        return [{
            # No delivery id from BookStack: the same activity delivered again gets the same id.
            "event_id": f"{event}:{page_id}:{triggered_at}",
            "page_id": page_id,
            "action": action,
            "actor": actor[:100] if isinstance(actor, str) and actor else None,
        }]

    def fetch(self, wiki: WikiConfig, job: dict[str, Any], now: datetime) -> list[WikiEvent | PagesUnder]:
        """Re-read the page a delivery named (or the pages of its book or chapter: `_container_pages`).
        BookStack's API does not show pages in the recycle bin: a deletion of a page it no longer shows is
        recorded by the page's id (it retires the page learnloop knows by that id); a page it shows again was
        restored since, so its deletion is not recorded, and nothing else is recorded of a page it does not
        show, but for a restore (BookStack tells of it before it is made: the job is tried again). The author
        is the delivery's `triggered_by`, who made this change; the page's last editor only when the delivery
        names nobody."""
        action = job.get("action")
        page_id = job.get("page_id")
        event_id = job.get("event_id")
        if action == IDENTIFY:
            return _identified(wiki, job, now)
        if action in (REFRESH, TRASHED) and event_id:
            return _container_pages(wiki, job, str(event_id), now)
        if isinstance(page_id, str) and page_id.isascii() and page_id.isdigit():  # a page id learnloop stored
            page_id = int(page_id)
        if action not in PAGE_ACTIONS or not isinstance(page_id, int) or not event_id:
            raise WikiError(f"not a BookStack fetch job: {sorted(job)}", retryable=False)
        actor = job.get("actor")
        author = actor if isinstance(actor, str) and actor else None
        client = BookStackClient.for_wiki(wiki)
        try:
            page = client.page(page_id)
        except NotFound:
            log.info("BookStack wiki %s: page %s is gone (deleted or not visible to the API token)",
                     wiki.name, page_id)
            if action == "restored":  # BookStack tells of a restore before it makes it: try again later
                raise WikiError(f"BookStack wiki {wiki.name}: page {page_id} is not back from the recycle bin "
                                "yet") from None
            if action != "deleted":
                return []
            return [WikiEvent(wiki=wiki.name, event_id=str(event_id), action="deleted", page_id=str(page_id),
                              title="", url="", spaces=(), author=author, summary=None, occurred_at=now)]
        if page.draft or action == "deleted":
            return []
        book = client.book(page.book_id)  # one page per job, so one book read per call
        return [WikiEvent(
            wiki=wiki.name, event_id=str(event_id), action=action, page_id=str(page.id), title=page.name,
            url=page_url(wiki, book.slug, page.slug), spaces=_spaces(book), author=author or page.updated_by,
            summary=None, occurred_at=reported(page.updated_at, now),
        )]

    def poll(self, wiki: WikiConfig, position: str | None, now: datetime) -> tuple[list[WikiEvent], str | None]:
        return [], position

    def publish(self, wiki: WikiConfig, *, space: str, page_title: str, heading: str, text: str, marker: str,
                last_page: str | None = None) -> Published:
        """A remembered log BookStack hides (404) or refuses to update (403: its API token's user may only view it
        now) is left like a deleted one; a 403 in the configured book is the token's to fix."""
        client = BookStackClient.for_wiki(wiki)
        section = html_section(heading, text, marker)
        try:
            page = _last_log(client, last_page)
            if page is not None:
                return _appended(wiki, client, client.book(page.book_id), page, section, marker)
        except ApiError as exc:
            if exc.status_code != 403:
                raise
            log.info("wiki %s: the API token may no longer update the learning log %s (%s)", wiki.name, last_page, exc)
        try:
            book = _resolve_book(client, space)
            wanted = page_title.casefold()
            matches = [p for p in client.find_pages(book_id=book.id, name=page_title)
                       if p.book_id == book.id and not p.draft and p.name.casefold() == wanted]
            if not matches:
                created = client.create_page(book_id=book.id, name=page_title, markdown=section)
                return Published(page_url(wiki, book.slug, created.slug), created.name or page_title,
                                 str(created.id))
            return _appended(wiki, client, book, client.page(min(p.id for p in matches)), section, marker)
        except ApiError as exc:
            if exc.status_code != 403:
                raise
            raise WikiError(f"learnloop's API token may not write to the BookStack book '{space}' ({exc}): its "
                            "user needs permission to create and update pages there", retryable=False) from None


    def remove(self, wiki: WikiConfig, *, page_ref: str, marker: str) -> Removed:
        """Save the page without the section, in the editor's format the page has (Markdown or HTML)."""
        check_marker(marker)
        if not page_ref.isascii() or not page_ref.isdigit():
            raise WikiError(f"not a BookStack page id: {page_ref[:40]!r}", retryable=False)
        client = BookStackClient.for_wiki(wiki)
        try:
            page = client.page(int(page_ref))
        except NotFound:
            return Removed(False, gone=True)
        if page.markdown.strip():
            markdown = without_markdown_block(page.markdown, marker)
            if markdown is None:
                return Removed(False)
            client.update_page(page.id, markdown=markdown or EMPTY_PAGE)
        else:
            content = without_html_section(page.html, marker)
            if content is None:
                return Removed(False)
            client.update_page(page.id, html=content or EMPTY_PAGE)
        return Removed(True)


def _triggered_at(event: str, payload: dict[str, Any]) -> str:
    triggered_at = payload.get("triggered_at")
    if not isinstance(triggered_at, str) or not 0 < len(triggered_at) <= _MAX_TRIGGERED_AT:
        raise BadDelivery(f"a {event} delivery needs triggered_at")
    return triggered_at


def _positive_id(item: dict[str, Any], field: str, event: str) -> int:
    value = item.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BadDelivery(f"a {event} delivery needs the {field} in related_item")
    return value


def _container_job(event: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The job for a change to a book or chapter. related_item is the Book or Chapter as BookStack saved it
    (`app/Entities/Repos/BookRepo.php`, `ChapterRepo.php`; a sort logs each book it touched)."""
    item = payload.get("related_item")
    if not isinstance(item, dict):
        raise BadDelivery(f"a {event} delivery needs related_item")
    triggered_at = _triggered_at(event, payload)
    kind = "chapter" if event.startswith("chapter_") else "book"
    container = _positive_id(item, "id", event)
    action = TRASHED if event.endswith("_delete") else REFRESH
    return {"event_id": f"{event}:{container}:{triggered_at}", "action": action, f"{kind}_id": container}


def _container_pages(wiki: WikiConfig, job: dict[str, Any], event_id: str,
                     now: datetime) -> list[WikiEvent | PagesUnder]:
    """A book or chapter changed. Refreshed: each page BookStack lists in it now, read again where it is (a page
    learnloop does not follow stays unknown: `WikiEvent.follow_only`). Trashed: its pages are in the recycle bin,
    where the API does not list them, so every page learnloop follows on the wiki is checked by its id (those
    gone are retired; a page's stored URL may still carry its book's old slug, so no narrower prefix is safe)."""
    if job["action"] == TRASHED:
        return [PagesUnder(wiki.name, event_id, f"{wiki.base_url}/books/", {"action": "deleted", "actor": None})]
    client = BookStackClient.for_wiki(wiki)
    book_id, chapter_id = job.get("book_id"), job.get("chapter_id")
    try:
        if job.get("restore"):  # a book or chapter back from the recycle bin: its pages are back too
            book_id = client.chapter_book(chapter_id) if chapter_id is not None else book_id
            client.book(book_id)
        pages = client.find_pages(**({"chapter_id": chapter_id} if chapter_id is not None else {"book_id": book_id}))
        books = {book.id: book for book in map(client.book, sorted({p.book_id for p in pages if not p.draft}))}
    except NotFound:
        if job.get("restore"):  # BookStack tells of a restore before it makes it: try again later
            raise WikiError(f"BookStack wiki {wiki.name}: {event_id} is not back from the recycle bin yet") from None
        log.info("BookStack wiki %s: the book or chapter of %s is gone", wiki.name, event_id)
        return []
    return [WikiEvent(wiki=wiki.name, event_id=f"{event_id}:{page.id}", action="moved", page_id=str(page.id),
                      title=page.name, url=page_url(wiki, books[page.book_id].slug, page.slug),
                      spaces=_spaces(books[page.book_id]), author=None, summary=None, occurred_at=now, current=True,
                      follow_only=True)
            for page in pages if not page.draft]


def _identified(wiki: WikiConfig, job: dict[str, Any], now: datetime) -> list[WikiEvent | PagesUnder]:
    """The page at an item's URL, `/books/<book slug>/page/<page slug>`: its book by slug, then the page by slug
    in that book. The API shows no page in the recycle bin: such a URL, like any that names no page, gives
    nothing."""
    url = str(job.get("url") or "")
    parts = [unquote(part) for part in (path_on(wiki, url) or "").split("/")]
    if len(parts) < 5 or parts[1] != "books" or parts[3] != "page" or not parts[2] or not parts[4]:
        return []
    client = BookStackClient.for_wiki(wiki)
    books = client.find_books(slug=parts[2])
    pages = [page for book in books for page in client.find_pages(book_id=book.id, slug=parts[4]) if not page.draft]
    if len(pages) != 1:
        return []
    page = pages[0]
    book = next(book for book in books if book.id == page.book_id)
    return [WikiEvent(wiki=wiki.name, event_id=str(job["event_id"]), action="moved", page_id=str(page.id),
                      title=page.name, url=page_url(wiki, book.slug, page.slug), spaces=_spaces(book), author=None,
                      summary=None, occurred_at=now, current=True, follow_only=True, old_url=url)]


def _spaces(book: Book) -> tuple[str, ...]:
    return tuple(s for s in (f"book:{book.id}", f"book:{book.slug}" if book.slug else "", book.name) if s)


def _check_secret(wiki: WikiConfig, query: Mapping[str, str]) -> None:
    given = query.get(SECRET_PARAMETER)
    if not given:
        raise Unauthorized("this BookStack webhook URL has no secret; copy the URL learnloop's installer printed")
    expected = wiki.secret_text
    if not hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
        raise Unauthorized("the secret in this BookStack webhook URL is wrong")


def _appended(wiki: WikiConfig, client: BookStackClient, book: Book, page: Page, section: str,
              marker: str) -> Published:
    if carries_marker(page.markdown, marker) or carries_marker(page.html, marker):
        # a retry after the answer to our write was lost
        return Published(page_url(wiki, book.slug, page.slug), page.name, str(page.id))
    if page.markdown.strip():
        updated = client.update_page(page.id, markdown=f"{page.markdown.rstrip()}\n\n{section}")
    else:
        updated = client.update_page(page.id, html=f"{page.html.rstrip()}\n{section}")
    return Published(page_url(wiki, book.slug, updated.slug or page.slug), updated.name or page.name, str(page.id))


def _last_log(client: BookStackClient, page_ref: str | None) -> Page | None:
    """The page learnloop last published to under the configured book and title, in whichever book and under
    whichever name it is now; None when it is in the recycle bin (or gone) or a draft."""
    if not page_ref or not page_ref.isascii() or not page_ref.isdigit():
        return None
    try:
        page = client.page(int(page_ref))
    except NotFound:
        return None
    return None if page.draft else page


def _resolve_book(client: BookStackClient, space: str) -> Book:
    """A space is `book:<id>`, `book:<slug>` or a book's name."""
    value = space.strip()
    kind, sep, rest = value.partition(":")
    kind = kind.strip().casefold()
    rest = rest.strip()
    if sep and kind == "shelf":
        raise WikiError(f"cannot publish to the shelf {space!r}: map the community to a book", retryable=False)
    if sep and kind == "book" and rest:
        if rest.isascii() and rest.isdigit():
            try:
                return client.book(int(rest))
            except NotFound:
                raise WikiError(f"no BookStack book has the id in space {space!r}", retryable=False) from None
        found = client.find_books(slug=rest)
    else:
        found = client.find_books(name=value)
    if not found:
        raise WikiError(f"no BookStack book matches the space {space!r}", retryable=False)
    return min(found, key=lambda book: book.id)


def section_id(marker: str) -> str:
    """The heading's id: BookStack keeps ids that start with `bkmrk` (and rewrites others)."""
    return f"bkmrk-{check_marker(marker)}"


def carries_marker(content: str, marker: str) -> bool:
    return _heading_at(content, marker) is not None


def _heading_at(content: str, marker: str) -> int | None:
    """Where the tag that carries the marker's id starts."""
    found = re.search(rf"""<h[1-6]\b[^>]*\bid\s*=\s*["']?{re.escape(section_id(marker))}["'\s/>]""", content,
                      re.IGNORECASE)
    return found.start() if found else None


def without_markdown_block(markdown: str, marker: str) -> str | None:
    """The Markdown without the HTML block learnloop appended (its heading to the next blank line)."""
    at = _heading_at(markdown, marker)
    if at is None:
        return None
    start = markdown.rfind("\n", 0, at) + 1
    blank = re.compile(r"\r?\n[ \t]*\r?\n").search(markdown, at)
    end = blank.start() if blank else len(markdown)
    parts = [part for part in (markdown[:start].rstrip(), markdown[end:].strip()) if part]
    return "\n\n".join(parts)


def without_html_section(content: str, marker: str) -> str | None:
    """The page's HTML without the heading that carries the marker and what follows it up to the next <h1>
    or <h2> (the WYSIWYG editor may have rewritten the section, but it keeps the heading's bkmrk- id)."""
    at = _heading_at(content, marker)
    if at is None:
        return None
    after_heading = content.find(">", at) + 1
    following = _NEXT_SECTION.search(content, after_heading)
    end = following.start() if following else len(content)
    parts = [part for part in (content[:at].rstrip(), content[end:].strip()) if part]
    return "\n".join(parts)


def _escaped(text: str) -> str:
    return html.escape(text).replace("{", "&#123;").replace("}", "&#125;")


def html_section(heading: str, text: str, marker: str) -> str:
    """An <h2> with the marker as its id, then the text's paragraphs, all escaped, without blank lines (on a
    Markdown page it is one raw HTML block: nothing in it is read as Markdown). Braces are written as entities:
    BookStack reads `{{@id}}` in a page's HTML as an include of another page."""
    paragraphs = re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n").replace("\r", "\n").strip())
    body = "\n".join(
        "<p>" + "<br>\n".join(_escaped(line.strip()) for line in paragraph.split("\n") if line.strip()) + "</p>"
        for paragraph in paragraphs if paragraph.strip())
    title = _escaped(" ".join(heading.split())) or "Reflection"
    return f'<h2 id="{section_id(marker)}">{title}</h2>\n{body}\n'
