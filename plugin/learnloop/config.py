"""Settings: LEARNLOOP_* environment variables over an optional TOML file, validated at start.

Environment variables configure the service itself; the TOML file named by
LEARNLOOP_CONFIG_FILE (default ./learnloop.toml, optional) holds what is structured, such as
the communities. A variable set in the environment wins over the same key in the file.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

ENV_PREFIX = "LEARNLOOP_"
OTHER_VARIABLES = frozenset({
    "INSTALL_TOKEN",  # `learnloop install`'s Mattermost admin token
    "HOME", "TEST_DATABASE_URL", "MATTERMOST_OPENAPI_DIR", "FUZZ_EXAMPLES",  # the tests and benchmarks
    "TEST_LEASE_SECONDS", "TEST_ROLLUP_SECONDS", "TEST_SETTLE_SECONDS", "TEST_PROMPT_SECONDS",
})
"""LEARNLOOP_* variables read elsewhere than Settings (without the prefix): not refused as unknown."""
DEFAULT_CONFIG_FILE = "learnloop.toml"
MATTERMOST_ID_LENGTH = 26
MAKE_SECRET = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
PLACEHOLDER_SECRETS = frozenset({"replace-with-24-random-characters"})
"""Placeholders an older README showed as a wiki's secret: anyone who read it knows them."""


class ConfigError(Exception):
    """The configuration cannot be used; the message names each bad setting and what was expected."""


def _split_tokens(value: Any) -> Any:
    if isinstance(value, str):
        return [token.strip() for token in value.split(",") if token.strip()]
    return value


def _plain_url(value: AnyHttpUrl | None) -> AnyHttpUrl | None:
    """An address learnloop builds links on: no user:password (it would be in every link posted), no query or
    fragment (a path after them would not be a path)."""
    if value is not None:
        if value.username or value.password:
            raise ValueError("expected an address without user:password in it")
        if value.query or value.fragment:
            raise ValueError("expected an address without ?query or #fragment, such as https://learnloop.example.com")
    return value


def url_problem(text: str) -> str | None:
    """Why `text` is not an address as the mattermost_url and public_url settings take one; None when it is."""
    try:
        _plain_url(TypeAdapter(AnyHttpUrl).validate_python(text))
    except ValidationError as exc:
        return str(exc.errors(include_url=False)[0]["msg"])
    except ValueError as exc:
        return str(exc)
    return None


def _check_mattermost_id(value: str) -> str:
    if len(value) != MATTERMOST_ID_LENGTH or not value.isalnum():
        raise ValueError("expected a 26-character Mattermost id (letters and digits)")
    return value


TokenList = Annotated[list[str], NoDecode]


WikiKind = Literal["mediawiki", "outline", "bookstack"]
AnnouncePolicy = Literal["new_pages", "new_and_major", "digest_only"]


class WikiConfig(BaseModel):
    """A wiki learnloop listens to; its webhooks arrive at POST /wiki/<name>/events."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    kind: WikiKind
    url: AnyHttpUrl
    secret: SecretStr | None = None
    """Verifies deliveries. For Outline, `learnloop install manifests/outline.yaml` generates it."""
    bot_user: str | None = None
    bot_password: SecretStr | None = None
    api_token: SecretStr | None = None

    _plain_url = field_validator("url")(_plain_url)

    @field_validator("secret")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value() in PLACEHOLDER_SECRETS:
            raise ValueError("is the README's placeholder, which anyone can read: make a random one with "
                             f"{MAKE_SECRET}")
        if value is not None and len(value.get_secret_value()) < 24:
            raise ValueError(f"expected a random secret of at least 24 characters: make one with {MAKE_SECRET}")
        return value

    @model_validator(mode="after")
    def _credentials(self) -> WikiConfig:
        if self.secret is None and self.kind != "outline":
            raise ValueError(f"a {'MediaWiki' if self.kind == 'mediawiki' else 'BookStack'} wiki needs secret, a "
                             f"random string of at least 24 characters ({MAKE_SECRET})")
        if self.kind == "mediawiki" and not (self.bot_user and self.bot_password):
            raise ValueError("a MediaWiki needs bot_user and bot_password (from Special:BotPasswords)")
        if self.kind in ("outline", "bookstack") and self.api_token is None:
            raise ValueError(f"an {self.kind} wiki needs api_token" if self.kind == "outline"
                             else "a BookStack wiki needs api_token ('<token id>:<token secret>')")
        return self

    @property
    def base_url(self) -> str:
        return str(self.url).rstrip("/")

    @property
    def secret_text(self) -> str:
        """The delivery secret; only Outline's may be missing (until install generates it)."""
        if self.secret is None:
            raise ValueError(f"wiki '{self.name}' has no secret yet: run learnloop install manifests/outline.yaml")
        return self.secret.get_secret_value()


