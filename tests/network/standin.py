"""A Mattermost stand-in for the network tests: posts, pins, channel bookmarks, direct channels, statuses,
memberships and accounts by username, kept in memory and served through the contract harness. Everything but
channel bookmarks is checked against the OpenAPI source; bookmarks are newer than the spec copy, so their
requests are checked here against the server's source instead.

How each call behaves, from mattermost/mattermost:

- POST /api/v4/posts (server/channels/app/post.go, CreatePost and deduplicateCreatePost): 201 with the post;
  a `pending_post_id` seen in the last 30 seconds gets the first post back, not a second one.
- GET /api/v4/channels/{id}/posts?since= (server/channels/store/sqlstore/post_store.go, GetPostsSince): the
  posts changed after `since` (update_at > since), the bot's own included, newest first, no paging.
- POST /api/v4/posts/{id}/pin (server/channels/api4/post.go, saveIsPinnedPost): patches is_pinned, so pinning
  again changes nothing; 200 {"status": "OK"}; an unknown post is a 403 (read_channel_content).
- POST /api/v4/channels/direct (server/channels/app/channel.go, GetOrCreateDirectChannel): the one DM
  channel of the two people, the same each time.
- POST /api/v4/users/status/ids: each person's status (`statuses`), online unless set.
- GET /api/v4/channels/{id}/members/{user} and /teams/{id}/members/{user}: everyone asked about is a plain
  member, or a channel admin when named in `channel_admins`.
- GET /api/v4/channels/{id} (server/channels/app/channel.go, GetChannel): an open channel, or an archived one
  (delete_at set) when named in `archived`.
- POST /api/v4/channels/{id}/members/ids (server/channels/store/sqlstore/channel_store.go, GetMembersByIDs): the
  memberships of those asked about who are in the channel: its `members` and `channel_admins` where `members`
  names the channel, otherwise everyone (as GET .../members/{user} answers).
- GET /api/v4/channels/{id}/members?page=&per_page= (server/channels/app/channel.go, GetChannelMembersPage):
  the channel's `members` and every one of `channel_admins`, ordered by user id, a page at a time.
- GET /api/v4/users/username/{username} (server/channels/api4/user.go, getUserByUsername): the account in
  `users` (username to user id), `deactivated` ones with a delete_at, `bots` with is_bot; an unknown name is a
  404 `app.user.get_by_username.app_error`.
- GET /api/v4/users/{user_id} (server/channels/app/user.go, GetUser): the same account by id; an unknown id
  is a 404 `app.user.missing_account.const`.
- POST /api/v4/users/ids (server/channels/app/user.go, GetUsersByIds): an account for every id asked about
  (as everyone is a member), deactivated ones included with their delete_at, as the server lists them.
- /api/v4/channels/{id}/bookmarks (server/channels/api4/channel_bookmark.go; server/public/model/
  channel_bookmark.go; server/channels/store/sqlstore/channel_bookmark_store.go): a server before 9.5 has no
  such route, and its router answers 404 `api.context.404.app_error`; a server without a license answers
  501 `api.channel.bookmark.channel_bookmark.license.error` before anything else; without the
  add_bookmark_* permission, 403 `api.context.permissions.app_error`. GET lists the channel's bookmarks (not
  deleted) by sort order. POST saves through the store, whose IsValid (a display name of 1 to 64 runes, a
  link of type "link" with an http(s) URL of at most 1024 runes) and 50-per-channel limit both come back as
  500 `app.channel.bookmark.save.app_error`; 201 with the bookmark otherwise, its emoji without colons
  (PreSave), owned by the caller, sort order after the last."""

from __future__ import annotations

import json
import re
import secrets
import string
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import requests

from tests.conftest import FakeClock
from tests.contract.mattermost_openapi import MattermostContract
from tests.standins.mattermost_http import channel_json

BOT = "learnloopbot0000000000000a"
ID = r"(?P<id>[a-z0-9]{26})"
USER = r"(?P<user>[a-z0-9]{26})"
QUERY = r"(?:\?.*)?$"
PENDING_TTL = timedelta(seconds=30)
MAX_BOOKMARKS = 50
BOOKMARK_KEYS = frozenset({"display_name", "type", "link_url", "image_url", "emoji", "file_id", "sort_order",
                           "channel_id"})
Bookmarks = Literal["licensed", "unlicensed", "before_9_5", "forbidden"]
Reply = tuple[int, Any]


def dm_of(user_id: str) -> str:
    """The DM channel of the bot and this person, as the tests name it."""
    return ("dm" + user_id)[:26]


def new_id() -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(26))


