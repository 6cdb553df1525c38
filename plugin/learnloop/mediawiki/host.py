"""MediaWiki as a learnloop wiki host: polling recent changes, an optional signed push, publishing.

MediaWiki core has no webhooks, so **polling is the ingestion path**: `poll` reads
`list=recentchanges` (page creations and edits, and the log entries of a page's life: moves,
deletions, undeletions) from where the last poll stopped. The position
the worker stores is `"<rcid>@<timestamp>"`: the rcid of the newest change read and its
timestamp. The API can only start a listing at a timestamp, so a poll reads from that
timestamp minus `REWIND` (a change's timestamp is taken when its save starts, so a slow save
can carry an older timestamp than a later rcid) and keeps only changes with a larger rcid:
nothing is missed, and a change is never returned twice by polls that follow each other (a
restart resumes from the stored position). One limit, inherent in rcids: on a wiki whose
database has concurrent writers, a change whose transaction commits after a higher-numbered
change was already read (a window of milliseconds) would be passed over. On the **first** poll
(`position` None) nothing is imported: the position starts at the wiki's newest change, so a
wiki's whole history never floods a channel when learnloop is connected to it. A poll that finds nothing
new, and no change at or after the position's time with an rcid as high as the position's, neither in what it
read nor among the wiki's newest changes of any kind (the wiki was restored from an older backup, or
reinstalled, and numbers its changes from lower rcids again), raises PollRestarted: the position goes back to
rcid 0 at the time of the last change read, so the changes made since the reset are read next. An idle poll
whose listing still holds the change at the position makes no second call.

The **push** is optional and only makes things faster: a `PageSaveComplete` hook in
LocalSettings.php (`LOCALSETTINGS_SNIPPET`) posts `{"event": "page_saved", "rc_id": ...,
"timestamp": ...}` signed with HMAC-SHA256 of the body under the wiki's `secret`. `receive`
verifies it and queues one fetch job per recent change (`event_id` `push:<rc_id>`, so a replay is
queued once). `fetch` then re-reads that one change through the API (in a window of timestamps
around the push, as `list=recentchanges` cannot filter by rcid) and maps it exactly as a poll
would, to event id `rc:<rcid>@<timestamp>`. The later poll reads the same change again; ingestion is
idempotent by event id, so it is recorded once. A push that cannot be matched (clock skew, the
change already gone) yields nothing; the next poll still sees the change. The push never moves
the poll position.

Each change is mapped with the page as it is now (read by page id): its title, URL and categories.
Creations and edits of pages deleted since are skipped: there is nothing left to announce or rate
(the deletion that follows in the log retires the page). A move (`move/move`, `move/move_redir`)
becomes a `moved` event at the page's current URL, with the URL of its old title as `old_url`; a
deletion (`delete/delete`) a `deleted` event at the URL of the title it had; an undeletion
(`delete/restore`) a `restored` event, unless the page is gone again.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from learnloop.config import WikiConfig
from learnloop.domain.wiki_events import PageAction, WikiEvent
from learnloop.mediawiki.client import (
    MediaWikiClient,
    PageInfo,
    RecentChange,
    api_url_for,
    format_timestamp,
    parse_timestamp,
)
from learnloop.wikis import (
    BadDelivery,
    PollRestarted,
    Published,
    Removed,
    Unauthorized,
    WikiError,
    check_marker,
    header,
    json_object,
)

log = logging.getLogger(__name__)

POLL_LIMIT = 1000
"""Changes read per poll at most; the rest is read by the next poll."""
REWIND = timedelta(minutes=5)
"""How far before the stored position's timestamp a poll starts reading (out-of-order saves)."""
PUSH_WINDOW_BEFORE = timedelta(minutes=5)
PUSH_WINDOW_AFTER = timedelta(minutes=1)
MAX_CLOCK_SKEW = timedelta(minutes=5)
SIGNATURE_HEADER = "X-Learnloop-Signature"
PUSH_EVENT = "page_saved"
EDIT_SUMMARY = "Learning log entry (learnloop)"
REMOVAL_SUMMARY = "Reflection removed at its author's request (learnloop)"
_POSITION = re.compile(r"^(\d+)(?:@(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ))?$")
_BAD_CATEGORY_CHARS = re.compile(r"[\[\]{}|<>#\n\r]")
_HEADING_ESCAPES = {ord(c): f"&#{ord(c)};" for c in "&<>[]{}|~'=_"}
_HEADING_LINE = re.compile(r"^(={1,6})[^=\n].*?\1[ \t]*$", re.MULTILINE)
_LINK_LINE = re.compile(r"\[\[[^\[\]:|]+:[^\[\]]*\]\]")
"""A line that is one prefixed link, such as `[[Category:Onboarding]]`: a page's categories outlive any section."""


