"""A small, stateful Mattermost for installer tests, served through the contract harness: every
request the installer makes, and every reply built here, is validated against the official
OpenAPI source. Behaviour follows the Go server (mattermost/mattermost, `server/channels/...`;
each handler names the function it follows): bots, personal access tokens, teams, channels,
memberships (a removed team member is kept, soft-deleted), custom slash commands, outgoing
webhooks, OAuth apps (fake_mattermost_oauth.py), the permission checks of each call (roles in
fake_mattermost_roles.py, before or after Mattermost 11.2's renamed permissions) and the server configuration."""

from __future__ import annotations

import json
import re
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from tests.contract.mattermost_openapi import MattermostContract
from tests.install.fake_mattermost_oauth import OAuthApps
from tests.install.fake_mattermost_roles import (
    RENAMED_IN_11_2,
    SETTING_SECTIONS,
    SYSCONSOLE_READS,
    default_roles,
)

ID = r"(?P<id>[a-z0-9]{26})"
USER = r"(?P<user>[a-z0-9]{26})"
QUERY = r"(?:\?.*)?$"
ADMIN_TOKEN = "admintoken0123456789abcdefg"
Reply = tuple[int, Any]


def new_id() -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(26))


def _body(request: requests.PreparedRequest) -> Any:
    raw = request.body.decode() if isinstance(request.body, bytes) else request.body
    return json.loads(raw) if raw else None


def _query(request: requests.PreparedRequest, name: str) -> str:
    found = re.search(rf"[?&]{name}=([^&]*)", request.url or "")
    return found.group(1) if found else ""


def _error(status: int, message: str, error_id: str = "api.error") -> Reply:
    return status, {"status_code": status, "id": error_id, "message": message, "request_id": new_id()}


def _forbidden() -> Reply:
    """`model.MakePermissionError`; the permission's name is only in the detailed error, which the
    server wipes unless EnableDeveloper is on (channels/web/handlers.go)."""
    return _error(403, "You do not have the appropriate permissions.", "api.context.permissions.app_error")


def _millis() -> int:
    return int(time.time() * 1000)