def _error(status: int, error_id: str, message: str) -> Reply:
    return status, {"status_code": status, "id": error_id, "message": message, "request_id": new_id(),
                    "detailed_error": ""}


def _body(request: requests.PreparedRequest) -> Any:
    raw = request.body.decode() if isinstance(request.body, bytes) else request.body
    return json.loads(raw) if raw else None


def _http_url(value: object, limit: int) -> bool:
    """model.IsValidHTTPURL and the rune limit."""
    if not isinstance(value, str) or not value or len(value) > limit:
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def bookmark_problems(request: requests.PreparedRequest) -> list[str]:
    """What the server would refuse, or a client must not send, on the bookmarks route."""
    problems = []
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer" or not token:
        problems.append("the route is APISessionRequired: send 'Authorization: Bearer <bot token>'")
    if request.method == "GET":
        unknown = set(parse_qs(urlsplit(request.url or "").query)) - {"bookmarks_since"}
        if unknown or request.body:
            problems.append(f"GET takes only ?bookmarks_since and no body (got {sorted(unknown)})")
        return problems
    if request.method != "POST":
        return [*problems, f"only GET and POST are used here, not {request.method}"]
    if not request.headers.get("Content-Type", "").startswith("application/json"):
        return [*problems, "the body is a JSON model.ChannelBookmark"]
    body = _body(request)
    if not isinstance(body, dict):
        return [*problems, "the body must be a JSON object (model.ChannelBookmark)"]
    unknown = sorted(body.keys() - BOOKMARK_KEYS)
    if unknown:
        problems.append(f"keys that are not model.ChannelBookmark's: {unknown}")
    if body.get("type") != "link":
        problems.append("type must be 'link' (a 'file' bookmark needs an uploaded file_id)")
    name = body.get("display_name")
    if not isinstance(name, str) or not name or len(name) > 64:
        problems.append("display_name must have 1 to 64 runes (model.channel_bookmark.is_valid.display_name)")
    if not _http_url(body.get("link_url"), 1024):
        problems.append("link_url must be an http(s) URL of at most 1024 runes (is_valid.link_url)")
    if "file_id" in body or ("image_url" in body and not _http_url(body["image_url"], 1024)):
        problems.append("a link bookmark has no file_id, and an image_url only if it is an http(s) URL")
    return problems


