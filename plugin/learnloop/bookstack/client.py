"""BookStack REST API client (the few calls learnloop needs).

Every call goes to `<configured wiki URL>/api/...` and nowhere else: paths are built from integer
ids and fixed names, never from a URL a delivery carried, and redirects are not followed (a
redirect would otherwise carry the API token, or our request, to another host). One HTTP attempt
per call with a timeout; retries belong to the outbox worker, which reads `WikiError.retryable`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

from learnloop.config import WikiConfig
from learnloop.errors import retry_after
from learnloop.outbound import AnswerTooLarge, capped
from learnloop.wikis import WIKI_RETRY_AFTER, WikiError

DEFAULT_TIMEOUT = (5.0, 15.0)
"""(connect, read) seconds for every call."""
_ERROR_TEXT_LIMIT = 200
_RETRYABLE_STATUSES = frozenset({408, 425, 429})
LIST_PAGE = 500
"""Rows per listing call: BookStack's most."""
MAX_LISTED = 20_000
_TRANSPORT_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


class ApiError(WikiError):
    """A call BookStack refused (`status_code`), or that got no answer (`status_code` None)."""

    def __init__(self, message: str, *, status_code: int | None, retryable: bool,
                 retry_after: float | None = None) -> None:
        super().__init__(message, retryable=retryable, retry_after=retry_after)
        self.status_code = status_code


class NotFound(WikiError):
    """404: the page or book is gone (deleted, in the recycle bin) or the token cannot see it."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


@dataclass(frozen=True)
class Book:
    id: int
    name: str
    slug: str


@dataclass(frozen=True)
class PageSummary:
    """A row of `GET /api/pages`: no content."""

    id: int
    book_id: int
    name: str
    slug: str
    draft: bool


@dataclass(frozen=True)
class Page:
    """`GET /api/pages/{id}` (also what create and update answer)."""

    id: int
    book_id: int
    name: str
    slug: str
    draft: bool
    markdown: str
    html: str
    updated_at: datetime | None
    updated_by: str | None


class BookStackClient:
    def __init__(self, base_url: str, token: str, *, timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
                 session: requests.Session | None = None) -> None:
        token_id, sep, token_secret = token.partition(":")
        if not sep or not token_id or not token_secret:
            raise WikiError("the BookStack api_token must look like '<token id>:<token secret>'", retryable=False)
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._token = token
        self._session = session or requests.Session()

    @classmethod
    def for_wiki(cls, wiki: WikiConfig, **kwargs: Any) -> BookStackClient:
        if wiki.api_token is None:
            raise WikiError(f"wiki {wiki.name} has no api_token", retryable=False)
        return cls(wiki.base_url, wiki.api_token.get_secret_value(), **kwargs)

    def __repr__(self) -> str:
        return f"BookStackClient(base_url={self.base_url!r})"

    # --- reads -------------------------------------------------------------------------------

    def page(self, page_id: int) -> Page:
        return _page(self._call("GET", f"pages/{_id(page_id)}"))

    def book(self, book_id: object) -> Book:
        return _book(self._call("GET", f"books/{_id(book_id)}"))

    def chapter_book(self, chapter_id: object) -> int:
        """The book a chapter is in (NotFound while the chapter is in the recycle bin)."""
        return _int(_fields(self._call("GET", f"chapters/{_id(chapter_id)}"), "chapter"), "book_id", "chapter")

    def find_books(self, **filters: str | int) -> list[Book]:
        """`GET /api/books?filter[field]=value`; BookStack compares with `=`."""
        return [_book(row) for row in self._list("books", filters)]

    def find_pages(self, **filters: str | int) -> list[PageSummary]:
        """`GET /api/pages?filter[field]=value`; an id filter (`book_id`, `chapter_id`) must be an id."""
        checked = {name: _id(value) if name.endswith("_id") else value for name, value in filters.items()}
        return [_page_summary(row) for row in self._list("pages", checked)]

    def check_token(self) -> None:
        """One cheap authenticated read: 401 means a wrong token, 403 a role without "Access system API"."""
        self._call("GET", "books", params={"count": 1})

    def login_page_html(self) -> tuple[int, str]:
        """`GET /login` without the token: BookStack renders its Custom HTML Head there too (every page
        but the settings), and it needs no session. Returns the status and the HTML."""
        response = self._send("BookStack GET /login", "GET", f"{self.base_url}/login",
                              headers={"Accept": "text/html"})
        return response.status_code, response.text

    # --- writes ------------------------------------------------------------------------------

    def create_page(self, *, book_id: int, name: str, markdown: str) -> Page:
        return _page(self._call("POST", "pages", json={"book_id": _id(book_id), "name": name, "markdown": markdown}))

    def update_page(self, page_id: int, *, markdown: str | None = None, html: str | None = None) -> Page:
        if (markdown is None) == (html is None):
            raise ValueError("update a page with either markdown or html")
        body = {"markdown": markdown} if markdown is not None else {"html": html}
        return _page(self._call("PUT", f"pages/{_id(page_id)}", json=body))

    # --- plumbing ----------------------------------------------------------------------------

    def _list(self, resource: str, filters: Mapping[str, str | int]) -> list[Any]:
        """Every row of a listing, a page of LIST_PAGE rows at a time (BookStack answers with `data` and the
        `total`), up to MAX_LISTED rows."""
        rows: list[Any] = []
        while len(rows) < MAX_LISTED:
            params: dict[str, str | int] = {f"filter[{name}]": value for name, value in filters.items()}
            params.update(count=LIST_PAGE, offset=len(rows))
            body = self._call("GET", resource, params=params)
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, list):
                raise WikiError(f"BookStack GET /api/{resource}: expected a 'data' list", retryable=False)
            rows.extend(data)
            total = body.get("total")
            if not data or not isinstance(total, int) or isinstance(total, bool) or len(rows) >= total:
                return rows
        return rows

    def _call(self, method: str, path: str, *, params: Mapping[str, str | int] | None = None,
              json: Any = None) -> Any:
        call = f"BookStack {method} /api/{path}"
        response = self._send(call, method, f"{self.base_url}/api/{path}", params=params, json=json,
                              headers={"Authorization": f"Token {self._token}", "Accept": "application/json"})
        status = response.status_code
        if status == 404:
            raise NotFound(f"{call}: HTTP 404: {self._message(response)}")
        if 300 <= status < 400:
            raise WikiError(f"{call}: HTTP {status} redirect not followed; check the wiki's url "
                            f"(scheme, host, path) in the configuration", retryable=False)
        if status >= 400:
            retryable = status >= 500 or status in _RETRYABLE_STATUSES
            raise ApiError(f"{call}: HTTP {status}: {self._message(response)}", status_code=status,
                           retryable=retryable, retry_after=retry_after(status, response.headers, WIKI_RETRY_AFTER))
        try:
            return response.json()
        except ValueError:
            raise WikiError(f"{call}: HTTP {status} but the body is not JSON", retryable=False) from None

    def _send(self, call: str, method: str, url: str, **options: Any) -> requests.Response:
        """One HTTP attempt, redirects not followed; no answer becomes an ApiError without a status."""
        try:
            return capped(self._session.request(method, url, timeout=self.timeout, allow_redirects=False,
                                                stream=True, **options))
        except _TRANSPORT_ERRORS as exc:
            raise ApiError(f"{call}: no answer ({type(exc).__name__})", status_code=None, retryable=True) from None
        except AnswerTooLarge as exc:
            raise ApiError(f"{call}: {exc}", status_code=None, retryable=False) from None
        except requests.RequestException as exc:
            raise ApiError(f"{call}: {type(exc).__name__}", status_code=None, retryable=False) from None

    def _message(self, response: requests.Response) -> str:
        """BookStack answers errors as {"error": {"code": ..., "message": ...}}."""
        try:
            error = response.json().get("error", {})
            text = str(error.get("message") or "") if isinstance(error, dict) else ""
        except (ValueError, AttributeError):
            text = ""
        text = (text or response.reason or "error")[:_ERROR_TEXT_LIMIT]
        return text.replace(self._token, "***").replace(self._token.partition(":")[2], "***")


def _id(value: object) -> int:
    """Ids go into paths and filters; only positive integers ever do."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise WikiError(f"not a BookStack id: {value!r}", retryable=False)
    return value