@dataclass
class FakeMattermost(OAuthApps):
    contract: MattermostContract
    legacy: bool = False
    """Check the permission names of servers before 11.2 (manage_slash_commands, ...)."""
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    bots: dict[str, dict[str, Any]] = field(default_factory=dict)
    teams: dict[str, dict[str, Any]] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    team_members: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """(team id, user id) to the member row; a removed member keeps its row, soft-deleted."""
    channel_members: set[tuple[str, str]] = field(default_factory=set)
    commands: dict[str, dict[str, Any]] = field(default_factory=dict)
    hooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    oauth_apps: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    roles: dict[str, list[str]] = field(default_factory=dict)
    service_settings: dict[str, Any] = field(default_factory=lambda: {
        "EnableBotAccountCreation": True, "EnableCommands": True, "EnableOutgoingWebhooks": True,
        "AllowedUntrustedInternalConnections": "", "EnableOAuthServiceProvider": True})
    failures: list[tuple[str, str, int]] = field(default_factory=list)
    """(method, path regex, status): the next matching request fails once with that status."""

    _error = staticmethod(_error)
    _forbidden = staticmethod(_forbidden)
    _new_id = staticmethod(new_id)

    def __post_init__(self) -> None:
        self.roles = self.roles or default_roles(legacy=self.legacy)
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
        team = {"id": new_id(), "name": name, "display_name": name.title(), "type": "O", "delete_at": 0,
                "allow_open_invite": False}
        self.teams[team["id"]] = team
        self.join_team(team["id"], self.admin["id"], admin=True)
        return team

    def join_team(self, team_id: str, user_id: str, *, admin: bool = False) -> dict[str, Any]:
        """A member as `app/teams/teams.go` `JoinUserToTeam` saves one; `admin` is the scheme's team admin."""
        row = {"team_id": team_id, "user_id": user_id, "roles": "team_user team_admin" if admin else "team_user",
               "explicit_roles": "", "scheme_user": True, "scheme_admin": admin, "delete_at": 0}
        self.team_members[(team_id, user_id)] = row
        return row

    def active_team_members(self) -> set[tuple[str, str]]:
        return {key for key, row in self.team_members.items() if not row["delete_at"]}

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

    # ------------------------------------------------------------ permissions

    def permission(self, name: str) -> str:
        """The name this server version checks (before 11.2, manage_own_* had their old names)."""
        return RENAMED_IN_11_2.get(name, name) if self.legacy else name

    def _grant(self, role_names: str, name: str) -> bool:
        """`app/authorization.go` `RolesGrantPermission`."""
        wanted = self.permission(name)
        return any(wanted in self.roles.get(role, []) for role in role_names.split())

    def can(self, user: dict[str, Any], name: str) -> bool:
        """`SessionHasPermissionTo`: the user's system roles."""
        return self._grant(user["roles"], name)

    def can_in_team(self, user: dict[str, Any], team_id: str, name: str) -> bool:
        """`SessionHasPermissionToTeam`: the roles of an active membership, then the system roles."""
        row = self.team_members.get((team_id, user["id"]))
        member_roles = row["roles"] if row and not row["delete_at"] else ""
        return self._grant(member_roles, name) or self.can(user, name)

    def can_in_channel(self, user: dict[str, Any], channel_id: str, name: str) -> bool:
        """`SessionHasPermissionToChannel`: channel roles, manage_system, then the channel's team."""
        if (channel_id, user["id"]) in self.channel_members and self._grant("channel_user", name):
            return True
        if self.can(user, "manage_system"):
            return True
        return self.can_in_team(user, self.channels[channel_id]["team_id"], name)

    def _manage_bot(self, me: dict[str, Any], bot_id: str) -> Reply | None:
        """`SessionHasPermissionToManageBot`: an error reply, or None when allowed."""
        bot = self.bots.get(bot_id)
        if bot is None:
            return _error(404, "Unable to get the bot.", "store.sql_bot.get.missing.app_error")
        own = bot["owner_id"] == me["id"]
        if self.can(me, "manage_bots" if own else "manage_others_bots"):
            return None
        if not self.can(me, "read_bots" if own else "read_others_bots"):
            return _error(404, "Unable to get the bot.", "store.sql_bot.get.missing.app_error")
        return _forbidden()

    # ----------------------------------------------------------------- routes

    def _route(self, method: str, path: str, handler: Callable[..., Reply], *, public: bool = False) -> None:
        def wrapped(request: requests.PreparedRequest, match: re.Match[str]) -> Reply:
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
        """A deactivated user (a disabled bot too) has no session."""
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        token = next((t for t in self.tokens.values() if t["token"] == value and t["is_active"]), None)
        if scheme != "Bearer" or token is None:
            return None
        user = self.users[token["user_id"]]
        return None if user["delete_at"] else user

    def _routes(self) -> None:
        r = self._route
        r("GET", "/system/ping", lambda req, me: (200, {"status": "OK"}), public=True)
        r("GET", "/users/me", lambda req, me: (200, me))
        r("GET", "/users/me/teams/members", self._my_team_members)
        r("GET", r"/users/username/(?P<name>[^/?]+)", self._user_by_name)
        r("POST", r"/roles/names", lambda req, me: (200, [
            {"id": new_id(), "name": n, "permissions": self.roles[n]} for n in _body(req) if n in self.roles]))
        r("GET", r"/config", self._config)
        r("POST", r"/bots", self._create_bot)
        r("GET", r"/bots/" + ID, self._get_bot)
        r("PUT", r"/bots/" + ID, self._patch_bot)
        r("POST", r"/bots/" + ID + "/enable", lambda req, me, id: self._bot_state(me, id, active=True))
        r("POST", r"/bots/" + ID + "/disable", lambda req, me, id: self._bot_state(me, id, active=False))
        r("POST", r"/users/" + ID + "/tokens", self._create_token)
        r("POST", r"/users/tokens/revoke", self._revoke_token)
        r("GET", r"/users/tokens/" + ID, self._get_token)
        r("GET", r"/teams/name/(?P<name>[a-z0-9_-]+)/channels/name/(?P<channel>[a-z0-9_-]+)", self._channel_by_name)
        r("GET", r"/teams/name/(?P<name>[a-z0-9_-]+)", self._team_by_name)
        r("GET", r"/teams/" + ID, lambda req, me, id: self._team_reply(me, self.teams.get(id)))
        r("GET", r"/channels/" + ID, lambda req, me, id: (200, self.channels[id]) if id in self.channels
          else _error(404, "channel not found"))
        r("GET", r"/teams/" + ID + "/members/" + USER, self._get_team_member)
        r("POST", r"/teams/" + ID + r"/members", self._add_team_member)
        r("DELETE", r"/teams/" + ID + "/members/" + USER, self._remove_team_member)
        r("GET", r"/channels/" + ID + "/members/" + USER, self._get_channel_member)
        r("POST", r"/channels/" + ID + r"/members", self._add_channel_member)
        r("DELETE", r"/channels/" + ID + "/members/" + USER, self._remove_channel_member)
        r("GET", r"/commands", self._list_commands)
        r("POST", r"/commands", self._create_command)
        r("PUT", r"/commands/" + ID, lambda req, me, id: self._change_command(req, me, id, delete=False))
        r("DELETE", r"/commands/" + ID, lambda req, me, id: self._change_command(req, me, id, delete=True))
        r("GET", r"/hooks/outgoing", self._list_hooks)
        r("POST", r"/hooks/outgoing", self._create_hook)
        r("GET", r"/hooks/outgoing/" + ID, lambda req, me, id: self._hook(req, me, id, "get"))
        r("PUT", r"/hooks/outgoing/" + ID, lambda req, me, id: self._hook(req, me, id, "update"))
        r("DELETE", r"/hooks/outgoing/" + ID, lambda req, me, id: self._hook(req, me, id, "delete"))
        self.oauth_routes(r)

    # ------------------------------------------------------- users and config

    def _user_by_name(self, req: Any, me: dict[str, Any], name: str) -> Reply:
        user = next((u for u in self.users.values() if u["username"] == name), None)
        return (200, user) if user else _error(404, "Unable to find an existing account matching your username.")

    def _config(self, req: Any, me: dict[str, Any]) -> Reply:
        """`api4/config.go` `getConfig`: any sysconsole_read_* permission lets the caller in, and each
        setting is shown only with the read permission of its System Console section (the server
        sends null for the others; left out here, as the 2023 spec allows no null)."""
        if not any(self.can(me, name) for name in SYSCONSOLE_READS):
            return _forbidden()
        shown = {key: value for key, value in self.service_settings.items()
                 if key not in SETTING_SECTIONS or self.can(me, f"sysconsole_read_{SETTING_SECTIONS[key]}")}
        return 200, {"ServiceSettings": shown}

    # ------------------------------------------------------------------- bots

    def _create_bot(self, req: Any, me: dict[str, Any]) -> Reply:
        """`api4/bot.go` `createBot`."""
        if not self.can(me, "create_bot") or me["is_bot"]:
            return _forbidden()
        if not self.service_settings["EnableBotAccountCreation"]:
            return _error(403, "Bot creation has been disabled.", "api.bot.create_disabled")
        body = _body(req)
        if any(u["username"] == body["username"] for u in self.users.values()):
            return _error(400, "An account with that username already exists.")
        user = self.add_user(body["username"], is_bot=True)
        bot = {"user_id": user["id"], "username": body["username"], "display_name": body.get("display_name", ""),
               "description": body.get("description", ""), "owner_id": me["id"], "create_at": 1, "update_at": 1,
               "delete_at": 0}
        self.bots[user["id"]] = bot
        return 201, bot

    def _get_bot(self, req: Any, me: dict[str, Any], id: str) -> Reply:
        """`api4/bot.go` `getBot`: a bot the caller may not read does not exist."""
        bot = self.bots.get(id)
        if bot is None or (bot["delete_at"] and "include_deleted=true" not in (req.url or "")):
            return _error(404, "bot not found")
        if not (self.can(me, "read_others_bots") or (bot["owner_id"] == me["id"] and self.can(me, "read_bots"))):
            return _error(404, "bot not found")
        return 200, bot

    def _patch_bot(self, req: Any, me: dict[str, Any], id: str) -> Reply:
        """`api4/bot.go` `patchBot`."""
        if (refused := self._manage_bot(me, id)) is not None:
            return refused
        body = _body(req)
        self.bots[id].update({k: body[k] for k in ("display_name", "description") if k in body})
        return 200, self.bots[id]

    def _bot_state(self, me: dict[str, Any], id: str, *, active: bool) -> Reply:
        """`app/bot.go` `UpdateBotActive`: the bot's user account is deactivated along with it."""
        if (refused := self._manage_bot(me, id)) is not None:
            return refused
        deleted = 0 if active else _millis()
        self.bots[id]["delete_at"] = self.users[id]["delete_at"] = deleted
        return 200, self.bots[id]

    def _create_token(self, req: Any, me: dict[str, Any], id: str) -> Reply:
        """`api4/user.go` `createUserAccessToken`, with `SessionHasPermissionToUserOrBot`."""
        if not self.can(me, "create_user_access_token"):
            return _forbidden()
        if id in self.bots and (refused := self._manage_bot(me, id)) is not None:
            return refused
        token = {"id": new_id(), "token": new_id(), "user_id": id, "description": _body(req)["description"],
                 "is_active": True}
        self.tokens[token["id"]] = token
        return 201, token

    def _revoke_token(self, req: Any, me: dict[str, Any]) -> Reply:
        """`api4/user.go` `revokeUserAccessToken`."""
        if not self.can(me, "revoke_user_access_token"):
            return _forbidden()
        token_id = _body(req)["token_id"]
        if token_id not in self.tokens:
            return _error(404, "token not found")
        del self.tokens[token_id]
        return 200, {"status": "OK"}

    def _get_token(self, req: Any, me: dict[str, Any], id: str) -> Reply:
        """`api4/user.go` `getUserAccessToken`: the token itself is never shown again."""
        if not self.can(me, "read_user_access_token"):
            return _forbidden()
        token = self.tokens.get(id)
        if token is None:
            return _error(404, "token not found")
        return 200, {k: v for k, v in token.items() if k != "token"}

    # ---------------------------------------------------------- teams, channels

    def _team_reply(self, me: dict[str, Any], team: dict[str, Any] | None) -> Reply:
        """`api4/team.go` `getTeam`, `getTeamByName`: a team that is not open needs view_team."""
        if team is None:
            return _error(404, "Unable to find the existing team.")
        open_team = team["allow_open_invite"] and team["type"] == "O"
        if not open_team and not self.can_in_team(me, team["id"], "view_team"):
            return _forbidden()
        return 200, team

    def _team_by_name(self, req: Any, me: dict[str, Any], name: str) -> Reply:
        return self._team_reply(me, next((t for t in self.teams.values() if t["name"] == name), None))

    def _channel_by_name(self, req: Any, me: dict[str, Any], name: str, channel: str) -> Reply:
        team = next((t for t in self.teams.values() if t["name"] == name), None)
        found = next((c for c in self.channels.values()
                      if team and c["team_id"] == team["id"] and c["name"] == channel), None)
        return (200, found) if found else _error(404, "Unable to find the existing channel.")

    def _my_team_members(self, req: Any, me: dict[str, Any]) -> Reply:
        """`api4/team.go` `getTeamMembersForUser` asks `GetTeamMembersForUser(user, "", true)`: removed
        memberships are listed too, with delete_at set and no roles."""
        return 200, [row for (_, user), row in sorted(self.team_members.items()) if user == me["id"]]

    def _get_team_member(self, req: Any, me: dict[str, Any], id: str, user: str) -> Reply:
        """`api4/team.go` `getTeamMember`: the store's `GetMember` also returns a removed member."""
        if not self.can_in_team(me, id, "view_team"):
            return _forbidden()
        row = self.team_members.get((id, user))
        return (200, row) if row else _error(404, "Unable to find the existing team member.",
                                             "app.team.get_member.missing.app_error")

    def _add_team_member(self, req: Any, me: dict[str, Any], id: str) -> Reply:
        """`api4/team.go` `addTeamMember`, then `app/teams/teams.go` `JoinUserToTeam`: a removed
        member is restored (delete_at 0, the scheme's user role again)."""
        user = _body(req)["user_id"]
        if user != me["id"] and not self.can_in_team(me, id, "add_user_to_team"):
            return _forbidden()
        row = self.team_members.get((id, user))
        if row is None or row["delete_at"]:
            row = self.join_team(id, user)
        return 201, row

    def _remove_team_member(self, req: Any, me: dict[str, Any], id: str, user: str) -> Reply:
        """`api4/team.go` `removeTeamMember`, `app/team.go` `LeaveTeam`: the user leaves the team's
        channels (rows deleted), and `app/teams/teams.go` `RemoveTeamMember` keeps the team member
        with delete_at set and its roles emptied."""
        if user != me["id"] and not self.can_in_team(me, id, "remove_user_from_team"):
            return _forbidden()
        row = self.team_members.get((id, user))
        if row is None:
            return _error(400, "The user is not a member of the team.", "api.team.remove_user_from_team.missing.app_error")
        self.channel_members -= {(c, u) for c, u in self.channel_members
                                 if u == user and self.channels[c]["team_id"] == id}
        row.update(roles="", delete_at=_millis())
        return 200, {"status": "OK"}

    def _get_channel_member(self, req: Any, me: dict[str, Any], id: str, user: str) -> Reply:
        if (id, user) not in self.channel_members:
            return _error(404, "channel member not found", "app.channel.get_member.missing.app_error")
        return 200, {"channel_id": id, "user_id": user, "roles": "channel_user"}

    def _channel_members_permission(self, channel_id: str) -> str:
        return "manage_public_channel_members" if self.channels[channel_id]["type"] == "O" \
            else "manage_private_channel_members"

    def _add_channel_member(self, req: Any, me: dict[str, Any], id: str) -> Reply:
        """`api4/channel.go` `addChannelMember`, `app/channel.go` `AddChannelMember` and
        `AddUserToChannel`: a deactivated user is refused, and so is one whose team membership is
        missing (404) or removed (400)."""
        user = _body(req)["user_id"]
        if (id, user) not in self.channel_members and user != me["id"] \
                and not self.can_in_channel(me, id, self._channel_members_permission(id)):
            return _forbidden()
        if (id, user) not in self.channel_members:
            if self.users[user]["delete_at"]:
                return _error(403, "Cannot add a deactivated user to a channel.",
                              "app.channel.add_member.deleted_user.app_error")
            row = self.team_members.get((self.channels[id]["team_id"], user))
            if row is None:
                return _error(404, "Unable to find the existing team member.", "app.team.get_member.missing.app_error")
            if row["delete_at"]:
                return _error(400, "Failed to add user to channel because they have been removed from the team.",
                              "api.channel.add_user.to.channel.failed.deleted.app_error")
            self.channel_members.add((id, user))
        return 201, {"channel_id": id, "user_id": user, "roles": "channel_user"}

    def _remove_channel_member(self, req: Any, me: dict[str, Any], id: str, user: str) -> Reply:
        """`api4/channel.go` `removeChannelMember`: the member row is deleted, not kept."""
        if user != me["id"] and not self.can_in_channel(me, id, self._channel_members_permission(id)):
            return _forbidden()
        self.channel_members.discard((id, user))
        return 200, {"status": "OK"}

    # ---------------------------------------------------------- slash commands

    def _commands_off(self) -> Reply | None:
        """`app/command.go`: listing, creating, updating and deleting custom commands answer 501
        while ServiceSettings.EnableCommands is false."""
        if self.service_settings["EnableCommands"]:
            return None
        return _error(501, "Commands have been disabled by the system admin.", "api.command.disabled.app_error")

    def _list_commands(self, req: Any, me: dict[str, Any]) -> Reply:
        """`api4/command.go` `listCommands` with custom_only: view_team, then manage_own_slash_commands,
        else 403; `app/command.go` `ListTeamCommandsByUser`: 501 when commands are off. Since 11.2 only
        the caller's own commands are listed, unless they may manage others' (before: all of them)."""
        team_id = _query(req, "team_id")
        if not self.can_in_team(me, team_id, "view_team") or not self.can_in_team(me, team_id,
                                                                                   "manage_own_slash_commands"):
            return _forbidden()
        if (off := self._commands_off()) is not None:
            return off
        everyone = self.legacy or self.can_in_team(me, team_id, "manage_others_slash_commands")
        return 200, [c for c in self.commands.values()
                     if c["team_id"] == team_id and not c.get("delete_at") and (everyone or c.get("creator_id") == me["id"])]

    def _create_command(self, req: Any, me: dict[str, Any]) -> Reply:
        """`api4/command.go` `createCommand`, `app/command.go` `CreateCommand`."""
        body = _body(req)
        if not self.can_in_team(me, body["team_id"], "manage_own_slash_commands"):
            return _forbidden()
        if (off := self._commands_off()) is not None:
            return off
        if any(c["team_id"] == body["team_id"] and c["trigger"] == body["trigger"] and not c["delete_at"]
               for c in self.commands.values()):
            return _error(400, "This trigger word is already in use. Please choose another word.")
        command = {**body, "id": new_id(), "token": new_id(), "creator_id": me["id"], "create_at": 1,
                   "update_at": 1, "delete_at": 0}
        self.commands[command["id"]] = command
        return 201, command

    def _change_command(self, req: Any, me: dict[str, Any], id: str, *, delete: bool) -> Reply:
        """`api4/command.go` `updateCommand`, `deleteCommand`: 404 without manage_own_slash_commands
        (so as not to reveal the command), 403 for another's command without manage_others."""
        command = self.commands.get(id)
        if command is None or not self.can_in_team(me, command["team_id"], "manage_own_slash_commands"):
            return _error(404, "Unable to find the command.", "api.command.command_not_found.app_error")
        if command.get("creator_id") != me["id"] and not self.can_in_team(me, command["team_id"],
                                                                      "manage_others_slash_commands"):
            return _forbidden()
        if (off := self._commands_off()) is not None:
            return off
        if delete:
            del self.commands[id]
            return 200, {"status": "OK"}
        command.update({k: v for k, v in _body(req).items() if k not in ("id", "token", "creator_id")})
        return 200, command

    # ------------------------------------------------------- outgoing webhooks

    def _hooks_off(self) -> Reply | None:
        """`app/webhook.go`: every outgoing-webhook call answers 501 while EnableOutgoingWebhooks is false."""
        if self.service_settings["EnableOutgoingWebhooks"]:
            return None
        return _error(501, "Outgoing webhooks have been disabled by the system admin.",
                      "api.outgoing_webhook.disabled.app_error")

    def _list_hooks(self, req: Any, me: dict[str, Any]) -> Reply:
        """`api4/webhook.go` `getOutgoingHooks` with team_id: manage_own_outgoing_webhooks, else 403;
        only the caller's own hooks unless they may manage others'."""
        team_id = _query(req, "team_id")
        if not self.can_in_team(me, team_id, "manage_own_outgoing_webhooks"):
            return _forbidden()
        if (off := self._hooks_off()) is not None:
            return off
        everyone = self.can_in_team(me, team_id, "manage_others_outgoing_webhooks")
        page = int(_query(req, "page") or 0)
        hooks = [h for h in self.hooks.values() if h["team_id"] == team_id and (everyone or h.get("creator_id") == me["id"])]
        return 200, hooks[page * 200:(page + 1) * 200]

    def _create_hook(self, req: Any, me: dict[str, Any]) -> Reply:
        """`api4/webhook.go` `createOutgoingHook`, `app/webhook.go` `CreateOutgoingWebhook`."""
        body = _body(req)
        if not self.can_in_team(me, body["team_id"], "manage_own_outgoing_webhooks"):
            return _forbidden()
        if (off := self._hooks_off()) is not None:
            return off
        if self.channels[body["channel_id"]]["type"] != "O":
            return _error(403, "Outgoing webhooks can only be created in public channels.")
        hook = {**body, "id": new_id(), "token": new_id(), "creator_id": me["id"], "create_at": 1,
                "update_at": 1, "delete_at": 0}
        self.hooks[hook["id"]] = hook
        return 201, hook

    def _hook(self, req: Any, me: dict[str, Any], id: str, action: str) -> Reply:
        """`api4/webhook.go` `getOutgoingHook`, `updateOutgoingHook` (which makes the caller the
        hook's creator) and `deleteOutgoingHook`."""
        if (off := self._hooks_off()) is not None:
            return off
        hook = self.hooks.get(id)
        if hook is None:
            return _error(404, "webhook not found")
        if not self.can_in_team(me, hook["team_id"], "manage_own_outgoing_webhooks"):
            return _forbidden()
        if hook.get("creator_id") != me["id"] and not self.can_in_team(me, hook["team_id"],
                                                                   "manage_others_outgoing_webhooks"):
            return _forbidden()
        if action == "delete":
            del self.hooks[id]
            return 200, {"status": "OK"}
        if action == "update":
            hook.update({k: v for k, v in _body(req).items() if k not in ("id", "token", "creator_id")})
            hook["creator_id"] = me["id"]
        return 200, hook