def space_key(space: str) -> str:
    """A space's name as compared: ignoring case, and `_` for spaces as MediaWiki titles write them."""
    return space.replace("_", " ").strip().casefold()


class WikiSpace(BaseModel):
    """A MediaWiki category or namespace, an Outline collection, or a BookStack book or shelf."""

    model_config = ConfigDict(extra="forbid")

    wiki: str
    space: str = Field(min_length=1, max_length=200)


class CommunityConfig(BaseModel):
    """A community: a Mattermost channel, its owners, and the wiki spaces that belong to it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    channel_id: str
    channels: list[str] = Field(default_factory=list)
    """More channels that count towards this community (ids). One listed later counts from then on; what it
    did before stays with its own community."""
    owners: list[str] = Field(default_factory=list)
    timezone: str = "UTC"
    wiki_spaces: list[WikiSpace] = Field(default_factory=list)
    announce: AnnouncePolicy = "new_and_major"
    burst_minutes: int = Field(default=30, ge=0, le=24 * 60)
    learning_log_page: str | None = None

    @property
    def learning_log_title(self) -> str:
        """Each community its own page, unless the admin names one."""
        return self.learning_log_page or f"Learning log: {self.name}"

    @field_validator("channel_id")
    @classmethod
    def _channel_id(cls, value: str) -> str:
        return _check_mattermost_id(value)

    @field_validator("owners")
    @classmethod
    def _owners(cls, value: list[str]) -> list[str]:
        return [_check_mattermost_id(owner) for owner in value]

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: list[str]) -> list[str]:
        for channel in value:
            try:
                _check_mattermost_id(channel)
            except ValueError:
                raise ValueError(f"'{channel[:40]}' is not a channel id: expected a 26-character Mattermost id "
                                 "(letters and digits), as in the channel's View Info") from None
        return value

    @property
    def all_channels(self) -> list[str]:
        """Its own channel, then the others listed."""
        return [self.channel_id, *self.channels]

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe" names a folder of the database
            raise ValueError("expected an IANA time zone such as 'Europe/Berlin'") from None
        return value


def default_web_threads(database_url: str) -> int:
    """Threads per web worker when LEARNLOOP_WEB_THREADS is not set (Settings.threads_per_web_worker says why)."""
    return 1 if database_url.startswith("sqlite") else 2


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", case_sensitive=False)

    database_url: str = Field(default_factory=lambda: f"sqlite:///{Path.cwd() / 'learnloop.db'}")
    public_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8080")
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    web_workers: int = Field(default=2, ge=1, le=64)
    web_threads: int | None = Field(default=None, ge=1, le=64)
    access_log: bool = True
    secret_key: SecretStr | None = None
    mattermost_url: AnyHttpUrl | None = None
    mattermost_bot_token: SecretStr | None = None
    mattermost_bot_user_id: str | None = None
    mattermost_command_tokens: TokenList = Field(default_factory=list)
    mattermost_webhook_tokens: TokenList = Field(default_factory=list)
    mattermost_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    mattermost_oauth_client_id: str | None = None
    """The OAuth 2.0 app `learnloop install manifests/mattermost.yaml` registers ("Sign in with Mattermost")."""
    mattermost_oauth_client_secret: SecretStr | None = None
    outbox_concurrency: int = Field(default=8, ge=1, le=64)
    min_group_size: int = Field(default=5, ge=3, le=1000)
    retention_days: int = Field(default=730, ge=30, le=3650)
    """Events, delivery records and delivered messages older than this are deleted (rollups stay)."""
    config_file: Path = Path(DEFAULT_CONFIG_FILE)
    communities: list[CommunityConfig] = Field(default_factory=list)
    wikis: list[WikiConfig] = Field(default_factory=list)

    _split_command_tokens = field_validator("mattermost_command_tokens", "mattermost_webhook_tokens", mode="before")(
        _split_tokens
    )

    @field_validator("secret_key")
    @classmethod
    def _secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("expected at least 32 characters (for example: "
                             "python -c 'import secrets; print(secrets.token_urlsafe(48))')")
        return value

    _plain_urls = field_validator("public_url", "mattermost_url")(_plain_url)

    @field_validator("mattermost_oauth_client_id")
    @classmethod
    def _oauth_client_id(cls, value: str | None) -> str | None:
        return None if value is None else _check_mattermost_id(value)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "sqlite+pysqlite:", "postgresql:", "postgresql+psycopg:")):
            raise ValueError(
                "expected sqlite:///path/to/file.db or postgresql+psycopg://user@host:5432/db, "
                f"got a '{value.split(':', 1)[0]}:' URL"
            )
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        try:
            url = make_url(value)
            port = url.port
        except (ArgumentError, ValueError):
            raise ValueError("is not a database URL such as sqlite:///path/to/file.db or "
                             "postgresql+psycopg://user@host:5432/db") from None
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"port {port} is not between 1 and 65535")
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") \
                and not url.database.startswith("file:") and not Path(url.database).parent.is_dir():
            raise ValueError(f"the folder {str(Path(url.database).parent)[:80]} for the SQLite file does not exist")
        return value

    @field_validator("communities")
    @classmethod
    def _unique_channels(cls, value: list[CommunityConfig]) -> list[CommunityConfig]:
        seen: set[str] = set()
        for community in value:
            for channel in community.all_channels:
                if channel in seen:
                    raise ValueError(f"channel {channel} is mapped to more than one community (or listed twice "
                                     f"in '{community.name}')")
                seen.add(channel)
        return value

    @model_validator(mode="after")
    def _spaces_name_known_wikis(self) -> Settings:
        names = [wiki.name for wiki in self.wikis]
        if len(names) != len(set(names)):
            raise ValueError("two [[wikis]] entries share a name")
        for community in self.communities:
            for space in community.wiki_spaces:
                if space.wiki not in names:
                    raise ValueError(f"community '{community.name}' maps a space of wiki '{space.wiki}', "
                                     "which no [[wikis]] entry names")
        return self

    def wiki(self, name: str) -> WikiConfig | None:
        return next((wiki for wiki in self.wikis if wiki.name == name), None)

    def community_for_space(self, wiki: str, spaces: tuple[str, ...]) -> CommunityConfig | None:
        """The first community that maps one of the page's spaces (ignoring case, and `_` for spaces as
        MediaWiki titles do)."""
        found = self.mapped_space(wiki, spaces)
        return found[0] if found else None

    def mapped_space(self, wiki: str, spaces: tuple[str, ...]) -> tuple[CommunityConfig, WikiSpace] | None:
        """The first community that maps one of the page's spaces, and that space as it configures it."""
        wanted = {space_key(space) for space in spaces}
        for community in self.communities:
            for space in community.wiki_spaces:
                if space.wiki == wiki and space_key(space.space) in wanted:
                    return community, space
        return None

    @property
    def threads_per_web_worker(self) -> int:
        """LEARNLOOP_WEB_THREADS, else 1 on SQLite and 2 on PostgreSQL. On SQLite a second thread only
        waits: writers take turns, and a thread that loses the GIL while it holds the writer lock keeps
        the other process waiting for up to the interpreter's 5 ms switch interval. PostgreSQL waits on the
        network, where a second thread helps (docs/performance.md)."""
        if self.web_threads is not None:
            return self.web_threads
        return default_web_threads(self.database_url)

    @property
    def mattermost_url_text(self) -> str | None:
        return str(self.mattermost_url).rstrip("/") if self.mattermost_url else None

    @property
    def public_url_text(self) -> str:
        return str(self.public_url).rstrip("/")

    @property
    def oauth_enabled(self) -> bool:
        """Whether "Sign in with Mattermost" works; otherwise the widget points to `/learn signin`."""
        return bool(self.mattermost_url and self.mattermost_oauth_client_id and self.mattermost_oauth_client_secret)

    @property
    def wiki_origins(self) -> tuple[str, ...]:
        """The origins (scheme://host[:port]) of the configured wikis: the only pages that may frame the widget."""
        return tuple(dict.fromkeys(origin_of(str(wiki.url)) for wiki in self.wikis))

    def community_for_channel(self, channel_id: str) -> CommunityConfig | None:
        """The configured community the channel is the channel of, or one of the `channels` of."""
        return next((c for c in self.communities if channel_id in c.all_channels), None)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _TomlFileSource(settings_cls)


