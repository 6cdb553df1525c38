"""The REST calls the installer and `learnloop doctor` make with an admin's personal access token.

Kept apart from the bot's client so that the service itself never holds calls that need admin
rights. Every call is one of the official API's operations (tests validate them against it).
"""

from __future__ import annotations

from typing import Any

from learnloop.mattermost.client import (
    MAX_PER_PAGE,
    JsonObject,
    MattermostClient,
    MattermostError,
    MattermostUnavailable,
    _segment,
)


def describe_failure(exc: MattermostError) -> str:
    """How a refused or unanswered call reads in a message to the admin."""
    if isinstance(exc, MattermostUnavailable):
        return f"no answer ({exc.message})"
    return exc.message if exc.status_code is None else f"HTTP {exc.status_code}: {exc.message}"


class MattermostAdminClient(MattermostClient):
    def get_config(self) -> JsonObject:
        """The server configuration; needs `manage_system`."""
        return self._api("GET", "/config")

    def get_roles(self, names: list[str]) -> list[JsonObject]:
        if not names:
            return []
        return self._api("POST", "/roles/names", json=names)

    def get_my_team_members(self) -> list[JsonObject]:
        return self._api("GET", "/users/me/teams/members")

    def get_team(self, team_id: str) -> JsonObject | None:
        return self._maybe("GET", f"/teams/{_segment(team_id)}")

    def get_team_by_name(self, name: str) -> JsonObject | None:
        return self._maybe("GET", f"/teams/name/{_segment(name)}")

    def find_channel_by_names(self, team_name: str, channel_name: str) -> JsonObject | None:
        return self._maybe("GET", f"/teams/name/{_segment(team_name)}/channels/name/{_segment(channel_name)}")

    def find_user_by_username(self, username: str) -> JsonObject | None:
        return self._maybe("GET", f"/users/username/{_segment(username)}")

    def get_bot(self, user_id: str) -> JsonObject | None:
        return self._maybe("GET", f"/bots/{_segment(user_id)}", params={"include_deleted": "true"})

    def create_bot(self, username: str, display_name: str, description: str) -> JsonObject:
        return self._api("POST", "/bots", json={
            "username": username, "display_name": display_name, "description": description})

    def patch_bot(self, user_id: str, *, username: str, display_name: str, description: str) -> JsonObject:
        return self._api("PUT", f"/bots/{_segment(user_id)}", json={
            "username": username, "display_name": display_name, "description": description})

    def enable_bot(self, user_id: str) -> JsonObject:
        return self._api("POST", f"/bots/{_segment(user_id)}/enable")

    def disable_bot(self, user_id: str) -> JsonObject:
        return self._api("POST", f"/bots/{_segment(user_id)}/disable")

    def create_user_access_token(self, user_id: str, description: str) -> JsonObject:
        """Returns `{id, token, user_id, description}`; `token` is shown this once only."""
        return self._api("POST", f"/users/{_segment(user_id)}/tokens", json={"description": description})

    def get_user_access_token(self, token_id: str) -> JsonObject | None:
        return self._maybe("GET", f"/users/tokens/{_segment(token_id)}")

    def revoke_user_access_token(self, token_id: str) -> None:
        self._api("POST", "/users/tokens/revoke", json={"token_id": token_id})

    def find_team_member(self, team_id: str, user_id: str) -> JsonObject | None:
        return self._maybe("GET", f"/teams/{_segment(team_id)}/members/{_segment(user_id)}")

    def remove_team_member(self, team_id: str, user_id: str) -> None:
        self._api("DELETE", f"/teams/{_segment(team_id)}/members/{_segment(user_id)}")

    def find_channel_member(self, channel_id: str, user_id: str) -> JsonObject | None:
        return self._maybe("GET", f"/channels/{_segment(channel_id)}/members/{_segment(user_id)}")

    def remove_channel_member(self, channel_id: str, user_id: str) -> None:
        self._api("DELETE", f"/channels/{_segment(channel_id)}/members/{_segment(user_id)}")

    def find_channel(self, channel_id: str) -> JsonObject | None:
        return self._maybe("GET", f"/channels/{_segment(channel_id)}")

    def add_team_member(self, team_id: str, user_id: str) -> JsonObject:
        return self._api("POST", f"/teams/{_segment(team_id)}/members", json={"team_id": team_id, "user_id": user_id})

    def add_channel_member(self, channel_id: str, user_id: str) -> JsonObject:
        return self._api("POST", f"/channels/{_segment(channel_id)}/members", json={"user_id": user_id})

    def list_commands(self, team_id: str) -> list[JsonObject]:
        return self._api("GET", "/commands", params={"team_id": team_id, "custom_only": "true"})

    def find_command(self, team_id: str, command_id: str) -> JsonObject | None:
        return next((c for c in self.list_commands(team_id) if c.get("id") == command_id), None)

    def create_command(self, command: JsonObject) -> JsonObject:
        return self._api("POST", "/commands", json=command)

    def update_command(self, command: JsonObject) -> JsonObject:
        return self._api("PUT", f"/commands/{_segment(command['id'])}", json=command)

    def delete_command(self, command_id: str) -> None:
        self._api("DELETE", f"/commands/{_segment(command_id)}")

    def list_outgoing_webhooks(self, team_id: str) -> list[JsonObject]:
        """Every page of the team's outgoing webhooks (those the token may manage)."""
        hooks: list[JsonObject] = []
        while True:
            page = self._api("GET", "/hooks/outgoing", params={
                "team_id": team_id, "page": len(hooks) // MAX_PER_PAGE, "per_page": MAX_PER_PAGE})
            hooks += page
            if len(page) < MAX_PER_PAGE:
                return hooks

    def get_outgoing_webhook(self, hook_id: str) -> JsonObject | None:
        return self._maybe("GET", f"/hooks/outgoing/{_segment(hook_id)}")

    def create_outgoing_webhook(self, hook: JsonObject) -> JsonObject:
        return self._api("POST", "/hooks/outgoing", json=hook)

    def update_outgoing_webhook(self, hook: JsonObject) -> JsonObject:
        return self._api("PUT", f"/hooks/outgoing/{_segment(hook['id'])}", json=hook)

    def delete_outgoing_webhook(self, hook_id: str) -> None:
        self._api("DELETE", f"/hooks/outgoing/{_segment(hook_id)}")

    def list_oauth_apps(self) -> list[JsonObject]:
        """Every page of the OAuth apps the token may manage (all of them with manage_system_wide_oauth)."""
        apps: list[JsonObject] = []
        while True:
            page = self._api("GET", "/oauth/apps", params={"page": len(apps) // MAX_PER_PAGE,
                                                            "per_page": MAX_PER_PAGE})
            apps += page
            if len(page) < MAX_PER_PAGE:
                return apps

    def get_oauth_app(self, app_id: str) -> JsonObject | None:
        """The app with its client secret (`api4/oauth.go` `getOAuthApp`); None when Mattermost has none."""
        return self._maybe("GET", f"/oauth/apps/{_segment(app_id)}")

    def get_oauth_app_info(self, app_id: str) -> JsonObject | None:
        """The app without its secret; any session may read it (`api4/oauth.go` `getOAuthAppInfo`)."""
        return self._maybe("GET", f"/oauth/apps/{_segment(app_id)}/info")

    def create_oauth_app(self, app: JsonObject) -> JsonObject:
        """Answers the app with its `client_secret`; `is_trusted` stays false unless the token has manage_system."""
        return self._api("POST", "/oauth/apps", json=app)

    def update_oauth_app(self, app: JsonObject) -> JsonObject:
        return self._api("PUT", f"/oauth/apps/{_segment(app['id'])}", json=app)

    def delete_oauth_app(self, app_id: str) -> None:
        self._api("DELETE", f"/oauth/apps/{_segment(app_id)}")

    def _maybe(self, method: str, path: str, *, params: dict[str, Any] | None = None) -> Any:
        """The object, or None when Mattermost answers 404."""
        try:
            return self._api(method, path, params=params)
        except MattermostError as exc:
            if exc.status_code == 404:
                return None
            raise
