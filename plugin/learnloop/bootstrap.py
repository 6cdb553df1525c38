"""Wires the parts together once, for the web process, the worker and the CLI."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from learnloop.clock import Clock, utc_now
from learnloop.config import ConfigError, Settings, load_settings
from learnloop.mattermost.client import MattermostClient
from learnloop.storage.engine import make_engine, read_only
from learnloop.storage.unit_of_work import UnitOfWork

SIGNING_SECRET_NAME = "signing_key"
KEY_CHECK_NAME = "signing_key_check"


def key_check(key: str) -> str:
    """What the database keeps to recognise the key it was written with, without keeping the key: reflections
    are sealed, and people hashed in the rollups, with it, so a different one would lose both."""
    return hmac.new(key.encode("utf-8"), b"learnloop: the key this database was written with",
                    hashlib.sha256).hexdigest()


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    clock: Clock = utc_now
    _signing_key: bytes | None = field(default=None, repr=False)
    _mattermost: MattermostClient | None = field(default=None, repr=False)
    _remembered: dict[str, Any] = field(default_factory=dict, repr=False)
    _read_engine: Engine | None = field(default=None, repr=False)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.engine)

    def reader(self) -> UnitOfWork:
        """A unit of work that only reads: on SQLite it takes no write lock, so it never queues
        behind a writer (WAL). Writing through it is a mistake."""
        if self._read_engine is None:
            self._read_engine = read_only(self.engine)
        return UnitOfWork(self._read_engine)

    @property
    def signing_key(self) -> bytes:
        """LEARNLOOP_SECRET_KEY, or a key generated once and kept in the database, so that
        buttons posted before a restart still verify after it."""
        if self._signing_key is None:
            configured = self.settings.secret_key
            if configured is not None:
                self._signing_key = configured.get_secret_value().encode("utf-8")
            else:
                self._signing_key = self._generated_key().encode("utf-8")
        return self._signing_key

    def _generated_key(self) -> str:
        """The key learnloop generated for this database; made on first use, unless the database was written
        with LEARNLOOP_SECRET_KEY (it keeps that key's check, not the key): then nothing is written."""
        with self.uow() as uow:
            generated = uow.secrets.get(SIGNING_SECRET_NAME)
            if generated is None and uow.secrets.get(KEY_CHECK_NAME) is not None:
                raise ConfigError(
                    "this database was written with LEARNLOOP_SECRET_KEY, which is not set: set it as the service "
                    "has it (under systemd, in /etc/learnloop.env); nothing was changed.")
            value = generated or uow.secrets.get_or_create(SIGNING_SECRET_NAME, secrets.token_urlsafe(48),
                                                            self.clock())
            uow.commit()
        return value

    def check_signing_key(self) -> None:
        """ConfigError when the key is not the one the database was written with (`key_check`); `serve` and
        `worker` check before they start."""
        key = self.signing_key.decode("utf-8")
        with self.uow() as uow:  # a database from before the check was kept was written with its generated key
            generated = uow.secrets.get(SIGNING_SECRET_NAME)
            check = uow.secrets.get_or_create(KEY_CHECK_NAME, key_check(generated or key), self.clock())
            uow.commit()
        if check != key_check(key):
            raise ConfigError(
                "LEARNLOOP_SECRET_KEY is not the key this database was written with: the private reflections "
                "sealed with that key could not be opened, nor the rollups' people be told apart. Set it back "
                "to that key (or unset it, if learnloop generated its own), or use a new database.")

    def remember(self, name: str, compute: Callable[[], Any]) -> Any:
        """A value computed once per process (for example the bot's own user id)."""
        if name not in self._remembered:
            self._remembered[name] = compute()
        return self._remembered[name]

    def mattermost(self) -> MattermostClient | None:
        """The bot's REST client, or None while no Mattermost URL and bot token are configured."""
        url, token = self.settings.mattermost_url_text, self.settings.mattermost_bot_token
        if not url or token is None:
            return None
        if self._mattermost is None:
            self._mattermost = MattermostClient(
                url, token.get_secret_value(), timeout=self.settings.mattermost_timeout_seconds
            )
        return self._mattermost


def build_runtime(settings: Settings | None = None, *, clock: Clock = utc_now, engine: Engine | None = None) -> Runtime:
    settings = settings or load_settings()
    engine = engine or make_engine(settings.database_url)
    return Runtime(settings=settings, engine=engine, clock=clock)
