"""A Mattermost stand-in over real HTTP: the parts of REST API v4 that learnloop's worker and web process call,
for the scale-out tests (tests/scaleout/), the fuzz tests (tests/fuzz/, scripts/fuzz_inbound.py) and the
benchmarks (scripts/bench_fanout.py, scripts/bench_scaleout.py).

It behaves as the Go server does where exactly-once delivery depends on it (server paths relative to
mattermost/mattermost's `server/`):

- POST /api/v4/posts records every post. A post whose `pending_post_id` was saved in the last 30 s is not
  saved again: the first post comes back, 201 (channels/app/post.go, `deduplicateCreatePost`,
  `PendingPostIDsCacheTTL = 30 * time.Second`, 25,000 ids remembered; the key is the raw id, not per user
  or channel; the window restarts when the post is saved), or 500 `api.post.deduplicate_create_post.failed_to_get`
  when it was deleted since (`GetPostIfAuthorized` finds no deleted post). A repeat that arrives while the first is still
  being saved gets 500 `api.post.deduplicate_create_post.pending`. A post to an archived channel (`World.archived`)
  gets 400 `api.post.create_post.can_not_post_to_deleted.error` before that (channels/app/post.go,
  `CreatePostAsUser`); a reply whose root is missing, deleted (`World.delete_post`) or itself a reply gets 400
  `api.post.create_post.root_id.app_error`, and its pending id is forgotten, so the same id can be sent again
  (`CreatePost`).
- GET /api/v4/channels/{id}/posts?since=<ms> returns the posts whose update_at is strictly after `since`,
  at most 1000 and no cursor (store/sqlstore/post_store.go, `GetPostsSince`), as a PostList whose `order`
  is newest first (channels/api4/post.go, `getPostsForChannel`); the bot's own posts are included.
- DELETE /api/v4/posts/{id} answers 404 `app.post.get.app_error` for a post deleted already or never made, and
  403 `api.context.permissions.app_error` for one in a private channel the bot was removed from (`World.left`);
  GET /api/v4/posts/{id} answers the same way (channels/api4/post.go, `deletePost` and `getPost`; channels/app/
  post.go, `GetSinglePost` finds no deleted post, `GetPostIfAuthorized` checks the channel after that).
- GET /api/v4/channels/{id} answers the world's channel, its delete_at set once it is archived.
- GET /api/v4/channels/{id}/members/{user_id} answers a membership of the world's channel or of one of
  `World.other_channels`, else 404 `app.channel.get_member.missing.app_error`.
- POST /api/v4/actions/dialogs/open answers OK for any trigger id (the server refuses one it did not issue in
  the last seconds; the stand-in issues none).
- POST /hooks/commands/{id} (a slash command's response_url) is recorded too.

Every answer comes after a configurable latency (3 s per call works: each request has its thread).
The post is saved before that wait, as when a slow server did the work and the client gave up waiting.
Faults can be injected: a share of calls on chosen routes answers an error, with the status and error id given
(403 `api.context.permissions.app_error` is a bot outside a private channel), before the work is done, or
after it (the post exists, the client sees a failure).

What was posted is counted per kind: a prompt by its `props.learnloop_delivery`, every other post by
`props.learnloop_outbox` (the outbox message's marker), a response_url post by its URL and body. A kind's
duplicates are the posts beyond the first per marker. GET /_stats reports them.

Only the standard library is used, so any Python can run it:

    python -m tests.standins.mattermost_http --members 10000 --latency-ms 5 --port 8065

or, in a process:

    server = start_in_thread(World.synthetic(1000), latency_ms=5); ...; server.shutdown()
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import string
import sys
import threading
import time
from collections import Counter, OrderedDict, defaultdict
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ALNUM = string.ascii_lowercase + string.digits
DEFAULT_TOKEN = "standin-bot-token-0123456789abcdef"
DELIVERY_PROP = "learnloop_delivery"
OUTBOX_PROP = "learnloop_outbox"
MAX_PER_PAGE = 200
SINCE_CAP = 1000
PENDING_TTL_S = 30.0
PENDING_CACHE_SIZE = 25_000
KINDS = ("prompt", "outbox", "other", "response")

# (zone, weight): where the members are, from UTC-11 to UTC+14.
ZONES: list[tuple[str, int]] = [
    ("Pacific/Pago_Pago", 1), ("Pacific/Honolulu", 2), ("America/Anchorage", 2), ("America/Los_Angeles", 10),
    ("America/Denver", 4), ("America/Chicago", 6), ("America/New_York", 12), ("America/Sao_Paulo", 4),
    ("America/St_Johns", 1), ("Atlantic/Azores", 1), ("UTC", 3), ("Europe/London", 8), ("Europe/Berlin", 14),
    ("Europe/Helsinki", 4), ("Africa/Nairobi", 2), ("Asia/Dubai", 2), ("Asia/Kolkata", 8), ("Asia/Kathmandu", 1),
    ("Asia/Shanghai", 4), ("Asia/Tokyo", 3), ("Australia/Adelaide", 1), ("Australia/Sydney", 3),
    ("Pacific/Auckland", 2), ("Pacific/Chatham", 1), ("Pacific/Tongatapu", 1), ("Pacific/Kiritimati", 1),
]
STATUS_WEIGHTS = (("online", 45), ("away", 20), ("offline", 35))


def monotonic() -> float:
    """The pending_post_id window's clock (a test moves it)."""
    return time.monotonic()


