"""The roles of the Mattermost stand-in and the permission names its checks use, as the Go server has
them (mattermost/mattermost, read at 01e8aa55 and neighbours):

- `server/public/model/role.go` `MakeDefaultRoles`: the default roles, cut down to the permissions
  the installer's calls meet (system_admin holds every permission).
- `server/channels/app/permissions_migrations.go` `getIntegrationsOwnPermissionsMigration`
  (Mattermost 11.2, PR #34421): `manage_slash_commands`, `manage_outgoing_webhooks` and
  `manage_incoming_webhooks` became `manage_own_*`; team_admin and system_admin also got the
  `manage_others_*` ones. A stand-in made with `legacy=True` uses the names the servers before
  11.2 check (10.x, and the 9.x/10.x extended-support releases).
- `server/public/model/config.go`: the System Console section (`access` tag) of each setting the
  installer reads; `GET /config` shows a setting only to a role with `sysconsole_read_<section>`.
"""

from __future__ import annotations

RENAMED_IN_11_2 = {
    "manage_own_slash_commands": "manage_slash_commands",
    "manage_own_outgoing_webhooks": "manage_outgoing_webhooks",
    "manage_own_incoming_webhooks": "manage_incoming_webhooks",
}
SETTING_SECTIONS = {
    "EnableBotAccountCreation": "integrations_bot_accounts",
    "EnableCommands": "integrations_integration_management",
    "EnableOutgoingWebhooks": "integrations_integration_management",
    "AllowedUntrustedInternalConnections": "environment_web_server",
    "EnableOAuthServiceProvider": "integrations_integration_management",
}
SYSCONSOLE_READS = sorted({f"sysconsole_read_{section}" for section in SETTING_SECTIONS.values()})

_ROLES: dict[str, list[str]] = {
    "system_user": ["list_public_teams", "join_public_teams", "create_direct_channel", "create_group_channel",
                    "view_members", "create_team"],
    "system_user_access_token": ["create_user_access_token", "read_user_access_token", "revoke_user_access_token"],
    "team_user": ["list_team_channels", "join_public_channels", "read_public_channel", "view_team",
                  "create_public_channel", "create_private_channel", "invite_user", "add_user_to_team"],
    "team_admin": ["remove_user_from_team", "manage_team", "manage_team_roles", "manage_channel_roles",
                   "manage_own_incoming_webhooks", "manage_others_incoming_webhooks", "manage_own_outgoing_webhooks",
                   "manage_others_outgoing_webhooks", "manage_own_slash_commands", "manage_others_slash_commands",
                   "delete_post", "delete_others_posts"],
    "channel_user": ["read_channel", "read_channel_content", "add_reaction", "remove_reaction",
                     "manage_public_channel_members", "upload_file", "create_post", "use_channel_mentions",
                     "manage_private_channel_members", "delete_post", "edit_post"],
    "channel_admin": ["manage_channel_roles", "use_group_mentions"],
}
_SYSTEM_ONLY = ["manage_system", "create_bot", "read_bots", "read_others_bots", "manage_bots", "manage_others_bots",
                "edit_other_users", "manage_oauth", "manage_system_wide_oauth", *SYSCONSOLE_READS]


def default_roles(*, legacy: bool = False) -> dict[str, list[str]]:
    """Role name to permissions, in the names this server version uses."""
    roles = {name: list(permissions) for name, permissions in _ROLES.items()}
    roles["system_admin"] = sorted({p for permissions in _ROLES.values() for p in permissions} | {*_SYSTEM_ONLY})
    if legacy:
        roles = {name: [RENAMED_IN_11_2.get(p, p) for p in permissions] for name, permissions in roles.items()}
    return roles
