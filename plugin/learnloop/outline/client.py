"""Outline's RPC API: every method is `POST <wiki url>/api/<method>` with a JSON body and a bearer token.

One HTTP attempt per call with a timeout, no redirects followed: retries belong to the outbox, which
reads `WikiError.retryable`. Only the configured wiki URL is ever called, whatever a delivery says."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import requests

from learnloop.config import WikiConfig
from learnloop.errors import refusal, retry_after
from learnloop.outbound import AnswerTooLarge, capped
from learnloop.wikis import WIKI_RETRY_AFTER, WikiError

JsonObject = dict[str, Any]

DEFAULT_TIMEOUT = (5.0, 10.0)
PAGE_LIMIT = 100
MAX_PAGES = 20
_ERROR_TEXT_LIMIT = 200
_TRANSPORT_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
_METHOD = re.compile(r"^[a-zA-Z]+\.[a-z_]+$")


class OutlineError(WikiError):
    """An Outline API call failed; `status_code` is None when no answer came back."""

    def __init__(self, message: str, *, status_code: int | None, call: str, retryable: bool | None = None,
                 retry_after: float | None = None) -> None:
        self.status_code = status_code
        self.call = call
        if retryable is None:
            retryable = status_code is None or status_code in (408, 429) or status_code >= 500
        status = f"HTTP {status_code}" if status_code is not None else "no response"
        super().__init__(f"Outline {call}: {status}: {message}", retryable=retryable, retry_after=retry_after,
                         refused=refusal(status_code))

    @property
    def not_found(self) -> bool:
        return self.status_code == 404


class OutlineClient:
    def __init__(self, base_url: str, token: str, *, timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
                 session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._token = token
        self._session = session or requests.Session()

    @classmethod
    def for_wiki(cls, wiki: WikiConfig, *, session: requests.Session | None = None) -> OutlineClient:
        token = wiki.api_token.get_secret_value() if wiki.api_token is not None else ""
        return cls(wiki.base_url, token, session=session)

    def __repr__(self) -> str:
        return f"OutlineClient(base_url={self.base_url!r})"

    # documents

    def document_info(self, document_id: str) -> JsonObject:
        data = self.call("documents.info", {"id": document_id})
        if isinstance(data, dict) and isinstance(data.get("document"), dict):  # apiVersion 2 shape
            data = data["document"]
        return _object(data, "documents.info")

    def search_titles(self, query: str, *, collection_id: str | None = None,
                      limit: int = PAGE_LIMIT) -> list[JsonObject]:
        body: JsonObject = {"query": query, "limit": limit, "offset": 0}
        if collection_id:
            body["collectionId"] = collection_id
        return _objects(self.call("documents.search_titles", body), "documents.search_titles")

    def create_document(self, *, title: str, text: str, collection_id: str, publish: bool = True) -> JsonObject:
        data = self.call("documents.create", {"title": title, "text": text, "collectionId": collection_id,
                                              "publish": publish})
        return _object(data, "documents.create")

    def replace_document_text(self, document_id: str, text: str) -> JsonObject:
        """The document's whole Markdown becomes `text` (`documents.update` without `append`)."""
        data = self.call("documents.update", {"id": document_id, "text": text})
        return _object(data, "documents.update")

    def append_to_document(self, document_id: str, text: str) -> JsonObject:
        data = self.call("documents.update", {"id": document_id, "text": text, "append": True})
        return _object(data, "documents.update")

    def publish_document(self, document_id: str, *, collection_id: str) -> JsonObject:
        """A draft published again, in `collection_id` if it has none (`documents.update` with `publish`)."""
        data = self.call("documents.update", {"id": document_id, "publish": True, "collectionId": collection_id})
        return _object(data, "documents.update")

    # collections

    def collection_info(self, collection_id: str) -> JsonObject:
        return _object(self.call("collections.info", {"id": collection_id}), "collections.info")

    def collection_documents(self, collection_id: str) -> list[JsonObject]:
        """The collection's published documents as a tree: nodes `{id, title, url, children}`."""
        return _objects(self.call("collections.documents", {"id": collection_id}), "collections.documents")

    def collections(self) -> Iterator[JsonObject]:
        """Every collection the token can see, a page at a time (at most MAX_PAGES pages)."""
        for page in range(MAX_PAGES):
            batch = _objects(self.call("collections.list", {"offset": page * PAGE_LIMIT, "limit": PAGE_LIMIT}),
                             "collections.list")
            yield from batch
            if len(batch) < PAGE_LIMIT:
                return

    # account and webhook subscriptions (admin API key)

    def auth_info(self) -> JsonObject:
        """`{user, team, ...}` of the key's owner: proves the wiki is reachable and the key valid."""
        return _object(self.call("auth.info", {}), "auth.info")

    def webhook_subscriptions(self) -> list[JsonObject]:
        """Every subscription of the team, newest first (`webhookSubscriptions.list`; admins only: 403 otherwise)."""
        found: list[JsonObject] = []
        for page in range(MAX_PAGES):
            batch = _objects(self.call("webhookSubscriptions.list", {"offset": page * PAGE_LIMIT,
                                                                     "limit": PAGE_LIMIT}),
                             "webhookSubscriptions.list")
            found.extend(batch)
            if len(batch) < PAGE_LIMIT:
                break
        return found

    def create_webhook_subscription(self, *, name: str, url: str, events: list[str], secret: str) -> JsonObject:
        body = {"name": name, "url": url, "events": events, "secret": secret}
        return _object(self.call("webhookSubscriptions.create", body), "webhookSubscriptions.create")

    def update_webhook_subscription(self, subscription_id: str, *, name: str, url: str, events: list[str],
                                    secret: str) -> JsonObject:
        """Outline's update replaces name, url, events and secret, and enables the subscription again."""
        body = {"id": subscription_id, "name": name, "url": url, "events": events, "secret": secret}
        return _object(self.call("webhookSubscriptions.update", body), "webhookSubscriptions.update")

    def delete_webhook_subscription(self, subscription_id: str) -> None:
        """Answered with `{"success": true}` and no `data`."""
        self.call("webhookSubscriptions.delete", {"id": subscription_id}, expect_data=False)

    # transport

    def call(self, method: str, body: JsonObject, *, expect_data: bool = True) -> Any:
        """POST one RPC method and return the `data` of Outline's `{ok, data, ...}` answer
        (the whole answer when `expect_data` is false: some methods answer `{success: true}`)."""
        if not _METHOD.match(method):
            raise ValueError(f"not an Outline API method: {method!r}")
        url = f"{self.base_url}/api/{method}"
        try:
            response = capped(self._session.post(
                url, json=body, timeout=self.timeout, allow_redirects=False, stream=True,
                headers={"Authorization": f"Bearer {self._token}", "Accept": "application/json"},
            ))
        except _TRANSPORT_ERRORS as exc:
            raise OutlineError(type(exc).__name__, status_code=None, call=method) from None
        except AnswerTooLarge as exc:
            raise OutlineError(str(exc), status_code=None, call=method, retryable=False) from None
        except requests.RequestException as exc:
            raise OutlineError(type(exc).__name__, status_code=None, call=method) from None
        if 300 <= response.status_code < 400:
            raise OutlineError("redirected; check the wiki's url setting (redirects are not followed)",
                               status_code=response.status_code, call=method)
        if not response.ok:
            raise OutlineError(self._message(response), status_code=response.status_code, call=method,
                               retry_after=retry_after(response.status_code, response.headers, WIKI_RETRY_AFTER))
        try:
            payload = response.json()
        except ValueError:
            raise OutlineError("expected a JSON body", status_code=response.status_code, call=method,
                               retryable=False) from None
        if not expect_data and isinstance(payload, dict):
            return payload
        if not isinstance(payload, dict) or "data" not in payload:
            raise OutlineError("expected a JSON object with 'data'", status_code=response.status_code, call=method,
                               retryable=False)
        return payload["data"]

    def _message(self, response: requests.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            text = str(body.get("message") or body.get("error") or response.reason or "")
        else:
            text = response.reason or ""
        text = text[:_ERROR_TEXT_LIMIT]
        return text.replace(self._token, "***") if self._token else text


def _object(data: Any, call: str) -> JsonObject:
    if not isinstance(data, dict):
        raise OutlineError("expected an object in 'data'", status_code=200, call=call, retryable=False)
    return data


def _objects(data: Any, call: str) -> list[JsonObject]:
    if not isinstance(data, list):
        raise OutlineError("expected a list in 'data'", status_code=200, call=call, retryable=False)
    return [item for item in data if isinstance(item, dict)]
