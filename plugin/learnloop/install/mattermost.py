"""Installs learnloop into Mattermost from `manifests/mattermost.yaml`, with an admin's token.

Checks first (reachable, token, permissions, server settings, conflicts) and touches nothing if
a check fails. Then finds or creates, in order: the bot account, its access token, the bot's
team and channel memberships, the slash command per team and one outgoing webhook per channel,
writing each token into learnloop's configuration file as soon as Mattermost shows it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from learnloop.config import ENV_PREFIX
from learnloop.install.config_file import mask
from learnloop.install.ledger import Resource
from learnloop.install.manifest import MattermostManifest
from learnloop.install.plan import InstallBlocked, InstallContext, Plan
from learnloop.install.reachability import untrusted_problem
from learnloop.mattermost.admin_client import MattermostAdminClient, describe_failure
from learnloop.mattermost.client import (
    JsonObject,
    MattermostClient,
    MattermostError,
    MattermostUnavailable,
)
from learnloop.mattermost.commands import autocomplete_hint

SYSTEM_PERMISSIONS = ("create_bot", "manage_bots", "create_user_access_token", "manage_system")
TEAM_PERMISSIONS = ("manage_slash_commands", "manage_outgoing_webhooks", "add_user_to_team")
TOKEN_DESCRIPTION = "learnloop service (made by learnloop install)"
PUBLIC_CHANNEL = "O"
WRITTEN_KEYS = ("mattermost_url", "mattermost_bot_token", "mattermost_bot_user_id", "mattermost_command_tokens",
                "mattermost_webhook_tokens")


@dataclass(frozen=True)
class Channel:
    id: str
    team_id: str
    team_name: str
    name: str
    public: bool
    listen: bool
    """Whether learnloop gets an outgoing webhook here (public channels only)."""

    @property
    def label(self) -> str:
        return f"~{self.team_name}/{self.name}"


@dataclass
class Target:
    me: JsonObject
    teams: dict[str, str] = field(default_factory=dict)
    """Team id to team name."""
    channels: list[Channel] = field(default_factory=list)
    bot_user: JsonObject | None = None
    """The account with the bot's username, as the checks found it."""
    commands: dict[str, JsonObject | None] = field(default_factory=dict)
    """Team id to the command with our trigger there, as the checks found it."""


