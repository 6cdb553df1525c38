"""A few channels of one team in a Mattermost stand-in, for the small-community tests: who is in which channel
(and whether as its admin), each channel's member count and member list, channels found by name and people's
usernames; every call checked against the OpenAPI contract."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from sqlalchemy import Engine, select

from learnloop.storage.tables import Base
from tests.contract.mattermost_openapi import MattermostContract

TEAM = "rdc9bgriktyx9p4kowh3dmgqyc"


@dataclass
class Channel:
    id: str
    name: str
    member_count: int = 12
    roles: dict[str, str] = field(default_factory=dict)
    """User id to channel roles, for those the tests ask about."""


@dataclass
class Neighbourhood:
    contract: MattermostContract
    channels: list[Channel] = field(default_factory=list)
    usernames: dict[str, str] = field(default_factory=dict)
    """User id to username: the accounts POST /users/ids finds."""
    users_busy: bool = False
    """POST /users/ids answers 503, as a busy server does."""

    def __post_init__(self) -> None:
        self.contract.add_handler("GET", re.compile(r"/api/v4/channels/(\w+)/members/(\w+)"), self._member)
        self.contract.add_handler("GET", re.compile(r"/api/v4/teams/(\w+)/members/(\w+)"), self._team_member)
        self.contract.add_handler("GET", re.compile(r"/api/v4/channels/(\w+)/members(?:\?.*)?$"), self._members)
        self.contract.add_handler("GET", re.compile(r"/api/v4/channels/(\w+)/stats"), self._stats)
        self.contract.add_handler("POST", re.compile(r"/api/v4/users/ids$"), self._users)
        self.contract.add_handler("GET", re.compile(r"/api/v4/teams/(\w+)/channels/name/([\w-]+)"), self._by_name)

    def add(self, channel_id: str, name: str, *, members: int = 12, admins: tuple[str, ...] = (),
            people: tuple[str, ...] = ()) -> Channel:
        roles = {user: "channel_user channel_admin" for user in admins} | {user: "channel_user" for user in people}
        channel = Channel(channel_id, name, members, roles)
        self.channels.append(channel)
        return channel

    def channel(self, channel_id: str) -> Channel | None:
        return next((c for c in self.channels if c.id == channel_id), None)

    def calls(self, pattern: str) -> list[str]:
        return [c.path for c in self.contract.calls if re.fullmatch(pattern, c.path)]

    def _member(self, request: requests.PreparedRequest, match: re.Match[str]) -> tuple[int, Any]:
        channel = self.channel(match.group(1))
        if channel is None or match.group(2) not in channel.roles:
            return 404, {"id": "app.channel.get_member.missing.app_error", "message": "No channel member",
                         "status_code": 404}
        return 200, {"channel_id": channel.id, "user_id": match.group(2), "roles": channel.roles[match.group(2)]}

    def _members(self, request: requests.PreparedRequest, match: re.Match[str]) -> tuple[int, Any]:
        """The channel's members the tests ask about, by user id, a page at a time."""
        channel = self.channel(match.group(1))
        query = parse_qs(urlsplit(request.url or "").query)
        page, per_page = int(query.get("page", ["0"])[0]), int(query.get("per_page", ["60"])[0])
        everyone = sorted(channel.roles) if channel else []
        return 200, [{"channel_id": match.group(1), "user_id": user, "roles": channel.roles[user]}
                     for user in everyone[page * per_page:(page + 1) * per_page] if channel]

    def _users(self, request: requests.PreparedRequest, match: re.Match[str]) -> tuple[int, Any]:
        if self.users_busy:
            return 503, {"id": "api.context.server_busy.app_error", "message": "busy", "status_code": 503}
        asked = json.loads(request.body or b"[]")
        return 200, [{"id": user, "username": self.usernames[user], "delete_at": 0, "is_bot": False}
                     for user in asked if user in self.usernames]

    def _team_member(self, request: requests.PreparedRequest, match: re.Match[str]) -> tuple[int, Any]:
        return 200, {"team_id": match.group(1), "user_id": match.group(2), "roles": "team_user"}

    def _stats(self, request: requests.PreparedRequest, match: re.Match[str]) -> tuple[int, Any]:
        channel = self.channel(match.group(1))
        if channel is None:
            return 403, {"id": "api.context.permissions.app_error", "message": "no permission", "status_code": 403}
        return 200, {"channel_id": channel.id, "member_count": channel.member_count}

    def _by_name(self, request: requests.PreparedRequest, match: re.Match[str]) -> tuple[int, Any]:
        channel = next((c for c in self.channels if c.name == match.group(2)), None)
        if channel is None or match.group(1) != TEAM:
            return 404, {"id": "app.channel.get_by_name.missing.app_error", "message": "Channel does not exist.",
                         "status_code": 404}
        return 200, {"id": channel.id, "team_id": TEAM, "type": "O", "name": channel.name,
                     "display_name": channel.name.title()}


def stored(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, to show that a refused command changed nothing."""
    with engine.connect() as connection:
        return {table.name: sorted(map(tuple, connection.execute(select(table))), key=repr)
                for table in Base.metadata.sorted_tables}
