"""A small, stateful Mattermost for installer tests, served through the contract harness: every
request the installer makes, and every reply built here, is validated against the official
OpenAPI source. Behaviour follows the Go server (see shared/reference/mattermost-integration.md):
bots, personal access tokens, teams, channels, memberships, custom slash commands, outgoing
webhooks, roles and the server configuration."""

from __future__ import annotations

import json
import re
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from tests.contract.mattermost_openapi import MattermostContract

ID = r"(?P<id>[a-z0-9]{26})"
QUERY = r"(?:\?.*)?$"
ADMIN_TOKEN = "admintoken0123456789abcdefg"
ALL_PERMISSIONS = [
    "create_bot", "manage_bots", "create_user_access_token", "manage_system", "manage_slash_commands",
    "manage_outgoing_webhooks", "add_user_to_team",
]


def new_id() -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(26))


def _body(request: requests.PreparedRequest) -> Any:
    raw = request.body.decode() if isinstance(request.body, bytes) else request.body
    return json.loads(raw) if raw else None


def _error(status: int, message: str, error_id: str = "api.error") -> tuple[int, dict[str, Any]]:
    return status, {"status_code": status, "id": error_id, "message": message, "request_id": new_id()}


@dataclass
class FakeMattermost:
    contract: MattermostContract
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    bots: dict[str, dict[str, Any]] = field(default_factory=dict)
    teams: dict[str, dict[str, Any]] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    team_members: set[tuple[str, str]] = field(default_factory=set)
    channel_members: set[tuple[str, str]] = field(default_factory=set)
    commands: dict[str, dict[str, Any]] = field(default_factory=dict)
    hooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    roles: dict[str, list[str]] = field(default_factory=lambda: {
        "system_admin": list(ALL_PERMISSIONS), "system_user": ["create_team"], "team_user": ["view_team"],
        "team_admin": ["manage_slash_commands", "manage_outgoing_webhooks", "add_user_to_team"]})
    service_settings: dict[str, Any] = field(default_factory=lambda: {
        "EnableBotAccountCreation": True, "EnableCommands": True, "EnableOutgoingWebhooks": True,
        "AllowedUntrustedInternalConnections": ""})
    failures: list[tuple[str, str, int]] = field(default_factory=list)
    """(method, path regex, status): the next matching request fails once with that status."""

    def __post_init__(self) -> None:
        self.admin = self.add_user("admin", roles="system_user system_admin")
        self.tokens["admintokenid"] = {"id": "admintokenid", "token": ADMIN_TOKEN, "user_id": self.admin["id"],
                                       "description": "admin", "is_active": True}
        self._routes()

    # ------------------------------------------------------------------ world

    def add_user(self, username: str, *, roles: str = "system_user", is_bot: bool = False) -> dict[str, Any]:
        user = {"id": new_id(), "username": username, "roles": roles, "is_bot": is_bot, "delete_at": 0,
                "create_at": 1, "update_at": 1, "email": f"{username}@example.com", "nickname": "",
                "first_name": "", "last_name": "", "locale": "en"}
        self.users[user["id"]] = user
        return user

    def add_team(self, name: str) -> dict[str, Any]:
        team = {"id": new_id(), "name": name, "display_name": name.title(), "type": "O", "delete_at": 0}
        self.teams[team["id"]] = team
        self.team_members.add((team["id"], self.admin["id"]))
        return team

    def add_channel(self, team: dict[str, Any], name: str, *, private: bool = False) -> dict[str, Any]:
        channel = {"id": new_id(), "team_id": team["id"], "name": name, "display_name": name.title(),
                   "type": "P" if private else "O", "delete_at": 0, "create_at": 1, "update_at": 1}
        self.channels[channel["id"]] = channel
        return channel

    def add_token(self, user_id: str) -> str:
        token = {"id": new_id(), "token": new_id(), "user_id": user_id, "description": "x", "is_active": True}
        self.tokens[token["id"]] = token
        return str(token["token"])

    def fail_next(self, method: str, path: str, status: int = 500) -> None:
        self.failures.append((method.upper(), path, status))

    def bot_named(self, username: str) -> dict[str, Any] | None:
        return next((b for b in self.bots.values() if b["username"] == username), None)

    # ----------------------------------------------------------------- routes

    def _route(self, method: str, path: str, handler: Callable[..., tuple[int, Any]], *,
               public: bool = False) -> None:
        def wrapped(request: requests.PreparedRequest, match: re.Match[str]) -> tuple[int, Any]:
            for failure in list(self.failures):
                if failure[0] == request.method and re.search(failure[1], request.url or ""):
                    self.failures.remove(failure)
                    return _error(failure[2], "injected failure")
            caller = self._caller(request)
            if caller is None and not public:
                return _error(401, "Invalid or expired session, please login again.", "api.context.session_expired")
            return handler(request, caller, **match.groupdict())

        self.contract.add_handler(method, re.compile(r"/api/v4" + path + QUERY), wrapped)

    def _caller(self, request: requests.PreparedRequest) -> dict[str, Any] | None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        token = next((t for t in self.tokens.values() if t["token"] == value and t["is_active"]), None)
        if scheme != "Bearer" or token is None:
            return None
        user = self.users[token["user_id"]]
        bot = self.bots.get(user["id"])
        return None if bot is not None and bot["delete_at"] else user

    def _is_admin(self, user: dict[str, Any]) -> bool:
        return "system_admin" in user["roles"].split()

    def _routes(self) -> None:
        r = self._route
        r("GET", "/system/ping", lambda req, me: (200, {"status": "OK"}), public=True)
        r("GET", "/users/me", lambda req, me: (200, me))
        r("GET", "/users/me/teams/members", lambda req, me: (200, [
            {"team_id": t, "user_id": u, "roles": "team_user", "delete_at": 0}
            for (t, u) in sorted(self.team_members) if u == me["id"]]))
        r("GET", r"/users/username/(?P<name>[^/?]+)", self._user_by_name)
        r("POST", r"/roles/names", lambda req, me: (200, [
            {"id": new_id(), "name": n, "permissions": self.roles[n]} for n in _body(req) if n in self.roles]))
        r("GET", r"/config", self._config)
        r("POST", r"/bots", self._create_bot)
        r("GET", r"/bots/" + ID, self._get_bot)
        r("PUT", r"/bots/" + ID, self._patch_bot)
        r("POST", r"/bots/" + ID + "/enable", lambda req, me, id: self._bot_state(id, 0))
        r("POST", r"/bots/" + ID + "/disable", lambda req, me, id: self._bot_state(id, 5))
        r("POST", r"/users/" + ID + "/tokens", self._create_token)
        r("POST", r"/users/tokens/revoke", self._revoke_token)
        r("GET", r"/users/tokens/" + ID, self._get_token)
        r("GET", r"/teams/name/(?P<name>[a-z0-9_-]+)/channels/name/(?P<channel>[a-z0-9_-]+)", self._channel_by_name)
        r("GET", r"/teams/name/(?P<name>[a-z0-9_-]+)", self._team_by_name)
        r("GET", r"/teams/" + ID, lambda req, me, id: (200, self.teams[id]) if id in self.teams
          else _error(404, "team not found"))
        r("GET", r"/channels/" + ID, lambda req, me, id: (200, self.channels[id]) if id in self.channels
          else _error(404, "channel not found"))
        r("GET", r"/teams/" + ID + r"/members/(?P<user>[a-z0-9]{26})", self._get_member(self.team_members, "team"))
        r("POST", r"/teams/" + ID + r"/members", self._add_team_member)
        r("DELETE", r"/teams/" + ID + r"/members/(?P<user>[a-z0-9]{26})", self._remove_member(self.team_members))
        r("GET", r"/channels/" + ID + r"/members/(?P<user>[a-z0-9]{26})",
          self._get_member(self.channel_members, "channel"))
        r("POST", r"/channels/" + ID + r"/members", self._add_channel_member)
        r("DELETE", r"/channels/" + ID + r"/members/(?P<user>[a-z0-9]{26})", self._remove_member(self.channel_members))
        r("GET", r"/commands", self._list_commands)
        r("POST", r"/commands", self._create_command)
        r("PUT", r"/commands/" + ID, self._update_command)
        r("DELETE", r"/commands/" + ID, self._delete(self.commands))
        r("GET", r"/hooks/outgoing", self._list_hooks)
        r("POST", r"/hooks/outgoing", self._create_hook)
        r("GET", r"/hooks/outgoing/" + ID, lambda req, me, id: (200, self.hooks[id]) if id in self.hooks
          else _error(404, "webhook not found"))
        r("PUT", r"/hooks/outgoing/" + ID, self._update_hook)
        r("DELETE", r"/hooks/outgoing/" + ID, self._delete(self.hooks))

    # --------------------------------------------------------------- handlers

    def _user_by_name(self, req: Any, me: dict[str, Any], name: str) -> tuple[int, Any]:
        user = next((u for u in self.users.values() if u["username"] == name), None)
        return (200, user) if user else _error(404, "Unable to find an existing account matching your username.")

    def _config(self, req: Any, me: dict[str, Any]) -> tuple[int, Any]:
        if not self._is_admin(me):
            return _error(403, "You do not have the appropriate permissions.")
        return 200, {"ServiceSettings": dict(self.service_settings)}

    def _create_bot(self, req: Any, me: dict[str, Any]) -> tuple[int, Any]:
        if not self.service_settings["EnableBotAccountCreation"]:
            return _error(403, "Bot creation has been disabled.")
        body = _body(req)
        if any(u["username"] == body["username"] for u in self.users.values()):
            return _error(400, "An account with that username already exists.")
        user = self.add_user(body["username"], is_bot=True)
        bot = {"user_id": user["id"], "username": body["username"], "display_name": body.get("display_name", ""),
               "description": body.get("description", ""), "owner_id": me["id"], "create_at": 1, "update_at": 1,
               "delete_at": 0}
        self.bots[user["id"]] = bot
        return 201, bot

    def _get_bot(self, req: Any, me: dict[str, Any], id: str) -> tuple[int, Any]:
        bot = self.bots.get(id)
        include_deleted = "include_deleted=true" in (req.url or "")
        if bot is None or (bot["delete_at"] and not include_deleted):
            return _error(404, "bot not found")
        return 200, bot

    def _patch_bot(self, req: Any, me: dict[str, Any], id: str) -> tuple[int, Any]:
        body = _body(req)
        self.bots[id].update({k: body[k] for k in ("display_name", "description") if k in body})
        return 200, self.bots[id]

    def _bot_state(self, id: str, delete_at: int) -> tuple[int, Any]:
        self.bots[id]["delete_at"] = delete_at
        return 200, self.bots[id]

    def _create_token(self, req: Any, me: dict[str, Any], id: str) -> tuple[int, Any]:
        token = {"id": new_id(), "token": new_id(), "user_id": id, "description": _body(req)["description"],
                 "is_active": True}
        self.tokens[token["id"]] = token
        return 201, token

    def _revoke_token(self, req: Any, me: dict[str, Any]) -> tuple[int, Any]:
        token_id = _body(req)["token_id"]
        if token_id not in self.tokens:
            return _error(404, "token not found")
        del self.tokens[token_id]
        return 200, {"status": "OK"}

    def _get_token(self, req: Any, me: dict[str, Any], id: str) -> tuple[int, Any]:
        token = self.tokens.get(id)
        if token is None:
            return _error(404, "token not found")
        return 200, {k: v for k, v in token.items() if k != "token"}

    def _team_by_name(self, req: Any, me: dict[str, Any], name: str) -> tuple[int, Any]:
        team = next((t for t in self.teams.values() if t["name"] == name), None)
        return (200, team) if team else _error(404, "Unable to find the existing team.")

    def _channel_by_name(self, req: Any, me: dict[str, Any], name: str, channel: str) -> tuple[int, Any]:
        team = next((t for t in self.teams.values() if t["name"] == name), None)
        found = next((c for c in self.channels.values()
                      if team and c["team_id"] == team["id"] and c["name"] == channel), None)
        return (200, found) if found else _error(404, "Unable to find the existing channel.")

    def _get_member(self, members: set[tuple[str, str]], kind: str) -> Callable[..., tuple[int, Any]]:
        def get(req: Any, me: dict[str, Any], id: str, user: str) -> tuple[int, Any]:
            if (id, user) not in members:
                return _error(404, f"{kind} member not found")
            key = "team_id" if kind == "team" else "channel_id"
            return 200, {key: id, "user_id": user, "roles": f"{kind}_user"}

        return get

    def _add_team_member(self, req: Any, me: dict[str, Any], id: str) -> tuple[int, Any]:
        user = _body(req)["user_id"]
        self.team_members.add((id, user))
        return 201, {"team_id": id, "user_id": user, "roles": "team_user"}

    def _add_channel_member(self, req: Any, me: dict[str, Any], id: str) -> tuple[int, Any]:
        user = _body(req)["user_id"]
        if (self.channels[id]["team_id"], user) not in self.team_members:
            return _error(403, "The user is not a member of the channel's team.")
        self.channel_members.add((id, user))
        return 201, {"channel_id": id, "user_id": user, "roles": "channel_user"}

    def _remove_member(self, members: set[tuple[str, str]]) -> Callable[..., tuple[int, Any]]:
        def remove(req: Any, me: dict[str, Any], id: str, user: str) -> tuple[int, Any]:
            members.discard((id, user))
            return 200, {"status": "OK"}

        return remove

    def _list_commands(self, req: Any, me: dict[str, Any]) -> tuple[int, Any]:
        team_id = re.search(r"team_id=([a-z0-9]+)", req.url).group(1)
        return 200, [c for c in self.commands.values() if c["team_id"] == team_id]

    def _create_command(self, req: Any, me: dict[str, Any]) -> tuple[int, Any]:
        if not self.service_settings["EnableCommands"]:
            return _error(501, "Commands have been disabled by the system admin.")
        body = _body(req)
        if any(c["team_id"] == body["team_id"] and c["trigger"] == body["trigger"] for c in self.commands.values()):
            return _error(400, "This trigger word is already in use. Please choose another word.")
        command = {**body, "id": new_id(), "token": new_id(), "creator_id": me["id"], "create_at": 1,
                   "update_at": 1, "delete_at": 0}
        self.commands[command["id"]] = command
        return 201, command

    def _update_command(self, req: Any, me: dict[str, Any], id: str) -> tuple[int, Any]:
        body = _body(req)
        self.commands[id].update({k: v for k, v in body.items() if k not in ("id", "token", "creator_id")})
        return 200, self.commands[id]

    def _delete(self, table: dict[str, dict[str, Any]]) -> Callable[..., tuple[int, Any]]:
        def delete(req: Any, me: dict[str, Any], id: str) -> tuple[int, Any]:
            if table.pop(id, None) is None:
                return _error(404, "not found")
            return 200, {"status": "OK"}

        return delete

    def _list_hooks(self, req: Any, me: dict[str, Any]) -> tuple[int, Any]:
        team_id = re.search(r"team_id=([a-z0-9]+)", req.url).group(1)
        page = int(re.search(r"page=(\d+)", req.url).group(1))
        hooks = [h for h in self.hooks.values() if h["team_id"] == team_id]
        return 200, hooks[page * 200:(page + 1) * 200]

    def _create_hook(self, req: Any, me: dict[str, Any]) -> tuple[int, Any]:
        body = _body(req)
        if self.channels[body["channel_id"]]["type"] != "O":
            return _error(403, "Outgoing webhooks can only be created in public channels.")
        hook = {**body, "id": new_id(), "token": new_id(), "creator_id": me["id"], "create_at": 1,
                "update_at": 1, "delete_at": 0}
        self.hooks[hook["id"]] = hook
        return 201, hook

    def _update_hook(self, req: Any, me: dict[str, Any], id: str) -> tuple[int, Any]:
        body = _body(req)
        self.hooks[id].update({k: v for k, v in body.items() if k not in ("id", "token", "creator_id")})
        return 200, self.hooks[id]
