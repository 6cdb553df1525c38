"""The few Mattermost API calls the web process makes (opening a dialog, asking who is in a channel),
answered from the fuzz world: in process through a `requests` adapter, or over loopback for `learnloop serve`."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from requests.adapters import BaseAdapter

from tests.fuzz import world

API = "/api/v4"
NOT_FOUND = {"id": "app.fuzz.not_found", "message": "not found", "status_code": 404}


def answer(method: str, path: str) -> tuple[int, dict[str, Any]]:
    """Status and JSON body for one API call, by path only (the bodies learnloop sends are not needed)."""
    parts = [unquote(part) for part in urlsplit(path).path.removeprefix(API).strip("/").split("/")]
    if method == "POST" and parts == ["actions", "dialogs", "open"]:
        return 200, {"status": "OK"}
    if method == "GET" and len(parts) == 4 and parts[0] == "channels" and parts[2] == "members":
        channel_id, user_id = parts[1], parts[3]
        if channel_id in world.CHANNELS and user_id in (world.OWNER, world.MEMBER):
            return 200, {"channel_id": channel_id, "user_id": user_id, "roles": "channel_user", "scheme_admin": False}
    return 404, NOT_FOUND


class FakeMattermostAdapter(BaseAdapter):
    """A `requests` transport that answers from `answer` without a socket."""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        status, body = answer(str(request.method), str(request.url))
        response = requests.Response()
        response.status_code = status
        response._content, response._content_consumed = json.dumps(body).encode(), True  # read, as requests leaves it
        response.headers["Content-Type"] = "application/json"
        response.url = str(request.url)
        response.request = request
        return response

    def close(self) -> None:
        pass


def session() -> requests.Session:
    http = requests.Session()
    http.mount("http://", FakeMattermostAdapter())
    http.mount("https://", FakeMattermostAdapter())
    return http


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _reply(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        status, body = answer(self.command, self.path)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = _reply

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve_in_thread() -> tuple[ThreadingHTTPServer, str]:
    """A loopback fake Mattermost; returns the server (call shutdown()) and its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="fake-mattermost", daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"
