"""What the Mattermost installer reads and checks before it changes anything.

Every read happens here, so a refused or failing call becomes a problem the admin can act on (the
install then touches nothing), never a traceback half-way through the steps: the token must be a
person's, with the permissions Mattermost checks for each call (mattermost_permissions.py); the
server's settings must allow bots, slash commands and outgoing webhooks; teams and channels must
exist; nothing else may own the slash command's trigger or the bot's username.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from pydantic import AnyHttpUrl, ValidationError

from learnloop.install.manifest import MattermostManifest
from learnloop.install.mattermost_oauth import OAUTH_OFF, find_app
from learnloop.install.mattermost_permissions import (
    OWN_COMMANDS,
    OWN_HOOKS,
    SETTINGS_READ,
    channel_needs,
    missing,
    system_needs,
    team_needs,
)
from learnloop.install.plan import InstallBlocked, InstallContext, Plan
from learnloop.install.reachability import untrusted_problem
from learnloop.mattermost.admin_client import MattermostAdminClient, describe_failure
from learnloop.mattermost.client import JsonObject, MattermostError, MattermostUnavailable
from learnloop.mattermost.oauth import callback_url

PUBLIC_CHANNEL = "O"
NOT_IMPLEMENTED = 501
FORBIDDEN = 403
BOTS_OFF = ("bot accounts are off: System Console → Integrations → Bot Accounts → 'Enable Bot Account Creation' = "
            "true (ServiceSettings.EnableBotAccountCreation)")
COMMANDS_OFF = ("custom slash commands are off: System Console → Integrations → Integration Management → 'Enable "
                "Custom Slash Commands' = true (ServiceSettings.EnableCommands)")
HOOKS_OFF = ("outgoing webhooks are off: System Console → Integrations → Integration Management → 'Enable Outgoing "
             "Webhooks' = true (ServiceSettings.EnableOutgoingWebhooks)")
TOKEN_HELP = "a system admin's personal access token (Profile → Security → Personal Access Tokens)"
T = TypeVar("T")


def host_key(base_url: str) -> str:
    """The install record's key for a Mattermost: its address as learnloop.toml holds it (the scheme and host in
    lower case, no default port), however --url spelt it, so uninstall and doctor find what install made."""
    try:
        site = str(AnyHttpUrl(base_url)).rstrip("/")
    except ValidationError:
        site = base_url.rstrip("/")
    return f"mattermost {site}"

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
    """What the checks found; the steps use it instead of asking Mattermost again."""

    me: JsonObject
    teams: dict[str, str] = field(default_factory=dict)
    """Team id to team name."""
    channels: list[Channel] = field(default_factory=list)
    bot_user: JsonObject | None = None
    """The account with the bot's username."""
    bot: JsonObject | None = None
    """Its bot record (disabled ones too), when the account is a bot."""
    commands: dict[str, JsonObject | None] = field(default_factory=dict)
    """Team id to the command with our trigger there."""
    hooks: dict[str, list[JsonObject]] = field(default_factory=dict)
    """Team id to its outgoing webhooks, for the teams with a channel to listen in."""
    memberships: dict[str, JsonObject | None] = field(default_factory=dict)
    """Team or channel id to the bot's membership there (a removed team member has delete_at set)."""
    oauth_app: JsonObject | None = None
    """Our OAuth app ("Sign in with Mattermost"), when Mattermost has it."""
    may_trust: bool = False
    """Whether the token has manage_system, without which Mattermost makes every OAuth app untrusted."""

    def listens_in(self, team_id: str) -> bool:
        return any(channel.listen and channel.team_id == team_id for channel in self.channels)


def _roles(holder: JsonObject | None) -> list[str]:
    return str((holder or {}).get("roles") or "").split()


