"""A local stand-in for the parts of the Mattermost REST API v4 that learnloop's worker calls.

For benchmarks on loopback (scripts/bench_fanout.py), not for tests of behaviour: every answer
comes after a fixed delay (default 5 ms, like a nearby Mattermost under light load), from a
synthetic world of one team channel with N members, and every post created is recorded so that
duplicates can be counted.

Endpoints (all JSON; the bot token is required as `Authorization: Bearer <token>`):

    GET  /api/v4/users/me                         the bot
    GET  /api/v4/channels/{id}/members            ?page=&per_page= (at most 200), the channel's members
    POST /api/v4/users/ids                        user objects incl. timezone, is_bot, delete_at
    POST /api/v4/users/status/ids                 online / away / offline (and dnd when asked for)
    POST /api/v4/channels/direct                  get-or-create a DM channel [user_a, user_b] (201)
    POST /api/v4/posts                            create a post (201); recorded with props.learnloop_delivery
    GET  /api/v4/channels/{id}/posts?since=ms     posts of a channel since a moment ({"order", "posts"})
    GET  /_stats                                  posts created, duplicates by delivery id, requests by route
    GET  /_posts                                  {delivery id: [post ids]}, every prompt post recorded
    POST /_reset                                  forget recorded posts and counters (the world stays)

Run it standalone:

    python scripts/mattermost_standin.py --members 10000 --latency-ms 5 --port 8065

or import it and start it in a thread:

    from mattermost_standin import World, start_in_thread
    server, thread = start_in_thread(World.synthetic(1000), latency_ms=5)
    ...; server.shutdown()

The synthetic world is deterministic for a seed. Members' time zones spread from UTC-11 to
UTC+14 (including half- and quarter-hour offsets, zones with DST, people who set a zone by hand,
and people with none); the channel also holds the bot itself and one deactivated account, which
learnloop must leave out. Only the standard library is used.
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
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ALNUM = string.ascii_lowercase + string.digits
DELIVERY_PROP = "learnloop_delivery"
DEFAULT_TOKEN = "standin-bot-token-0123456789abcdef"
MAX_PER_PAGE = 200

# (zone, weight): where the members are. Westernmost first: Pacific/Pago_Pago (UTC-11, no DST)
# is the last place where a local date and time come round; Pacific/Kiritimati (UTC+14) the first.
ZONES: list[tuple[str, int]] = [
    ("Pacific/Pago_Pago", 1), ("Pacific/Honolulu", 2), ("America/Anchorage", 2), ("America/Los_Angeles", 10),
    ("America/Denver", 4), ("America/Chicago", 6), ("America/New_York", 12), ("America/Sao_Paulo", 4),
    ("America/St_Johns", 1), ("Atlantic/Azores", 1), ("UTC", 3), ("Europe/London", 8), ("Europe/Berlin", 14),
    ("Europe/Helsinki", 4), ("Africa/Nairobi", 2), ("Asia/Dubai", 2), ("Asia/Kolkata", 8), ("Asia/Kathmandu", 1),
    ("Asia/Shanghai", 4), ("Asia/Tokyo", 3), ("Australia/Adelaide", 1), ("Australia/Sydney", 3),
    ("Pacific/Auckland", 2), ("Pacific/Chatham", 1), ("Pacific/Tongatapu", 1), ("Pacific/Kiritimati", 1),
]
STATUS_WEIGHTS = (("online", 45), ("away", 20), ("offline", 35))


def _mm_id(rng: random.Random) -> str:
    return "".join(rng.choice(ALNUM) for _ in range(26))


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


@dataclass
class World:
    """The team, the channel, its members, and what has been created since the start."""

    team_id: str
    channel_id: str
    bot: dict[str, Any]
    users: dict[str, dict[str, Any]]  # every user incl. the bot and the deactivated one
    member_ids: list[str]  # the channel's members, in channel order
    statuses: dict[str, str]
    token: str = DEFAULT_TOKEN
    # created while serving (guarded by lock)
    lock: threading.Lock = field(default_factory=threading.Lock)
    dm_channels: dict[tuple[str, str], str] = field(default_factory=dict)
    dm_owner: dict[str, str] = field(default_factory=dict)  # DM channel id -> the person (not the bot)
    posts: dict[str, dict[str, Any]] = field(default_factory=dict)
    channel_posts: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    posts_by_delivery: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    requests: Counter[str] = field(default_factory=Counter)
    statuses_sent: Counter[int] = field(default_factory=Counter)
    first_post_at: float | None = None
    last_post_at: float | None = None
    started_at: float = field(default_factory=time.time)

    @classmethod
    def synthetic(cls, members: int, *, seed: int = 7, dnd_percent: float = 0.0, token: str = DEFAULT_TOKEN,
                  extra_accounts: bool = True) -> World:
        """`members` people who should each get one prompt (plus the bot and a deactivated account)."""
        rng = random.Random(seed)
        zones = [zone for zone, _ in ZONES]
        weights = [weight for _, weight in ZONES]
        team_id, channel_id = _mm_id(rng), _mm_id(rng)
        now_ms = int(time.time() * 1000)
        seen: set[str] = set()

        def new_id() -> str:
            while True:
                candidate = _mm_id(rng)
                if candidate not in seen:
                    seen.add(candidate)
                    return candidate

        def user(user_id: str, username: str, *, zone: str | None, manual: bool, bot: bool = False,
                 deleted: bool = False) -> dict[str, Any]:
            timezone = {"useAutomaticTimezone": "false" if manual else "true",
                        "automaticTimezone": "" if (manual or zone is None) else zone,
                        "manualTimezone": (zone or "") if manual else ""}
            return {
                "id": user_id, "create_at": now_ms - 86_400_000 * 400, "update_at": now_ms - 86_400_000,
                "delete_at": now_ms - 86_400_000 * 3 if deleted else 0, "username": username,
                "auth_data": "", "auth_service": "", "email": f"{username}@acme.example", "nickname": "",
                "first_name": username.capitalize(), "last_name": "", "position": "", "roles": "system_user",
                "locale": "en", "timezone": timezone, "is_bot": bot, "disable_welcome_email": False,
            }

        bot_id = new_id()
        bot = user(bot_id, "learnloop", zone=None, manual=False, bot=True)
        users = {bot_id: bot}
        member_ids: list[str] = []
        statuses: dict[str, str] = {bot_id: "online"}
        status_names = [name for name, _ in STATUS_WEIGHTS]
        status_weights = [weight for _, weight in STATUS_WEIGHTS]
        for n in range(members):
            user_id = new_id()
            roll = rng.random()
            zone = None if roll < 0.03 else rng.choices(zones, weights)[0]  # 3 %: never set a zone
            manual = 0.03 <= roll < 0.13  # 10 %: set one by hand
            users[user_id] = user(user_id, f"member{n:05d}", zone=zone, manual=manual)
            member_ids.append(user_id)
            statuses[user_id] = "dnd" if rng.random() * 100 < dnd_percent else rng.choices(status_names, status_weights)[0]
        if extra_accounts:
            gone = new_id()
            users[gone] = user(gone, "former.colleague", zone="Europe/Berlin", manual=False, deleted=True)
            statuses[gone] = "offline"
            # the bot is a member of the channel it prompts; the deactivated account still is too
            member_ids.insert(min(len(member_ids), 137), bot_id)
            member_ids.insert(min(len(member_ids), 4242), gone)
        return cls(team_id=team_id, channel_id=channel_id, bot=bot, users=users, member_ids=member_ids,
                   statuses=statuses, token=token)

    def people(self) -> list[dict[str, Any]]:
        """The members who should get a prompt (not the bot, not deactivated accounts)."""
        return [u for u in (self.users[i] for i in self.member_ids) if not u["is_bot"] and not u["delete_at"]]

    def zones(self) -> set[str]:
        return {zone for zone, _ in ZONES}

    # ---------------------------------------------------------------------- what was created
    def dm_channel(self, user_a: str, user_b: str) -> tuple[str, bool]:
        key = tuple(sorted((user_a, user_b)))
        with self.lock:
            channel_id = self.dm_channels.get(key)  # type: ignore[arg-type]
            if channel_id is not None:
                return channel_id, False
            rng = random.Random(f"{key[0]}:{key[1]}")
            channel_id = _mm_id(rng)
            self.dm_channels[key] = channel_id  # type: ignore[index]
            person = key[1] if key[0] == self.bot["id"] else key[0]
            self.dm_owner[channel_id] = person
            return channel_id, True

    def add_post(self, body: dict[str, Any]) -> dict[str, Any]:
        now_ms = int(time.time() * 1000)
        props = body.get("props") or {}
        with self.lock:
            number = len(self.posts) + 1
            post_id = f"p{number:09d}" + _mm_id(random.Random(number))[:16]
            post = {
                "id": post_id, "create_at": now_ms, "update_at": now_ms, "edit_at": 0, "delete_at": 0,
                "is_pinned": False, "user_id": self.bot["id"], "channel_id": body.get("channel_id", ""),
                "root_id": body.get("root_id") or "", "original_id": "", "message": body.get("message") or "",
                "type": "", "props": props, "hashtags": "", "pending_post_id": "", "reply_count": 0,
                "metadata": {},
            }
            self.posts[post_id] = post
            self.channel_posts[post["channel_id"]].append(post_id)
            delivery = props.get(DELIVERY_PROP) if isinstance(props, dict) else None
            if delivery is not None:
                self.posts_by_delivery[int(delivery)].append(post_id)
            now = time.time()
            self.first_post_at = self.first_post_at or now
            self.last_post_at = now
        return post

    def channel_posts_since(self, channel_id: str, since_ms: int) -> dict[str, Any]:
        with self.lock:
            chosen = [self.posts[p] for p in self.channel_posts.get(channel_id, []) if self.posts[p]["update_at"] >= since_ms]
        chosen.sort(key=lambda post: post["create_at"], reverse=True)
        return {"order": [p["id"] for p in chosen], "posts": {p["id"]: p for p in chosen},
                "next_post_id": "", "prev_post_id": "", "has_next": False}

    def stats(self) -> dict[str, Any]:
        with self.lock:
            per_delivery = {delivery: len(ids) for delivery, ids in self.posts_by_delivery.items()}
            prompts_per_person: Counter[str] = Counter()
            for delivery, ids in self.posts_by_delivery.items():
                for post_id in ids:
                    prompts_per_person[self.dm_owner.get(self.posts[post_id]["channel_id"], "?")] += 1
            duplicates = {str(delivery): count for delivery, count in per_delivery.items() if count > 1}
            return {
                "members": len(self.people()), "channel_id": self.channel_id, "team_id": self.team_id,
                "bot_user_id": self.bot["id"],
                "posts_created": len(self.posts),
                "prompt_posts": sum(per_delivery.values()),
                "deliveries_posted": len(per_delivery),
                "duplicate_posts": sum(count - 1 for count in per_delivery.values() if count > 1),
                "duplicates_by_delivery": dict(list(duplicates.items())[:50]),
                "people_with_more_than_one_prompt": sum(1 for count in prompts_per_person.values() if count > 1),
                "prompt_posts_to_non_members": sum(count for person, count in prompts_per_person.items()
                                                   if person not in self.users or self.users[person]["is_bot"]
                                                   or self.users[person]["delete_at"]),
                "dm_channels": len(self.dm_channels),
                "requests": dict(sorted(self.requests.items())),
                "statuses": {str(k): v for k, v in sorted(self.statuses_sent.items())},
                "first_post_at": self.first_post_at, "last_post_at": self.last_post_at,
            }

    def reset(self) -> None:
        with self.lock:
            self.dm_channels.clear()
            self.dm_owner.clear()
            self.posts.clear()
            self.channel_posts.clear()
            self.posts_by_delivery.clear()
            self.requests.clear()
            self.statuses_sent.clear()
            self.first_post_at = self.last_post_at = None


# ------------------------------------------------------------------------------------ HTTP

_MEMBERS = re.compile(r"^/api/v4/channels/([a-z0-9]{26})/members$")
_CHANNEL_POSTS = re.compile(r"^/api/v4/channels/([a-z0-9]{26})/posts$")


class StandinServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], world: World, latency_ms: float) -> None:
        super().__init__(address, Handler)
        self.world = world
        self.latency = max(0.0, latency_ms / 1000.0)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as requests.Session expects
    disable_nagle_algorithm = True  # small answers, sent at once (no 40 ms delayed-ACK stalls)
    server: StandinServer
    server_version = "mattermost-standin/1"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (quiet: one line per request is too much)
        pass

    # ----------------------------------------------------------------------- plumbing
    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def _send(self, status: int, payload: Any, route: str) -> None:
        body = _json(payload)
        world = self.server.world
        with world.lock:
            world.requests[route] += 1
            world.statuses_sent[status] += 1
        head = (f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                f"X-Request-Id: standin\r\nX-Version-Id: 9.11.0.standin\r\n\r\n").encode("latin-1")
        self.wfile.write(head + body)  # one write: header and body in one segment
        self.wfile.flush()

    def _error(self, status: int, error_id: str, message: str, route: str) -> None:
        self._send(status, {"id": error_id, "message": message, "detailed_error": "", "request_id": "standin",
                            "status_code": status}, route)

    def _authorized(self) -> bool:
        return self.headers.get("Authorization", "") == f"Bearer {self.server.world.token}"

    def _handle(self, method: str) -> None:
        started = time.perf_counter()
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        body = self._body() if method in ("POST", "PUT") else None
        world = self.server.world
        if path == "/_stats" and method == "GET":
            self._send(200, world.stats(), "GET /_stats")
            return
        if path == "/_posts" and method == "GET":
            with world.lock:
                posts = {str(delivery): list(ids) for delivery, ids in world.posts_by_delivery.items()}
            self._send(200, posts, "GET /_posts")
            return
        if path == "/_reset" and method == "POST":
            world.reset()
            self._send(200, {"status": "OK"}, "POST /_reset")
            return
        if not self._authorized():
            self._error(401, "api.context.session_expired.app_error", "Invalid or expired session, please login again.",
                        f"{method} (unauthorized)")
            return
        try:
            status, payload, route = self._route(method, path, query, body)
        except (KeyError, TypeError, ValueError) as exc:
            status, payload, route = 400, {"id": "api.context.invalid_body_param.app_error",
                                           "message": f"Invalid request: {type(exc).__name__}", "status_code": 400,
                                           "request_id": "standin", "detailed_error": ""}, f"{method} (bad request)"
        remaining = self.server.latency - (time.perf_counter() - started)
        if remaining > 0:
            time.sleep(remaining)
        self._send(status, payload, route)

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any, str]:
        world = self.server.world
        if method == "GET" and path == "/api/v4/users/me":
            return 200, world.bot, "GET /users/me"
        if method == "GET" and (match := _MEMBERS.match(path)):
            route = "GET /channels/{id}/members"
            if match.group(1) != world.channel_id:
                return 404, _not_found("store.sql_channel.get.existing.app_error"), route
            page = int((query.get("page") or ["0"])[0])
            per_page = min(MAX_PER_PAGE, max(1, int((query.get("per_page") or ["60"])[0])))
            chosen = world.member_ids[page * per_page:(page + 1) * per_page]
            return 200, [_channel_member(world.channel_id, user_id) for user_id in chosen], route
        if method == "POST" and path == "/api/v4/users/ids":
            return 200, [world.users[i] for i in body if i in world.users], "POST /users/ids"
        if method == "POST" and path == "/api/v4/users/status/ids":
            route = "POST /users/status/ids"
            return 200, [{"user_id": i, "status": world.statuses.get(i, "offline"), "manual": False,
                          "last_activity_at": int(time.time() * 1000) - 60_000} for i in body if i in world.users], route
        if method == "POST" and path == "/api/v4/channels/direct":
            route = "POST /channels/direct"
            if not isinstance(body, list) or len(body) != 2 or any(i not in world.users for i in body):
                return 400, _bad("api.context.invalid_body_param.app_error", "Invalid user ids"), route
            channel_id, created = world.dm_channel(body[0], body[1])
            now_ms = int(time.time() * 1000)
            return (201 if created else 200), {
                "id": channel_id, "create_at": now_ms, "update_at": now_ms, "delete_at": 0, "team_id": "",
                "type": "D", "display_name": "", "name": "__".join(sorted(body)), "header": "", "purpose": "",
                "last_post_at": 0, "total_msg_count": 0, "extra_update_at": 0, "creator_id": "",
            }, route
        if method == "POST" and path == "/api/v4/posts":
            route = "POST /posts"
            if not isinstance(body, dict) or not body.get("channel_id"):
                return 400, _bad("api.post.create_post.channel_id.app_error", "Invalid channel id"), route
            return 201, world.add_post(body), route
        if method == "GET" and (match := _CHANNEL_POSTS.match(path)):
            since = int((query.get("since") or ["0"])[0])
            return 200, world.channel_posts_since(match.group(1), since), "GET /channels/{id}/posts"
        return 404, _not_found("api.context.404.app_error"), f"{method} (not found)"

    def do_GET(self) -> None:  # noqa: N802
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")


def _channel_member(channel_id: str, user_id: str) -> dict[str, Any]:
    return {"channel_id": channel_id, "user_id": user_id, "roles": "channel_user", "last_viewed_at": 0,
            "msg_count": 0, "mention_count": 0, "notify_props": {"desktop": "default", "mark_unread": "all"},
            "last_update_at": 0, "scheme_guest": False, "scheme_user": True, "scheme_admin": False}


def _not_found(error_id: str) -> dict[str, Any]:
    return {"id": error_id, "message": "Sorry, we could not find the page.", "detailed_error": "",
            "request_id": "standin", "status_code": 404}


def _bad(error_id: str, message: str) -> dict[str, Any]:
    return {"id": error_id, "message": message, "detailed_error": "", "request_id": "standin", "status_code": 400}


def make_server(world: World, *, host: str = "127.0.0.1", port: int = 0, latency_ms: float = 5.0) -> StandinServer:
    return StandinServer((host, port), world, latency_ms)


def start_in_thread(world: World, *, host: str = "127.0.0.1", port: int = 0,
                    latency_ms: float = 5.0) -> tuple[StandinServer, threading.Thread]:
    """Serve in a daemon thread; stop with server.shutdown(); the port is server.server_address[1]."""
    server = make_server(world, host=host, port=port, latency_ms=latency_ms)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="mattermost-standin",
                              daemon=True)
    thread.start()
    return server, thread


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="loopback only (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8065, help="0 picks a free port")
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=5.0, help="each answer comes this long after the request")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dnd-percent", type=float, default=0.0, help="members whose status is do-not-disturb")
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="the bot token expected as 'Authorization: Bearer ...'")
    parser.add_argument("--max-seconds", type=float, default=3600.0, help="stop by itself after this long (bounded)")
    parser.add_argument("--ready-file", help="write the world's ids as JSON here once listening")
    args = parser.parse_args(argv)
    if not (args.host.startswith("127.") or args.host in ("localhost", "::1")):
        parser.error("the stand-in only listens on loopback")
    world = World.synthetic(args.members, seed=args.seed, dnd_percent=args.dnd_percent, token=args.token)
    server = make_server(world, host=args.host, port=args.port, latency_ms=args.latency_ms)
    port = server.server_address[1]
    info = {"url": f"http://{args.host}:{port}", "port": port, "channel_id": world.channel_id, "team_id": world.team_id,
            "bot_user_id": world.bot["id"], "members": len(world.people()), "token": world.token}
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