# ---------------------------------------------------------------------------- LocalSettings.php

LOCALSETTINGS_SNIPPET = r"""
# learnloop: tell learnloop at once about every saved page (optional: learnloop also polls).
# Core MediaWiki >= 1.36 only, no extension. The request is sent after the response, so
# editors never wait for it; if learnloop is down the next poll still sees the change.
# Nothing here can fail an edit: every error is caught and logged to the 'learnloop' debug log.
$learnloopPush = [
	'url' => '@@LEARNLOOP_EVENTS_URL@@',
	'secret' => '@@LEARNLOOP_SECRET@@',
];
$wgHooks['PageSaveComplete'][] = static function (
	$wikiPage, $user, $summary, $flags, $revisionRecord, $editResult
) use ( $learnloopPush ) {
	try {
		if ( $editResult->isNullEdit() ) {
			return;
		}
		$revId = $revisionRecord->getId();
		\DeferredUpdates::addCallableUpdate( static function () use ( $revId, $learnloopPush ) {
			try {
				$rc = \RecentChange::newFromConds( [ 'rc_this_oldid' => $revId ], __METHOD__, DB_PRIMARY );
				if ( !$rc ) {
					return;
				}
				$body = json_encode( [
					'event' => 'page_saved',
					'rc_id' => (int)$rc->getAttribute( 'rc_id' ),
					'timestamp' => time(),
				] );
				$request = \MediaWiki\MediaWikiServices::getInstance()->getHttpRequestFactory()->create(
					$learnloopPush['url'], [ 'method' => 'POST', 'postData' => $body, 'timeout' => 5 ], __METHOD__
				);
				$request->setHeader( 'Content-Type', 'application/json' );
				$request->setHeader( 'X-Learnloop-Signature',
					'sha256=' . hash_hmac( 'sha256', $body, $learnloopPush['secret'] ) );
				$status = $request->execute();
				if ( !$status->isOK() ) {
					wfDebugLog( 'learnloop', 'push to learnloop failed: ' . $status->getWikiText() );
				}
			} catch ( \Throwable $e ) {
				wfDebugLog( 'learnloop', 'push to learnloop failed: ' . $e->getMessage() );
			}
		} );
	} catch ( \Throwable $e ) {
		wfDebugLog( 'learnloop', 'push to learnloop failed: ' . $e->getMessage() );
	}
};
"""
"""PHP for LocalSettings.php; fill it in with `localsettings_snippet`."""


