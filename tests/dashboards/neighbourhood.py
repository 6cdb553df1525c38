"""A few channels of one team in a Mattermost stand-in, for the small-community tests: who is in which channel
(and whether as its admin), each channel's member count, and channels found by name; every call checked
against the OpenAPI contract."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

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

    def __post_init__(self) -> None:
        self.contract.add_handler("GET", re.compile(r"/api/v4/channels/(\w+)/members/(\w+)"), self._member)
        self.contract.add_handler("GET", re.compile(r"/api/v4/teams/(\w+)/members/(\w+)"), self._team_member)
        self.contract.add_handler("GET", re.compile(r"/api/v4/channels/(\w+)/stats"), self._stats)
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