@dataclass
class StandIn:
    contract: MattermostContract
    clock: FakeClock
    bookmarks_mode: Bookmarks = "licensed"
    posts: dict[str, dict[str, Any]] = field(default_factory=dict)
    bookmarks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    pending: dict[str, tuple[str, Any]] = field(default_factory=dict)
    failures: list[list[Any]] = field(default_factory=list)
    """[method, URL regex, status, calls to let through first]: then one matching call fails with that status."""
    statuses: dict[str, str] = field(default_factory=dict)
    channel_admins: set[str] = field(default_factory=set)
    archived: set[str] = field(default_factory=set)
    """Channels archived in Mattermost (their delete_at set)."""
    members: dict[str, set[str]] = field(default_factory=dict)
    """Channel id to the plain members its member list pages through (admins are in every list)."""
    users: dict[str, str] = field(default_factory=dict)
    """Username to user id: the accounts GET /users/username/{username} finds."""
    deactivated: set[str] = field(default_factory=set)
    bots: set[str] = field(default_factory=set)
    lose_replies: int = 0
    """The next this-many posts are saved, then their reply is lost (a 504): the sender cannot know."""

    def __post_init__(self) -> None:
        add = self.contract.add_handler
        add("POST", re.compile(r"/api/v4/posts" + QUERY), self._failing(self._create_post))
        add("GET", re.compile(r"/api/v4/channels/" + ID + r"/posts" + QUERY), self._failing(self._posts_since))
        add("POST", re.compile(r"/api/v4/posts/" + ID + r"/pin" + QUERY), self._failing(self._pin))
        add("POST", re.compile(r"/api/v4/channels/direct" + QUERY), self._direct)
        add("POST", re.compile(r"/api/v4/users/status/ids" + QUERY), self._statuses)
        add("GET", re.compile(r"/api/v4/channels/" + ID + r"/members/" + USER + QUERY), self._channel_member)
        add("GET", re.compile(r"/api/v4/teams/" + ID + r"/members/" + USER + QUERY), self._team_member)
        add("GET", re.compile(r"/api/v4/channels/" + ID + r"/members" + QUERY), self._channel_members)
        add("POST", re.compile(r"/api/v4/channels/" + ID + r"/members/ids" + QUERY),
            self._failing(self._members_by_ids))
        add("GET", re.compile(r"/api/v4/channels/" + ID + QUERY), self._channel)
        add("GET", re.compile(r"/api/v4/users/username/(?P<name>[^/?]+)" + QUERY), self._user_by_username)
        add("GET", re.compile(r"/api/v4/users/" + USER + QUERY), self._failing(self._user_by_id))
        add("POST", re.compile(r"/api/v4/users/ids" + QUERY), self._users_by_ids)
        self.contract.add_unvalidated(re.compile(r"/api/v4/channels/" + ID + r"/bookmarks" + QUERY),
                                      methods=("GET", "POST"), check=bookmark_problems,
                                      reply=self._failing(self._bookmarks))

    def fail_next(self, method: str, pattern: str, status: int = 500, *, after: int = 0) -> None:
        """The next matching call after `after` matching calls fails with `status` (as the server's database
        might: 500 `app.channel.bookmark.save.app_error` for a bookmark)."""
        self.failures.append([method, pattern, status, after])

    def _failing(self, handler: Any) -> Any:
        def wrapped(request: requests.PreparedRequest, match: re.Match[str] | None) -> Reply:
            for failure in list(self.failures):
                if failure[0] == request.method and re.search(failure[1], request.url or ""):
                    if failure[3]:
                        failure[3] -= 1
                        break
                    self.failures.remove(failure)
                    return _error(failure[2], "app.channel.bookmark.save.app_error", "injected failure")
            return handler(request, match)
        return wrapped

    def _millis(self) -> int:
        return int(self.clock().timestamp() * 1000)

    # ------------------------------------------------------------------ posts

    def _create_post(self, request: requests.PreparedRequest, match: re.Match[str] | None) -> Reply:
        body = _body(request)
        pending = body.get("pending_post_id") or ""
        seen = self.pending.get(pending)
        if pending and seen and self.clock() - seen[1] < PENDING_TTL:
            return 201, self.posts[seen[0]]
        now = self._millis()
        post = {"id": new_id(), "create_at": now, "update_at": now, "delete_at": 0, "edit_at": 0, "user_id": BOT,
                "channel_id": body["channel_id"], "root_id": body.get("root_id") or "", "message": body["message"],
                "type": "", "props": body.get("props") or {}, "hashtag": "", "file_ids": [],
                "pending_post_id": pending, "is_pinned": False}
        self.posts[post["id"]] = post
        if pending:
            self.pending[pending] = (post["id"], self.clock())
        if self.lose_replies:
            self.lose_replies -= 1
            return _error(504, "api.context.timeout", "The request timed out.")
        return 201, post

    def _posts_since(self, request: requests.PreparedRequest, match: re.Match[str] | None) -> Reply:
        assert match is not None
        since = int(parse_qs(urlsplit(request.url or "").query).get("since", ["0"])[0])
        found = sorted((p for p in self.posts.values() if p["channel_id"] == match["id"] and p["update_at"] > since),
                       key=lambda p: p["create_at"], reverse=True)
        return 200, {"order": [p["id"] for p in found], "posts": {p["id"]: p for p in found}, "next_post_id": "",
                     "prev_post_id": ""}

    def _pin(self, request: requests.PreparedRequest, match: re.Match[str] | None) -> Reply:
        assert match is not None
        post = self.posts.get(match["id"])
        if post is None:
            return _error(403, "api.context.permissions.app_error", "You do not have the appropriate permissions.")
        if not post["is_pinned"]:
            post.update(is_pinned=True, update_at=self._millis())
        return 200, {"status": "OK"}

    def channel_posts(self, channel_id: str) -> list[dict[str, Any]]:
        return sorted((p for p in self.posts.values() if p["channel_id"] == channel_id), key=lambda p: p["create_at"])

    def dms_to(self, user_id: str) -> list[dict[str, Any]]:
        return self.channel_posts(dm_of(user_id))

    # ------------------------------------------------------------ people

    def _direct(self, request: requests.PreparedRequest, match: re.Match[str] | None) -> Reply:
        bot, person = _body(request)
        return 201, {"id": dm_of(person), "type": "D", "name": f"{bot}__{person}", "delete_at": 0}

    def _statuses(self, request: requests.PreparedRequest, match: re.Match[str] | None) -> Reply:
        return 200, [{"user_id": user, "status": self.statuses.get(user, "online"), "manual": False,
                      "last_activity_at": 0} for user in _body(request)]

    def _membership(self, channel_id: str, user_id: str) -> dict[str, Any]:
        admin = user_id in self.channel_admins
        return {"channel_id": channel_id, "user_id": user_id, "scheme_user": True, "scheme_admin": admin,
                "roles": "channel_user channel_admin" if admin else "channel_user", "msg_count": 0, "mention_count": 0}

    def _channel_member(self, request: requests.PreparedRequest, match: re.Match[str] | None) -> Reply:
        assert match is not None
        return 200, self._membership(match["id"], match["user"])

    def _channel(self, request: requests.PreparedRequest, match: re.Match[str] | None) -> Reply:
        assert match is not None
        return 200, channel_json(match["id"], now_ms=self._millis(), archived=match["id"] in self.archived)

    def _channel_members(self, request: requests.PreparedRequest, match: re.Match[str] | None) -> Reply:
        assert match is not None
        query = parse_qs(urlsplit(request.url or "").query)
        page, per_page = int(query.get("page", ["0"])[0]), int(query.get("per_page", ["60"])[0])
        everyone = sorted(self.members.get(match["id"], set()) | self.channel_admins)
        shown = everyone[page * per_page:(page + 1) * per_page]
        return 200, [self._membership(match["id"], user) for user in shown]

    def _members_by_ids(self, request: requests.PreparedRequest, match: re.Match[str] | None) -> Reply:
        assert match is not None
        asked = _body(request)
        listed = self.members.get(match["id"])
        inside = [user for user in asked if listed is None or user in listed | self.channel_admins]
        return 200, [self._membership(match["id"], user) for user in inside]

    def _account(self, username: str, user_id: str) -> dict[str, Any]:
        return {"id": user_id, "username": username, "create_at": 0, "update_at": 0,
                "delete_at": self._millis() if user_id in self.deactivated else 0, "is_bot": user_id in self.bots,
                "roles": "system_user", "locale": "en"}

    def _user_by_username(self, request: requests.PreparedRequest, match: re.Match[str] | None) -> Reply:
        assert match is not None
        user_id = self.users.get(match["name"])
        if user_id is None:
            return _error(404, "app.user.get_by_username.app_error", "Unable to find an existing account matching "
                                                                     "your username for this team.")
        return 200, self._account(match["name"], user_id)

    def _user_by_id(self, request: requests.PreparedRequest, match: re.Match[str] | None) -> Reply:
        assert match is not None
        names = [name for name, user_id in self.users.items() if user_id == match["user"]]
        if not names:
            return _error(404, "app.user.missing_account.const", "Unable to find the user.")
        return 200, self._account(names[0], match["user"])

    def _users_by_ids(self, request: requests.PreparedRequest, match: re.Match[str] | None) -> Reply:
        names = {user_id: name for name, user_id in self.users.items()}
        return 200, [self._account(names.get(user_id, user_id), user_id) for user_id in _body(request)]

    def _team_member(self, request: requests.PreparedRequest, match: re.Match[str] | None) -> Reply:
        assert match is not None
        return 200, {"team_id": match["id"], "user_id": match["user"], "roles": "team_user", "delete_at": 0,
                     "scheme_user": True, "scheme_admin": False}

    # -------------------------------------------------------------- bookmarks

    def _bookmarks(self, request: requests.PreparedRequest, match: re.Match[str] | None) -> Reply:
        assert match is not None
        if self.bookmarks_mode == "before_9_5":
            return _error(404, "api.context.404.app_error", "Sorry, we could not find the page.")
        if self.bookmarks_mode == "unlicensed":
            return _error(501, "api.channel.bookmark.channel_bookmark.license.error",
                          "Your license does not support channel bookmarks.")
        channel = self.bookmarks.setdefault(match["id"], [])
        if request.method == "GET":
            return 200, [b for b in channel if not b["delete_at"]]
        if self.bookmarks_mode == "forbidden":
            return _error(403, "api.context.permissions.app_error", "You do not have the appropriate permissions.")
        body = _body(request)
        live = [b for b in channel if not b["delete_at"]]
        if bookmark_problems(request) or len(live) >= MAX_BOOKMARKS:
            return _error(500, "app.channel.bookmark.save.app_error", "Unable to save the channel bookmark.")
        now = self._millis()
        bookmark = {"id": new_id(), "create_at": now, "update_at": now, "delete_at": 0, "channel_id": match["id"],
                    "owner_id": BOT, "file_id": "", "display_name": body["display_name"],
                    "sort_order": max((b["sort_order"] for b in live), default=-1) + 1, "link_url": body["link_url"],
                    "type": "link"}
        if body.get("emoji"):
            bookmark["emoji"] = str(body["emoji"]).strip(":")
        channel.append(bookmark)
        return 201, bookmark

    def channel_bookmarks(self, channel_id: str) -> list[dict[str, Any]]:
        return [b for b in self.bookmarks.get(channel_id, []) if not b["delete_at"]]
