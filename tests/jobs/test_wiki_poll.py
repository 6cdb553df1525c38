"""A wiki poll that meets an answer its client cannot read says so and leaves the worker going."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import pytest

from learnloop.bootstrap import Runtime
from learnloop.config import WikiConfig
from learnloop.jobs import POLL_STATUS
from learnloop.jobs.wiki import poll_wiki
from learnloop.wikis import WikiError

WIKI = WikiConfig(name="handbook", kind="mediawiki", url="https://wiki.example.com/w", secret="s" * 24,
                  bot_user="Admin@learnloop", bot_password="p" * 32)


class _Host:
    def __init__(self, problem: Exception) -> None:
        self.problem = problem

    def poll(self, wiki: WikiConfig, position: str | None, now: datetime) -> Any:
        raise self.problem


@pytest.mark.parametrize(("problem", "status"), [
    (KeyError("rcid"), "error: an answer learnloop cannot read (KeyError('rcid'))"),
    (AttributeError("'list' object has no attribute 'get'"), "error: an answer learnloop cannot read (Attrib"),
    (WikiError("HTTP 502 from the wiki"), "error: HTTP 502 from the wiki"),
])
def test_an_answer_the_client_cannot_read_is_a_poll_error_not_a_crash(
        runtime: Runtime, caplog: pytest.LogCaptureFixture, problem: Exception, status: str) -> None:
    with caplog.at_level(logging.WARNING, logger="learnloop.jobs.wiki"):
        assert poll_wiki(runtime, WIKI, _Host(problem)) == 0  # type: ignore[arg-type]
        assert poll_wiki(runtime, WIKI, _Host(problem)) == 0  # type: ignore[arg-type]
    with runtime.reader() as uow:
        assert (uow.cursors.get(POLL_STATUS + "handbook") or "").startswith(status)
    assert [r.getMessage().startswith("could not poll wiki handbook: ") for r in caplog.records] == [True, True]
