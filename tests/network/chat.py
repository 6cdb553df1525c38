"""A small stateful Mattermost for the network's messages, served through the contract harness (every request
and reply validated against the OpenAPI source): posts, direct channels, statuses and the posts of a channel
since a moment, as the server keeps them (server/channels/app/post.go: CreatePostAsUser saves the post; a
second post with the same pending_post_id within 30 s gets the first back, deduplicateCreatePost;
GetPostsSince returns the posts changed since the time asked)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests

from learnloop.bootstrap import Runtime
from learnloop.domain.wiki_events import WikiEvent
from learnloop.jobs import wiki as wiki_jobs
from learnloop.jobs.worker import Worker
from learnloop.services import wiki_ingest
from learnloop.services.rating import Rater, rate_url
from tests.conftest import FakeClock, make_settings
from tests.contract.mattermost_openapi import MattermostContract

CHANNEL = "fukk3xq1bbn8fgmsiwh4xprwdh"
BOT = "learnloopbot0000000000000a"
ID = r"(?P<id>[a-z0-9]{26})"
DEDUPE_MS = 30_000


def uid(name: str) -> str:
    return (name + "0" * 26)[:26]


def dm_of(user_id: str) -> str:
    return ("dm" + user_id)[:26]


WIKI = {"name": "handbook", "kind": "outline", "url": "https://outline.example.com", "secret": "s" * 32,
        "api_token": "ol_api_test"}


def settings_for(owner: str, **community: Any) -> Any:
    """A community of one channel in Berlin's time zone, its pages in the handbook's Engineering collection."""
    return make_settings(wikis=[WIKI], communities=[{
        "name": "Data guild", "channel_id": CHANNEL, "owners": [owner], "timezone": "Europe/Berlin",
        "wiki_spaces": [{"wiki": "handbook", "space": "Engineering"}], **community}])


@dataclass
class Chat:
    contract: MattermostContract
    clock: FakeClock
    posts: list[dict[str, Any]] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)
    fail_after_saving: int = 0
    """The next this-many posts are saved, then the reply is lost (a timeout): the sender cannot know."""

    def __post_init__(self) -> None:
        c = self.contract
        c.add_handler("POST", re.compile(r"/api/v4/posts$"), self._create_post)
        c.add_handler("POST", re.compile(r"/api/v4/channels/direct$"), self._direct)
        c.add_handler("POST", re.compile(r"/api/v4/users/status/ids$"), self._statuses)
        c.add_handler("GET", re.compile(rf"/api/v4/channels/{ID}/posts"), self._since)
        c.add_handler("GET", re.compile(rf"/api/v4/channels/{ID}/members/(?P<user>[a-z0-9]{{26}})$"), self._member)
        c.add_handler("GET", re.compile(rf"/api/v4/teams/{ID}/members/(?P<user>[a-z0-9]{{26}})$"), self._team_member)

    def _millis(self) -> int:
        return int(self.clock.now.timestamp() * 1000)

    def _create_post(self, request: requests.PreparedRequest, _match: re.Match[str]) -> tuple[int, Any]:
        body = json.loads(request.body or b"{}")
        pending = body.get("pending_post_id")
        for post in self.posts:
            if pending and post["pending_post_id"] == pending and self._millis() - post["create_at"] < DEDUPE_MS:
                return 201, post
        post = {"id": f"post{len(self.posts):022d}", "channel_id": body["channel_id"],
                "message": body.get("message", ""),
                "props": body.get("props") or {}, "root_id": body.get("root_id", ""), "user_id": BOT,
                "create_at": self._millis(), "update_at": self._millis(), "pending_post_id": pending or ""}
        self.posts.append(post)
        if self.fail_after_saving:
            self.fail_after_saving -= 1
            return 504, {"id": "api.context.timeout", "message": "timed out", "status_code": 504}
        return 201, post

    def _direct(self, request: requests.PreparedRequest, _match: re.Match[str]) -> tuple[int, Any]:
        bot, person = json.loads(request.body or b"[]")
        return 201, {"id": dm_of(person), "type": "D", "name": f"{bot}__{person}"}

    def _statuses(self, request: requests.PreparedRequest, _match: re.Match[str]) -> tuple[int, Any]:
        ids = json.loads(request.body or b"[]")
        return 200, [{"user_id": i, "status": self.statuses.get(i, "online"), "manual": False,
                      "last_activity_at": 0} for i in ids]

    def _since(self, request: requests.PreparedRequest, match: re.Match[str]) -> tuple[int, Any]:
        since = int(re.search(r"since=(\d+)", request.url or "").group(1))  # type: ignore[union-attr]
        found = [p for p in self.posts if p["channel_id"] == match["id"] and p["update_at"] >= since]
        return 200, {"order": [p["id"] for p in found], "posts": {p["id"]: p for p in found}}

    def _member(self, _request: requests.PreparedRequest, match: re.Match[str]) -> tuple[int, Any]:
        """Everyone asked about is a plain member of the channel (owners are configured)."""
        return 200, {"channel_id": match["id"], "user_id": match["user"], "roles": "channel_user",
                     "scheme_user": True, "scheme_admin": False, "msg_count": 0, "mention_count": 0}

    def _team_member(self, _request: requests.PreparedRequest, match: re.Match[str]) -> tuple[int, Any]:
        return 200, {"team_id": match["id"], "user_id": match["user"], "roles": "team_user", "delete_at": 0,
                     "scheme_user": True, "scheme_admin": False}

    def in_channel(self, channel_id: str = CHANNEL) -> list[dict[str, Any]]:
        return [p for p in self.posts if p["channel_id"] == channel_id]

    def dms_to(self, user_id: str) -> list[dict[str, Any]]:
        return [p for p in self.posts if p["channel_id"] == dm_of(user_id)]


def rate(runtime: Runtime, user_id: str, url: str, stars: int) -> int:
    with runtime.uow() as uow:
        return rate_url(uow, runtime.settings, Rater(user_id, CHANNEL, channel_name="data-guild"), url, stars, None,
                        runtime.clock()).item_id


def share(runtime: Runtime, user_id: str, url: str, *, title: str | None = None) -> int:
    with runtime.uow() as uow:
        community_id = uow.communities.ensure(CHANNEL, None, "Data guild", runtime.clock())
        item, _ = uow.items.ensure(url, kind="link", community_id=community_id, shared_by=user_id, title=title,
                                   now=runtime.clock())
        uow.commit()
        return item.id


def page_event(n: int, action: str, when: datetime, *, page: str | None = None, author: str | None = None,
               minor: bool = False) -> WikiEvent:
    page = page or f"p{n}"
    return WikiEvent(wiki="handbook", event_id=f"e{n}", action=action, page_id=page, title=f"Page {page}",
                     url=f"https://outline.example.com/doc/{page}", spaces=("Engineering",), author=author,
                     summary=None, occurred_at=when, minor=minor)


def ingest(runtime: Runtime, *events: WikiEvent) -> None:
    for event in events:
        with runtime.uow() as uow:
            wiki_ingest.ingest(uow, runtime.settings, event, runtime.clock(), wiki_jobs.announcer(runtime))


def tick(runtime: Runtime, clock: FakeClock, *, settle: bool = True) -> None:
    """One worker pass after the events have settled (rollups.SETTLE)."""
    if settle:
        clock.advance(minutes=1)
    Worker(runtime).run_once()


def at(clock: FakeClock, moment: datetime) -> None:
    clock.now = moment