NOT_PERMITTED = "You do not have the appropriate permissions."


def _mm_id(rng: random.Random) -> str:
    return "".join(rng.choice(ALNUM) for _ in range(26))


def _app_error(status: int, error_id: str, message: str) -> dict[str, Any]:
    return {"id": error_id, "message": message, "detailed_error": "", "request_id": "standin", "status_code": status}


@dataclass
class Faults:
    """A share of calls on `routes` (e.g. "POST /posts"; empty: every API route) answers `status`. With
    `after_effect` the call does its work first: a post is saved although the caller sees an error. The error's
    body carries `error_id`, as Mattermost's AppError does."""

    rate: float = 0.0
    status: int = 503
    after_effect: bool = False
    routes: tuple[str, ...] = ("POST /posts",)
    seed: int = 1
    error_id: str = "standin.fault"


def _user(user_id: str, username: str, *, zone: str | None, manual: bool, bot: bool = False,
          deleted: bool = False) -> dict[str, Any]:
    now_ms = int(time.time() * 1000)
    timezone = {"useAutomaticTimezone": "false" if manual else "true",
                "automaticTimezone": "" if (manual or zone is None) else zone,
                "manualTimezone": (zone or "") if manual else ""}
    return {"id": user_id, "create_at": now_ms - 86_400_000 * 400, "update_at": now_ms - 86_400_000,
            "delete_at": now_ms - 86_400_000 * 3 if deleted else 0, "username": username, "auth_data": "",
            "auth_service": "", "email": f"{username}@acme.example", "nickname": "",
            "first_name": username.capitalize(), "last_name": "", "position": "", "roles": "system_user",
            "locale": "en", "timezone": timezone, "is_bot": bot, "disable_welcome_email": False}


@dataclass
class Recorded:
    """What was created while serving; guarded by World.lock."""

    dm_channels: dict[tuple[str, str], str] = field(default_factory=dict)
    dm_owner: dict[str, str] = field(default_factory=dict)  # DM channel id -> the person (not the bot)
    posts: dict[str, dict[str, Any]] = field(default_factory=dict)
    channel_posts: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    by_marker: dict[str, dict[str, list[str]]] = field(default_factory=lambda: {k: defaultdict(list) for k in KINDS})
    pending_ids: OrderedDict[str, tuple[str, float]] = field(default_factory=OrderedDict)  # id -> (post, expiry)
    deduplicated: int = 0
    dedupe_pending_refused: int = 0
    faults: int = 0
    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    first_post_at: float | None = None
    last_post_at: float | None = None