MAX_CONFIG_BYTES = 1024 * 1024


class _TomlFileSource(PydanticBaseSettingsSource):
    """Reads the TOML file named by LEARNLOOP_CONFIG_FILE; a missing default file is fine."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        named = os.environ.get(f"{ENV_PREFIX}CONFIG_FILE")
        path = _config_file_path()
        if not path.exists():
            if named:
                raise ConfigError(f"{ENV_PREFIX}CONFIG_FILE: the file '{path}' does not exist")
            return {}
        try:
            with path.open("rb") as handle:
                text = handle.read(MAX_CONFIG_BYTES + 1)
            if len(text) > MAX_CONFIG_BYTES:
                raise ConfigError(f"{path}: longer than {MAX_CONFIG_BYTES:,} bytes; is it the configuration file?")
            data = tomllib.loads(text.decode("utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); TOML files are UTF-8") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot be read: {exc.strerror or exc}") from None
        return {**data, "config_file": path}


SECRET_FIELDS = frozenset(
    {"secret_key", "database_url", "mattermost_bot_token", "mattermost_command_tokens", "mattermost_webhook_tokens",
     "mattermost_oauth_client_secret", "wikis"}
)


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a URL, as browsers write an origin (default ports left out)."""
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    return f"{parts.scheme}://{host}{port}"


