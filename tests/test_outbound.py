"""Every host client reads an answer up to a size: a host answering with gigabytes costs one clear error, not the
worker's memory. Checked against a real HTTP server on loopback that streams more than the limit, with and
without saying so in Content-Length."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from learnloop.bookstack.client import BookStackClient
from learnloop.mattermost.client import MattermostClient, MattermostError
from learnloop.mediawiki.client import MediaWikiClient
from learnloop.outbound import CHUNK_BYTES, MAX_ANSWER_BYTES, AnswerTooLarge, capped
from learnloop.outline.client import OutlineClient
from learnloop.wikis import WikiError

OVER = MAX_ANSWER_BYTES + 4 * CHUNK_BYTES


class Endless(BaseHTTPRequestHandler):
    """Answers every request with OVER bytes of JSON-looking text: declared in Content-Length for paths under
    /declared, chunked otherwise."""

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))  # unread, closing would reset the connection
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        declared = self.path.startswith("/declared")
        if declared:
            self.send_header("Content-Length", str(OVER))
        else:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk, total = b"[" + b" " * (CHUNK_BYTES - 1), 0
        try:
            while total < OVER:
                self.wfile.write(chunk if declared else b"%x\r\n%s\r\n" % (len(chunk), chunk))
                total += len(chunk)
            if not declared:
                self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client hung up, as it should
            pass

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize("prefix", ["/declared", "/chunked"])
def test_an_answer_over_the_limit_is_refused_and_what_fits_is_kept(server: str, prefix: str) -> None:
    with pytest.raises(AnswerTooLarge, match="larger than 16 MB"):
        capped(requests.get(server + prefix, stream=True, timeout=10))
    kept = capped(requests.get(server + prefix, stream=True, timeout=10), limit=OVER)
    assert len(kept.content) == OVER and kept.text.startswith("[")


CLIENTS: dict[str, tuple[Callable[[str], Any], type[Exception]]] = {
    "mattermost": (lambda url: MattermostClient(url, "token").get_me(), MattermostError),
    "mediawiki": (lambda url: MediaWikiClient(url + "/api.php", "bot", "secret").siteinfo(), WikiError),
    "outline": (lambda url: OutlineClient(url, "token").auth_info(), WikiError),
    "bookstack": (lambda url: BookStackClient(url, "id:secret").check_token(), WikiError),
}


@pytest.mark.parametrize("host", sorted(CLIENTS))
@pytest.mark.parametrize("prefix", ["/declared", "/chunked"])
def test_every_host_client_refuses_an_endless_answer_without_retrying_it(server: str, host: str,
                                                                        prefix: str) -> None:
    call, error = CLIENTS[host]
    with pytest.raises(error, match="larger than 16 MB") as raised:
        call(server + prefix)
    assert not getattr(raised.value, "retryable", True), "the same answer would come again"
