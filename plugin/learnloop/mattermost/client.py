"""Mattermost REST API v4 client for the bot account.

One HTTP attempt per call: retries belong to the caller (the outbox worker),
which can tell transient failures apart via ``MattermostError.retryable``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote

import requests

from learnloop.errors import HostError, refusal, retry_after
from learnloop.outbound import AnswerTooLarge, capped

JsonObject = dict[str, Any]

API_PREFIX = "/api/v4"
MAX_PER_PAGE = 200
DEFAULT_RETRY_AFTER = 1.0
_ERROR_TEXT_LIMIT = 300
_TRANSPORT_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


class MattermostError(HostError):
    """``message`` and ``error_id`` come from Mattermost's AppError body when it sent one."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error_id: str | None = None,
        call: str = "",
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.error_id = error_id
        self.call = call
        self.refused = refusal(status_code)
        super().__init__(self._summary())

    @property
    def retryable(self) -> bool:
        """Worth trying again later; 501 means the feature is switched off on the server, for good. 401 is the
        bot's token, refused until the admin replaces it: the messages wait for that."""
        code = self.status_code
        return code is None or code in (401, 408, 429) or (code >= 500 and code != 501)

    def _summary(self) -> str:
        status = f"HTTP {self.status_code}" if self.status_code is not None else "no response"
        error_id = f" [{self.error_id}]" if self.error_id else ""
        return f"Mattermost {self.call}: {status}: {self.message}{error_id}"


class RateLimited(MattermostError):
    def __init__(self, message: str, *, retry_after: float, call: str = "") -> None:
        super().__init__(message, status_code=429, call=call)
        self.retry_after = retry_after


class MattermostUnavailable(MattermostError):
    """Mattermost could not be reached or did not answer in time."""


class MattermostClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 5.0,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._token = token
        self._session = session or requests.Session()

    def __repr__(self) -> str:
        return f"MattermostClient(base_url={self.base_url!r})"

    def ping(self) -> JsonObject:
        return self._object("GET", "/system/ping")

    def get_me(self) -> JsonObject:
        return self._user("/users/me")

    def get_user(self, user_id: str) -> JsonObject:
        return self._user(f"/users/{_segment(user_id)}")

    def get_user_by_username(self, username: str) -> JsonObject:
        """The account with this username (without the @); a MattermostError with status 404 when there is none."""
        return self._user(f"/users/username/{_segment(username)}")

    def _user(self, path: str) -> JsonObject:
        return _with_id(self._object("GET", path), f"GET {API_PREFIX}{path}", "user")

    def get_users_by_ids(self, ids: Sequence[str]) -> list[JsonObject]:
        if not ids:
            return []
        return self._objects("POST", "/users/ids", json=list(ids))

    def get_user_status(self, user_id: str) -> str:
        """One of ``online``, ``away``, ``dnd``, ``offline``."""
        return str(self._object("GET", f"/users/{_segment(user_id)}/status").get("status", ""))

    def get_users_statuses(self, ids: Sequence[str]) -> dict[str, str]:
        """Statuses of many users in one call: user id to ``online``/``away``/``dnd``/``offline``."""
        if not ids:
            return {}
        statuses = self._objects("POST", "/users/status/ids", json=list(ids))
        return {str(entry["user_id"]): str(entry.get("status", "")) for entry in statuses if "user_id" in entry}

    def get_channel(self, channel_id: str) -> JsonObject:
        return self._object("GET", f"/channels/{_segment(channel_id)}")

    def get_channel_by_name(self, team_id: str, name: str) -> JsonObject:
        return self._object("GET", f"/teams/{_segment(team_id)}/channels/name/{_segment(name)}")

    def get_channel_member_count(self, channel_id: str) -> int:
        """Every account in the channel, bots included (the channel's statistics)."""
        path = f"/channels/{_segment(channel_id)}/stats"
        body = self._object("GET", path)
        count = body.get("member_count")
        if not isinstance(count, int) or count < 0:
            raise MattermostError("no member count in the channel's statistics", call=f"GET {API_PREFIX}{path}")
        return count

    def get_channel_member(self, channel_id: str, user_id: str) -> JsonObject:
        """Membership incl. ``roles`` and ``scheme_admin`` (channel admin); an answer that is not this person's
        membership is a MattermostError."""
        path = f"/channels/{_segment(channel_id)}/members/{_segment(user_id)}"
        return self._member(self._object("GET", path), user_id, f"GET {API_PREFIX}{path}")

    def get_team_member(self, team_id: str, user_id: str) -> JsonObject:
        """Team membership incl. ``roles`` (``team_admin``) and ``scheme_admin``."""
        path = f"/teams/{_segment(team_id)}/members/{_segment(user_id)}"
        return self._member(self._object("GET", path), user_id, f"GET {API_PREFIX}{path}")

    @staticmethod
    def _member(body: JsonObject, user_id: str, call: str) -> JsonObject:
        if body.get("user_id") != user_id:
            raise MattermostError("the answer is not this person's membership", status_code=200, call=call)
        return body

    def get_channel_members_by_ids(self, channel_id: str, user_ids: Sequence[str]) -> list[JsonObject]:
        """The memberships of these people in the channel: those not in it are left out, without an error
        (server/channels/store/sqlstore/channel_store.go, GetMembersByIDs)."""
        if not user_ids:
            return []
        return self._objects("POST", f"/channels/{_segment(channel_id)}/members/ids", json=list(user_ids))

    def get_channel_members(self, channel_id: str, page: int = 0, per_page: int = 60) -> list[JsonObject]:
        return self._objects(
            "GET",
            f"/channels/{_segment(channel_id)}/members",
            params={"page": page, "per_page": per_page},
        )

    def iter_channel_member_ids(self, channel_id: str) -> Iterator[str]:
        for member in self.iter_channel_members(channel_id):
            if isinstance(member.get("user_id"), str):
                yield member["user_id"]

    def iter_channel_members(self, channel_id: str) -> Iterator[JsonObject]:
        """Every membership of the channel (with ``roles`` and ``scheme_admin``), page by page."""
        page = 0
        while True:
            members = self.get_channel_members(channel_id, page=page, per_page=MAX_PER_PAGE)
            yield from members
            if len(members) < MAX_PER_PAGE:
                return
            page += 1

    def create_direct_channel(self, user_a: str, user_b: str) -> str:
        """Get-or-create the DM channel between two users; returns its id."""
        channel_id = self._object("POST", "/channels/direct", json=[user_a, user_b]).get("id")
        if not isinstance(channel_id, str) or not channel_id:
            raise MattermostError("no channel id in the answer", status_code=200,
                                  call=f"POST {API_PREFIX}/channels/direct")
        return channel_id

    def get_channel_posts_since(self, channel_id: str, since_ms: int) -> list[JsonObject]:
        """Posts created or changed in a channel since a moment (epoch milliseconds)."""
        result = self._object("GET", f"/channels/{_segment(channel_id)}/posts", params={"since": since_ms})
        posts, order = result.get("posts"), result.get("order")
        if not isinstance(posts, dict) or not isinstance(order, list):
            return []
        return [posts[post_id] for post_id in order
                if isinstance(post_id, str) and isinstance(posts.get(post_id), dict)]

    def get_post(self, post_id: str) -> JsonObject:
        return self._object("GET", f"/posts/{_segment(post_id)}")

    def create_post(
        self,
        channel_id: str,
        message: str,
        *,
        props: JsonObject | None = None,
        root_id: str | None = None,
        pending_post_id: str | None = None,
    ) -> JsonObject:
        """`pending_post_id`: the same id sent again within about 30 seconds gets the first post back instead
        of a second one (server/channels/app/post.go, deduplicateCreatePost)."""
        body: JsonObject = {"channel_id": channel_id, "message": message}
        if props is not None:
            body["props"] = props
        if root_id:
            body["root_id"] = root_id
        if pending_post_id:
            body["pending_post_id"] = pending_post_id
        return _with_id(self._object("POST", "/posts", json=body), f"POST {API_PREFIX}/posts")

    def patch_post(
        self,
        post_id: str,
        *,
        message: str | None = None,
        props: JsonObject | None = None,
    ) -> JsonObject:
        """Only the given fields change; ``props`` replaces the whole props map."""
        body: JsonObject = {}
        if message is not None:
            body["message"] = message
        if props is not None:
            body["props"] = props
        if not body:
            raise ValueError("patch_post needs a message or props")
        path = f"/posts/{_segment(post_id)}/patch"
        return _with_id(self._object("PUT", path, json=body), f"PUT {API_PREFIX}{path}")

    def delete_post(self, post_id: str) -> None:
        """A post already deleted (or never made) is answered 404, one the bot may not delete 403
        (server/channels/api4/post.go, deletePost). Older servers answered 403 for both: they turned any failure
        to read the post into a permission error."""
        self._api("DELETE", f"/posts/{_segment(post_id)}")

    def pin_post(self, post_id: str) -> None:
        """Pinning a pinned post again changes nothing (server/channels/api4/post.go, saveIsPinnedPost patches
        `is_pinned`)."""
        self._api("POST", f"/posts/{_segment(post_id)}/pin")

    def get_channel_bookmarks(self, channel_id: str) -> list[JsonObject]:
        """The channel's bookmarks (not deleted), by sort order.

        Channel bookmarks came with server 9.5 and need a license: an unlicensed server answers 501
        `api.channel.bookmark.channel_bookmark.license.error`, an older one (or a 9.x with the ChannelBookmarks
        feature flag off) the router's 404 `api.context.404.app_error`. See
        server/channels/api4/channel_bookmark.go in mattermost/mattermost (listChannelBookmarksForChannel)."""
        return self._objects("GET", f"/channels/{_segment(channel_id)}/bookmarks")

    def create_channel_bookmark(self, channel_id: str, *, display_name: str, link_url: str,
                                emoji: str | None = None) -> JsonObject:
        """A link bookmark (server/channels/api4/channel_bookmark.go, createChannelBookmark; 201). The server
        checks the body in the store's save (server/public/model/channel_bookmark.go, IsValid: a display name of
        1 to 64 runes, an http(s) link of at most 1024) and answers any failure there, the 50-per-channel limit
        too, with 500 `app.channel.bookmark.save.app_error`: check before calling."""
        body: JsonObject = {"display_name": display_name, "type": "link", "link_url": link_url}
        if emoji:
            body["emoji"] = emoji
        return self._object("POST", f"/channels/{_segment(channel_id)}/bookmarks", json=body)

    def open_dialog(self, trigger_id: str, url: str, dialog: JsonObject) -> None:
        """The trigger id expires seconds after Mattermost created it: call right away."""
        self._api("POST", "/actions/dialogs/open", json={"trigger_id": trigger_id, "url": url, "dialog": dialog})

    def post_to_response_url(self, response_url: str, payload: JsonObject) -> None:
        """Delayed slash-command reply; the URL is the credential, so no bot token is sent."""
        self._send("POST", response_url, "response_url", json=payload, headers={})

    def _object(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
                ) -> JsonObject:
        """A call whose answer must be a JSON object."""
        body = self._api(method, path, json=json, params=params)
        if not isinstance(body, dict):
            raise MattermostError(f"expected a JSON object, got {type(body).__name__}", status_code=200,
                                  call=f"{method} {API_PREFIX}{path}")
        return body

    def _objects(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
                 ) -> list[JsonObject]:
        """A call whose answer must be a JSON list of objects."""
        body = self._api(method, path, json=json, params=params)
        if not isinstance(body, list) or not all(isinstance(entry, dict) for entry in body):
            raise MattermostError("expected a JSON list of objects", status_code=200,
                                  call=f"{method} {API_PREFIX}{path}")
        return body

    def _api(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        response = self._send(
            method,
            self.base_url + API_PREFIX + path,
            API_PREFIX + path,
            json=json,
            params=params,
            headers={"Authorization": f"Bearer {self._token}"},
        )
        try:
            return response.json()
        except ValueError:
            raise MattermostError(
                "expected a JSON body", status_code=response.status_code, call=f"{method} {API_PREFIX}{path}"
            ) from None

    def _send(
        self,
        method: str,
        url: str,
        label: str,
        *,
        headers: dict[str, str],
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> requests.Response:
        call = f"{method} {label}"
        try:
            response = capped(self._session.request(method, url, json=json, params=params, headers=headers,
                                                    timeout=self.timeout, allow_redirects=False, stream=True))
        except _TRANSPORT_ERRORS as exc:
            raise MattermostUnavailable(type(exc).__name__, call=call) from exc
        except AnswerTooLarge as exc:
            raise too_large(exc, call) from None
        except requests.RequestException as exc:
            raise MattermostError(type(exc).__name__, call=call) from exc
        if response.is_redirect:
            raise redirected(response, call)
        if not response.ok:
            raise self._error_from(response, call)
        return response

    def _error_from(self, response: requests.Response, call: str) -> MattermostError:
        wait = retry_after(response.status_code, response.headers, DEFAULT_RETRY_AFTER)
        if wait is not None:
            return RateLimited(f"rate limited, retry after {wait:g}s", retry_after=wait, call=call)
        error_id, message = _app_error(response)
        return MattermostError(
            self._redact(message), status_code=response.status_code, error_id=error_id, call=call
        )

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text


def too_large(exc: AnswerTooLarge, call: str) -> MattermostError:
    return MattermostError(str(exc), status_code=exc.response.status_code if exc.response is not None else None,
                           call=call)


def redirected(response: requests.Response, call: str) -> MattermostError:
    """Mattermost answered with a redirect, which is not followed: the request (its token, a post, the OAuth
    secret) would go to wherever it points."""
    where = response.headers.get("Location", "")[:200]
    return MattermostError(f"redirected to {where!r}; set LEARNLOOP_MATTERMOST_URL to the address Mattermost "
                           "answers at itself", status_code=response.status_code, call=call)


def _with_id(found: JsonObject, call: str, what: str = "post") -> JsonObject:
    """A post or user as Mattermost answers with it: a post without its id would be recorded as a post that is
    not, a user without one taken for nobody in particular."""
    if not isinstance(found.get("id"), str) or not found["id"]:
        raise MattermostError(f"no {what} id in the answer", status_code=200, call=call)
    return found


def _segment(value: str) -> str:
    return quote(value, safe="")


def _app_error(response: requests.Response) -> tuple[str | None, str]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and ("id" in body or "message" in body):
        error_id = body.get("id") or None
        return error_id, str(body.get("message") or error_id)
    text = response.text.strip()[:_ERROR_TEXT_LIMIT]
    return None, text or response.reason or "no body"