def _config_file_path() -> Path:
    return Path(os.environ.get(f"{ENV_PREFIX}CONFIG_FILE") or DEFAULT_CONFIG_FILE)


def _describe(error: Any) -> str:
    """`LEARNLOOP_PORT: ...` for a variable, `learnloop.toml: communities → 0.channel_id: ...` for the file.

    Values of secret settings are never repeated in the message."""
    location = error.get("loc", ())
    top = str(location[0]) if location else "settings"
    if not location:
        where = top
    elif top in Settings.model_fields and (variable := _variable_for(top)) is not None:
        where = variable
    else:  # a setting of the file, or a name it holds that is none (a misspelt secret's value is not repeated)
        where = f"{_config_file_path()}: {top}"
    if len(location) > 1:
        where += " → " + ".".join(str(part) for part in location[1:])
    given = error.get("input")
    hidden = (top in SECRET_FIELDS or top not in Settings.model_fields or isinstance(given, (dict, list))
              or given is None or _has_password(given))
    shown = "" if hidden else f" (got '{str(given)[:60]}')"
    message = error.get("msg", "invalid").removeprefix("Value error, ")
    return f"{where}: {message}{shown}"


def _variable_for(setting: str) -> str | None:
    """The variable that sets `setting`, as it is spelt in the environment (names are read in any case)."""
    return next((name for name in os.environ if name.upper() == f"{ENV_PREFIX}{setting.upper()}"), None)


def _has_password(value: object) -> bool:
    try:
        return bool(urlsplit(str(value)).password)
    except ValueError:
        return False


def unknown_variables() -> list[str]:
    """A line for each LEARNLOOP_* variable in the environment that names no setting (its value never shown), with
    the closest known name."""
    known = {name.upper() for name in Settings.model_fields} | OTHER_VARIABLES
    lines = []
    for variable in sorted(os.environ):
        name = variable.upper().removeprefix(ENV_PREFIX)
        if variable.upper().startswith(ENV_PREFIX) and name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"; did you mean {ENV_PREFIX}{close[0]}?" if close else "; unset it"
            lines.append(f"{variable[:80].encode('unicode_escape').decode()}: no such setting{hint}")
    return lines


def _invalid(lines: list[str]) -> ConfigError:
    return ConfigError("learnloop cannot start, the configuration is invalid:\n  " + "\n  ".join(lines))


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and the TOML file; ConfigError names each bad setting and each unknown
    LEARNLOOP_* variable."""
    if unknown := unknown_variables():
        raise _invalid(unknown)
    try:
        return Settings(**overrides)
    except SettingsError as exc:  # an environment variable that must hold JSON does not
        field = str(exc).partition('field "')[2].partition('"')[0]
        where = (_variable_for(field) or f"{ENV_PREFIX}{field.upper()}") if field else "a setting"
        raise _invalid([f"{where}: is not valid JSON (a list or a table must be JSON here; learnloop.toml takes it "
                        "in TOML)"]) from None
    except ValidationError as exc:
        lines = [_describe(error) for error in exc.errors(include_url=False)]
        raise _invalid(lines) from None
