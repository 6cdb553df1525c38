"""The permissions Mattermost checks for the calls the installer makes, by the names the server
checks them under (mattermost/mattermost, `server/channels/api4/*.go` and
`server/channels/app/authorization.go`).

Mattermost 11.2 renamed `manage_slash_commands` and `manage_outgoing_webhooks` to
`manage_own_slash_commands` and `manage_own_outgoing_webhooks`
(`app/permissions_migrations.go` `getIntegrationsOwnPermissionsMigration`, PR #34421). Servers
before 11.2, among them the 9.x and 10.x extended-support releases, still check the old names, so
either is accepted. (`manage_webhooks`, split in two in Mattermost 5.x in 2019, is not.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from learnloop.mattermost.client import JsonObject

SETTINGS_READ = {
    "EnableBotAccountCreation": "sysconsole_read_integrations_bot_accounts",
    "EnableCommands": "sysconsole_read_integrations_integration_management",
    "EnableOutgoingWebhooks": "sysconsole_read_integrations_integration_management",
    "AllowedUntrustedInternalConnections": "sysconsole_read_environment_web_server",
    "EnableOAuthServiceProvider": "sysconsole_read_integrations_integration_management",
}
"""`api4/config.go` `getConfig` shows a setting only with the read permission of the System Console
section its `access` tag in `model/config.go` names."""


@dataclass(frozen=True)
class Need:
    names: tuple[str, ...]
    """Any of these grants it; the first is the name Mattermost 11.2 and later check."""

    def __str__(self) -> str:
        if len(self.names) == 1:
            return self.names[0]
        return f"{self.names[0]} (or {', '.join(self.names[1:])} before Mattermost 11.2)"

    def granted(self, permissions: set[str]) -> bool:
        return any(name in permissions for name in self.names)


def _needs(*names: str) -> list[Need]:
    return [Need((name,)) for name in names]


TOKENS = _needs("create_user_access_token", "read_user_access_token", "revoke_user_access_token")
"""`api4/user.go` `createUserAccessToken`, `getUserAccessToken`, `revokeUserAccessToken`."""
OWN_COMMANDS = Need(("manage_own_slash_commands", "manage_slash_commands"))
OWN_HOOKS = Need(("manage_own_outgoing_webhooks", "manage_outgoing_webhooks"))


def system_needs(me: JsonObject, bot_user: JsonObject | None, bot: JsonObject | None, *,
                 oauth: bool = False) -> list[Need]:
    """`api4/bot.go` `createBot` asks create_bot; `getBot` read_bots for one's own bot, else
    read_others_bots; `patchBot`, `enableBot` and the bot's tokens go through
    `SessionHasPermissionToManageBot`: manage_bots for one's own bot, else manage_others_bots.
    `api4/oauth.go`: every OAuth app call asks manage_oauth."""
    if bot_user is None:
        bot_needs = _needs("create_bot", "read_bots", "manage_bots")
    elif bot is not None and bot.get("owner_id") == me.get("id"):
        bot_needs = _needs("read_bots", "manage_bots")
    else:
        bot_needs = _needs("read_others_bots", "manage_others_bots")
    oauth_needs = _needs("manage_oauth") if oauth else []
    return [*bot_needs, *TOKENS, *oauth_needs, *(Need((name,)) for name in dict.fromkeys(SETTINGS_READ.values()))]


def team_needs(*, listens: bool) -> list[Need]:
    """`api4/command.go` `listCommands` (view_team, then manage_own_slash_commands; since 11.2 others'
    commands are listed only with manage_others_slash_commands), `createCommand`, `updateCommand`;
    `api4/webhook.go` the same for outgoing webhooks; `api4/team.go` `addTeamMember` add_user_to_team."""
    needs = [Need(("view_team",)), Need(("add_user_to_team",)), OWN_COMMANDS, Need(("manage_others_slash_commands",))]
    if listens:
        needs += [OWN_HOOKS, Need(("manage_others_outgoing_webhooks",))]
    return needs


def channel_needs(*, public: bool) -> list[Need]:
    """`api4/channel.go` `addChannelMember`, adding someone else."""
    return [Need(("manage_public_channel_members" if public else "manage_private_channel_members",))]


def missing(needs: Iterable[Need], permissions: set[str]) -> list[str]:
    return [str(need) for need in needs if not need.granted(permissions)]
