"""Mattermost as an OAuth 2.0 provider: who is this person, asked once, in the popup of "Sign in with Mattermost".

The authorization-code flow as the server implements it (`server/channels/web/oauth.go`: `authorizeOAuthPage`,
`getAccessToken`; `server/channels/app/oauth.go`): GET /oauth/authorize redirects back to the registered
callback (exactly one of the app's `callback_urls`) with `code` and `state`; POST /oauth/access_token takes a
form body (grant_type, client_id, client_secret, code, redirect_uri) and answers
`{access_token, token_type: "bearer", expires_in, scope, refresh_token, id_token}`; the access token is an
ordinary session token for `GET /api/v4/users/me`. Codes last ten minutes and work once. learnloop keeps
nothing of the token: it reads the person's id and username and lets the token go.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import requests

from learnloop.config import Settings
from learnloop.mattermost.client import (
    MattermostClient,
    MattermostError,
    MattermostUnavailable,
    _app_error,
    redirected,
    too_large,
)
from learnloop.outbound import AnswerTooLarge, capped

CALLBACK_PATH = "/oauth/callback"
TOKEN_PATH = "/oauth/access_token"
_TRANSPORT_ERRORS = (requests.ConnectionError, requests.Timeout)


@dataclass(frozen=True)
class Person:
    user_id: str
    username: str | None


def callback_url(settings: Settings) -> str:
    """Where Mattermost sends the browser back; registered as the OAuth app's only callback URL."""
    return settings.public_url_text + CALLBACK_PATH


class MattermostOAuth:
    def __init__(self, settings: Settings, *, session: requests.Session | None = None) -> None:
        if not settings.oauth_enabled:
            raise ValueError("Mattermost OAuth is not configured")
        self.base_url = str(settings.mattermost_url_text)
        self.client_id = str(settings.mattermost_oauth_client_id)
        secret = settings.mattermost_oauth_client_secret
        self._client_secret = secret.get_secret_value() if secret is not None else ""
        self.redirect_uri = callback_url(settings)
        self.timeout = settings.mattermost_timeout_seconds
        self._session = session or requests.Session()

    def authorize_url(self, state: str) -> str:
        query = urlencode({"response_type": "code", "client_id": self.client_id, "redirect_uri": self.redirect_uri,
                           "state": state})
        return f"{self.base_url}/oauth/authorize?{query}"

    def person(self, code: str) -> Person:
        """Exchange the code, then ask Mattermost whose token it is. Raises MattermostError."""
        token = self._access_token(code)
        me = MattermostClient(self.base_url, token, timeout=self.timeout, session=self._session).get_me()
        user_id = me.get("id")
        if not isinstance(user_id, str) or not user_id:
            raise MattermostError("users/me named nobody", status_code=200, call="GET /api/v4/users/me")
        username = me.get("username")
        return Person(user_id, username if isinstance(username, str) else None)

    def _access_token(self, code: str) -> str:
        call = f"POST {TOKEN_PATH}"
        form = {"grant_type": "authorization_code", "client_id": self.client_id, "client_secret": self._client_secret,
                "code": code, "redirect_uri": self.redirect_uri}
        try:
            response = capped(self._session.post(self.base_url + TOKEN_PATH, data=form, timeout=self.timeout,
                                                 headers={"Accept": "application/json"}, allow_redirects=False,
                                                 stream=True))
        except _TRANSPORT_ERRORS as exc:
            raise MattermostUnavailable(type(exc).__name__, call=call) from exc
        except AnswerTooLarge as exc:
            raise too_large(exc, call) from None
        except requests.RequestException as exc:
            raise MattermostError(type(exc).__name__, call=call) from exc
        if response.is_redirect:  # the client secret and the code would go wherever it points
            raise redirected(response, call)
        if not response.ok:
            error_id, message = _app_error(response)
            raise MattermostError(message.replace(self._client_secret, "***") if self._client_secret else message,
                                  status_code=response.status_code, error_id=error_id, call=call)
        try:
            body = response.json()
        except ValueError:
            body = None
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token or str(body.get("token_type", "")).lower() != "bearer":
            raise MattermostError("no bearer access_token in the answer", status_code=response.status_code, call=call)
        return token