def _fields(row: Any, what: str) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise WikiError(f"BookStack answered an unexpected {what}", retryable=False)
    return row


def _int(row: dict[str, Any], key: str, what: str) -> int:
    value = row.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise WikiError(f"BookStack {what} without an integer {key}", retryable=False)
    return value


def _text(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    return value if isinstance(value, str) else ""


def _book(row: Any) -> Book:
    row = _fields(row, "book")
    return Book(id=_int(row, "id", "book"), name=_text(row, "name"), slug=_text(row, "slug"))


def _page_summary(row: Any) -> PageSummary:
    row = _fields(row, "page")
    return PageSummary(id=_int(row, "id", "page"), book_id=_int(row, "book_id", "page"), name=_text(row, "name"),
                       slug=_text(row, "slug"), draft=bool(row.get("draft")))


def _page(row: Any) -> Page:
    row = _fields(row, "page")
    summary = _page_summary(row)
    updated_by = row.get("updated_by")
    author = updated_by.get("name") if isinstance(updated_by, dict) else None
    return Page(id=summary.id, book_id=summary.book_id, name=summary.name, slug=summary.slug, draft=summary.draft,
                markdown=_text(row, "markdown"), html=_text(row, "raw_html") or _text(row, "html"),
                updated_at=parse_time(row.get("updated_at")),
                updated_by=author if isinstance(author, str) and author else None)


def parse_time(value: Any) -> datetime | None:
    """BookStack writes `2020-11-28T14:43:20.000000Z`; older versions `2020-11-28 14:43:20` (UTC)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: a year-1 or year-9999 time moved to UTC
        return None