def _php_string(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def localsettings_snippet(wiki: WikiConfig, public_url: str) -> str:
    """The snippet for this wiki: posts to `<public_url>/wiki/<name>/events`, signed with its secret."""
    events_url = f"{public_url.rstrip('/')}/wiki/{wiki.name}/events"
    return (LOCALSETTINGS_SNIPPET.replace("@@LEARNLOOP_EVENTS_URL@@", _php_string(events_url))
            .replace("@@LEARNLOOP_SECRET@@", _php_string(wiki.secret_text)))


# ---------------------------------------------------------------------------- positions

def encode_position(rcid: int, timestamp: datetime | None) -> str:
    return f"{rcid}@{format_timestamp(timestamp)}" if timestamp else str(rcid)


def decode_position(position: str) -> tuple[int, datetime | None]:
    """`"<rcid>@<timestamp>"` (or a bare rcid) back into its parts."""
    match = _POSITION.match(position.strip())
    if match is None:
        raise WikiError(f"unreadable MediaWiki poll position {position[:100]!r}", retryable=False)
    return int(match.group(1)), parse_timestamp(match.group(2)) if match.group(2) else None


# ---------------------------------------------------------------------------- mapping

def canonical_categories(categories: tuple[str, ...]) -> tuple[str, ...]:
    """`Category:Name` for each category; on wikis in other languages the local spelling too
    (`Kategorie:Name`), so either can be mapped to a community."""
    spaces: list[str] = []
    for title in categories:
        name = title.partition(":")[2]
        for space in (f"Category:{name}", title):
            if name and space not in spaces:
                spaces.append(space)
    return tuple(spaces)


LOG_ACTIONS: dict[tuple[str, str], PageAction] = {
    ("move", "move"): "moved", ("move", "move_redir"): "moved", ("delete", "delete"): "deleted",
    ("delete", "restore"): "restored"}
"""Page-life log entries (client.PAGE_LOGS) as WikiEvent actions."""


def change_event_id(change: RecentChange) -> str:
    """`rc:<rcid>@<timestamp>`: a wiki restored from an older backup (or reinstalled) numbers its new changes with
    rcids learnloop has recorded already, at other times."""
    return f"rc:{change.rcid}@{format_timestamp(change.timestamp)}"


def event_for(wiki: WikiConfig, change: RecentChange, page: PageInfo, *, action: PageAction | None = None,
              old_url: str | None = None) -> WikiEvent:
    """The change as a WikiEvent, with the page as it is now."""
    spaces = (*canonical_categories(page.categories), f"Namespace:{page.ns}")
    return WikiEvent(
        wiki=wiki.name, event_id=change_event_id(change),
        action=action or ("created" if change.type == "new" else "updated"),
        page_id=str(change.pageid), title=page.title or change.title, url=page.url or "", spaces=spaces,
        author=change.user, summary=change.comment, occurred_at=change.timestamp, minor=change.minor,
        old_size=None if action else change.old_size, new_size=None if action else change.new_size, bot=change.bot,
        old_url=old_url,
    )


def titles_named(change: RecentChange) -> tuple[str, ...]:
    """The titles a log entry needs URLs for: the title it names (a moved page's old one), and a move's target."""
    if change.log is None:
        return ()
    return (change.title, change.target_title) if change.target_title else (change.title,)


def log_event_for(wiki: WikiConfig, change: RecentChange, page: PageInfo | None,
                  by_title: Mapping[str, PageInfo]) -> WikiEvent | None:
    """A page-life log entry as a WikiEvent; None when there is nothing to follow."""
    action = LOG_ACTIONS.get(change.log) if change.log else None
    if action is None:
        return None
    old_url = _url_of(by_title, change.title) if action == "moved" else None
    live = page is not None and not page.missing and bool(page.url)
    if live and action != "deleted":
        assert page is not None
        return event_for(wiki, change, page, action=action, old_url=old_url)
    if action == "restored":
        return None  # restored, then deleted again: the later deletion says so
    # Deleted (or moved, and deleted since): where the page was is all the wiki can still say.
    title = change.target_title if action == "moved" and change.target_title else change.title
    return WikiEvent(
        wiki=wiki.name, event_id=change_event_id(change), action=action,
        page_id=str(change.pageid) if change.pageid else "", title=title, url=_url_of(by_title, title) or "",
        spaces=(), author=change.user, summary=change.comment, occurred_at=change.timestamp, bot=change.bot,
        old_url=old_url)


def _url_of(by_title: Mapping[str, PageInfo], title: str) -> str | None:
    """The canonical URL of a title (MediaWiki gives one for missing pages too)."""
    page = by_title.get(title)
    return page.url if page is not None else None


# ---------------------------------------------------------------------------- publishing text

def plain_wikitext(text: str) -> str:
    """Text shown as written: no links, templates, signatures or categories from a reflection.

    Each line is wrapped in <nowiki>; blank lines keep separating paragraphs, single line
    breaks stay line breaks."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip()) if p.strip()]
    rendered = []
    for paragraph in paragraphs:
        lines = [line.strip() for line in paragraph.split("\n") if line.strip()]
        rendered.append("<br />\n".join(
            f"<nowiki>{line.replace('&', '&amp;').replace('<', '&lt;')}</nowiki>" for line in lines))
    return "\n\n".join(rendered)


def marker_comment(marker: str) -> str:
    """The invisible mark a published section carries: an HTML comment, kept by the wikitext and VisualEditor."""
    return f"<!-- {check_marker(marker)} -->"


def without_section(text: str, marker: str) -> str | None:
    """The wikitext without the section that carries the marker (from its heading to the next heading of the
    same or a higher level), keeping category lines that stood in it; None if no section carries it."""
    at = text.find(marker_comment(marker))
    if at < 0:
        return None
    headings = list(_HEADING_LINE.finditer(text))
    own = next((h for h in reversed(headings) if h.start() <= at), None)
    start = own.start() if own else text.rfind("\n", 0, at) + 1
    level = len(own.group(1)) if own else 2
    following = (h for h in headings if h.start() > at and len(h.group(1)) <= level)
    end = next((h.start() for h in following), len(text))
    kept = [line.strip() for line in text[start:end].splitlines() if _LINK_LINE.fullmatch(line.strip())]
    parts = [part for part in (text[:start].rstrip(), text[end:].strip(), "\n".join(kept)) if part]
    return "\n\n".join(parts) + "\n" if parts else ""


def plain_heading(heading: str) -> str:
    """A section title that cannot carry markup (characters that could are written as entities)."""
    return " ".join(heading.split()).translate(_HEADING_ESCAPES)[:250] or "Reflection"


def _same_category(a: str, b: str) -> bool:
    def norm(name: str) -> str:
        return " ".join(name.replace("_", " ").split()).casefold()
    return norm(a) == norm(b)


# ---------------------------------------------------------------------------- the host


def _positive_int(data: Mapping[str, Any], field: str) -> int:
    value = data.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BadDelivery(f"'{field}' must be a positive integer")
    return value


class MediaWikiHost:
    """One instance per process (`wiring.wiki_hosts`); it keeps one logged-in client per wiki."""

    names_pages_by_id = False

    def __init__(self) -> None:
        self._clients: dict[tuple[str, str, str, str], MediaWikiClient] = {}
        self._lock = threading.Lock()

    def client(self, wiki: WikiConfig) -> MediaWikiClient:
        """The cached, logged-in (lazily) API client for this wiki and these credentials."""
        password = wiki.bot_password.get_secret_value() if wiki.bot_password else ""
        key = (wiki.name, api_url_for(wiki), wiki.bot_user or "", hashlib.sha256(password.encode()).hexdigest())
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                for stale in [k for k in self._clients if k[0] == wiki.name]:
                    self._clients.pop(stale).close()
                client = self._clients[key] = MediaWikiClient.for_wiki(wiki)
            return client

    # -- inbound push (web process) --------------------------------------------------------

    def receive(self, wiki: WikiConfig, body: bytes, headers: Mapping[str, str], query: Mapping[str, str],
                now: datetime) -> list[dict[str, Any]]:
        signature = header(headers, SIGNATURE_HEADER)
        if not signature:
            raise Unauthorized(f"missing {SIGNATURE_HEADER} header")
        scheme, _, digest = signature.strip().partition("=")
        if scheme.strip().lower() != "sha256" or not digest.strip():
            raise Unauthorized(f"{SIGNATURE_HEADER} must be sha256=<hex>")
        expected = hmac.new(wiki.secret_text.encode("utf-8"), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode("ascii"), digest.strip().lower().encode("utf-8", "replace")):
            raise Unauthorized("bad signature")
        data = json_object(body)
        stamp = data.get("timestamp")
        if isinstance(stamp, bool) or not isinstance(stamp, (int, float)):
            raise BadDelivery("'timestamp' must be unix seconds")
        try:
            sent_at = datetime.fromtimestamp(stamp, UTC)
        except (OverflowError, OSError, ValueError):
            raise BadDelivery("'timestamp' is out of range") from None
        if abs(now - sent_at) > MAX_CLOCK_SKEW:
            raise Unauthorized("stale delivery: its timestamp is more than 5 minutes from now")
        if data.get("event") != PUSH_EVENT:
            raise BadDelivery(f"unknown event {str(data.get('event'))[:40]!r}; expected '{PUSH_EVENT}'")
        rc_id = _positive_int(data, "rc_id")
        return [{"event_id": f"push:{rc_id}", "poll": True, "rc_id": rc_id, "timestamp": int(stamp)}]

    # -- worker ----------------------------------------------------------------------------

    def fetch(self, wiki: WikiConfig, job: dict[str, Any], now: datetime) -> list[WikiEvent]:
        """The one recent change a push named, read through the API; [] if it cannot be found."""
        rc_id, stamp = job.get("rc_id"), job.get("timestamp")
        if isinstance(rc_id, bool) or not isinstance(rc_id, int) or rc_id <= 0:
            return []
        around = now
        if isinstance(stamp, (int, float)) and not isinstance(stamp, bool):
            around = datetime.fromtimestamp(stamp, UTC)
        client = self.client(wiki)
        changes = client.recent_changes(rc_id - 1, POLL_LIMIT, start=around - PUSH_WINDOW_BEFORE,
                                        end=around + PUSH_WINDOW_AFTER)
        matching = [change for change in changes if change.rcid == rc_id]
        if not matching:
            log.info("wiki %s: pushed change %s not found around %s; the next poll will read it", wiki.name,
                     rc_id, format_timestamp(around))
            return []
        return self.events(wiki, matching, client)

    def poll(self, wiki: WikiConfig, position: str | None, now: datetime) -> tuple[list[WikiEvent], str | None]:
        client = self.client(wiki)
        if position is None:
            newest = client.newest_change()
            return [], encode_position(*newest) if newest else "0"
        after, seen_at = decode_position(position)
        changes, highest = client.recent_changes_listed(after, POLL_LIMIT, start=seen_at - REWIND if seen_at else None)
        if not changes:
            if highest >= after:  # the change at the position is still listed (or one after it): no reset
                return [], position
            newest = client.newest_change()  # the listing reads only some kinds of change, from seen_at on
            if newest is not None and newest[0] < after:
                # Restart at the time of the last change read: the changes made since the reset come next.
                restart = encode_position(0, seen_at) if seen_at else encode_position(*newest)
                message = (f"its changes went back from rcid {after} to {newest[0]}: restored from a backup, or "
                           "reinstalled?")
                log.warning("wiki %s: %s Polling restarts from %s.", wiki.name, message,
                            f"the changes made since {format_timestamp(seen_at)}" if seen_at else "its newest change")
                raise PollRestarted(message, restart)
            return [], position
        last = changes[-1]
        return self.events(wiki, changes, client), encode_position(last.rcid, last.timestamp)

    def events(self, wiki: WikiConfig, changes: list[RecentChange], client: MediaWikiClient) -> list[WikiEvent]:
        """WikiEvents for the changes, with each page's current title, URL and categories (and, for log entries,
        the URLs of the titles they name)."""
        pageids = sorted({change.pageid for change in changes if change.pageid})
        pages = {page.pageid: page for page in client.pages(pageids=pageids)} if pageids else {}
        titles = sorted({title for change in changes for title in titles_named(change)})
        by_title = {page.title: page for page in client.pages(titles=titles)} if titles else {}
        events = []
        for change in changes:
            page = pages.get(change.pageid)
            if change.log is not None:
                event = log_event_for(wiki, change, page, by_title)
                if event is not None:
                    events.append(event)
            elif page is not None and not page.missing and page.url:
                events.append(event_for(wiki, change, page))
        return events

    def publish(self, wiki: WikiConfig, *, space: str, page_title: str, heading: str, text: str, marker: str,
                last_page: str | None = None) -> Published:
        client = self.client(wiki)
        comment = marker_comment(marker)
        category, configured = self._learning_log(client, wiki, space, page_title)
        found = client.pages(titles=[configured], redirects=True)  # a learning log moved: where it is now
        if len(found) != 1 or found[0].ns < 0 or not found[0].title:  # led off the wiki, or to a special page
            found = client.pages(titles=[configured])
        [page] = found
        title = page.title
        if not page.missing and page.url and page.pageid:
            current = client.page_text(page.title)
            if comment in current.text:  # a retry: the save went through, its answer did not reach us
                return Published(page.url, page.title, str(page.pageid))
        wikitext = f"{comment}\n\n{plain_wikitext(text)}"
        if category is not None and not any(_same_category(c.partition(":")[2], category) for c in page.categories):
            wikitext += f"\n\n[[Category:{category}]]"
        saved = client.append_section(title, plain_heading(heading), wikitext, summary=EDIT_SUMMARY, page=page)
        assert saved.url is not None
        return Published(saved.url, saved.title, str(saved.pageid))

    def remove(self, wiki: WikiConfig, *, page_ref: str, marker: str) -> Removed:
        """Save the page without the section, conflict-safe (an edit in between is retried by the outbox)."""
        check_marker(marker)
        if not page_ref.isascii() or not page_ref.isdigit():
            raise WikiError(f"not a MediaWiki page id: {page_ref[:40]!r}", retryable=False)
        client = self.client(wiki)
        before = client.page_text(pageid=int(page_ref))
        if not before.exists:
            return Removed(False, gone=True)
        text = without_section(before.text, marker)
        if text is None:
            return Removed(False)
        client.replace_text(before, text, summary=REMOVAL_SUMMARY, minor=True)
        return Removed(True)

    @staticmethod
    def _learning_log(client: MediaWikiClient, wiki: WikiConfig, space: str,
                      page_title: str) -> tuple[str | None, str]:
        """The learning log's title for a space, and the category the page must be in (None for a namespace)."""
        kind, _, name = space.partition(":")
        name = name.strip()
        if kind.strip().casefold() == "category" and name:
            if _BAD_CATEGORY_CHARS.search(name):
                raise WikiError(f"space {space!r} is not a valid category name", retryable=False)
            return name, page_title
        if kind.strip().casefold() == "namespace" and name.isdigit():
            prefix = client.namespace_name(int(name))
            return None, f"{prefix}:{page_title}" if prefix else page_title
        raise WikiError(f"space {space!r} of wiki {wiki.name} is neither 'Category:<name>' nor "
                        "'Namespace:<number>'", retryable=False)
