"""The Mattermost stand-in's OAuth 2.0 apps, as the Go server handles them: `server/channels/api4/oauth.go`
(createOAuthApp, getOAuthApps, getOAuthApp, getOAuthAppInfo, updateOAuthApp, deleteOAuthApp: manage_oauth first, then
manage_system_wide_oauth for someone else's app, `is_trusted` kept false or unchanged without manage_system)
and `server/channels/app/oauth.go` (501 while EnableOAuthServiceProvider is off, 404 for an unknown app;
`model.OAuthApp.IsValid`: name 1-64 characters, callback_urls set and each an http(s) URL, homepage an
http(s) URL of at most 256 characters, description at most 512 characters)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import requests

ID = r"(?P<id>[a-z0-9]{26})"
Reply = tuple[int, Any]
URL = re.compile(r"^https?://[^\s/]+")


def _body(request: requests.PreparedRequest) -> Any:
    raw = request.body.decode() if isinstance(request.body, bytes) else request.body
    return json.loads(raw) if raw else None


def _invalid(app: dict[str, Any]) -> str | None:
    """`model.OAuthApp.IsValid`'s first complaint, or None."""
    if not 1 <= len(app.get("name") or "") <= 64:
        return "model.oauth.is_valid.name.app_error"
    callbacks = app.get("callback_urls") or []
    if not callbacks or not all(isinstance(url, str) and URL.match(url) for url in callbacks) \
            or len(",".join(callbacks)) > 1024:
        return "model.oauth.is_valid.callback.app_error"
    homepage = app.get("homepage") or ""
    if not URL.match(homepage) or len(homepage) > 256:
        return "model.oauth.is_valid.homepage.app_error"
    if len(app.get("description") or "") > 512:
        return "model.oauth.is_valid.description.app_error"
    return None


class OAuthApps:
    """Mixed into FakeMattermost, which holds `oauth_apps` and the helpers used here."""

    oauth_apps: dict[str, dict[str, Any]]
    service_settings: dict[str, Any]
    can: Callable[[dict[str, Any], str], bool]
    _error: Callable[..., Reply]
    _forbidden: Callable[[], Reply]
    _new_id: Callable[[], str]

    def oauth_routes(self, route: Callable[..., None]) -> None:
        route("POST", r"/oauth/apps", self._create_oauth_app)
        route("GET", r"/oauth/apps", self._list_oauth_apps)
        route("GET", r"/oauth/apps/" + ID, lambda req, me, id: self._oauth_app(me, id, "get"))
        route("GET", r"/oauth/apps/" + ID + "/info", self._oauth_app_info)
        route("PUT", r"/oauth/apps/" + ID, lambda req, me, id: self._oauth_app(me, id, "update", _body(req)))
        route("DELETE", r"/oauth/apps/" + ID, lambda req, me, id: self._oauth_app(me, id, "delete"))

    def add_oauth_app(self, creator: dict[str, Any], *, name: str, callback: str) -> dict[str, Any]:
        """An app someone made by hand in System Console → Integrations → OAuth 2.0 Applications."""
        app = {"id": self._new_id(), "client_secret": self._new_id(), "name": name, "description": "",
               "icon_url": "", "callback_urls": [callback], "homepage": callback.rsplit("/", 2)[0],
               "is_trusted": False, "creator_id": creator["id"], "create_at": 1, "update_at": 1}
        self.oauth_apps[app["id"]] = app
        return app

    def _oauth_off(self) -> Reply | None:
        if self.service_settings.get("EnableOAuthServiceProvider", True):
            return None
        return self._error(501, "The system admin has turned off OAuth2 Service Provider.",
                           "api.oauth.allow_oauth.turn_off.app_error")

    def _create_oauth_app(self, req: Any, me: dict[str, Any]) -> Reply:
        app = _body(req)
        if not self.can(me, "manage_oauth"):
            return self._forbidden()
        if not self.can(me, "manage_system"):
            app["is_trusted"] = False
        if not self.service_settings.get("EnableOAuthServiceProvider", True):
            return self._error(501, "The system admin has turned off OAuth2 Service Provider.",
                               "api.oauth.register_oauth_app.turn_off.app_error")
        if (problem := _invalid(app)) is not None:
            return self._error(400, "Invalid OAuth app.", problem)
        made = {"icon_url": "", "is_trusted": False, **app, "id": self._new_id(), "client_secret": self._new_id(),
                "creator_id": me["id"], "create_at": 1, "update_at": 1}
        self.oauth_apps[made["id"]] = made
        return 201, made

    def _list_oauth_apps(self, req: Any, me: dict[str, Any]) -> Reply:
        if not self.can(me, "manage_oauth"):
            return self._error(403, "Integrations have been limited to admins only.",
                               "api.command.admin_only.app_error")
        if (off := self._oauth_off()) is not None:
            return off
        everyone = self.can(me, "manage_system_wide_oauth")
        return 200, [a for a in self.oauth_apps.values() if everyone or a["creator_id"] == me["id"]]

    def _oauth_app_info(self, req: Any, me: dict[str, Any], id: str) -> Reply:
        """`getOAuthAppInfo`: any session; the app sanitized (no client_secret)."""
        if (off := self._oauth_off()) is not None:
            return off
        app = self.oauth_apps.get(id)
        if app is None:
            return self._error(404, "Not found.", "app.oauth.get_app.find.app_error")
        return 200, {key: value for key, value in app.items() if key != "client_secret"}

    def _oauth_app(self, me: dict[str, Any], id: str, action: str, body: Any = None) -> Reply:
        if not self.can(me, "manage_oauth"):
            return self._forbidden()
        if action == "update" and (not isinstance(body, dict) or body.get("id") != id):
            return self._error(400, "Invalid or missing app_id parameter in request URL.",
                               "api.context.invalid_url_param.app_error")
        if (off := self._oauth_off()) is not None:
            return off
        app = self.oauth_apps.get(id)
        if app is None:
            return self._error(404, "Not found.", "app.oauth.get_app.find.app_error")
        if app["creator_id"] != me["id"] and not self.can(me, "manage_system_wide_oauth"):
            return self._forbidden()
        if action == "delete":
            del self.oauth_apps[id]
            return 200, {"status": "OK"}
        if action == "update":
            changed = {key: body.get(key, "") for key in ("name", "description", "icon_url", "callback_urls",
                                                          "homepage")}
            changed["is_trusted"] = bool(body.get("is_trusted")) if self.can(me, "manage_system") else app["is_trusted"]
            if (problem := _invalid(changed)) is not None:
                return self._error(400, "Invalid OAuth app.", problem)
            app.update(changed, update_at=app["update_at"] + 1)
        return 200, app
