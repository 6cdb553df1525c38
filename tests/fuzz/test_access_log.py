"""`learnloop serve`'s access log: one line per request, whatever the request's path holds once gunicorn has
percent-decoded it (scripts/fuzz_inbound.py found /wiki/%0A.../events writing a line of its own)."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from learnloop.cli import ACCESS_LOG_FORMAT, AccessLogger


@pytest.mark.parametrize("path", ["/wiki/x\n127.0.0.1 [x] \"GET /forged\" 200 1 0ms/events", "/a\r\nb", "/\x1b[2Kx",
                                  "/\x85x", "/\x00"])
def test_a_path_with_control_characters_is_logged_on_one_line(path: str) -> None:
    logger = AccessLogger(Config())
    environ = {"REQUEST_METHOD": "POST", "RAW_URI": "/x", "SERVER_PROTOCOL": "HTTP/1.1", "PATH_INFO": path,
               "QUERY_STRING": "secret=s3cr3t", "REMOTE_ADDR": "127.0.0.1"}
    response = SimpleNamespace(status="401 UNAUTHORIZED", sent=72, headers=[])
    line = ACCESS_LOG_FORMAT % logger.atoms(response, SimpleNamespace(headers=[]), environ, timedelta(0))
    assert len(line.splitlines()) == 1 and "\x1b" not in line and "\x00" not in line
    assert "s3cr3t" not in line
