"""A small Mattermost world for prompt tests: a community channel, its members, and the
REST replies the worker needs, every call checked against the OpenAPI contract."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import requests
from flask.testing import FlaskClient
from sqlalchemy import func, select

from learnloop.bootstrap import Runtime
from learnloop.jobs.outbox import Courier
from learnloop.jobs.worker import run_once
from learnloop.mattermost import delivery as mattermost_delivery
from learnloop.services.communities import community_for_channel
from learnloop.services.prompts import setup as prompt_setup
from learnloop.storage.tables import Delivery
from tests.conftest import FakeClock
from tests.contract.mattermost_openapi import MattermostContract
from tests.mattermost.inbound import load_form, send_form
from tests.standins.mattermost_http import channel_json

CHANNEL = "fukk3xq1bbn8fgmsiwh4xprwdh"
BOT = "learnloopbot0000000000000a"
THURSDAY = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
FRIDAY_DUE = datetime(2026, 11, 6, 15, 31, tzinfo=UTC)
"""A weekly Friday 16:30 Berlin prompt (see planned_world) is planned on THURSDAY and due at FRIDAY_DUE."""


def uid(name: str) -> str:
    return (name + "0" * 26)[:26]


@dataclass
class Person:
    name: str
    timezone: str | None = "Europe/Berlin"
    status: str = "online"

    @property
    def id(self) -> str:
        return uid(self.name)


@dataclass
class World:
    runtime: Runtime
    contract: MattermostContract
    people: list[Person] = field(default_factory=list)
    posts: int = 0
    archived: set[str] = field(default_factory=set)
    """Channels whose delete_at is set."""

    def __post_init__(self) -> None:
        """Who of the people asked about is in the channel, who they are, and whether a channel is archived, as the
        world stands when asked."""
        def in_channel(request: requests.PreparedRequest, _: re.Match[str]) -> tuple[int, list[dict]]:
            asked = set(json.loads(request.body or b"[]"))
            return 200, [{"channel_id": CHANNEL, "user_id": p.id, "roles": "channel_user"} for p in self.people
                         if p.id in asked]

        def users(request: requests.PreparedRequest, _: re.Match[str]) -> tuple[int, list[dict]]:
            asked = set(json.loads(request.body or b"[]"))
            return 200, [self.user(p) for p in self.people if p.id in asked]

        def channel(request: requests.PreparedRequest, match: re.Match[str]) -> tuple[int, dict]:
            now_ms = int(self.runtime.clock().timestamp() * 1000)
            return 200, channel_json(match["id"], now_ms=now_ms, archived=match["id"] in self.archived)

        self.contract.add_handler("POST", re.compile(rf"/api/v4/channels/{CHANNEL}/members/ids$"), in_channel)
        self.contract.add_handler("GET", re.compile(r"/api/v4/channels/(?P<id>[a-z0-9]{26})$"), channel)
        self.contract.add_handler("POST", re.compile(r"/api/v4/users/ids$"), users)

    def user(self, person: Person) -> dict:
        zone = {"useAutomaticTimezone": "true", "automaticTimezone": person.timezone or "", "manualTimezone": ""}
        return {"id": person.id, "username": person.name, "timezone": zone, "delete_at": 0, "is_bot": False}

    def serve_members(self) -> None:
        """One listing of the channel (a run planned); who they are, and who of the people due is still in the
        channel, are answered by `__post_init__`'s handlers."""
        members = [{"channel_id": CHANNEL, "user_id": p.id, "roles": "channel_user"} for p in self.people]
        self.contract.add("GET", f"/api/v4/channels/{CHANNEL}/members", json=members,
                          query={"page": "0", "per_page": "200"})


    def serve_statuses(self, people: list[Person] | None = None) -> None:
        chosen = self.people if people is None else people
        self.contract.add("POST", "/api/v4/users/status/ids",
                          json=[{"user_id": p.id, "status": p.status, "manual": False, "last_activity_at": 0}
                                for p in chosen])

    def serve_dm_and_posts(self, count: int) -> None:
        for person in self.people:
            self.contract.add("POST", "/api/v4/channels/direct", status=201,
                              json={"id": uid("dm" + person.name), "type": "D", "name": f"{BOT}__{person.id}"})
        for _ in range(count):
            self.posts += 1
            self.contract.add("POST", "/api/v4/posts", status=201,
                              json={"id": uid(f"post{self.posts}"), "channel_id": "x", "message": ""})

    def calls(self, method: str, path_pattern: str) -> list:
        return [c for c in self.contract.calls if c.method == method and re.fullmatch(path_pattern, c.path)]

    def prompt_posts(self) -> list:
        return [c for c in self.calls("POST", "/api/v4/posts") if "learnloop_delivery" in (c.json.get("props") or {})]

    def tick(self) -> None:
        run_once(self.runtime)