class MattermostChecks:
    """The checks half of `MattermostInstaller`."""

    manifest: MattermostManifest
    context: InstallContext
    admin: MattermostAdminClient
    extra_teams: tuple[str, ...]
    extra_channels: tuple[str, ...]
    host_key: str
    command_url: str

    def preflight(self, plan: Plan) -> Target:
        plan.status(f"checking Mattermost at {self.admin.base_url}: the token, its permissions, the server's "
                    "settings, the teams and channels")
        target = Target(me=self.signed_in())
        problems: list[str] = []
        username = self.manifest.bot_user.username
        target.bot_user = self._read(problems, f"look up @{username}",
                                     lambda: self.admin.find_user_by_username(username))
        if target.bot_user is not None and target.bot_user.get("is_bot"):
            bot_id = str(target.bot_user["id"])
            target.bot = self._read(problems, f"read the bot @{username}", lambda: self.admin.get_bot(bot_id))
        self._resolve(target, problems)
        refused = self._permission_problems(target)
        problems += refused
        problems += self._server_setting_problems(target)
        self._existing(target, problems, explained=bool(refused))
        problems += self._conflicts(target)
        if problems:
            raise InstallBlocked(self.host_key, list(dict.fromkeys(problems)))
        return target

    def signed_in(self) -> JsonObject:
        """Reachable, and the token a person's (install and uninstall): nothing else can be checked otherwise."""
        url = self.admin.base_url
        try:
            self.admin.ping()
        except MattermostUnavailable as exc:
            raise InstallBlocked(self.host_key, [
                f"cannot reach Mattermost at {url} ({exc.message}): check --url and that this machine can reach it"]
            ) from None
        except MattermostError as exc:
            raise InstallBlocked(self.host_key, [(
                f"{url} is not answering like a Mattermost server ({describe_failure(exc)} from /api/v4/system/ping): "
                "check --url")]) from None
        try:
            me = self.admin.get_me()
        except MattermostError as exc:
            raise InstallBlocked(self.host_key, [
                f"Mattermost refused the admin token ({describe_failure(exc)}): pass {TOKEN_HELP} with --token"]
            ) from None
        if me.get("is_bot"):
            raise InstallBlocked(self.host_key, [
                f"--token belongs to a bot (@{me.get('username')}); the installer needs {TOKEN_HELP}"])
        return me

    def _read(self, problems: list[str], what: str, call: Callable[[], T]) -> T | None:
        try:
            return call()
        except MattermostError as exc:
            problems.append(f"cannot {what} ({describe_failure(exc)})")
            return None

    def _lookup(self, problems: list[str], what: str, call: Callable[[], JsonObject | None], *,
                absent: str) -> JsonObject | None:
        """`call`'s answer; `absent` is the problem when Mattermost has no such thing."""
        found = self._read(problems, what, call)
        if found is None or found.get("delete_at"):
            problems.append(absent)
            return None
        return found

    def _resolve(self, target: Target, problems: list[str]) -> None:
        for name in dict.fromkeys([*self.manifest.teams, *self.extra_teams]):
            team = self._lookup(problems, f"read team '{name}'", partial(self.admin.get_team_by_name, name),
                                absent=f"team '{name}' does not exist (use the team's name from its URL)")
            if team is not None:
                target.teams[team["id"]] = team["name"]
        for ref in dict.fromkeys([*self.manifest.outgoing_webhooks.channels, *self.extra_channels]):
            team_name, _, channel_name = ref.partition("/")
            absent = f"channel '{ref}' not found (write team-name/channel-name as in the channel's URL)"
            if not channel_name:
                problems.append(absent)
                continue
            found = self._lookup(problems, f"read channel '{ref}'",
                                 partial(self.admin.find_channel_by_names, team_name, channel_name), absent=absent)
            if found is None:
                continue
            if found.get("type") != PUBLIC_CHANNEL:
                problems.append(f"channel '{ref}' is private: Mattermost sends outgoing webhooks from public channels "
                                "only; name a public channel")
                continue
            self._add_channel(target, found, team_name, listen=True)
        if self.manifest.outgoing_webhooks.community_channels:
            self._community_channels(target, problems)
        if not target.teams:
            problems.append("no team to install into: name one under 'teams' in the manifest, or pass --team NAME "
                            "or --channel TEAM/CHANNEL")

    def _community_channels(self, target: Target, problems: list[str]) -> None:
        """Every channel of every configured community: its own and the others that count towards it."""
        for community, channel_id in ((c, channel) for c in self.context.settings.communities
                                      for channel in c.all_channels):
            found = self._lookup(problems, f"read channel {channel_id}", partial(self.admin.find_channel, channel_id),
                                 absent=f"community '{community.name}' names channel {channel_id}, which Mattermost "
                                        "does not have (or archived): fix channel_id or channels in the configuration")
            if found is None:
                continue
            team = self._read(problems, f"read the team of channel {channel_id}",
                              partial(self.admin.get_team, found["team_id"]))
            team_name = team["name"] if team else found["team_id"]
            self._add_channel(target, found, team_name, listen=found.get("type") == PUBLIC_CHANNEL)

    @staticmethod
    def _add_channel(target: Target, found: JsonObject, team_name: str, *, listen: bool) -> None:
        if any(channel.id == found["id"] for channel in target.channels):
            return
        target.teams.setdefault(found["team_id"], team_name)
        target.channels.append(Channel(found["id"], found["team_id"], team_name, found["name"],
                                       found.get("type") == PUBLIC_CHANNEL, listen))

    def _permission_problems(self, target: Target) -> list[str]:
        """The token's roles against what Mattermost checks for each call, scope by scope as
        `app/authorization.go` does: system roles; in a team also the roles of an active membership;
        in a channel also the channel roles, and everything with manage_system."""
        me = target.me
        system_roles = _roles(me)
        if "system_admin" in system_roles:
            target.may_trust = True
            return []
        try:
            team_roles = {m["team_id"]: _roles(m) for m in self.admin.get_my_team_members()
                          if m.get("team_id") in target.teams and not m.get("delete_at")}
            channel_roles = {c.id: _roles(self.admin.find_channel_member(c.id, str(me["id"]))) for c in target.channels}
            names = sorted({*system_roles, *(r for roles in [*team_roles.values(), *channel_roles.values()]
                                              for r in roles)})
            granted = {role["name"]: set(role.get("permissions") or []) for role in self.admin.get_roles(names)}
        except MattermostError as exc:
            return [f"cannot read the admin token's roles ({describe_failure(exc)}); use {TOKEN_HELP}"]

        def permissions(roles: list[str]) -> set[str]:
            return set().union(*(granted.get(role, set()) for role in roles))

        user = f"@{me.get('username')}"
        system = permissions(system_roles)
        target.may_trust = "manage_system" in system
        problems = []
        lacking = missing(system_needs(me, target.bot_user, target.bot, oauth=self.manifest.oauth_app.enabled),
                          system)
        if lacking:
            problems.append(f"{user} lacks the permission(s) {', '.join(lacking)}: use {TOKEN_HELP}, or grant them "
                            "in System Console → User Management → System Roles")
        for team_id, team_name in target.teams.items():
            lacking = missing(team_needs(listens=target.listens_in(team_id)),
                              system | permissions(team_roles.get(team_id, [])))
            if lacking:
                problems.append(f"{user} lacks the permission(s) {', '.join(lacking)} in team {team_name}: make them "
                                "a team admin there, or grant them in the team's permission scheme")
        for channel in target.channels:
            held = system | permissions(team_roles.get(channel.team_id, [])) | permissions(channel_roles[channel.id])
            lacking = [] if "manage_system" in system else missing(channel_needs(public=channel.public), held)
            if lacking:
                problems.append(f"{user} lacks the permission {', '.join(lacking)} in {channel.label}, needed to add "
                                "the bot there: use a team admin's or a system admin's token")
        return problems

    def _server_setting_problems(self, target: Target) -> list[str]:
        """A setting the token may not see (no System Console read access to its section) is not judged."""
        try:
            service = self.admin.get_config().get("ServiceSettings") or {}
        except MattermostError as exc:
            reads = ", ".join(dict.fromkeys(SETTINGS_READ.values()))
            return [(f"cannot read the server configuration ({describe_failure(exc)}), so its settings were not "
                     f"checked: the token's roles need {reads}")]
        problems = []
        if target.bot_user is None and service.get("EnableBotAccountCreation") is False:
            problems.append(BOTS_OFF)
        if service.get("EnableCommands") is False:
            problems.append(COMMANDS_OFF)
        if any(c.listen for c in target.channels) and service.get("EnableOutgoingWebhooks") is False:
            problems.append(HOOKS_OFF)
        if self.manifest.oauth_app.enabled and service.get("EnableOAuthServiceProvider") is False:
            problems.append(OAUTH_OFF)
        allowed = service.get("AllowedUntrustedInternalConnections")
        untrusted = None if allowed is None else untrusted_problem(self.context.settings.public_url_text, str(allowed))
        if untrusted:
            problems.append(untrusted)
        return problems

    def _existing(self, target: Target, problems: list[str], *, explained: bool) -> None:
        """Our command and webhooks, and the bot's memberships, as they are now. A 403 already
        explained by a missing permission is not repeated; a 501 names the setting that is off."""
        trigger = self.manifest.slash_command.trigger
        for team_id, team_name in target.teams.items():
            commands = self._listing(problems, f"list the slash commands of team {team_name}",
                                     partial(self.admin.list_commands, team_id), off=COMMANDS_OFF,
                                     needs=f"view_team and {OWN_COMMANDS}", explained=explained)
            target.commands[team_id] = next((c for c in commands or [] if c.get("trigger") == trigger
                                             and not c.get("delete_at")), None)
            if target.listens_in(team_id):
                hooks = self._listing(problems, f"list the outgoing webhooks of team {team_name}",
                                      partial(self.admin.list_outgoing_webhooks, team_id), off=HOOKS_OFF,
                                      needs=str(OWN_HOOKS), explained=explained)
                target.hooks[team_id] = hooks or []
        if self.manifest.oauth_app.enabled:
            target.oauth_app = self._oauth_app(problems, explained=explained)
        if target.bot_user is None:
            return
        bot_id = str(target.bot_user["id"])
        for team_id, team_name in target.teams.items():
            target.memberships[team_id] = self._read(problems, f"read the bot's membership of team {team_name}",
                                                     partial(self.admin.find_team_member, team_id, bot_id))
        for channel in target.channels:
            target.memberships[channel.id] = self._read(problems, f"read the bot's membership of {channel.label}",
                                                        partial(self.admin.find_channel_member, channel.id, bot_id))

    def _oauth_app(self, problems: list[str], *, explained: bool) -> JsonObject | None:
        def ours() -> list[JsonObject]:
            found = find_app(self.admin, self.context.ledger, self.host_key, callback_url(self.context.settings))
            return [found] if found is not None else []

        found = self._listing(problems, "read the OAuth apps", ours, off=OAUTH_OFF, needs="manage_oauth",
                              explained=explained)
        return found[0] if found else None

    def _listing(self, problems: list[str], what: str, call: Callable[[], list[JsonObject]], *, off: str,
                 needs: str, explained: bool) -> list[JsonObject] | None:
        try:
            return call()
        except MattermostError as exc:
            if exc.status_code == NOT_IMPLEMENTED:
                problems.append(off)
            elif exc.status_code != FORBIDDEN:
                problems.append(f"cannot {what} ({describe_failure(exc)})")
            elif not explained:
                problems.append(f"Mattermost refused to {what} ({describe_failure(exc)}): it asks for {needs} there; "
                                f"use {TOKEN_HELP}")
            return None

    def _conflicts(self, target: Target) -> list[str]:
        problems = []
        username = self.manifest.bot_user.username
        user = target.bot_user
        if user is not None and not user.get("is_bot"):
            problems.append(f"@{username} is a person's account, not a bot: choose another bot_user.username in "
                            "the manifest")
        trigger = self.manifest.slash_command.trigger
        for team_id, team_name in target.teams.items():
            existing = target.commands.get(team_id)
            if existing is not None and not self.ours_command(existing, team_name):
                problems.append(f"team {team_name} already has a /{trigger} command calling {existing.get('url')}: "
                                "remove it (Integrations → Slash Commands) or choose another slash_command.trigger")
        return problems

    def ours_command(self, command: JsonObject, team_name: str) -> bool:
        recorded = self.context.ledger.find(self.host_key, "command", self.command_label(team_name))
        return command.get("url") == self.command_url or (recorded is not None and recorded.id == command.get("id"))

    def command_label(self, team_name: str) -> str:
        return f"/{self.manifest.slash_command.trigger} in team {team_name}"