@dataclass
class World:
    """The team, the channel, its members, and what has been created since the start (or the last reset)."""

    team_id: str
    channel_id: str
    bot: dict[str, Any]
    users: dict[str, dict[str, Any]]  # every user incl. the bot and the deactivated one
    member_ids: list[str]  # the channel's members, in channel order
    statuses: dict[str, str]
    token: str = DEFAULT_TOKEN
    archived: set[str] = field(default_factory=set)
    """Channels whose delete_at is set: nothing can be posted there."""
    left: set[str] = field(default_factory=set)
    """Private channels the bot was removed from: it may no longer post there, nor read or delete its posts."""
    other_channels: dict[str, list[str]] = field(default_factory=dict)
    """Further channels by id, with their members' ids: only a membership lookup answers for them."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    record: Recorded = field(default_factory=Recorded)

    @classmethod
    def synthetic(cls, members: int, *, seed: int = 7, dnd_percent: float = 0.0, token: str = DEFAULT_TOKEN,
                  zones: tuple[str, ...] = (), extra_accounts: bool = True) -> World:
        """`members` people who should each get one prompt, plus the bot and a deactivated account (both
        channel members that learnloop must leave out). Deterministic for a seed. Without `zones`, time
        zones spread from UTC-11 to UTC+14, 10% set by hand and 3% unset; with them, one of `zones` each."""
        rng = random.Random(seed)
        taken: set[str] = set()

        def new_id() -> str:
            while (candidate := _mm_id(rng)) in taken:
                pass
            taken.add(candidate)
            return candidate

        team_id, channel_id, bot_id = new_id(), new_id(), new_id()
        bot = _user(bot_id, "learnloop", zone=None, manual=False, bot=True)
        users, member_ids, statuses = {bot_id: bot}, [], {bot_id: "online"}
        for n in range(members):
            user_id, roll = new_id(), rng.random()
            if zones:
                zone, manual = rng.choice(zones), False
            else:
                zone = None if roll < 0.03 else rng.choices([z for z, _ in ZONES], [w for _, w in ZONES])[0]
                manual = 0.03 <= roll < 0.13
            users[user_id] = _user(user_id, f"member{n:05d}", zone=zone, manual=manual)
            member_ids.append(user_id)
            dnd = rng.random() * 100 < dnd_percent
            statuses[user_id] = "dnd" if dnd else rng.choices(*zip(*STATUS_WEIGHTS, strict=True))[0]
        if extra_accounts:
            gone = new_id()
            users[gone] = _user(gone, "former.colleague", zone="Europe/Berlin", manual=False, deleted=True)
            statuses[gone] = "offline"
            member_ids.insert(min(len(member_ids), 137), bot_id)
            member_ids.insert(min(len(member_ids), 4242), gone)
        return cls(team_id, channel_id, bot, users, member_ids, statuses, token)

    @classmethod
    def given(cls, *, team_id: str, channels: dict[str, list[str]], bot_id: str, token: str = DEFAULT_TOKEN) -> World:
        """A world with these ids (a test's own): the first of `channels` is the world's channel, the others are
        `other_channels`; every member a user in UTC, online."""
        (channel_id, member_ids), *others = channels.items()
        bot = _user(bot_id, "learnloop", zone=None, manual=False, bot=True)
        users = {bot_id: bot}
        for user_id in dict.fromkeys(i for members in channels.values() for i in members):
            users[user_id] = _user(user_id, f"user.{user_id}", zone="UTC", manual=False)
        return cls(team_id, channel_id, bot, users, list(member_ids), {i: "online" for i in users}, token,
                   other_channels={channel: list(members) for channel, members in others})

    def is_member(self, channel_id: str, user_id: str) -> bool:
        members = self.member_ids if channel_id == self.channel_id else self.other_channels.get(channel_id, [])
        return user_id in members

    def people(self) -> list[dict[str, Any]]:
        """The members who should get a prompt (not the bot, not deactivated accounts)."""
        return [u for u in (self.users[i] for i in self.member_ids) if not u["is_bot"] and not u["delete_at"]]

    def zones(self) -> set[str]:
        return {tz["manualTimezone"] or tz["automaticTimezone"] for u in self.people() if (tz := u["timezone"])} - {""}

    def info(self, url: str) -> dict[str, Any]:
        """What a client needs to reach this world (the ready file of `main`)."""
        return {"url": url, "channel_id": self.channel_id, "team_id": self.team_id, "bot_user_id": self.bot["id"],
                "members": len(self.people()), "token": self.token}

    # ------------------------------------------------------------------------------ what is created
    def dm_channel(self, user_a: str, user_b: str) -> str:
        key = (min(user_a, user_b), max(user_a, user_b))
        with self.lock:
            found = self.record.dm_channels.get(key)
            if found is not None:
                return found
            channel_id = _mm_id(random.Random(f"{key[0]}:{key[1]}"))
            self.record.dm_channels[key] = channel_id
            self.record.dm_owner[channel_id] = key[1] if key[0] == self.bot["id"] else key[0]
            return channel_id

    def create_post(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """channels/app/post.go CreatePost: deduplicateCreatePost first, then the save, then the pending id is
        remembered with the saved post's id for another 30 s."""
        pending = str(body.get("pending_post_id") or "")
        record = self.record
        with self.lock:
            if str(body.get("channel_id")) in self.left:  # channels/api4/post.go, createPostChecks
                return 403, _app_error(403, "api.context.permissions.app_error", NOT_PERMITTED)
            if str(body.get("channel_id")) in self.archived:
                return 400, _app_error(400, "api.post.create_post.can_not_post_to_deleted.error",
                                       "Can not post to deleted channel.")
            if pending:
                seen = record.pending_ids.get(pending)
                if seen is not None and seen[1] > monotonic():
                    if not seen[0]:
                        record.dedupe_pending_refused += 1
                        return 500, _app_error(500, "api.post.deduplicate_create_post.pending",
                                               "Post rejected by server, please try again.")
                    if record.posts[seen[0]].get("delete_at"):  # GetPostIfAuthorized finds no deleted post
                        return 500, _app_error(500, "api.post.deduplicate_create_post.failed_to_get",
                                               "Post rejected by server, please try again.")
                    record.deduplicated += 1
                    return 201, {**record.posts[seen[0]], "pending_post_id": ""}
            refused = self._bad_root(body)
            if refused is not None:  # the server reserves the pending id first and forgets it on this failure
                return 400, refused
            if pending:
                record.pending_ids[pending] = ("", monotonic() + PENDING_TTL_S)
            post = self._save(body)
            if pending:
                record.pending_ids[pending] = (post["id"], monotonic() + PENDING_TTL_S)
                record.pending_ids.move_to_end(pending)
                while len(record.pending_ids) > PENDING_CACHE_SIZE:
                    record.pending_ids.popitem(last=False)
        return 201, {**post, "pending_post_id": pending}

    def _bad_root(self, body: dict[str, Any]) -> dict[str, Any] | None:
        root_id = str(body.get("root_id") or "")
        if not root_id:
            return None
        root = self.record.posts.get(root_id)
        if root is None or root["delete_at"] or root["root_id"]:
            return _app_error(400, "api.post.create_post.root_id.app_error", "Invalid RootId parameter.")
        if root["channel_id"] != body.get("channel_id"):
            return _app_error(400, "api.post.create_post.channel_root_id.app_error",
                              "Invalid ChannelId for RootId parameter.")
        return None

    def delete_post(self, post_id: str) -> None:
        """As someone deleting it in Mattermost: it is kept, with its delete_at set."""
        with self.lock:
            now_ms = int(time.time() * 1000)
            self.record.posts[post_id].update(delete_at=now_ms, update_at=now_ms)

    def bot_reads_post(self, post_id: str) -> tuple[int, dict[str, Any]]:
        """GetSinglePost, then the channel's permission: 404 for a post deleted or never made, 403 for one in a
        channel the bot left, else 200 and the post."""
        with self.lock:
            post = self.record.posts.get(post_id)
            if post is None or post["delete_at"]:
                return 404, _app_error(404, "app.post.get.app_error", "Unable to get the post.")
            if post["channel_id"] in self.left:
                return 403, _app_error(403, "api.context.permissions.app_error", NOT_PERMITTED)
            return 200, dict(post)

    def bot_deletes_post(self, post_id: str) -> tuple[int, dict[str, Any]]:
        """DELETE /posts/{id} by the bot: as `bot_reads_post` answers, else the post is deleted."""
        status, answer = self.bot_reads_post(post_id)
        if status != 200:
            return status, answer
        self.delete_post(post_id)
        return 200, {"status": "OK"}

    def _save(self, body: dict[str, Any]) -> dict[str, Any]:
        record, now_ms = self.record, int(time.time() * 1000)
        props = body.get("props") if isinstance(body.get("props"), dict) else {}
        number = len(record.posts) + 1
        post_id = f"p{number:09d}" + _mm_id(random.Random(number))[:16]
        post = {"id": post_id, "create_at": now_ms, "update_at": now_ms, "edit_at": 0, "delete_at": 0,
                "is_pinned": False, "user_id": self.bot["id"], "channel_id": str(body.get("channel_id", "")),
                "root_id": body.get("root_id") or "", "original_id": "", "message": body.get("message") or "",
                "type": "", "props": props, "hashtags": "", "pending_post_id": "", "reply_count": 0, "metadata": {}}
        record.posts[post_id] = post
        record.channel_posts[post["channel_id"]].append(post_id)
        if DELIVERY_PROP in props:
            record.by_marker["prompt"][str(props[DELIVERY_PROP])].append(post_id)
        elif OUTBOX_PROP in props:
            record.by_marker["outbox"][str(props[OUTBOX_PROP])].append(post_id)
        else:
            record.by_marker["other"][post_id].append(post_id)
        record.first_post_at = record.first_post_at or time.time()
        record.last_post_at = time.time()
        return post

    def respond(self, path: str, body: Any) -> None:
        with self.lock:
            self.record.by_marker["response"][path + " " + json.dumps(body, sort_keys=True)].append(path)

    def posts_since(self, channel_id: str, since_ms: int) -> dict[str, Any]:
        """store/sqlstore/post_store.go GetPostsSince: UpdateAt > since, LIMIT 1000 without an order (here:
        the first 1000 saved), thread roots of matched replies in `posts` but not in `order`."""
        with self.lock:
            posts = self.record.posts
            matched = [posts[p] for p in self.record.channel_posts.get(channel_id, [])
                       if posts[p]["update_at"] > since_ms][:SINCE_CAP]
            roots = [posts[p["root_id"]] for p in matched if p["root_id"] in posts]
        matched.sort(key=lambda post: post["create_at"], reverse=True)
        return {"order": [p["id"] for p in matched], "posts": {p["id"]: p for p in roots + matched},
                "next_post_id": "", "prev_post_id": "", "has_next": False}

    def stats(self) -> dict[str, Any]:
        with self.lock:
            record = self.record
            counts = {kind: Counter({marker: len(ids) for marker, ids in markers.items()})
                      for kind, markers in record.by_marker.items()}
            per_person: Counter[str] = Counter()
            for ids in record.by_marker["prompt"].values():
                for post_id in ids:
                    per_person[record.dm_owner.get(record.posts[post_id]["channel_id"], "?")] += 1
            people = {u["id"] for u in self.people()}
            duplicates = {kind: sum(n - 1 for n in c.values() if n > 1) for kind, c in counts.items()}
            return {
                "members": len(people), "channel_id": self.channel_id, "team_id": self.team_id,
                "bot_user_id": self.bot["id"], "posts_created": len(record.posts),
                "posts": {kind: sum(c.values()) for kind, c in counts.items()},
                "distinct": {kind: len(c) for kind, c in counts.items()},
                "duplicates": duplicates, "duplicates_total": sum(duplicates.values()),
                "duplicate_markers": {kind: [m for m, n in c.items() if n > 1][:20] for kind, c in counts.items()},
                "deduplicated_by_pending_post_id": record.deduplicated,
                "dedupe_pending_refused": record.dedupe_pending_refused, "faults_injected": record.faults,
                "people_prompted_twice": sum(1 for n in per_person.values() if n > 1),
                "prompts_to_non_members": sum(n for person, n in per_person.items() if person not in people),
                "dm_channels": len(record.dm_channels), "requests": dict(sorted(record.requests.items())),
                "statuses": {str(k): v for k, v in sorted(record.statuses.items())},
                "first_post_at": record.first_post_at, "last_post_at": record.last_post_at,
            }

    def markers(self) -> dict[str, dict[str, list[str]]]:
        """Per kind: marker -> the ids of the posts that carry it."""
        with self.lock:
            return {kind: {marker: list(ids) for marker, ids in markers.items()}
                    for kind, markers in self.record.by_marker.items()}

    def reset(self) -> None:
        with self.lock:
            self.record = Recorded()


# ------------------------------------------------------------------------------------------------ HTTP

_MEMBERS = re.compile(r"^/api/v4/channels/([a-z0-9]{26})/members$")
_MEMBER = re.compile(r"^/api/v4/channels/([a-z0-9]{26})/members/([a-z0-9]{26})$")
_MEMBERS_BY_IDS = re.compile(r"^/api/v4/channels/([a-z0-9]{26})/members/ids$")
_CHANNEL = re.compile(r"^/api/v4/channels/([a-z0-9]{26})$")
_CHANNEL_POSTS = re.compile(r"^/api/v4/channels/([a-z0-9]{26})/posts$")
_POST = re.compile(r"^/api/v4/posts/([a-z0-9]{26})$")
_RESPONSE_URL = re.compile(r"^/hooks/commands/[A-Za-z0-9]+$")


class StandinServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512

    def __init__(self, address: tuple[str, int], world: World, latency_ms: float, faults: Faults) -> None:
        super().__init__(address, Handler)
        self.world = world
        self.latency = max(0.0, latency_ms / 1000.0)
        self.faults = faults
        self.fault_rng = random.Random(faults.seed)

    @property
    def url(self) -> str:
        return f"http://{self.server_address[0]}:{self.server_address[1]}"

    def configure(self, settings: dict[str, Any]) -> None:
        """POST /_config: {"latency_ms": 3000, "faults": {"rate": 0.1, "after_effect": true, ...}}."""
        if "latency_ms" in settings:
            self.latency = max(0.0, float(settings["latency_ms"]) / 1000.0)
        if "faults" in settings:
            given = dict(settings["faults"])
            given["routes"] = tuple(given.get("routes", Faults.routes))
            self.faults = Faults(**given)
            self.fault_rng = random.Random(self.faults.seed)

    def fault_for(self, route: str) -> int | None:
        faults = self.faults
        if faults.rate <= 0 or (faults.routes and route not in faults.routes):
            return None
        with self.world.lock:
            if self.fault_rng.random() >= faults.rate:
                return None
            self.world.record.faults += 1
        return faults.status


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as requests.Session expects
    disable_nagle_algorithm = True
    server: StandinServer
    server_version = "mattermost-standin/2"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # one line per request is too much
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            return json.loads(self.rfile.read(length)) if length else None
        except ValueError:
            return None

    def _send(self, status: int, payload: Any, route: str) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        with self.server.world.lock:
            self.server.world.record.requests[route] += 1
            self.server.world.record.statuses[status] += 1
        head = (f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nX-Request-Id: standin\r\nX-Version-Id: 10.5.0.standin\r\n\r\n")
        self.wfile.write(head.encode("latin-1") + body)
        self.wfile.flush()

    def _handle(self, method: str) -> None:
        started = time.monotonic()
        parts = urlsplit(self.path)
        body = self._body() if method in ("POST", "PUT") else None
        control = self._control(method, parts.path, body)
        if control is not None:
            self._send(200, control, f"{method} {parts.path}")
            return
        status, payload, route = self._answer(method, parts.path, parse_qs(parts.query), body)
        remaining = self.server.latency - (time.monotonic() - started)
        if remaining > 0:
            time.sleep(remaining)
        self._send(status, payload, route)

    def _control(self, method: str, path: str, body: Any) -> Any:
        """The stand-in's own routes (no token): statistics, the posts, reset, configuration."""
        world = self.server.world
        if (method, path) == ("GET", "/_stats"):
            return world.stats()
        if (method, path) == ("GET", "/_posts"):
            return world.markers()
        if (method, path) == ("POST", "/_reset"):
            world.reset()
            return {"status": "OK"}
        if (method, path) == ("POST", "/_config") and isinstance(body, dict):
            self.server.configure(body)
            return {"latency_ms": self.server.latency * 1000, "faults": asdict(self.server.faults)}
        return None

    def _answer(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any, str]:
        if method == "POST" and _RESPONSE_URL.match(path):  # the URL is the credential: no token
            self.server.world.respond(path, body)
            return 200, {"status": "OK"}, "POST /hooks/commands/{id}"
        if self.headers.get("Authorization", "") != f"Bearer {self.server.world.token}":
            return 401, _app_error(401, "api.context.session_expired.app_error",
                                   "Invalid or expired session, please login again."), f"{method} (unauthorized)"
        route = _route_name(method, path)
        fault = self.server.fault_for(route)
        if fault is not None and not self.server.faults.after_effect:
            return fault, _app_error(fault, self.server.faults.error_id, "injected failure"), route
        try:
            status, payload = self._route(method, path, query, body)
        except (KeyError, TypeError, ValueError) as exc:
            status, payload = 400, _app_error(400, "api.context.invalid_body_param.app_error", type(exc).__name__)
        if fault is not None:
            error = _app_error(fault, self.server.faults.error_id, "injected failure after the work was done")
            return fault, error, route
        return status, payload, route

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        world = self.server.world
        if method == "GET" and path == "/api/v4/users/me":
            return 200, world.bot
        if method == "GET" and (match := _MEMBERS.match(path)):
            if match.group(1) != world.channel_id:
                return 404, _app_error(404, "app.channel.get.existing.app_error", "Channel not found")
            page = int((query.get("page") or ["0"])[0])
            per_page = min(MAX_PER_PAGE, max(1, int((query.get("per_page") or ["60"])[0])))
            chosen = world.member_ids[page * per_page:(page + 1) * per_page]
            return 200, [_channel_member(world.channel_id, user_id) for user_id in chosen]
        if method == "GET" and (match := _CHANNEL.match(path)):
            if match.group(1) != world.channel_id:
                return 404, _app_error(404, "app.channel.get.existing.app_error", "Channel not found")
            return 200, channel_json(world.channel_id, now_ms=int(time.time() * 1000), team_id=world.team_id,
                                     archived=world.channel_id in world.archived, name="data-guild",
                                     display_name="Data guild")
        if method == "GET" and (match := _MEMBER.match(path)):
            if not world.is_member(match.group(1), match.group(2)):
                return 404, _app_error(404, "app.channel.get_member.missing.app_error",
                                       "No channel member found for that user ID and channel ID.")
            return 200, _channel_member(match.group(1), match.group(2))
        if method == "POST" and path == "/api/v4/actions/dialogs/open":
            return 200, {"status": "OK"}
        if method == "POST" and (match := _MEMBERS_BY_IDS.match(path)):
            if match.group(1) != world.channel_id:
                return 404, _app_error(404, "app.channel.get.existing.app_error", "Channel not found")
            inside = set(world.member_ids)  # only those in the channel, and no error for the rest
            return 200, [_channel_member(world.channel_id, i) for i in body if i in inside]
        if method == "POST" and path == "/api/v4/users/ids":
            return 200, [world.users[i] for i in body if i in world.users]
        if method == "POST" and path == "/api/v4/users/status/ids":
            now_ms = int(time.time() * 1000)
            return 200, [{"user_id": i, "status": world.statuses.get(i, "offline"), "manual": False,
                          "last_activity_at": now_ms - 60_000} for i in body if i in world.users]
        if method == "POST" and path == "/api/v4/channels/direct":
            if not isinstance(body, list) or len(body) != 2 or any(i not in world.users for i in body):
                return 400, _app_error(400, "api.context.invalid_body_param.app_error", "Invalid user ids")
            channel_id = world.dm_channel(body[0], body[1])  # 201 whether new or not (channels.yaml)
            return 201, _dm_channel(channel_id, body)
        if method == "POST" and path == "/api/v4/posts":
            if not isinstance(body, dict) or not body.get("channel_id"):
                return 400, _app_error(400, "api.post.create_post.channel_id.app_error", "Invalid channel id")
            return world.create_post(body)
        if method == "GET" and (match := _CHANNEL_POSTS.match(path)):
            return 200, world.posts_since(match.group(1), int((query.get("since") or ["0"])[0]))
        if method == "GET" and (match := _POST.match(path)):
            return world.bot_reads_post(match.group(1))
        if method == "DELETE" and (match := _POST.match(path)):
            return world.bot_deletes_post(match.group(1))
        return 404, _app_error(404, "api.context.404.app_error", "Sorry, we could not find the page.")


def _route_name(method: str, path: str) -> str:
    return f"{method} {re.sub(r'/[a-z0-9]{26}(?=/|$)', '/{id}', path.removeprefix('/api/v4'))}"


def _channel_member(channel_id: str, user_id: str) -> dict[str, Any]:
    return {"channel_id": channel_id, "user_id": user_id, "roles": "channel_user", "last_viewed_at": 0,
            "msg_count": 0, "mention_count": 0, "notify_props": {"desktop": "default", "mark_unread": "all"},
            "last_update_at": 0, "scheme_guest": False, "scheme_user": True, "scheme_admin": False}


def channel_json(channel_id: str, *, now_ms: int, archived: bool = False, team_id: str = "", name: str = "",
                 display_name: str = "") -> dict[str, Any]:
    """A public channel as GET /api/v4/channels/{id} answers it, made 400 days before `now_ms`; an archived one
    has its delete_at set. The fakes of Mattermost the tests use (tests/network/standin.py, tests/prompts/world.py)
    answer with it too."""
    return {"id": channel_id, "create_at": now_ms - 86_400_000 * 400, "update_at": now_ms,
            "delete_at": now_ms if archived else 0, "team_id": team_id, "type": "O",
            "display_name": display_name or channel_id, "name": name or channel_id, "header": "", "purpose": "",
            "last_post_at": now_ms, "total_msg_count": 0, "creator_id": ""}


def _dm_channel(channel_id: str, users: list[str]) -> dict[str, Any]:
    now_ms = int(time.time() * 1000)
    return {"id": channel_id, "create_at": now_ms, "update_at": now_ms, "delete_at": 0, "team_id": "", "type": "D",
            "display_name": "", "name": "__".join(sorted(users)), "header": "", "purpose": "", "last_post_at": 0,
            "total_msg_count": 0, "extra_update_at": 0, "creator_id": ""}


def make_server(world: World, *, host: str = "127.0.0.1", port: int = 0, latency_ms: float = 5.0,
                faults: Faults | None = None) -> StandinServer:
    if not (host.startswith("127.") or host in ("localhost", "::1")):
        raise ValueError("the stand-in only listens on loopback")
    return StandinServer((host, port), world, latency_ms, faults or Faults())


def start_in_thread(world: World, **options: Any) -> StandinServer:
    """Serve in a daemon thread; stop with server.shutdown(); its address is server.url."""
    server = make_server(world, **options)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="mattermost-standin",
                     daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="loopback only")
    parser.add_argument("--port", type=int, default=8065, help="0 picks a free port")
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=5.0, help="each answer comes this long after the request")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dnd-percent", type=float, default=0.0, help="members whose status is do-not-disturb")
    parser.add_argument("--zones", default="", help="comma-separated time zones for every member (default: spread)")
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="the bot token expected as 'Authorization: Bearer ...'")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of POST /posts calls that fail")
    parser.add_argument("--fault-status", type=int, default=503)
    parser.add_argument("--fault-after", action="store_true", help="a failing call still saves its post")
    parser.add_argument("--max-seconds", type=float, default=3600.0, help="stop by itself after this long")
    parser.add_argument("--ready-file", help="write the world's ids as JSON here once listening")
    args = parser.parse_args(argv)
    world = World.synthetic(args.members, seed=args.seed, dnd_percent=args.dnd_percent, token=args.token,
                            zones=tuple(z for z in args.zones.split(",") if z))
    server = make_server(world, host=args.host, port=args.port, latency_ms=args.latency_ms,
                         faults=Faults(args.fault_rate, args.fault_status, args.fault_after))
    info = world.info(server.url)
    if args.ready_file:
        with open(args.ready_file + ".tmp", "w") as handle:
            json.dump(info, handle)
        os.replace(args.ready_file + ".tmp", args.ready_file)
    print(json.dumps(info), flush=True)
    timer = threading.Timer(args.max_seconds, server.shutdown)
    timer.daemon = True
    timer.start()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        timer.cancel()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
