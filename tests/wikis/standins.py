"""Stateful stand-ins for the Outline and BookStack APIs, on `responses`: they keep their pages, answer in the
recorded shapes (tests/fixtures), refuse bodies those APIs would not take, and can lose the answer to a
write after carrying it out (as a dropped connection or a worker that dies does).

They render what they store with markdown-it (markdown-it-py, the Python port of the parser Outline uses;
CommonMark with raw HTML for BookStack, whose league/commonmark allows it), so a test sees what readers see.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
import responses
from markdown_it import MarkdownIt

from tests.wikis.test_bookstack_webhooks import api_fixture
from tests.wikis.test_outline_webhooks import fixture_body

Reply = tuple[int, dict[str, str], str]

OUTLINE_MARKDOWN = MarkdownIt("default", {"html": False, "linkify": False, "breaks": False})
"""As Outline's `makeRules` sets up markdown-it (shared/editor/lib/markdown/rules.ts)."""
BOOKSTACK_MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
"""CommonMark with raw HTML allowed, tables and strikethrough, as BookStack's MarkdownToHtml."""


def _json(status: int, body: Any) -> Reply:
    return status, {"Content-Type": "application/json"}, json.dumps(body)


class _Losing:
    """Carries out the next write, then loses its answer."""

    def __init__(self, mock: responses.RequestsMock) -> None:
        mock.assert_all_requests_are_fired = False  # a stand-in serves whatever is asked, not a script of calls
        self.lose_next: set[str] = set()
        self.lost: list[str] = []
        self.writes: list[tuple[str, dict[str, Any]]] = []

    def lose_answer_to(self, *calls: str) -> None:
        self.lose_next.update(calls)

    def _answer(self, call: str, reply: Reply) -> Reply:
        if call in self.lose_next:
            self.lose_next.discard(call)
            self.lost.append(call)
            raise requests.ConnectionError(f"connection reset: the answer to {call} was lost")
        return reply


class OutlineStandIn(_Losing):
    """Outline's RPC API for publishing: collections.list, documents.search_titles, .info, .create, .update.

    `access` is the API token's user's permission on a collection (CollectionPermission: "read_write", the default,
    "read", or None for none): Outline answers 403 to reading a document of a collection its user may not read
    (documents.test.ts, "should not return published document in collection not a member of"), to searching such a
    collection, and to creating or updating a document where its user may not write (`authorize(user, "update" /
    "createDocument", ...)`), with its AuthorizationError (server/errors.ts)."""

    UPDATE_FIELDS = {"id", "text", "append", "title", "publish", "collectionId", "done"}
    FORBIDDEN = {"ok": False, "error": "permission_required", "status": 403,
                 "message": "You do not have permission to access this resource"}

    def __init__(self, mock: responses.RequestsMock, base_url: str, token: str,
                 collections: list[dict[str, Any]]) -> None:
        super().__init__(mock)
        self.base_url, self.token = base_url, token
        self.collections = collections
        self.access: dict[str, str | None] = {}
        self.documents: dict[str, dict[str, Any]] = {}
        self._template = json.loads(fixture_body("documents.update"))["payload"]["model"]
        routes: dict[str, Callable[[dict[str, Any]], Reply]] = {
            "collections.list": self._collections, "documents.search_titles": self._search,
            "documents.info": self._info, "documents.create": self._create, "documents.update": self._update}
        for method, handler in routes.items():
            mock.add_callback(responses.POST, f"{base_url}/api/{method}", callback=self._calling(handler))

    def _calling(self, handler: Callable[[dict[str, Any]], Reply]) -> Callable[[Any], Reply]:
        def call(request: Any) -> Reply:
            if request.headers.get("Authorization") != f"Bearer {self.token}":
                return _json(401, {"ok": False, "error": "authentication_required", "status": 401})
            body = json.loads(request.body or b"{}")
            if not isinstance(body, dict):
                return _json(400, {"ok": False, "error": "validation_error", "status": 400})
            return handler(body)
        return call

    def add_document(self, title: str, text: str, collection_id: str) -> dict[str, Any]:
        document = copy.deepcopy(self._template)
        document_id = str(uuid.uuid4())
        url_id = document_id.replace("-", "")[:10]
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
        document.update(id=document_id, urlId=url_id, url=f"/doc/{slug}-{url_id}", title=title, text=text,
                        collectionId=collection_id, revision=1)
        self.documents[document_id] = document
        return document

    def rendered(self, document_id: str) -> str:
        return OUTLINE_MARKDOWN.render(self.documents[document_id]["text"])

    def _may(self, collection_id: Any, write: bool = False) -> bool:
        access = self.access.get(str(collection_id), "read_write")
        return access == "read_write" or (access == "read" and not write)

    def _collections(self, body: dict[str, Any]) -> Reply:
        return _json(200, {"ok": True, "status": 200, "data": [c for c in self.collections if self._may(c["id"])]})

    def _search(self, body: dict[str, Any]) -> Reply:
        """Drafts too: the API user's own are listed (Outline's searchTitlesForUser), and all here are."""
        if "collectionId" in body and not self._may(body["collectionId"]):
            return _json(403, self.FORBIDDEN)
        query = str(body.get("query", "")).casefold()
        found = [d for d in self.documents.values() if query in d["title"].casefold() and self._may(d["collectionId"])
                 and d["collectionId"] == body.get("collectionId", d["collectionId"])]
        return _json(200, {"ok": True, "status": 200, "data": found})

    def _info(self, body: dict[str, Any]) -> Reply:
        document = self.documents.get(str(body.get("id")))
        if document is None:
            return _json(404, {"ok": False, "error": "not_found", "status": 404, "message": "Resource not found"})
        if not self._may(document["collectionId"]):
            return _json(403, self.FORBIDDEN)
        return _json(200, {"ok": True, "status": 200, "data": document})

    def _create(self, body: dict[str, Any]) -> Reply:
        if set(body) - {"title", "text", "collectionId", "publish", "parentDocumentId"} or not body.get("title"):
            return _json(400, {"ok": False, "error": "validation_error", "status": 400})
        if not self._may(body.get("collectionId"), write=True):
            return _json(403, self.FORBIDDEN)
        self.writes.append(("documents.create", body))
        document = self.add_document(str(body["title"]), str(body.get("text", "")), str(body["collectionId"]))
        return self._answer("documents.create", _json(200, {"ok": True, "status": 200, "data": document}))

    def _update(self, body: dict[str, Any]) -> Reply:
        """A new text (appended, or the whole of it); `publish` makes a draft a published document again."""
        if set(body) - self.UPDATE_FIELDS or not isinstance(body.get("text", ""), str):
            return _json(400, {"ok": False, "error": "validation_error", "status": 400})
        document = self.documents.get(str(body.get("id")))
        if document is None:
            return _json(404, {"ok": False, "error": "not_found", "status": 404, "message": "Resource not found"})
        if not self._may(document["collectionId"], write=True):
            return _json(403, self.FORBIDDEN)
        self.writes.append(("documents.update", body))
        if "text" in body:
            document["text"] = document["text"] + body["text"] if body.get("append") else body["text"]
        if body.get("publish") and not document["publishedAt"]:
            document["publishedAt"] = "2026-11-02T09:00:00.000Z"
            document["collectionId"] = document["collectionId"] or body.get("collectionId")
        document["revision"] += 1
        return self._answer("documents.update", _json(200, {"ok": True, "status": 200, "data": document}))


