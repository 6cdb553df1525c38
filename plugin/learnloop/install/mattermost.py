"""Installs learnloop into Mattermost from `manifests/mattermost.yaml`, with an admin's token.

Checks first (mattermost_checks.py: reachable, token, permissions, server settings, conflicts) and
touches nothing if a check fails. Then finds or creates, in order: the bot account, its access
token, the bot's team and channel memberships, the slash command per team and one outgoing webhook
per channel, and the OAuth app for "Sign in with Mattermost" (mattermost_oauth.py), writing each token
into learnloop's configuration file as soon as Mattermost shows it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

from learnloop.config import ENV_PREFIX
from learnloop.install.config_file import fingerprint, mask
from learnloop.install.ledger import Resource
from learnloop.install.manifest import MattermostManifest
from learnloop.install.mattermost_checks import Channel, MattermostChecks, Target
from learnloop.install.mattermost_checks import host_key as mattermost_host_key
from learnloop.install.mattermost_oauth import CLIENT_ID, CLIENT_SECRET, OAUTH_APP, OAuthAppStep
from learnloop.install.plan import InstallContext, InstallFailed, Plan
from learnloop.mattermost.admin_client import MattermostAdminClient, describe_failure
from learnloop.mattermost.client import JsonObject, MattermostClient, MattermostError
from learnloop.wiring import commands

TOKEN_DESCRIPTION = "learnloop service (made by learnloop install)"
WRITTEN_KEYS = ("mattermost_url", "mattermost_bot_token", "mattermost_bot_user_id", "mattermost_command_tokens",
                "mattermost_webhook_tokens", CLIENT_ID, CLIENT_SECRET)
TOKEN_KEYS = {"command": "mattermost_command_tokens", "outgoing_webhook": "mattermost_webhook_tokens",
              "bot_token": "mattermost_bot_token", OAUTH_APP: CLIENT_SECRET}
"""Where learnloop.toml holds the token of each kind of resource install records."""
T = TypeVar("T")


def _command_key(command: JsonObject) -> str:
    return f"/{command.get('trigger')} {command.get('url')}"


class MattermostInstaller(MattermostChecks):
    def __init__(self, manifest: MattermostManifest, context: InstallContext, admin: MattermostAdminClient, *,
                 teams: tuple[str, ...] = (), channels: tuple[str, ...] = ()) -> None:
        self.manifest = manifest
        self.context = context
        self.admin = admin
        self.extra_teams = teams
        self.extra_channels = channels
        self.host_key = mattermost_host_key(admin.base_url)
        public = context.settings.public_url_text
        self.command_url = public + manifest.slash_command.path
        self.webhook_url = public + manifest.outgoing_webhooks.path
        self.oauth = OAuthAppStep(manifest, context, admin, self.host_key)

    # ------------------------------------------------------------------ install

    def install(self, plan: Plan) -> None:
        target = self.preflight(plan)
        try:
            self._install(plan, target)
        except MattermostError as exc:
            raise InstallFailed(f"Mattermost answered {describe_failure(exc)}") from exc
        for key in WRITTEN_KEYS:
            if f"{ENV_PREFIX}{key.upper()}" in os.environ:
                plan.note(f"note: {ENV_PREFIX}{key.upper()} is set in the environment and wins over "
                          f"{self.context.config.path.name}; remove it so the installed value is used")

    def _install(self, plan: Plan, target: Target) -> None:
        bot_id = self._bot(plan, target)
        self._bot_token(plan, bot_id)
        bot_name = f"@{self.manifest.bot_user.username}"
        for team_id, team_name in target.teams.items():
            self._membership(plan, "team_member", team_id, f"{bot_name} in team {team_name}", bot_id,
                             target.memberships.get(team_id), self.admin.add_team_member)
            self._command(plan, team_id, team_name, target.commands[team_id])
        for channel in target.channels:
            self._membership(plan, "channel_member", channel.id, f"{bot_name} in {channel.label}", bot_id,
                             target.memberships.get(channel.id), self.admin.add_channel_member)
            if channel.listen:
                self._outgoing_webhook(plan, channel, target.hooks[channel.team_id])
            else:
                plan.say("leave", f"outgoing webhook in {channel.label}",
                         "private channel: Mattermost sends no outgoing webhooks from private channels, so links "
                         "shared there are not collected")
        self.oauth.install(plan, target.oauth_app, may_trust=target.may_trust)
        self._set_config(plan, "mattermost_url", self.admin.base_url, "Mattermost URL")
        if not plan.dry_run:
            self.context.ledger.set_status(self.host_key, "complete")

    def _bot(self, plan: Plan, target: Target) -> str | None:
        bot_user = self.manifest.bot_user
        label = f"@{bot_user.username}"
        user = target.bot_user
        if user is None:
            created = plan.change("create", f"bot account {label}", bot_user.display_name,
                                  lambda: self._creating("bot", label, bot_user.username, lambda: self.admin.create_bot(
                                      bot_user.username, bot_user.display_name, bot_user.description)))
            if created is None:
                return None
            self._record("bot", created["user_id"], label, created=True)
            return str(created["user_id"])
        user_id = str(user["id"])
        bot = target.bot or {}
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
        # enabled again by learnloop (an uninstall disabled it): uninstall disables it again, as it found it
        self._record("bot", user_id, label, created=self._created_before("bot", label, bot_user.username)
                     or bool(bot.get("delete_at")))
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
            self._record("bot_token", token["id"], "bot access token", created=True,
                         token_sha256=fingerprint(token["token"]))
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
                    found: JsonObject | None, add: Callable[[str, str], JsonObject]) -> None:
        """A team member Mattermost removed is kept with delete_at set and no roles (a soft delete):
        it counts as absent, and adding it again restores it (`app/teams/teams.go` `JoinUserToTeam`)."""
        if found is not None and not found.get("delete_at"):
            plan.say("keep", label)
            self._record(type_, where_id, label, created=self._created_before(type_, label, where_id))
            return
        detail = "so the bot can post there" + ("; it was removed before" if found is not None else "")
        if plan.change("create", label, detail,
                       lambda: self._creating(type_, label, where_id, lambda: add(where_id, str(bot_id)))) is not None:
            self._record(type_, where_id, label, created=True)

    def _desired_command(self, team_id: str) -> JsonObject:
        command = self.manifest.slash_command
        icon = self.manifest.display_information.icon_url
        return {
            "team_id": team_id, "trigger": command.trigger, "method": "P", "url": self.command_url,
            "display_name": command.display_name, "description": command.description,
            "auto_complete": command.autocomplete, "auto_complete_desc": command.description,
            "auto_complete_hint": commands().autocomplete_hint() if command.autocomplete else "",
            "username": "", "icon_url": str(icon) if icon else "",
        }

    def _command(self, plan: Plan, team_id: str, team_name: str, existing: JsonObject | None) -> None:
        label = self.command_label(team_name)
        desired = self._desired_command(team_id)
        if existing is None:
            created = plan.change("create", f"slash command {label}", f"calls {self.command_url}",
                                  lambda: self._creating("command", label, _command_key(desired),
                                                         lambda: self.admin.create_command(desired)))
            if created is not None:
                self._made("command", created, label, f"slash command token ({team_name})", team_id=team_id)
            return
        self._record("command", existing["id"], label,
                     created=self._created_before("command", label, _command_key(existing)), team_id=team_id,
                     token_sha256=fingerprint(existing["token"]))
        differing = sorted(key for key, value in desired.items() if existing.get(key, "") != value)
        if differing:
            plan.change("update", f"slash command {label}", ", ".join(differing),
                        lambda: self.admin.update_command({**existing, **desired}))
        else:
            plan.say("keep", f"slash command {label}", f"calls {self.command_url}")
        self._add_token("mattermost_command_tokens", existing["token"], f"slash command token ({team_name})", plan)

    def _outgoing_webhook(self, plan: Plan, channel: Channel, team_hooks: list[JsonObject]) -> None:
        label = channel.label
        recorded = self.context.ledger.find(self.host_key, "outgoing_webhook", label)
        hooks = [h for h in team_hooks if h.get("channel_id") == channel.id and not h.get("delete_at")]
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
                                  lambda: self._creating("outgoing_webhook", label, self.webhook_url,
                                                         lambda: self.admin.create_outgoing_webhook(desired)))
            if created is not None:
                self._made("outgoing_webhook", created, label, f"outgoing webhook token ({label})")
            return
        found_key = self.webhook_url if self.webhook_url in (ours.get("callback_urls") or []) else None
        self._record("outgoing_webhook", ours["id"], label,
                     created=self._created_before("outgoing_webhook", label, found_key),
                     token_sha256=fingerprint(ours["token"]))
        if self.webhook_url not in (ours.get("callback_urls") or []):
            plan.change("update", f"outgoing webhook in {label}", f"calls {self.webhook_url}",
                        lambda: self.admin.update_outgoing_webhook({**ours, "callback_urls": [self.webhook_url]}))
        else:
            plan.say("keep", f"outgoing webhook in {label}", f"calls {self.webhook_url}")
        self._add_token("mattermost_webhook_tokens", ours["token"], f"outgoing webhook token ({label})", plan)

    def _made(self, type_: str, made: JsonObject, label: str, what: str, **data: str) -> None:
        """A command or webhook just created: recorded, its token written, and the token of the one it
        replaces (gone from Mattermost, so dead) dropped from the configuration."""
        replaced = self.context.ledger.find(self.host_key, type_, label)
        self._record(type_, made["id"], label, created=True, token_sha256=fingerprint(made["token"]), **data)
        if replaced is not None and "token_sha256" in replaced.data:
            self.context.config.remove_fingerprinted(TOKEN_KEYS[type_], replaced.data["token_sha256"])
        self._add_token(TOKEN_KEYS[type_], made["token"], what)

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

    def _created_before(self, type_: str, label: str, key: str | None) -> bool:
        return self.context.ledger.made(self.host_key, type_, label, key)

    def _creating(self, type_: str, label: str, key: str, create: Callable[[], T]) -> T:
        return self.context.ledger.creating(self.host_key, type_, label, key, create)

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
        self.signed_in()
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
                  "outgoing_webhook": "outgoing webhook in ", OAUTH_APP: ""}.get(resource.type, "")
        return prefix + resource.label

    def _removal_detail(self, resource: Resource) -> str:
        if resource.type == "bot":
            return ("disable it (Mattermost keeps bot accounts; delete it in System Console → Integrations → Bot "
                    "Accounts if you wish)")
        token = f"; its token leaves {self.context.config.path.name}"
        return {"bot_token": f"revoke it{token}", "command": f"delete it{token}",
                "outgoing_webhook": f"delete it{token}",
                OAUTH_APP: f"delete it; its client id and secret leave {self.context.config.path.name}"}.get(
            resource.type, "remove the membership")

    def _remover(self, resource: Resource, bot_id: str | None) -> Callable[[], None]:
        config = self.context.config

        def remove() -> None:
            if resource.type == "outgoing_webhook":
                hook = self.admin.get_outgoing_webhook(resource.id)
                if hook is not None:
                    self.admin.delete_outgoing_webhook(resource.id)
                    config.remove_from_list(TOKEN_KEYS[resource.type], hook["token"])
            elif resource.type == "command":
                command = self.admin.find_command(resource.data["team_id"], resource.id)
                if command is not None:
                    self.admin.delete_command(resource.id)
                    config.remove_from_list(TOKEN_KEYS[resource.type], command["token"])
            elif resource.type in ("team_member", "channel_member") and bot_id:
                find = self.admin.find_team_member if resource.type == "team_member" else self.admin.find_channel_member
                drop = (self.admin.remove_team_member if resource.type == "team_member"
                        else self.admin.remove_channel_member)
                found = find(resource.id, bot_id)
                if found is not None and not found.get("delete_at"):
                    drop(resource.id, bot_id)
            elif resource.type == "bot_token":
                self._revoke_quietly(resource.id)
                if "token_sha256" not in resource.data:
                    config.remove(TOKEN_KEYS[resource.type])
            elif resource.type == "bot":
                if self.admin.get_bot(resource.id) is not None:
                    self.admin.disable_bot(resource.id)
                config.remove("mattermost_bot_user_id")
            elif resource.type == OAUTH_APP:
                self.oauth.remover(resource)()
            if "token_sha256" in resource.data:
                config.remove_fingerprinted(TOKEN_KEYS[resource.type], resource.data["token_sha256"])
            config.save()
            self._forget(resource)

        return remove

    def _forget(self, resource: Resource) -> None:
        if not self.context.dry_run:
            self.context.ledger.forget(self.host_key, resource)
