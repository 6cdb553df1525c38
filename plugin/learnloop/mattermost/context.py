"""What Mattermost's views and delivery handlers use of the running service: its storage and settings, the
bot's client, and values computed once per process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from learnloop.context import Service
from learnloop.mattermost.client import MattermostClient


class Chat(Service, Protocol):
    def mattermost(self) -> MattermostClient | None: ...

    def remember(self, name: str, compute: Callable[[], Any]) -> Any: ...