class BookStackStandIn(_Losing):
    """BookStack's REST API for publishing: books and pages read, listed, created and updated.

    `access` is the API token's user's permission on a book's pages ("edit", the default, "view", or None): BookStack
    reads and lists only what its user may view (`visible()`, so 404 otherwise), and answers 403 to creating or
    updating a page its user may not (PageApiController's checkOwnablePermission('page-create' / 'page-update'),
    Controller::showPermissionError's NotifyException as Handler::renderApiException writes it)."""

    FORBIDDEN = {"error": {"code": 403, "message": "You do not have permission to perform the requested action."}}

    def __init__(self, mock: responses.RequestsMock, base_url: str, token: str) -> None:
        super().__init__(mock)
        self.base_url, self.token = base_url, token
        self.books = {13: api_fixture("books-read-13")}
        self.access: dict[int, str | None] = {}
        self.chapters: dict[int, dict[str, Any]] = {}
        self.pages: dict[int, dict[str, Any]] = {}
        self._template = api_fixture("pages-read-2432")
        self._next_id = 100
        api = re.escape(f"{base_url}/api/")
        mock.add_callback(responses.GET, re.compile(api + r"books(\?.*)?$"), callback=self._calling(self._books))
        mock.add_callback(responses.GET, re.compile(api + r"books/\d+$"), callback=self._calling(self._book))
        mock.add_callback(responses.GET, re.compile(api + r"pages(\?.*)?$"), callback=self._calling(self._list))
        mock.add_callback(responses.GET, re.compile(api + r"pages/\d+$"), callback=self._calling(self._read))
        mock.add_callback(responses.GET, re.compile(api + r"chapters/\d+$"), callback=self._calling(self._chapter))
        mock.add_callback(responses.POST, re.compile(api + r"pages$"), callback=self._calling(self._create))
        mock.add_callback(responses.PUT, re.compile(api + r"pages/\d+$"), callback=self._calling(self._update))

    def _calling(self, handler: Callable[[Any], Reply]) -> Callable[[Any], Reply]:
        def call(request: Any) -> Reply:
            if request.headers.get("Authorization") != f"Token {self.token}":
                return _json(401, {"error": {"code": 401, "message": "No authorization token found"}})
            return handler(request)
        return call

    def add_page(self, *, name: str, markdown: str = "", html: str = "", book_id: int = 13,
                 chapter_id: int = 0) -> dict[str, Any]:
        self._next_id += 1
        page = copy.deepcopy(self._template)
        page.update(id=self._next_id, book_id=book_id, chapter_id=chapter_id, name=name,
                    slug=re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"), revision_count=1)
        self._set_content(page, markdown=markdown if markdown else None, html=None if markdown else html)
        self.pages[page["id"]] = page
        return page

    def _may(self, book_id: Any, edit: bool = False) -> bool:
        access = self.access.get(int(book_id), "edit")
        return access == "edit" or (access == "view" and not edit)

    @staticmethod
    def _set_content(page: dict[str, Any], *, markdown: str | None, html: str | None) -> None:
        """BookStack keeps the Markdown and renders the HTML from it; HTML alone clears the Markdown."""
        if markdown is not None:
            page["markdown"], page["html"] = markdown, BOOKSTACK_MARKDOWN.render(markdown)
        else:
            page["markdown"], page["html"] = "", html or ""
        page["raw_html"] = page["html"]

    @staticmethod
    def _filters(request: Any) -> dict[str, str]:
        query = parse_qs(urlsplit(request.url).query)
        return {key[7:-1]: values[0] for key, values in query.items() if key.startswith("filter[")}

    def _books(self, request: Any) -> Reply:
        filters = self._filters(request)
        found = [b for b in self.books.values()
                 if self._may(b["id"]) and all(str(b.get(k)) == v for k, v in filters.items())]
        return _json(200, {"data": found, "total": len(found)})

    def _book(self, request: Any) -> Reply:
        book = self.books.get(int(request.url.rsplit("/", 1)[1]))
        if book is None or not self._may(book["id"]):
            return _json(404, {"error": {"code": 404, "message": "Book not found"}})
        return _json(200, book)

    def _list(self, request: Any) -> Reply:
        """A listing as BookStack's ListingResponseBuilder answers: `count` rows (100 unless asked, at most 500)
        from `offset`, and the `total`."""
        filters = self._filters(request)
        query = parse_qs(urlsplit(request.url).query)
        count = min(int(query.get("count", ["100"])[0]), 500)
        offset = int(query.get("offset", ["0"])[0])
        rows = [{k: v for k, v in page.items() if k not in ("html", "raw_html", "markdown", "tags")}
                for page in self.pages.values()
                if self._may(page["book_id"]) and all(str(page.get(k)) == v for k, v in filters.items())]
        return _json(200, {"data": rows[offset:offset + count], "total": len(rows)})

    def _chapter(self, request: Any) -> Reply:
        chapter = self.chapters.get(int(request.url.rsplit("/", 1)[1]))
        return _json(200, chapter) if chapter else _json(404, {"error": {"code": 404, "message": "Chapter not found"}})

    def _read(self, request: Any) -> Reply:
        """As BookStack's Page::forJsonDisplay: the stored content as `raw_html`, and `html` rendered by
        PageContent::render, with each `{{@id}}` include replaced by that page's content."""
        page = self.pages.get(int(request.url.rsplit("/", 1)[1]))
        if page is None or not self._may(page["book_id"]):
            return _json(404, {"error": {"code": 404, "message": "Page not found"}})
        included = lambda match: self.pages.get(int(match.group(1)), {}).get("raw_html", "")  # noqa: E731
        return _json(200, {**page, "html": re.sub(r"\{\{@\s?(\d+)\}\}", included, page["raw_html"])})

    def _create(self, request: Any) -> Reply:
        body = json.loads(request.body)
        if set(body) - {"book_id", "chapter_id", "name", "markdown", "html", "tags"} or \
                ("markdown" in body) == ("html" in body) or not body.get("name"):
            return _json(422, {"error": {"code": 422, "message": "The given data was invalid."}})
        if not self._may(body["book_id"]):
            return _json(404, {"error": {"code": 404, "message": "Book not found"}})
        if not self._may(body["book_id"], edit=True):
            return _json(403, self.FORBIDDEN)
        self.writes.append(("POST pages", body))
        page = self.add_page(name=body["name"], markdown=body.get("markdown", ""), html=body.get("html", ""),
                             book_id=int(body["book_id"]))
        return self._answer("POST pages", _json(200, page))

    def _update(self, request: Any) -> Reply:
        body = json.loads(request.body)
        page = self.pages.get(int(request.url.rsplit("/", 1)[1]))
        if page is None or not self._may(page["book_id"]):
            return _json(404, {"error": {"code": 404, "message": "Page not found"}})
        if not self._may(page["book_id"], edit=True):
            return _json(403, self.FORBIDDEN)
        if set(body) - {"name", "markdown", "html", "tags", "priority"} or ("markdown" in body) == ("html" in body):
            return _json(422, {"error": {"code": 422, "message": "The given data was invalid."}})
        self.writes.append(("PUT page", body))
        self._set_content(page, markdown=body.get("markdown"), html=body.get("html"))
        page["revision_count"] += 1
        return self._answer("PUT page", _json(200, page))