def add_schedule(runtime: Runtime, *, repeat: str = "weekly fri", time: str = "16:30", window: str = "16h",
                 timezone: str = "Europe/Berlin", anchor: date | None = None,
                 questions: list[str] | None = None, scale: str | None = None, visibility: str = "private") -> int:
    with runtime.uow() as uow:
        community_id = community_for_channel(uow, runtime.settings, channel_id=CHANNEL, team_id=None,
                                             channel_name="data-guild", now=runtime.clock())
        created = prompt_setup.create(
            uow, community_id=community_id,
            setup=prompt_setup.PromptSetup(questions=questions or ["What did you learn this week?"],
                                           scale_question=scale, repeat=repeat, local_time=time, window=window,
                                           default_visibility=visibility, timezone=timezone),
            created_by=uid("owner"), now=runtime.clock(), anchor=anchor)
        return created.schedule.id


def courier(runtime: Runtime, concurrency: int = 1) -> Courier:
    """The worker's outbox delivery for Mattermost's kinds, as `learnloop worker` wires it."""
    client = runtime.mattermost()
    assert client is not None
    return Courier(runtime.uow, runtime.clock, mattermost_delivery.handlers(runtime, client), concurrency=concurrency)


def planned_world(runtime: Runtime, contract: MattermostContract, clock: FakeClock, people: list[Person]) -> World:
    world = World(runtime, contract, people=people)
    add_schedule(runtime, anchor=date(2026, 11, 2))
    clock.now = THURSDAY
    world.serve_members()
    world.tick()
    return world


def statuses(runtime: Runtime) -> dict[str, int]:
    with runtime.uow() as uow:
        rows = uow.session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
    return dict(rows)


def reasons(runtime: Runtime, status: str) -> list[str | None]:
    with runtime.uow() as uow:
        return sorted(uow.session.scalars(select(Delivery.reason).where(Delivery.status == status)).all())


def slash(client: FlaskClient, person: Person, text: str, channel: str = CHANNEL, channel_name: str = "data-guild"):
    fields = load_form("slash_command__help.form", text=text, user_id=person.id, user_name=person.name,
                       channel_id=channel, channel_name=channel_name)
    return send_form(client, "/mattermost/command", fields).get_json()


def click(client: FlaskClient, person: Person, context: dict, post_id: str = "p" * 26):
    body = {"user_id": person.id, "user_name": person.name, "channel_id": uid("dm" + person.name),
            "channel_name": f"{BOT}__{person.id}", "team_id": "", "team_domain": "", "post_id": post_id,
            "trigger_id": "trigger-" + person.name, "type": "button", "data_source": "", "context": context}
    return client.post("/mattermost/actions", json=body)


def submit(client: FlaskClient, person: Person, callback_id: str, state: str, submission: dict, channel: str = CHANNEL):
    return client.post("/mattermost/dialogs", json={
        "type": "dialog_submission", "callback_id": callback_id, "state": state, "user_id": person.id,
        "channel_id": channel, "team_id": "", "submission": submission, "cancelled": False})


def opened_dialog(contract: MattermostContract) -> dict:
    call = [c for c in contract.calls if c.path == "/api/v4/actions/dialogs/open"][-1]
    return call.json["dialog"]


def state_of(dialog: dict) -> str:
    json.loads(dialog["state"])
    return dialog["state"]