class MattermostInstaller:
    def __init__(self, manifest: MattermostManifest, context: InstallContext, admin: MattermostAdminClient, *,
                 teams: tuple[str, ...] = (), channels: tuple[str, ...] = ()) -> None:
        self.manifest = manifest
        self.context = context
        self.admin = admin
        self.extra_teams = teams
        self.extra_channels = channels
        self.host_key = f"mattermost {admin.base_url}"
        public = context.settings.public_url_text
        self.command_url = public + manifest.slash_command.path
        self.webhook_url = public + manifest.outgoing_webhooks.path

    # ------------------------------------------------------------------ install

    def install(self, plan: Plan) -> None:
        target = self._preflight()
        bot_id = self._bot(plan, target.bot_user)
        self._bot_token(plan, bot_id)
        for team_id, team_name in target.teams.items():
            self._membership(plan, "team_member", team_id, f"@{self.manifest.bot_user.username} in team {team_name}",
                             bot_id, self.admin.find_team_member, self.admin.add_team_member)
            self._command(plan, team_id, team_name, target.commands[team_id])
        for channel in target.channels:
            self._membership(plan, "channel_member", channel.id,
                             f"@{self.manifest.bot_user.username} in {channel.label}",
                             bot_id, self.admin.find_channel_member, self.admin.add_channel_member)
            if channel.listen:
                self._outgoing_webhook(plan, channel)
            else:
                plan.say("leave", f"outgoing webhook in {channel.label}",
                         "private channel: Mattermost sends no outgoing webhooks from private channels, so links "
                         "shared there are not collected")
        self._set_config(plan, "mattermost_url", self.admin.base_url, "Mattermost URL")
        if not plan.dry_run:
            self.context.ledger.set_status(self.host_key, "complete")
        for key in WRITTEN_KEYS:
            if f"{ENV_PREFIX}{key.upper()}" in os.environ:
                plan.note(f"note: {ENV_PREFIX}{key.upper()} is set in the environment and wins over "
                          f"{self.context.config.path.name}; remove it so the installed value is used")

    def _preflight(self) -> Target:
        url = self.admin.base_url
        try:
            self.admin.ping()
        except MattermostUnavailable as exc:
            raise InstallBlocked(self.host_key, [
                f"cannot reach Mattermost at {url} ({exc.message}): check --url and that this machine can reach it"])
        except MattermostError as exc:
            raise InstallBlocked(self.host_key, [
                f"{url} is not answering like a Mattermost server ({describe_failure(exc)} from /api/v4/system/ping): "
                "check --url"])
        try:
            me = self.admin.get_me()
        except MattermostError as exc:
            raise InstallBlocked(self.host_key, [
                f"Mattermost refused the admin token ({describe_failure(exc)}): pass a system admin's personal access "
                "token with --token (Profile → Security → Personal Access Tokens)"])
        problems: list[str] = []
        if me.get("is_bot"):
            problems.append("--token belongs to a bot; the installer needs a system admin's personal access token")
        target = Target(me=me, bot_user=self.admin.get_user_by_username(self.manifest.bot_user.username))
        self._resolve(target, problems)
        problems.extend(self._permission_problems(me, list(target.teams)))
        problems.extend(self._server_setting_problems(target))
        problems.extend(self._conflicts(target))
        if problems:
            raise InstallBlocked(self.host_key, problems)
        return target

    def _resolve(self, target: Target, problems: list[str]) -> None:
        for name in dict.fromkeys([*self.manifest.teams, *self.extra_teams]):
            team = self.admin.get_team_by_name(name)
            if team is None:
                problems.append(f"team '{name}' does not exist (use the team's name from its URL)")
            else:
                target.teams[team["id"]] = team["name"]
        for ref in dict.fromkeys([*self.manifest.outgoing_webhooks.channels, *self.extra_channels]):
            team_name, _, channel_name = ref.partition("/")
            found = self.admin.get_channel_by_name(team_name, channel_name) if channel_name else None
            if found is None:
                problems.append(f"channel '{ref}' not found (write team-name/channel-name as in the channel's URL)")
                continue
            if found.get("type") != PUBLIC_CHANNEL:
                problems.append(f"channel '{ref}' is private: Mattermost sends outgoing webhooks from public channels "
                                "only; name a public channel")
                continue
            self._add_channel(target, found, team_name, listen=True)
        if self.manifest.outgoing_webhooks.community_channels:
            for community in self.context.settings.communities:
                found = self.admin.find_channel(community.channel_id)
                if found is None or found.get("delete_at"):
                    problems.append(f"community '{community.name}' names channel {community.channel_id}, which "
                                    "Mattermost does not have (or archived): fix channel_id in the configuration")
                    continue
                team = self.admin.get_team(found["team_id"])
                team_name = team["name"] if team else found["team_id"]
                self._add_channel(target, found, team_name, listen=found.get("type") == PUBLIC_CHANNEL)
        if not target.teams:
            problems.append("no team to install into: name one under 'teams' in the manifest, or pass --team NAME "
                            "or --channel TEAM/CHANNEL")

    @staticmethod
    def _add_channel(target: Target, found: JsonObject, team_name: str, *, listen: bool) -> None:
        if any(channel.id == found["id"] for channel in target.channels):
            return
        target.teams.setdefault(found["team_id"], team_name)
        target.channels.append(Channel(found["id"], found["team_id"], team_name, found["name"],
                                       found.get("type") == PUBLIC_CHANNEL, listen))

    def _permission_problems(self, me: JsonObject, team_ids: list[str]) -> list[str]:
        system_roles = str(me.get("roles", "")).split()
        if "system_admin" in system_roles:
            return []
        try:
            memberships = [m for m in self.admin.get_my_team_members() if m.get("team_id") in team_ids]
            team_roles = {m["team_id"]: str(m.get("roles", "")).split() for m in memberships}
            names = sorted({*system_roles, *(role for roles in team_roles.values() for role in roles)})
            granted = {role["name"]: set(role.get("permissions") or []) for role in self.admin.get_roles(names)}
        except MattermostError as exc:
            return [f"cannot read the admin token's roles ({describe_failure(exc)}); use a system admin's token"]
        system = set().union(*(granted.get(role, set()) for role in system_roles))
        missing = [p for p in SYSTEM_PERMISSIONS if p not in system]
        for team_id in team_ids:
            team = system.union(*(granted.get(role, set()) for role in team_roles.get(team_id, [])))
            missing += [p for p in TEAM_PERMISSIONS if p not in team and p not in missing]
        if not missing:
            return []
        return [f"the admin token's user @{me.get('username')} lacks the permission(s) {', '.join(missing)}: use a "
                "system admin's personal access token, or grant them in System Console → User Management → "
                "System Roles"]

    def _server_setting_problems(self, target: Target) -> list[str]:
        try:
            service = self.admin.get_config().get("ServiceSettings") or {}
        except MattermostError as exc:
            return [f"cannot read the server configuration ({describe_failure(exc)}); the installer needs "
                    "manage_system to check the settings below"]
        problems = []
        if target.bot_user is None and not service.get("EnableBotAccountCreation", False):
            problems.append("bot accounts are off: System Console → Integrations → Bot Accounts → 'Enable Bot "
                            "Account Creation' = true (ServiceSettings.EnableBotAccountCreation)")
        if not service.get("EnableCommands", True):
            problems.append("custom slash commands are off: System Console → Integrations → Integration "
                            "Management → 'Enable Custom Slash Commands' = true (ServiceSettings.EnableCommands)")
        if any(c.listen for c in target.channels) and not service.get("EnableOutgoingWebhooks", True):
            problems.append("outgoing webhooks are off: System Console → Integrations → Integration Management → "
                            "'Enable Outgoing Webhooks' = true (ServiceSettings.EnableOutgoingWebhooks)")
        untrusted = untrusted_problem(self.context.settings.public_url_text,
                                      str(service.get("AllowedUntrustedInternalConnections") or ""))
        if untrusted:
            problems.append(untrusted)
        return problems

    def _conflicts(self, target: Target) -> list[str]:
        problems = []
        username = self.manifest.bot_user.username
        user = target.bot_user
        if user is not None and not user.get("is_bot"):
            problems.append(f"@{username} is a person's account, not a bot: choose another bot_user.username in "
                            "the manifest")
        trigger = self.manifest.slash_command.trigger
        for team_id, team_name in target.teams.items():
            existing = target.commands[team_id] = self._existing_command(team_id)
            if existing is not None and not self._ours_command(existing, team_name):
                problems.append(f"team {team_name} already has a /{trigger} command calling {existing.get('url')}: "
                                "remove it (Integrations → Slash Commands) or choose another slash_command.trigger")
        return problems

    def _bot(self, plan: Plan, user: JsonObject | None) -> str | None:
        bot_user = self.manifest.bot_user
        label = f"@{bot_user.username}"
        if user is None:
            created = plan.change("create", f"bot account {label}", bot_user.display_name, lambda: self.admin.create_bot(
                bot_user.username, bot_user.display_name, bot_user.description))
            if created is None:
                return None
            self._record("bot", created["user_id"], label, created=True)
            return str(created["user_id"])
        user_id = str(user["id"])
        bot = self.admin.get_bot(user_id) or {}
        if bot.get("delete_at"):
            plan.change("update", f"bot account {label}", "enable it again (it was disabled)",
                        lambda: self.admin.enable_bot(user_id))
        if (bot.get("display_name"), bot.get("description")) != (bot_user.display_name, bot_user.description):
            plan.change("update", f"bot account {label}", "display name and description from the manifest",
                        lambda: self.admin.patch_bot(user_id, username=bot_user.username,
                                                     display_name=bot_user.display_name,
                                                     description=bot_user.description))
        elif not bot.get("delete_at"):
            plan.say("keep", f"bot account {label}")
        self._record("bot", user_id, label, created=self._created_before("bot", label))
        return user_id

    def _bot_token(self, plan: Plan, bot_id: str | None) -> None:
        recorded = self.context.ledger.find(self.host_key, "bot_token", "bot access token")
        configured = self.context.config.get("mattermost_bot_token")
        if bot_id and configured and self._token_works(str(configured), bot_id):
            plan.say("keep", "bot access token", "the token in the configuration signs in as the bot")
            self._set_config(plan, "mattermost_bot_user_id", bot_id, "bot user id")
            return

        def create() -> JsonObject:
            assert bot_id is not None
            token = self.admin.create_user_access_token(bot_id, TOKEN_DESCRIPTION)
            self._record("bot_token", token["id"], "bot access token", created=True)
            self.context.config.set("mattermost_bot_token", token["token"])
            self.context.config.set("mattermost_bot_user_id", bot_id)
            self.context.config.save()
            return token

        token = plan.change("create", "bot access token", f"written to {self.context.config.path}", create)
        if token is not None:
            plan.note(f"bot access token {mask(token['token'])} written to {self.context.config.path}")
        if recorded is not None and token is not None:
            plan.change("remove", "old bot access token", "it no longer signs in, or is not in the configuration",
                        lambda: self._revoke_quietly(recorded.id))

    def _token_works(self, token: str, bot_id: str) -> bool:
        try:
            me = MattermostClient(self.admin.base_url, token, timeout=self.admin.timeout).get_me()
        except MattermostError:
            return False
        return me.get("id") == bot_id

    def _revoke_quietly(self, token_id: str) -> None:
        if self.admin.get_user_access_token(token_id) is not None:
            self.admin.revoke_user_access_token(token_id)

    def _membership(self, plan: Plan, type_: str, where_id: str, label: str, bot_id: str | None,
                    find: Callable[[str, str], JsonObject | None], add: Callable[[str, str], JsonObject]) -> None:
        if bot_id is not None and find(where_id, bot_id) is not None:
            plan.say("keep", label)
            self._record(type_, where_id, label, created=self._created_before(type_, label))
            return
        if plan.change("create", label, "so the bot can post there", lambda: add(where_id, str(bot_id))) is not None:
            self._record(type_, where_id, label, created=True)

    def _existing_command(self, team_id: str) -> JsonObject | None:
        trigger = self.manifest.slash_command.trigger
        return next((c for c in self.admin.list_commands(team_id)
                     if c.get("trigger") == trigger and not c.get("delete_at")), None)

    def _ours_command(self, command: JsonObject, team_name: str) -> bool:
        recorded = self.context.ledger.find(self.host_key, "command", self._command_label(team_name))
        return command.get("url") == self.command_url or (recorded is not None and recorded.id == command.get("id"))

    def _command_label(self, team_name: str) -> str:
        return f"/{self.manifest.slash_command.trigger} in team {team_name}"

    def _desired_command(self, team_id: str) -> JsonObject:
        command = self.manifest.slash_command
        icon = self.manifest.display_information.icon_url
        return {
            "team_id": team_id, "trigger": command.trigger, "method": "P", "url": self.command_url,
            "display_name": command.display_name, "description": command.description,
            "auto_complete": command.autocomplete, "auto_complete_desc": command.description,
            "auto_complete_hint": autocomplete_hint() if command.autocomplete else "",
            "username": "", "icon_url": str(icon) if icon else "",
        }

    def _command(self, plan: Plan, team_id: str, team_name: str, existing: JsonObject | None) -> None:
        label = self._command_label(team_name)
        desired = self._desired_command(team_id)
        if existing is None:
            created = plan.change("create", f"slash command {label}", f"calls {self.command_url}",
                                  lambda: self.admin.create_command(desired))
            if created is not None:
                self._record("command", created["id"], label, created=True, team_id=team_id)
                self._add_token("mattermost_command_tokens", created["token"], f"slash command token ({team_name})")
            return
        self._record("command", existing["id"], label, created=self._created_before("command", label), team_id=team_id)
        differing = sorted(key for key, value in desired.items() if existing.get(key, "") != value)
        if differing:
            plan.change("update", f"slash command {label}", ", ".join(differing),
                        lambda: self.admin.update_command({**existing, **desired}))
        else:
            plan.say("keep", f"slash command {label}", f"calls {self.command_url}")
        self._add_token("mattermost_command_tokens", existing["token"], f"slash command token ({team_name})", plan)

    def _outgoing_webhook(self, plan: Plan, channel: Channel) -> None:
        label = channel.label
        recorded = self.context.ledger.find(self.host_key, "outgoing_webhook", label)
        hooks = [h for h in self.admin.iter_outgoing_webhooks(channel.team_id)
                 if h.get("channel_id") == channel.id and not h.get("delete_at")]
        ours = next((h for h in hooks if self.webhook_url in (h.get("callback_urls") or [])), None)
        if ours is None and recorded is not None:
            ours = next((h for h in hooks if h.get("id") == recorded.id), None)
        if ours is None:
            desired = {
                "team_id": channel.team_id, "channel_id": channel.id,
                "display_name": self.manifest.outgoing_webhooks.display_name,
                "description": self.manifest.outgoing_webhooks.description,
                "trigger_words": [], "trigger_when": 0, "callback_urls": [self.webhook_url],
                "content_type": "application/json",
            }
            created = plan.change("create", f"outgoing webhook in {label}", f"calls {self.webhook_url}",
                                  lambda: self.admin.create_outgoing_webhook(desired))
            if created is not None:
                self._record("outgoing_webhook", created["id"], label, created=True)
                self._add_token("mattermost_webhook_tokens", created["token"], f"outgoing webhook token ({label})")
            return
        self._record("outgoing_webhook", ours["id"], label, created=self._created_before("outgoing_webhook", label))
        if self.webhook_url not in (ours.get("callback_urls") or []):
            plan.change("update", f"outgoing webhook in {label}", f"calls {self.webhook_url}",
                        lambda: self.admin.update_outgoing_webhook({**ours, "callback_urls": [self.webhook_url]}))
        else:
            plan.say("keep", f"outgoing webhook in {label}", f"calls {self.webhook_url}")
        self._add_token("mattermost_webhook_tokens", ours["token"], f"outgoing webhook token ({label})", plan)

    def _add_token(self, key: str, token: str, what: str, plan: Plan | None = None) -> None:
        """Written at once: Mattermost shows a new integration's token only in the reply that made it."""
        config = self.context.config
        current = config.get(key) or []
        if token in current:
            return
        if plan is not None:
            plan.change("update", f"{config.path.name}: {key}", f"add the {what} {mask(token)}",
                        lambda: self._save_token(key, token))
        else:
            self._save_token(key, token)

    def _save_token(self, key: str, token: str) -> None:
        self.context.config.add_to_list(key, token)
        self.context.config.save()

    def _set_config(self, plan: Plan, key: str, value: str, what: str) -> None:
        if self.context.config.get(key) == value:
            return

        def write() -> None:
            self.context.config.set(key, value)
            self.context.config.save()

        plan.change("update", f"{self.context.config.path.name}: {key}", f"{what} {value}", write)

    def _created_before(self, type_: str, label: str) -> bool:
        recorded = self.context.ledger.find(self.host_key, type_, label)
        return recorded is not None and recorded.created

    def _record(self, type_: str, id_: str, label: str, *, created: bool, **data: str) -> None:
        if not self.context.dry_run:
            self.context.ledger.record(self.host_key, Resource(type_, id_, label, created, data))

    # ---------------------------------------------------------------- uninstall

    def uninstall(self, plan: Plan) -> None:
        resources = self.context.ledger.resources(self.host_key)
        if not resources:
            plan.say("leave", f"Mattermost at {self.admin.base_url}", "the install record lists nothing learnloop "
                     "made there")
            return
        try:
            self.admin.get_me()
        except MattermostError as exc:
            raise InstallBlocked(self.host_key, [f"Mattermost refused the admin token or cannot be reached "
                                                 f"({describe_failure(exc)})"])
        bot = next((r for r in resources if r.type == "bot"), None)
        for resource in reversed(resources):
            if not resource.created:
                plan.say("leave", self._name(resource), "it was there before learnloop was installed")
                self._forget(resource)
                continue
            remove = self._remover(resource, bot.id if bot else None)
            plan.change("remove", self._name(resource), self._removal_detail(resource), remove)
        if not plan.dry_run:
            self.context.config.save()

    @staticmethod
    def _name(resource: Resource) -> str:
        """The same words install used for the resource."""
        prefix = {"bot": "bot account ", "bot_token": "", "command": "slash command ",
                  "outgoing_webhook": "outgoing webhook in "}.get(resource.type, "")
        return prefix + resource.label

    def _removal_detail(self, resource: Resource) -> str:
        if resource.type == "bot":
            return ("disable it (Mattermost keeps bot accounts; delete it in System Console → Integrations → Bot "
                    "Accounts if you wish)")
        return {"bot_token": "revoke it", "command": "delete it", "outgoing_webhook": "delete it"}.get(
            resource.type, "remove the membership")

    def _remover(self, resource: Resource, bot_id: str | None) -> Callable[[], None]:
        config = self.context.config

        def remove() -> None:
            if resource.type == "outgoing_webhook":
                hook = self.admin.get_outgoing_webhook(resource.id)
                if hook is not None:
                    self.admin.delete_outgoing_webhook(resource.id)
                    config.remove_from_list("mattermost_webhook_tokens", hook["token"])
            elif resource.type == "command":
                command = self.admin.find_command(resource.data["team_id"], resource.id)
                if command is not None:
                    self.admin.delete_command(resource.id)
                    config.remove_from_list("mattermost_command_tokens", command["token"])
            elif resource.type in ("team_member", "channel_member") and bot_id:
                find = self.admin.find_team_member if resource.type == "team_member" else self.admin.find_channel_member
                drop = (self.admin.remove_team_member if resource.type == "team_member"
                        else self.admin.remove_channel_member)
                if find(resource.id, bot_id) is not None:
                    drop(resource.id, bot_id)
            elif resource.type == "bot_token":
                self._revoke_quietly(resource.id)
                config.remove("mattermost_bot_token")
            elif resource.type == "bot":
                if self.admin.get_bot(resource.id) is not None:
                    self.admin.disable_bot(resource.id)
                config.remove("mattermost_bot_user_id")
            config.save()
            self._forget(resource)

        return remove

    def _forget(self, resource: Resource) -> None:
        if not self.context.dry_run:
            self.context.ledger.forget(self.host_key, resource)
