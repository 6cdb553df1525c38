"""Sending cases: through Flask's test client or over HTTP to `learnloop serve`, with the browser sessions
the page cases name, and a measure of whether the one request under test changed the database.

Everything a case needs first (a one-time link, the nonce of the browser that opened it, a CSRF token) is
fetched before the database is marked, so only the case's own request is measured."""

from __future__ import annotations

import contextlib
import http.client
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol
from urllib.parse import quote

from flask import Flask

from tests.fuzz import page_cases, world
from tests.fuzz.cases import FORM, Case, render
from tests.fuzz.probe import WriteProbe

COOKIE = "learnloop_session"
_LINK = re.compile(r"\(https?://[^)\s]*/(?:signin|mydata)\?token=([^)\s]+)\)")
_HIDDEN = re.compile(r'name="(csrf_token|nonce|token)" value="([^"]*)"')


@dataclass(frozen=True)
class Reply:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def cookie(self) -> str | None:
        """The session cookie this reply sets: its value, "" when it deletes it, None when it leaves it be."""
        for name, value in self.headers:
            if name.lower() == "set-cookie" and value.startswith(f"{COOKIE}="):
                cookie = value.split(";", 1)[0].split("=", 1)[1]
                return "" if "expires=thu, 01 jan 1970" in value.lower() else cookie
        return None


class Transport(Protocol):
    def __call__(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> Reply: ...


def flask_transport(app: Flask) -> Transport:
    client = app.test_client(use_cookies=False)

    def send(method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> Reply:
        response = client.open(path, method=method, headers=headers, data=body)
        return Reply(response.status_code, tuple(response.headers.items()), response.get_data())

    return send


class HttpTransport:
    """One kept-alive HTTP/1.1 connection to a server, opened again whenever the server closes it."""

    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._connection: http.client.HTTPConnection | None = None

    def __call__(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> Reply:
        while True:
            reused = self._connection is not None
            connection = self._connection or http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._connection = connection
            try:
                connection.putrequest(method, path, skip_accept_encoding=True)
                for name, value in headers:
                    connection.putheader(name, value.encode("latin-1", "replace"))
                connection.putheader("Content-Length", str(len(body)))
                # the server may answer before reading the whole body, and close: its answer is still read
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    connection.endheaders(body)
                response = connection.getresponse()
                data = response.read()
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
                self.close()
                if not reused:  # a kept-alive connection the server had closed is opened again, once
                    raise
                continue
            if response.will_close:
                self.close()
            return Reply(response.status, tuple(response.getheaders()), data)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


@dataclass(frozen=True)
class Sent:
    case: Case
    reply: Reply
    wrote: bool


class Sender:
    """Sends cases; keeps one cookie per signed-in person, as their browser would."""

    def __init__(self, transport: Transport, probe: WriteProbe, clock: Callable[[], float] = time.time) -> None:
        self.transport, self.probe, self.clock = transport, probe, clock
        self.cookies: dict[str, str] = {}
        for channel in world.CHANNELS:  # their communities are 1 and 2, which dialog states may name
            self.slash_command(world.OWNER, "wiki", channel)
        self._seed()
        for user in world.USERS:
            self._sign_in(user)
        tampered = self.cookies[world.MEMBER]
        self.cookies[page_cases.TAMPERED] = tampered[:-3] + ("AAA" if not tampered.endswith("AAA") else "BBB")
        self.cookies[page_cases.GARBAGE] = ".eJyrVipKLS7NyUxVslIqSS0uUdJRKi1OLUrNS0lVsgIAdpIIaw.x.y"

    # -- requests -----------------------------------------------------------------------------------------

    def raw(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes = b"",
            session: str | None = None) -> Reply:
        cookie = self.cookies.get(session or "")
        reply = self.transport(method, path, headers + ([("Cookie", f"{COOKIE}={cookie}")] if cookie else []), body)
        if session in world.USERS:
            new = reply.cookie()
            if new:
                self.cookies[session] = new
        return reply

    def send(self, case: Case) -> Sent:
        case = self._prepared(case)
        rendered = render(case, self.clock())
        mark = self.probe.mark()
        reply = self.raw(rendered.method, rendered.path, list(rendered.headers), rendered.body, rendered.session)
        return Sent(rendered, reply, self.probe.changed_since(mark))

    # -- what cases need first ------------------------------------------------------------------------------

    def slash_command(self, user: str, text: str, channel: str = world.CHANNEL) -> Reply:
        body = (f"token={world.COMMAND_TOKEN}&user_id={user}&channel_id={channel}&team_id={world.TEAM}"
                f"&user_name=fuzz&command=%2Flearn&text={quote(text)}").encode()
        return self.raw("POST", "/mattermost/command", [("Content-Type", FORM),
                                                        ("Authorization", f"Token {world.COMMAND_TOKEN}")], body)

    def link(self, user: str, purpose: str) -> str:
        reply = self.slash_command(user, purpose)
        found = _LINK.search(reply.body.decode("utf-8", "replace"))
        if found is None:
            raise AssertionError(f"no one-time link in the reply to /learn {purpose}: {reply.body[:300]!r}")
        return found.group(1)

    def _hidden(self, path: str, session: str | None) -> dict[str, str]:
        page = self.raw("GET", path, [("Accept", "text/html")], session=session).body.decode("utf-8", "replace")
        return dict(_HIDDEN.findall(page))

    def _seed(self) -> None:
        """Rows the buttons and dialogs of the cases can name, whatever order the routes are fuzzed in: items 1-4
        with comments for the owners (feedback), and two reflections of each person (1-6)."""
        for user in world.USERS:
            for page in range(1, 5):
                self.slash_command(user, f"rate https://wiki.example.com/Page{page} {page + 1} Comment {page}")
        for user in world.USERS:
            for text in ("Pairing taught me to read plans first.", "Reviews go faster with a checklist."):
                self.slash_command(user, f"reflect {text}")

    def _sign_in(self, user: str) -> None:
        token = self.link(user, "signin")
        opened = self.transport("GET", f"/signin?token={token}", [("Accept", "text/html")], b"")
        cookie = opened.cookie()
        nonce = dict(_HIDDEN.findall(opened.body.decode()))["nonce"]
        signed = self.transport("POST", "/signin", [("Content-Type", FORM), ("Cookie", f"{COOKIE}={cookie}")],
                                f"token={token}&nonce={nonce}".encode())
        if signed.status != 303 or not signed.cookie():
            raise AssertionError(f"could not sign {user} in: {signed.status} {signed.body[:300]!r}")
        self.cookies[user] = str(signed.cookie())

    def _prepared(self, case: Case) -> Case:
        text = case.path.encode() + case.body
        if b"__LINK__" not in text and b"__CSRF__" not in text:
            return case
        person = case.session if case.session in world.USERS else world.MEMBER
        body, path = case.body, case.path
        if b"__LINK__" in text:
            token = self.link(person, case.route.strip("/"))
            path, body = path.replace("__LINK__", token), body.replace(b"__LINK__", token.encode())
            if b"__NONCE__" in body:
                nonce = self._hidden(f"{case.route}?token={token}", case.session).get("nonce", "")
                body = body.replace(b"__NONCE__", nonce.encode())
        if b"__CSRF__" in body:
            csrf = self._hidden("/rate?url=https%3A%2F%2Fwiki.example.com%2FPage", case.session).get("csrf_token", "")
            body = body.replace(b"__CSRF__", csrf.encode())
        return replace(case, path=path, body=body)
