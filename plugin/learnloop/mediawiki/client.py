"""A small, typed client for the MediaWiki Action API (api.php), on `requests`.

Only ever talks to one URL, the wiki's configured API endpoint (`api_url_for`): never to an
address taken from a delivery or from an API answer (no SSRF), and it does not follow
redirects. Every call has a timeout. There are no hidden retries of failed requests: a failure
becomes a `WikiError` whose `retryable` tells the caller (the outbox or the next poll) whether
trying again later can help. The one thing done again at once is re-authentication: when the
wiki says the session or the CSRF token has expired, the client logs in again (or fetches a
new token) and repeats that call once.

A client is safe to share between threads: its calls are serialised by a lock (one session,
one cookie jar, one CSRF token).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

from learnloop import __version__
from learnloop.chunks import chunks
from learnloop.config import WikiConfig
from learnloop.errors import refusal, retry_after
from learnloop.outbound import AnswerTooLarge, capped
from learnloop.wikis import WIKI_RETRY_AFTER, WikiError

API_SCRIPT = "api.php"
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
USER_AGENT = f"learnloop/{__version__} (MediaWiki Action API client; +https://github.com/learnloop)"
RC_PROPS = "title|ids|sizes|flags|user|comment|timestamp|loginfo"
RC_TYPES = "new|edit|log"
PAGE_LOGS = frozenset({("move", "move"), ("move", "move_redir"), ("delete", "delete"), ("delete", "restore")})
"""The log entries that are a page's life (`logtype`, `logaction`): moved (over a redirect too), deleted,
undeleted. Others (protections, uploads, new accounts, revision deletions, ...) are not read."""
RC_PAGE_SIZE = 500
NEWEST_ROWS = 50
"""Recent changes `newest_change` reads: far more than a slow save can be overtaken by."""
MAX_PAGES = 200
"""Upper bound on continuation requests of one listing, so a misbehaving wiki cannot loop us forever."""
PAGE_BATCH = 50
"""Page ids or titles per `prop=` query (the API's limit for accounts without `apihighlimits`)."""
MAXLAG_SECONDS = "5"

RETRYABLE_CODES = frozenset({"ratelimited", "readonly", "maxlag", "editconflict", "actionthrottledtext",
                             "throttled", "databaseerror", "internal_api_error_DBQueryError"})
SESSION_CODES = frozenset({"assertuserfailed", "assertbotfailed", "notloggedin", "assertnameduserfailed"})


def api_url_for(wiki: WikiConfig) -> str:
    """The wiki's api.php, derived from the configured `url` only.

    `url` is either the wiki's script path (where index.php and api.php live:
    `https://wiki.example.com/w`, or the site root when, as in the test fixture, api.php is
    served at `/`) or the api.php URL itself."""
    base = wiki.base_url  # without a query or fragment (config refuses them)
    return base if base.endswith("/" + API_SCRIPT) else f"{base}/{API_SCRIPT}"


def script_path_for(wiki: WikiConfig) -> str:
    """Where index.php lives (the API URL without its api.php)."""
    return api_url_for(wiki).removesuffix("/" + API_SCRIPT)


def parse_timestamp(value: str) -> datetime:
    """MediaWiki's ISO 8601 timestamps (`2026-11-02T09:00:00Z`) as aware UTC datetimes."""
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def format_timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class RecentChange:
    """One `list=recentchanges` entry: of type new or edit, or a log entry of `PAGE_LOGS` (`title` and
    `pageid` are then the page the log names: a moved page under its old title, a deleted or restored one)."""

    rcid: int
    type: str
    ns: int
    title: str
    pageid: int
    revid: int
    old_revid: int
    user: str | None
    comment: str | None
    timestamp: datetime
    minor: bool = False
    bot: bool = False
    old_size: int | None = None
    new_size: int | None = None
    log_type: str | None = None
    log_action: str | None = None
    target_title: str | None = None
    """Where a move took the page (`logparams.target_title`)."""

    @property
    def log(self) -> tuple[str, str] | None:
        return (self.log_type, self.log_action) if self.type == "log" and self.log_type and self.log_action else None


@dataclass(frozen=True)
class PageInfo:
    """What `prop=info|categories` says about a page; `url` is MediaWiki's canonical URL of it."""

    ns: int
    title: str
    pageid: int | None
    url: str | None
    categories: tuple[str, ...]
    missing: bool


def _is_page_change(entry: Mapping[str, Any]) -> bool:
    if entry.get("type") in ("new", "edit"):
        return True
    # A log entry whose action an admin suppressed names no page to this account: nothing to follow.
    return (entry.get("type") == "log" and (entry.get("logtype"), entry.get("logaction")) in PAGE_LOGS
            and not entry.get("actionhidden") and "title" in entry)


def _change(entry: Mapping[str, Any]) -> RecentChange:
    logparams = entry.get("logparams")
    params: Mapping[str, Any] = logparams if isinstance(logparams, Mapping) else {}
    target = params.get("target_title")
    return RecentChange(
        rcid=int(entry["rcid"]), type=str(entry["type"]), ns=int(entry.get("ns", 0)), title=str(entry["title"]),
        pageid=int(entry.get("pageid") or 0), revid=int(entry.get("revid") or 0),
        old_revid=int(entry.get("old_revid") or 0),
        user=None if entry.get("userhidden") else entry.get("user"),
        comment=None if entry.get("commenthidden") else (entry.get("comment") or None),
        timestamp=parse_timestamp(entry["timestamp"]), minor=bool(entry.get("minor")), bot=bool(entry.get("bot")),
        old_size=entry.get("oldlen"), new_size=entry.get("newlen"),
        log_type=entry.get("logtype"), log_action=entry.get("logaction"),
        target_title=target if isinstance(target, str) and target else None,
    )


def _page(entry: Mapping[str, Any]) -> PageInfo:
    return PageInfo(
        ns=int(entry.get("ns", 0)), title=str(entry.get("title", "")), pageid=entry.get("pageid"),
        url=entry.get("canonicalurl") or entry.get("fullurl"),
        categories=tuple(str(c["title"]) for c in entry.get("categories", ())),
        missing=bool(entry.get("missing") or entry.get("invalid")),
    )


@dataclass(frozen=True)
class PageText:
    """A page's current wikitext (or JS/CSS) and the timestamps an edit needs to detect conflicts."""

    title: str
    exists: bool
    text: str
    revision_timestamp: str | None
    read_at: str | None


class MediaWikiClient:
    """Bot-password session against one wiki's api.php."""

    def __init__(self, api_url: str, bot_user: str, bot_password: str, *,
                 timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT),
                 session: requests.Session | None = None) -> None:
        self.api_url = api_url
        self._user = bot_user
        self._password = bot_password
        self._timeout = timeout
        self._session = session or requests.Session()
        self._session.headers["User-Agent"] = USER_AGENT
        self._lock = threading.RLock()
        self._logged_in = False
        self._csrf: str | None = None
        self._siteinfo: dict[str, Any] | None = None
        self.user_name: str | None = None

    @classmethod
    def for_wiki(cls, wiki: WikiConfig, **options: Any) -> MediaWikiClient:
        if not wiki.bot_user or wiki.bot_password is None:
            raise WikiError(f"wiki {wiki.name}: a MediaWiki needs bot_user and bot_password", retryable=False)
        return cls(api_url_for(wiki), wiki.bot_user, wiki.bot_password.get_secret_value(), **options)

    def close(self) -> None:
        self._session.close()

    # ------------------------------------------------------------------ transport

    def _request(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """One HTTP request to api.php; transport and HTTP failures become WikiError."""
        values = {"format": "json", "formatversion": "2", "maxlag": MAXLAG_SECONDS, **params}
        try:
            if method == "POST":
                response = capped(self._session.post(self.api_url, data=values, timeout=self._timeout,
                                                     allow_redirects=False, stream=True))
            else:
                response = capped(self._session.get(self.api_url, params=values, timeout=self._timeout,
                                                    allow_redirects=False, stream=True))
        except requests.Timeout:
            raise WikiError(f"{self.api_url}: no answer within {self._timeout[1]:.0f} s") from None
        except AnswerTooLarge as exc:
            raise WikiError(f"{self.api_url}: {exc}", retryable=False) from None
        except requests.RequestException as exc:
            raise WikiError(f"{self.api_url}: {type(exc).__name__}: {exc}") from None
        status = response.status_code
        if 300 <= status < 400:
            raise WikiError(f"{self.api_url} redirects to {response.headers.get('Location', '?')}: "
                            "configure the wiki's url as its final address", retryable=False)
        if status == 429 or status >= 500:
            raise WikiError(f"{self.api_url} answered HTTP {status}", refused=refusal(status),
                            retry_after=retry_after(status, response.headers, WIKI_RETRY_AFTER))
        if status >= 400:
            raise WikiError(f"{self.api_url} answered HTTP {status}", retryable=status in (408, 425),
                            refused=refusal(status))
        try:
            body = response.json()
        except ValueError:
            raise WikiError(f"{self.api_url} did not answer with JSON: is it a MediaWiki api.php?",
                            retryable=False) from None
        if not isinstance(body, dict):
            raise WikiError(f"{self.api_url} answered with unexpected JSON", retryable=False)
        return body

    @staticmethod
    def _raise_for_api_error(body: Mapping[str, Any], what: str) -> None:
        """An error code is a refusal, but one of a failure inside the wiki, which may have saved first."""
        error = body.get("error")
        if not isinstance(error, Mapping):
            return
        code = str(error.get("code", "unknown"))
        info = str(error.get("info", ""))[:300]
        failed = code.startswith("internal_api_error") or code == "databaseerror"
        retryable = code in RETRYABLE_CODES or code in SESSION_CODES or failed
        raise WikiError(f"MediaWiki refused {what}: {code}: {info}", retryable=retryable, refused=not failed)

    def _call(self, method: str, params: Mapping[str, Any], *, csrf: bool = False) -> dict[str, Any]:
        """An authenticated API call; logs in first, and once more if the session was lost."""
        with self._lock:
            what = str(params.get("action", "a call"))
            for attempt in (1, 2):
                if not self._logged_in:
                    self._login()
                values = {**params, "assert": "user"}
                if csrf:
                    token = self._csrf_token()
                    if token is None and attempt == 1:  # anonymous again: the session was lost
                        self._logged_in = False
                        continue
                    if token is None:
                        raise WikiError(f"{self.api_url}: no CSRF token for {self._user} right after logging in")
                    values["token"] = token
                body = self._request(method, values)
                code = body.get("error", {}).get("code") if isinstance(body.get("error"), Mapping) else None
                if attempt == 1 and code in SESSION_CODES:
                    self._logged_in, self._csrf = False, None
                    continue
                if attempt == 1 and code == "badtoken" and csrf:
                    self._csrf = None
                    continue
                self._raise_for_api_error(body, what)
                return body
            raise AssertionError("unreachable")

    # ------------------------------------------------------------------ session

    def login(self) -> str:
        """Log in with the bot password; returns the wiki's user name for the bot."""
        with self._lock:
            self._login()
            assert self.user_name is not None
            return self.user_name

    def _login(self) -> None:
        self._session.cookies.clear()
        self._logged_in, self._csrf = False, None
        body = self._request("GET", {"action": "query", "meta": "tokens", "type": "login"})
        self._raise_for_api_error(body, "the login token")
        try:
            token = body["query"]["tokens"]["logintoken"]
        except (KeyError, TypeError):
            raise WikiError(f"{self.api_url}: no login token in the answer", retryable=False) from None
        body = self._request("POST", {"action": "login", "lgname": self._user, "lgpassword": self._password,
                                      "lgtoken": token})
        self._raise_for_api_error(body, "the login")
        answer = body.get("login")
        login: Mapping[str, Any] = answer if isinstance(answer, Mapping) else {}
        result = login.get("result")
        if result == "Success":
            self._logged_in = True
            self.user_name = str(login.get("lgusername") or self._user.split("@", 1)[0])
            return
        reason = login.get("reason")
        if isinstance(reason, Mapping):
            reason = reason.get("text") or reason.get("code")
        message = f"could not log in to {self.api_url} as {self._user}: {result}: {reason or 'no reason given'}"
        if result == "Throttled":
            raise WikiError(message)
        if result == "Failed":
            message += " (bot passwords come from Special:BotPasswords; bot_user is 'User@appid')"
        raise WikiError(message, retryable=False)

    def _csrf_token(self) -> str | None:
        """The session's CSRF token; None when the wiki sees us as anonymous (token `+\\`)."""
        if self._csrf is None:
            body = self._request("GET", {"action": "query", "meta": "tokens", "type": "csrf"})
            self._raise_for_api_error(body, "a CSRF token")
            token = body.get("query", {}).get("tokens", {}).get("csrftoken")
            if not token or token == "+\\":
                return None
            self._csrf = str(token)
        return self._csrf

    # ------------------------------------------------------------------ reading

    def _query_pages(self, params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """`action=query` answers, following `continue` until done."""
        continuation: dict[str, Any] = {}
        for _ in range(MAX_PAGES):
            body = self._call("GET", {"action": "query", **params, **continuation})
            yield body
            following = body.get("continue")
            if not isinstance(following, Mapping):
                return
            continuation = dict(following)
        raise WikiError(f"{self.api_url}: more than {MAX_PAGES} continuation requests for one listing")

    def general(self) -> dict[str, Any]:
        """`meta=siteinfo` general facts, read without logging in: proves the URL is a MediaWiki API."""
        body = self._request("GET", {"action": "query", "meta": "siteinfo", "siprop": "general"})
        self._raise_for_api_error(body, "siteinfo")
        general = body.get("query", {}).get("general")
        if not isinstance(general, Mapping):
            raise WikiError(f"{self.api_url} answered without siteinfo: is it a MediaWiki api.php?", retryable=False)
        return dict(general)

    def rights(self) -> frozenset[str]:
        """What this session may do: the account's rights narrowed to the bot password's grants."""
        body = self._call("GET", {"action": "query", "meta": "userinfo", "uiprop": "rights"})
        rights = body.get("query", {}).get("userinfo", {}).get("rights", [])
        return frozenset(str(right) for right in rights)

    def page_text(self, title: str | None = None, *, pageid: int | None = None) -> PageText:
        """The current content of one page (by title, or by page id), with `curtimestamp` for a conflict-safe
        `replace_text`. A page id the wiki no longer has reads as a missing page."""
        if (title is None) == (pageid is None):
            raise ValueError("give either a title or a page id")
        which = {"titles": title} if title is not None else {"pageids": str(pageid)}
        body = self._call("GET", {"action": "query", "prop": "revisions", "rvprop": "content|timestamp",
                                  "rvslots": "main", **which, "curtimestamp": "1"})
        pages = body.get("query", {}).get("pages", [])
        page = pages[0] if pages and isinstance(pages[0], Mapping) else {}
        if page.get("invalid"):
            raise WikiError(f"{title!r} is not a valid page title: {page.get('invalidreason', '')}",
                            retryable=False)
        read_at = body.get("curtimestamp")
        revisions = page.get("revisions") or []
        if page.get("missing") or not revisions:
            return PageText(str(page.get("title", title or "")), False, "", None, read_at)
        revision = revisions[0]
        text = revision.get("slots", {}).get("main", {}).get("content", "")
        return PageText(str(page.get("title", title)), True, str(text), revision.get("timestamp"), read_at)

    def replace_text(self, before: PageText, text: str, *, summary: str, minor: bool = False) -> int:
        """Save `text` as the page's whole content; refused (editconflict) if someone saved it after
        `before` was read, or created or deleted it meanwhile. Returns the new revision id (0 if unchanged).
        `minor` marks the edit minor and a bot's (when the account may), as learnloop's own log edits are."""
        params: dict[str, Any] = {"action": "edit", "title": before.title, "text": text, "summary": summary}
        if minor:
            params.update(minor="1", bot="1")
        if before.exists:
            params.update(nocreate="1", basetimestamp=before.revision_timestamp)
        else:
            params["createonly"] = "1"
        if before.read_at:
            params["starttimestamp"] = before.read_at
        body = self._call("POST", params, csrf=True)
        edit = body.get("edit", {})
        if edit.get("result") != "Success":
            raise WikiError(f"MediaWiki did not save {before.title}: {edit}"[:300], retryable=False,
                            refused=edit.get("result") == "Failure")
        return int(edit.get("newrevid") or 0)

    def siteinfo(self) -> dict[str, Any]:
        """`meta=siteinfo` general facts and namespaces, read once per client."""
        with self._lock:
            if self._siteinfo is None:
                body = self._call("GET", {"action": "query", "meta": "siteinfo", "siprop": "general|namespaces"})
                self._siteinfo = body.get("query", {})
            return self._siteinfo

    def namespace_name(self, number: int) -> str:
        """The local name of namespace `number` ('' for the main namespace)."""
        namespaces = self.siteinfo().get("namespaces", {})
        entry = namespaces.get(str(number))
        if not isinstance(entry, Mapping):
            raise WikiError(f"{self.api_url}: the wiki has no namespace {number}", retryable=False)
        return str(entry.get("name", ""))

    def newest_change(self) -> tuple[int, datetime] | None:
        """The change of any type with the highest rcid among the wiki's `NEWEST_ROWS` newest, as (rcid,
        timestamp); None on an empty wiki. MediaWiki lists them by timestamp, then rcid, and a slow save carries an
        older timestamp than a change numbered after it: the newest listed is not always the highest numbered."""
        body = self._call("GET", {"action": "query", "list": "recentchanges", "rcdir": "older",
                                  "rclimit": str(NEWEST_ROWS), "rcprop": "ids|timestamp"})
        changes = body.get("query", {}).get("recentchanges", [])
        if not changes:
            return None
        newest = max(changes, key=lambda change: int(change["rcid"]))
        return int(newest["rcid"]), parse_timestamp(newest["timestamp"])

    def recent_changes(self, after_rcid: int, limit: int, *, start: datetime | None = None,
                       end: datetime | None = None) -> list[RecentChange]:
        """Page creations, edits, moves, deletions and undeletions with rcid > `after_rcid`, oldest first, at
        most `limit`.

        `start`/`end` bound the timestamps read (inclusive), so a poll does not re-read the whole
        recent-changes table: the API can only start a listing at a timestamp, not at an rcid.
        The result is sorted by rcid; anything beyond `limit` is left for the next call."""
        return self.recent_changes_listed(after_rcid, limit, start=start, end=end)[0]

    def recent_changes_listed(self, after_rcid: int, limit: int, *, start: datetime | None = None,
                              end: datetime | None = None) -> tuple[list[RecentChange], int]:
        """`recent_changes`, and the highest rcid the listing held (0 if none), counting the changes it passed
        over too (rcid ≤ `after_rcid`, or of a kind not read)."""
        params: dict[str, Any] = {"list": "recentchanges", "rcprop": RC_PROPS, "rctype": RC_TYPES,
                                  "rcdir": "newer", "rclimit": str(min(max(limit, 1), RC_PAGE_SIZE))}
        if start is not None:
            params["rcstart"] = format_timestamp(start)
        if end is not None:
            params["rcend"] = format_timestamp(end)
        found: dict[int, RecentChange] = {}
        highest = 0
        for body in self._query_pages(params):
            for entry in body.get("query", {}).get("recentchanges", []):
                rcid = int(entry.get("rcid", 0))
                highest = max(highest, rcid)
                if rcid > after_rcid and _is_page_change(entry):
                    change = _change(entry)
                    found[change.rcid] = change
            if len(found) >= limit:
                break
        return sorted(found.values(), key=lambda change: change.rcid)[:limit], highest

    def pages(self, *, pageids: list[int] | None = None, titles: list[str] | None = None,
              redirects: bool = False) -> list[PageInfo]:
        """Canonical URL and categories ("Category:Name" in the wiki's own spelling) of pages; with `redirects`,
        of the page a redirect leads to instead of the redirect."""
        if bool(pageids) == bool(titles):
            raise ValueError("give either pageids or titles")
        key, values = ("pageids", [str(p) for p in pageids or []]) if pageids else ("titles", list(titles or []))
        result: list[PageInfo] = []
        for chunk in chunks(values, PAGE_BATCH):
            merged: dict[str, dict[str, Any]] = {}
            params = {"prop": "info|categories", "inprop": "url", "cllimit": "max", key: "|".join(chunk),
                      **({"redirects": "1"} if redirects else {})}
            for body in self._query_pages(params):
                for page in body.get("query", {}).get("pages", []):
                    name = str(page.get("pageid") or page.get("title"))
                    known = merged.setdefault(name, {**page, "categories": []})
                    known["categories"].extend(page.get("categories", ()))
            result.extend(_page(page) for page in merged.values())
        return result

    def categories(self, titles: list[str]) -> dict[str, tuple[str, ...]]:
        """Each title's categories (keys are the titles as MediaWiki normalised them)."""
        return {page.title: page.categories for page in self.pages(titles=titles)}

    # ------------------------------------------------------------------ writing

    def append_section(self, title: str, heading: str, text: str, *, summary: str | None = None,
                       minor: bool = True, page: PageInfo | None = None) -> PageInfo:
        """Add `== heading ==` and `text` at the end of the page, creating the page if missing;
        returns the page as it is after the save (its URL and page id). `heading` and `text` are wikitext
        (escape what is not meant as markup).

        Uses `appendtext` rather than `section=new`: MediaWiki never marks a new-section edit as
        minor, and learnloop's own appends are minor so they are not announced as page changes
        (creating the page still is). `page` is what `pages(titles=[title])` said just before,
        if the caller already asked."""
        heading = " ".join(heading.split())
        with self._lock:
            [before] = [page] if page is not None else self.pages(titles=[title])
            section = f"== {heading} ==\n\n{text.strip()}\n"
            params = {"action": "edit", "title": title, "appendtext": section if before.missing else "\n\n" + section,
                      "summary": summary or heading, "bot": "1"}
            if minor:  # API booleans are true when present, whatever their value
                params["minor"] = "1"
            body = self._call("POST", params, csrf=True)
            edit = body.get("edit", {})
            if edit.get("result") != "Success":
                raise WikiError(f"MediaWiki did not save {title}: {edit}"[:300], retryable=False)
            saved_id = edit.get("pageid")
            same_page = saved_id is None or saved_id == before.pageid  # not made again after a deletion meanwhile
            if before.url and before.pageid and edit.get("title", before.title) == before.title and same_page:
                return before
            [after] = self.pages(titles=[str(edit.get("title", title))])
            if not after.url or after.missing:
                raise WikiError(f"{self.api_url}: no URL for {title}", retryable=False)
            return after
