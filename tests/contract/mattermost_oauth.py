"""A stand-in for Mattermost's OAuth 2.0 provider, as the Go server behaves (mattermost/mattermost `server/`):

- GET /oauth/authorize: `channels/web/oauth.go` `authorizeOAuthPage`: 501 page when the provider is off;
  400 page for a bad request (`model.AuthorizeRequest.IsValid`: client_id a 26-character id, response_type
  set, redirect_uri a URL of at most 256 characters, state at most 1024); a person not logged in goes to
  `/login?redirect_to=<the request>`; redirect_uri must be exactly one of the app's callback_urls (400
  `api.oauth.allow_oauth.redirect_callback.app_error`); a trusted app, or one the person allowed before,
  redirects at once (`App.GetOAuthCodeRedirect`: `redirect_uri?code=<52 characters>&state=<state>`, the code
  valid for ten minutes); any other app shows the consent screen (the webapp's root.html).
- POST /oauth/access_token: `channels/web/oauth.go` `getAccessToken` and `App.GetOAuthAccessTokenForCodeFlow`:
  a form body; 400 bad_grant / missing_code / bad_client_id, 501 when off, 404 for an unknown client, 403 for
  a wrong secret, 400 for an unknown or used code, 403 for an expired one, 400 when redirect_uri differs;
  success `{access_token, token_type: "bearer", expires_in, scope: "", refresh_token, id_token: ""}` with
  `Cache-Control: no-store` and `Pragma: no-cache`; the code is deleted after use, and a person who already has
  access data for the client gets the same token again.
- GET /api/v4/users/me with `Authorization: Bearer <access token>`: the person, sanitized.

`http_app()` serves it over HTTP for the browser tests and validates every /api/v4 request and reply against
the official OpenAPI source, as the `responses` harness does in-process (`register`).
"""

from __future__ import annotations

import json
import re
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import requests
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest
from openapi_core.exceptions import OpenAPIError
from werkzeug.wrappers import Request, Response

from tests.contract.mattermost_openapi import MattermostContract, mattermost_openapi, spec_dir

Reply = tuple[int, dict[str, str], bytes]
CODE_SECONDS = 10 * 60
SESSION_SECONDS = 30 * 24 * 3600
"""SessionLengthSSOInHours' default (720 h): `expires_in` of a new access token."""


def new_id() -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(26))


def _json(status: int, payload: Any, **headers: str) -> Reply:
    return status, {"Content-Type": "application/json", **headers}, json.dumps(payload).encode()


def _app_error(status: int, error_id: str, message: str) -> Reply:
    return _json(status, {"id": error_id, "message": message, "detailed_error": "", "request_id": new_id(),
                          "status_code": status, "is_oauth": True})


def _page(status: int, text: str) -> Reply:
    page = f"<!doctype html><title>Mattermost</title><p>{text}"
    return status, {"Content-Type": "text/html; charset=utf-8"}, page.encode()


def _redirect(location: str) -> Reply:
    return 302, {"Location": location}, b""


@dataclass
class OAuthApp:
    id: str
    client_secret: str
    callback_urls: list[str]
    is_trusted: bool = True
    name: str = "learnloop"


@dataclass
class OAuthProvider:
    site_url: str
    enabled: bool = True
    apps: dict[str, OAuthApp] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    logged_in: str | None = None
    """The user id whose Mattermost session the browser holds (None: the login page)."""
    authorized: set[tuple[str, str]] = field(default_factory=set)
    """(user, client) pairs the person allowed before (PreferenceCategoryAuthorizedOAuthApp)."""
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    access: dict[tuple[str, str], str] = field(default_factory=dict)
    """(user, client) to the access token it has."""
    tokens: dict[str, str] = field(default_factory=dict)
    """Access token to user id."""
    exchanges: int = 0
    clock: Callable[[], float] = time.time
    violations: list[str] = field(default_factory=list)
    """What the HTTP stand-in saw break the OpenAPI source (requests to /api/v4 and its replies)."""

    def add_app(self, callback_url: str, *, trusted: bool = True) -> OAuthApp:
        app = OAuthApp(new_id(), new_id(), [callback_url], trusted)
        self.apps[app.id] = app
        return app

    def add_user(self, username: str) -> dict[str, Any]:
        user = {"id": new_id(), "username": username, "email": f"{username}@example.com", "nickname": "",
                "first_name": username.title(), "last_name": "", "roles": "system_user", "locale": "en",
                "create_at": 1, "update_at": 1, "delete_at": 0, "auth_service": ""}
        self.users[user["id"]] = user
        return user

    # -------------------------------------------------------------------- /oauth/authorize

    def authorize(self, query: dict[str, str], request_uri: str) -> Reply:
        if not self.enabled:
            return _page(501, "api.oauth.authorize_oauth.disabled.app_error")
        client_id, redirect_uri = query.get("client_id", ""), query.get("redirect_uri", "")
        if (len(client_id) != 26 or not client_id.isalnum() or not query.get("response_type")
                or not redirect_uri.startswith(("http://", "https://")) or len(redirect_uri) > 256
                or len(query.get("state", "")) > 1024 or len(query.get("scope", "")) > 128):
            return _page(400, "api.oauth.authorize_oauth.app_error: invalid request")
        if self.logged_in is None:
            return _redirect(f"{self.site_url}/login?{urlencode({'redirect_to': request_uri})}")
        app = self.apps.get(client_id)
        if app is None:
            return _page(404, "app.oauth.get_app.find.app_error")
        if redirect_uri not in app.callback_urls:
            return _page(400, "api.oauth.allow_oauth.redirect_callback.app_error")
        if not app.is_trusted and (self.logged_in, app.id) not in self.authorized:
            return _page(200, f"Allow {app.name} to access your account?")
        if query["response_type"] != "code":
            return _redirect(_with_query(redirect_uri, error="unsupported_response_type", state=query.get("state", "")))
        code = new_id() + new_id()
        self.codes[code] = {"client_id": app.id, "user_id": self.logged_in, "redirect_uri": redirect_uri,
                            "expires": self.clock() + CODE_SECONDS}
        return _redirect(_with_query(redirect_uri, code=code, state=query.get("state", "")))

    # ---------------------------------------------------------------- /oauth/access_token

    def access_token(self, form: dict[str, str], content_type: str) -> Reply:
        if not content_type.startswith("application/x-www-form-urlencoded"):
            return _app_error(400, "api.oauth.get_access_token.bad_request.app_error", "Bad request")
        grant = form.get("grant_type", "")
        if grant not in ("authorization_code", "refresh_token"):
            return _app_error(400, "api.oauth.get_access_token.bad_grant.app_error", "invalid_request: Bad grant_type")
        if grant == "authorization_code" and not form.get("code"):
            return _app_error(400, "api.oauth.get_access_token.missing_code.app_error", "invalid_request: Missing code")
        client_id = form.get("client_id", "")
        if len(client_id) != 26 or not client_id.isalnum():
            return _app_error(400, "api.oauth.get_access_token.bad_client_id.app_error",
                              "invalid_request: Bad client_id")
        if not self.enabled:
            return _app_error(501, "api.oauth.get_access_token.disabled.app_error", "The system admin has turned "
                              "off OAuth2 Service Provider.")
        app = self.apps.get(client_id)
        if app is None:
            return _app_error(404, "api.oauth.get_access_token.credentials.app_error",
                              "invalid_client: Invalid client credentials")
        if form.get("client_secret") != app.client_secret:
            return _app_error(403, "api.oauth.get_access_token.credentials.app_error",
                              "invalid_client: Invalid client credentials")
        if grant != "authorization_code":
            return _app_error(400, "api.oauth.get_access_token.refresh_token.app_error", "not modelled")
        code = self.codes.pop(form["code"], None)
        if code is None or code["client_id"] != app.id:
            return _app_error(400, "api.oauth.get_access_token.expired_code.app_error",
                              "invalid_grant: Invalid or expired authorization code")
        if code["expires"] < self.clock():
            return _app_error(403, "api.oauth.get_access_token.expired_code.app_error",
                              "invalid_grant: Invalid or expired authorization code")
        if form.get("redirect_uri") != code["redirect_uri"]:
            return _app_error(400, "api.oauth.get_access_token.redirect_uri.app_error",
                              "invalid_request: Supplied redirect_uri does not match authorization code redirect_uri")
        self.exchanges += 1
        key = (code["user_id"], app.id)
        token = self.access.get(key) or new_id()
        self.access[key] = token
        self.tokens[token] = code["user_id"]
        return _json(200, {"access_token": token, "token_type": "bearer", "expires_in": SESSION_SECONDS, "scope": "",
                           "refresh_token": new_id(), "id_token": ""}, **{"Cache-Control": "no-store",
                                                                           "Pragma": "no-cache"})

    # -------------------------------------------------------------------- /api/v4/users/me

    def me(self, authorization: str) -> tuple[int, Any]:
        scheme, _, token = authorization.partition(" ")
        user_id = self.tokens.get(token) if scheme.lower() == "bearer" else None
        if user_id is None:
            return 401, {"id": "api.context.session_expired.app_error", "message": "Invalid or expired session, "
                         "please login again.", "request_id": new_id(), "status_code": 401}
        return 200, self.users[user_id]

    # ------------------------------------------------------------------------ adapters

    def register(self, contract: MattermostContract) -> None:
        """Serve the provider through the in-process contract harness (`responses`)."""
        def token(request: requests.PreparedRequest) -> Reply:
            raw = request.body.decode() if isinstance(request.body, bytes) else request.body or ""
            form = {key: values[0] for key, values in parse_qs(raw).items()}
            return self.access_token(form, request.headers.get("Content-Type", ""))

        contract.add_outside_spec("POST", "/oauth/access_token", token)
        contract.add_handler("GET", re.compile(r"/api/v4/users/me$"),
                             lambda request, match: self.me(request.headers.get("Authorization", "")))

    def http_app(self) -> Callable[..., Any]:
        """A WSGI app serving the provider; requests to /api/v4 and their replies are checked against the spec."""
        @Request.application  # type: ignore[arg-type]
        def app(request: Request) -> Response:
            if request.method == "GET" and request.path == "/oauth/authorize":
                reply = self.authorize(dict(request.args), request.full_path.rstrip("?"))
            elif request.method == "POST" and request.path == "/oauth/access_token":
                reply = self.access_token(dict(request.form), request.content_type or "")
            elif request.method == "GET" and request.path == "/api/v4/users/me":
                reply = _json(*self.me(request.headers.get("Authorization", "")))
            else:
                reply = _app_error(404, "api.context.404.app_error", "Sorry, we could not find the page.")
            status, headers, body = reply
            response = Response(body, status=status, headers=headers)
            if request.path.startswith("/api/v4/"):
                self._check(request, response)
            return response

        return app

    def _check(self, request: Request, response: Response) -> None:
        openapi = mattermost_openapi(spec_dir())
        spec_request = WerkzeugOpenAPIRequest(request)
        try:
            openapi.validate_request(spec_request)
            openapi.validate_response(spec_request, _SpecResponse(response))
        except OpenAPIError as exc:
            self.violations.append(f"{request.method} {request.path}: {exc}")


@dataclass(frozen=True)
class _SpecResponse:
    """openapi-core's Response protocol for a werkzeug response."""

    response: Response

    @property
    def data(self) -> bytes:
        return self.response.get_data()

    @property
    def status_code(self) -> int:
        return self.response.status_code

    @property
    def content_type(self) -> str:
        return self.response.mimetype

    @property
    def headers(self) -> Any:
        return self.response.headers


def _with_query(url: str, **extra: str) -> str:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    query.update({key: [value] for key, value in extra.items()})
    return urlunsplit(parts._replace(query=urlencode(query, doseq=True)))
