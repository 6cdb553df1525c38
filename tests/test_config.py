"""load_settings: LEARNLOOP_* variables over an optional learnloop.toml, validated at start.

tests/conftest.py clears every LEARNLOOP_* variable and changes into tmp_path before each
test (autouse fixture), so each test starts from a clean environment and an empty cwd.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from learnloop.config import ConfigError, Settings, load_settings

CHANNEL_A = "chnachnachnachnachnachna01"
CHANNEL_B = "chnbchnbchnbchnbchnbchnb02"
OWNER_1 = "own1own1own1own1own1own1ab"
OWNER_2 = "own2own2own2own2own2own2ab"
SECRET = "s" * 32

COMMUNITIES_TOML = f"""
[[communities]]
name = "Data Engineering"
channel_id = "{CHANNEL_A}"
owners = ["{OWNER_1}", "{OWNER_2}"]
timezone = "Europe/Berlin"

[[communities]]
name = "Support"
channel_id = "{CHANNEL_B}"
"""


def write_toml(text: str, path: Path | None = None) -> Path:
    path = path or Path.cwd() / "learnloop.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def community_toml(**fields: str | list[str]) -> str:
    values: dict[str, str | list[str]] = {"name": "Data", "channel_id": CHANNEL_A, **fields}
    lines = ["[[communities]]"]
    for key, value in values.items():
        rendered = "[" + ", ".join(f'"{v}"' for v in value) + "]" if isinstance(value, list) else f'"{value}"'
        lines.append(f"{key} = {rendered}")
    return "\n".join(lines) + "\n"


def config_error(**overrides: object) -> str:
    with pytest.raises(ConfigError) as error:
        load_settings(**overrides)
    return str(error.value)


# --------------------------------------------------------------------------- isolation


def test_each_test_starts_in_an_empty_directory_without_learnloop_variables(tmp_path: Path) -> None:
    assert Path.cwd() == tmp_path
    assert not [name for name in os.environ if name.startswith("LEARNLOOP_") and name != "LEARNLOOP_TEST_DATABASE_URL"]


# --------------------------------------------------------------------------- defaults


def test_default_database_is_a_sqlite_file_in_the_current_directory(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.database_url == f"sqlite:///{Path.cwd() / 'learnloop.db'}"
    assert settings.database_url == f"sqlite:///{tmp_path / 'learnloop.db'}"


def test_default_address_is_localhost_8080() -> None:
    settings = load_settings()
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.public_url_text == "http://127.0.0.1:8080"


def test_defaults_for_everything_else() -> None:
    settings = load_settings()
    assert settings.web_workers == 2
    assert settings.secret_key is None
    assert settings.mattermost_url is None and settings.mattermost_url_text is None
    assert settings.mattermost_bot_token is None
    assert settings.mattermost_command_tokens == []
    assert settings.mattermost_webhook_tokens == []
    assert settings.mattermost_timeout_seconds == 5.0
    assert settings.config_file == Path("learnloop.toml")
    assert settings.communities == []


@pytest.mark.parametrize(("database_url", "threads", "expected"), [
    ("sqlite:///learnloop.db", None, 1),
    ("postgresql+psycopg://postgres@127.0.0.1:5432/test", None, 2),
    ("sqlite:///learnloop.db", "4", 4),
])
def test_web_threads_default_to_what_the_database_can_use(
    monkeypatch: pytest.MonkeyPatch, database_url: str, threads: str | None, expected: int
) -> None:
    monkeypatch.setenv("LEARNLOOP_DATABASE_URL", database_url)
    if threads is not None:
        monkeypatch.setenv("LEARNLOOP_WEB_THREADS", threads)
    assert load_settings().threads_per_web_worker == expected


def test_load_settings_returns_settings() -> None:
    assert isinstance(load_settings(), Settings)


# --------------------------------------------------------------------------- environment variables


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEARNLOOP_HOST", "0.0.0.0")
    monkeypatch.setenv("LEARNLOOP_PORT", "9000")
    monkeypatch.setenv("LEARNLOOP_PUBLIC_URL", "https://learnloop.example.com/")
    monkeypatch.setenv("LEARNLOOP_SECRET_KEY", SECRET)
    monkeypatch.setenv("LEARNLOOP_MATTERMOST_URL", "https://chat.example.com/")
    settings = load_settings()
    assert (settings.host, settings.port) == ("0.0.0.0", 9000)
    assert settings.public_url_text == "https://learnloop.example.com"
    assert settings.secret_key is not None and settings.secret_key.get_secret_value() == SECRET
    assert settings.mattermost_url_text == "https://chat.example.com"


def test_environment_variable_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("learnloop_port", "9001")
    assert load_settings().port == 9001


@pytest.mark.parametrize(
    ("variable", "field"),
    [
        ("LEARNLOOP_MATTERMOST_COMMAND_TOKENS", "mattermost_command_tokens"),
        ("LEARNLOOP_MATTERMOST_WEBHOOK_TOKENS", "mattermost_webhook_tokens"),
    ],
)
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("tok1", ["tok1"]),
        ("tok1,tok2", ["tok1", "tok2"]),
        (" tok1 , tok2 ,tok3 ", ["tok1", "tok2", "tok3"]),
        ("tok1,,tok2,", ["tok1", "tok2"]),
        ("", []),
        (" , ", []),
    ],
)
def test_token_lists_are_comma_separated_with_spaces_ignored(
    monkeypatch: pytest.MonkeyPatch, variable: str, field: str, raw: str, expected: list[str]
) -> None:
    monkeypatch.setenv(variable, raw)
    assert getattr(load_settings(), field) == expected


def test_token_lists_can_be_passed_as_lists() -> None:
    assert load_settings(mattermost_command_tokens=["a", "b"]).mattermost_command_tokens == ["a", "b"]


@pytest.mark.parametrize(
    "url",
    ["sqlite:///learnloop.db", "sqlite://", "sqlite+pysqlite:///x.db", "postgresql+psycopg://app@db:5432/learnloop"],
)
def test_supported_database_urls_are_kept(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("LEARNLOOP_DATABASE_URL", url)
    assert load_settings().database_url == url


def test_plain_postgresql_url_is_rewritten_to_use_psycopg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEARNLOOP_DATABASE_URL", "postgresql://app:pw@db.internal:5432/learnloop")
    assert load_settings().database_url == "postgresql+psycopg://app:pw@db.internal:5432/learnloop"


# --------------------------------------------------------------------------- invalid environment values


def test_error_message_starts_with_a_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEARNLOOP_PORT", "x")
    assert config_error().startswith("learnloop cannot start, the configuration is invalid:")


@pytest.mark.parametrize(("variable", "line"), [
    ("LEARNLOOP_PROT", "LEARNLOOP_PROT: no such setting; did you mean LEARNLOOP_PORT?"),
    ("LEARNLOOP_MATTERMOST_BOT_TOKN", "LEARNLOOP_MATTERMOST_BOT_TOKN: no such setting; did you mean "
                                      "LEARNLOOP_MATTERMOST_BOT_TOKEN?"),
    ("learnloop_secret", "learnloop_secret: no such setting; did you mean LEARNLOOP_SECRET_KEY?"),
    ("LEARNLOOP_ZZZ", "LEARNLOOP_ZZZ: no such setting; unset it"),
])
def test_an_unknown_variable_is_named_with_the_closest_setting_and_never_its_value(
        monkeypatch: pytest.MonkeyPatch, variable: str, line: str) -> None:
    monkeypatch.setenv(variable, "tok-abcdefghijklmnopqrstuvwxyz0123456789")
    message = config_error()
    assert message.splitlines()[1:] == [f"  {line}"]
    assert "abcdefghijklmnop" not in message


def test_variables_learnloop_reads_besides_its_settings_are_not_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("INSTALL_TOKEN", "CONFIG_FILE", "TEST_DATABASE_URL", "HOME", "MATTERMOST_OPENAPI_DIR",
                 "FUZZ_EXAMPLES", "TEST_LEASE_SECONDS", "TEST_ROLLUP_SECONDS", "TEST_SETTLE_SECONDS",
                 "TEST_PROMPT_SECONDS"):
        monkeypatch.setenv(f"LEARNLOOP_{name}", os.devnull if name == "CONFIG_FILE" else "1")
    assert load_settings().port == 8080


@pytest.mark.parametrize(
    ("port", "expected"),
    [
        ("http", "valid integer"),
        ("80.5", "valid integer"),
        ("0", "greater than or equal to 1"),
        ("-1", "greater than or equal to 1"),
        ("65536", "less than or equal to 65535"),
    ],
)
def test_invalid_port_names_the_variable_and_the_range(
    monkeypatch: pytest.MonkeyPatch, port: str, expected: str
) -> None:
    monkeypatch.setenv("LEARNLOOP_PORT", port)
    message = config_error()
    assert "LEARNLOOP_PORT:" in message
    assert expected in message
    assert f"(got '{port}')" in message


@pytest.mark.parametrize(("variable", "value", "line"), [
    ("learnloop_port", "abc", "learnloop_port: Input should be a valid integer"),
    ("Learnloop_Min_Group_Size", "2", "Learnloop_Min_Group_Size: Input should be greater than or equal to 3"),
    ("learnloop_communities", "notjson", "learnloop_communities: is not valid JSON"),
])
def test_a_bad_variable_is_named_as_it_was_spelt(monkeypatch: pytest.MonkeyPatch, variable: str, value: str,
                                                 line: str) -> None:
    """Variable names are read case-insensitively, and learnloop.toml does not exist here."""
    monkeypatch.setenv(variable, value)
    message = config_error()
    assert line in message and "learnloop.toml: " not in message, message


@pytest.mark.parametrize("port", ["1", "65535"])
def test_port_range_limits_are_accepted(monkeypatch: pytest.MonkeyPatch, port: str) -> None:
    monkeypatch.setenv("LEARNLOOP_PORT", port)
    assert load_settings().port == int(port)


@pytest.mark.parametrize("url", ["mysql://app@db/learnloop", "learnloop.db", "postgres://app@db/learnloop"])
def test_unsupported_database_url_names_the_variable_and_the_accepted_forms(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("LEARNLOOP_DATABASE_URL", url)
    message = config_error()
    assert "LEARNLOOP_DATABASE_URL:" in message
    assert "expected sqlite:///path/to/file.db or postgresql+psycopg://" in message


def test_database_url_error_shows_the_rejected_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEARNLOOP_DATABASE_URL", "mysql://app:hunter2@db/learnloop")
    assert "got a 'mysql:' URL" in config_error()


def test_database_url_error_never_contains_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEARNLOOP_DATABASE_URL", "mysql://app:hunter2@db/learnloop")
    assert "hunter2" not in config_error()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", "valid URL"),
        ("learnloop.example.com", "valid URL"),
        ("ftp://learnloop.example.com", "URL scheme should be 'http' or 'https'"),
        ("https://learnloop.example.com/?x=1", "without ?query or #fragment"),
        ("https://learnloop.example.com/#top", "without ?query or #fragment"),
        ("https://ann:hunter2@learnloop.example.com", "without user:password"),
    ],
)
def test_invalid_public_url_names_the_variable_and_what_was_expected(
    monkeypatch: pytest.MonkeyPatch, url: str, expected: str
) -> None:
    monkeypatch.setenv("LEARNLOOP_PUBLIC_URL", url)
    message = config_error()
    assert "LEARNLOOP_PUBLIC_URL:" in message
    assert expected in message


def test_invalid_mattermost_url_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEARNLOOP_MATTERMOST_URL", "chat")
    assert "LEARNLOOP_MATTERMOST_URL:" in config_error()


def test_short_secret_key_names_the_variable_and_the_minimum_length(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEARNLOOP_SECRET_KEY", "s" * 31)
    message = config_error()
    assert "LEARNLOOP_SECRET_KEY: expected at least 32 characters" in message
    assert "secrets.token_urlsafe" in message


def test_secret_key_of_exactly_32_characters_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEARNLOOP_SECRET_KEY", SECRET)
    settings = load_settings()
    assert settings.secret_key is not None
    assert settings.secret_key.get_secret_value() == SECRET
    assert SECRET not in repr(settings)


def test_short_secret_key_is_not_echoed_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEARNLOOP_SECRET_KEY", "almost-secret-but-too-short")
    assert "almost-secret-but-too-short" not in config_error()


def test_every_invalid_setting_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEARNLOOP_PORT", "http")
    monkeypatch.setenv("LEARNLOOP_DATABASE_URL", "mysql://db/x")
    monkeypatch.setenv("LEARNLOOP_SECRET_KEY", "short")
    message = config_error()
    for variable in ("LEARNLOOP_PORT:", "LEARNLOOP_DATABASE_URL:", "LEARNLOOP_SECRET_KEY:"):
        assert variable in message


def test_unknown_keyword_override_is_rejected() -> None:
    assert "colour: Extra inputs are not permitted" in config_error(colour="red")


# --------------------------------------------------------------------------- the TOML file


def test_learnloop_toml_in_the_current_directory_is_read() -> None:
    write_toml(COMMUNITIES_TOML)
    settings = load_settings()
    assert settings.config_file == Path("learnloop.toml")
    first, second = settings.communities
    assert first.name == "Data Engineering"
    assert first.channel_id == CHANNEL_A
    assert first.owners == [OWNER_1, OWNER_2]
    assert first.timezone == "Europe/Berlin"


def test_community_defaults_to_no_owners_and_utc() -> None:
    write_toml(COMMUNITIES_TOML)
    support = load_settings().communities[1]
    assert (support.name, support.owners, support.timezone) == ("Support", [], "UTC")


def test_toml_file_can_set_service_settings() -> None:
    write_toml('host = "0.0.0.0"\nport = 9000\nmattermost_command_tokens = ["a", "b"]\n')
    settings = load_settings()
    assert (settings.host, settings.port) == ("0.0.0.0", 9000)
    assert settings.mattermost_command_tokens == ["a", "b"]


def test_missing_default_file_is_fine() -> None:
    assert not Path("learnloop.toml").exists()
    assert load_settings().communities == []


def test_config_file_variable_points_elsewhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    write_toml('port = 1111\n')  # in the cwd: must be ignored
    elsewhere = write_toml("port = 2222\n" + COMMUNITIES_TOML, tmp_path / "etc" / "learnloop" / "production.toml")
    monkeypatch.setenv("LEARNLOOP_CONFIG_FILE", str(elsewhere))
    settings = load_settings()
    assert settings.port == 2222
    assert settings.config_file == elsewhere
    assert [c.channel_id for c in settings.communities] == [CHANNEL_A, CHANNEL_B]


def test_config_file_variable_may_be_relative_to_the_cwd(monkeypatch: pytest.MonkeyPatch) -> None:
    write_toml("port = 3333\n", Path.cwd() / "conf" / "dev.toml")
    monkeypatch.setenv("LEARNLOOP_CONFIG_FILE", "conf/dev.toml")
    assert load_settings().port == 3333


def test_named_config_file_that_does_not_exist_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "learnloop.toml"
    monkeypatch.setenv("LEARNLOOP_CONFIG_FILE", str(missing))
    message = config_error()
    assert message == f"LEARNLOOP_CONFIG_FILE: the file '{missing}' does not exist"


def test_invalid_toml_is_an_error_naming_the_file() -> None:
    write_toml("port = 9000\n[[communities\n")
    message = config_error()
    assert message.startswith("learnloop.toml: not valid TOML:")
    assert "line 2" in message


def test_invalid_toml_in_a_named_file_names_that_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = write_toml("port = = 1\n", tmp_path / "broken.toml")
    monkeypatch.setenv("LEARNLOOP_CONFIG_FILE", str(path))
    assert config_error().startswith(f"{path}: not valid TOML:")


def test_unknown_top_level_key_in_the_file_is_rejected() -> None:
    write_toml("prot = 9000\n")
    assert "prot: Extra inputs are not permitted" in config_error()


def test_invalid_value_in_the_file_is_rejected() -> None:
    write_toml('port = "http"\n')
    assert "valid integer" in config_error()


def test_invalid_value_in_the_file_names_the_file() -> None:
    write_toml('port = "http"\n')
    assert "learnloop.toml" in config_error()


# --------------------------------------------------------------------------- invalid communities


@pytest.mark.parametrize("channel_id", ["abc", "a" * 25, "a" * 27, "chn-chnachnachnachnachna01", ""])
def test_bad_channel_id_names_the_path(channel_id: str) -> None:
    write_toml(community_toml(channel_id=channel_id))
    message = config_error()
    assert "communities → 0.channel_id: expected a 26-character Mattermost id" in message


def test_bad_channel_id_in_second_community_names_its_index() -> None:
    write_toml(COMMUNITIES_TOML + community_toml(name="Third", channel_id="nope"))
    assert "communities → 2.channel_id" in config_error()


def test_bad_owner_id_names_the_path() -> None:
    write_toml(community_toml(owners=[OWNER_1, "alice"]))
    message = config_error()
    assert "communities → 0.owners: expected a 26-character Mattermost id" in message


@pytest.mark.parametrize("timezone", ["Mars/Olympus_Mons", "CEST+2", "Europe/", "Europe", "America/Argentina"])
def test_bad_timezone_names_the_path(timezone: str) -> None:
    write_toml(community_toml(timezone=timezone))
    message = config_error()
    assert "communities → 0.timezone: expected an IANA time zone such as 'Europe/Berlin'" in message


@pytest.mark.parametrize("timezone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_valid_timezones_are_accepted(timezone: str) -> None:
    write_toml(community_toml(timezone=timezone))
    assert load_settings().communities[0].timezone == timezone


def test_duplicate_channel_is_rejected() -> None:
    write_toml(community_toml(name="One") + community_toml(name="Two"))
    message = config_error()
    assert f"communities: channel {CHANNEL_A} is mapped to more than one community" in message


def test_unknown_key_in_a_community_names_the_path() -> None:
    write_toml(community_toml(colour="red"))
    assert "communities → 0.colour: Extra inputs are not permitted" in config_error()


def test_missing_community_name_names_the_path() -> None:
    write_toml(f'[[communities]]\nchannel_id = "{CHANNEL_A}"\n')
    assert "communities → 0.name: Field required" in config_error()


def test_empty_community_name_is_rejected() -> None:
    write_toml(community_toml(name=""))
    assert "communities → 0.name" in config_error()


def test_errors_in_several_communities_are_all_reported() -> None:
    write_toml(community_toml(channel_id="bad") + community_toml(name="Two", channel_id=CHANNEL_B, timezone="Nowhere"))
    message = config_error()
    assert "communities → 0.channel_id" in message
    assert "communities → 1.timezone" in message


# --------------------------------------------------------------------------- environment over file


def test_environment_variable_wins_over_the_same_key_in_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    write_toml('port = 9000\nhost = "10.0.0.1"\n')
    monkeypatch.setenv("LEARNLOOP_PORT", "9100")
    settings = load_settings()
    assert settings.port == 9100
    assert settings.host == "10.0.0.1"


def test_file_value_is_used_when_the_variable_is_unset() -> None:
    write_toml("port = 9000\n")
    assert load_settings().port == 9000


def test_environment_token_list_wins_over_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    write_toml('mattermost_command_tokens = ["from-file"]\n')
    monkeypatch.setenv("LEARNLOOP_MATTERMOST_COMMAND_TOKENS", "from-env-1, from-env-2")
    assert load_settings().mattermost_command_tokens == ["from-env-1", "from-env-2"]


def test_keyword_override_wins_over_environment_and_file(monkeypatch: pytest.MonkeyPatch) -> None:
    write_toml("port = 9000\n")
    monkeypatch.setenv("LEARNLOOP_PORT", "9100")
    assert load_settings(port=9200).port == 9200


def test_valid_environment_variable_does_not_hide_an_invalid_file_value(monkeypatch: pytest.MonkeyPatch) -> None:
    write_toml('port = 9000\n[[communities]]\nname = "X"\nchannel_id = "bad"\n')
    monkeypatch.setenv("LEARNLOOP_PORT", "9100")
    assert "communities → 0.channel_id" in config_error()


# --------------------------------------------------------------------------- community_for_channel


def test_community_for_channel_finds_each_configured_channel() -> None:
    write_toml(COMMUNITIES_TOML)
    settings = load_settings()
    assert settings.community_for_channel(CHANNEL_A).name == "Data Engineering"  # type: ignore[union-attr]
    assert settings.community_for_channel(CHANNEL_B).name == "Support"  # type: ignore[union-attr]


@pytest.mark.parametrize("channel_id", ["unknownunknownunknownunkn1", "", CHANNEL_A.upper()])
def test_community_for_unknown_channel_is_none(channel_id: str) -> None:
    write_toml(COMMUNITIES_TOML)
    assert load_settings().community_for_channel(channel_id) is None


def test_community_for_channel_without_communities_is_none() -> None:
    assert load_settings().community_for_channel(CHANNEL_A) is None


@pytest.mark.parametrize(("kind", "credentials"), [
    ("mediawiki", {"bot_user": "Learnloop@learnloop", "bot_password": "p" * 32}),
    ("bookstack", {"api_token": "id:secret"}),
])
def test_a_wiki_that_cannot_sign_for_itself_needs_a_secret(kind: str, credentials: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(wikis=[{"name": "w", "kind": kind, "url": "https://wiki.example.com", **credentials}])
    assert "wiki needs secret, a random string of at least 24 characters" in str(caught.value)
    assert "secrets.token_urlsafe" in str(caught.value)


def test_an_outline_wiki_may_wait_for_install_to_generate_its_secret() -> None:
    settings = load_settings(wikis=[{"name": "w", "kind": "outline", "url": "https://o.example.com",
                                     "api_token": "ol_api_x"}])
    assert settings.wikis[0].secret is None
    with pytest.raises(ValueError, match="run learnloop install manifests/outline.yaml"):
        _ = settings.wikis[0].secret_text


def test_the_readme_example_of_learnloop_toml_loads() -> None:
    """What an admin copies from the README starts the service."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    example = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    write_toml(example)
    assert "wikis → 0.secret: expected a random secret of at least 24 characters: make one with python3 -c " \
        in config_error(), "the example's secret cannot be pasted as one"
    write_toml(example.replace('secret = "..."', f'secret = "{secrets.token_urlsafe(32)}"'))
    settings = load_settings()
    assert [(wiki.name, wiki.kind) for wiki in settings.wikis] == [("handbook", "mediawiki")]
    community = settings.communities[0]
    assert (community.name, community.timezone, community.burst_minutes) == ("Data guild", "Europe/Berlin", 30)
    assert [space.wiki for space in community.wiki_spaces] == ["handbook"]


def test_the_placeholder_an_older_readme_showed_is_refused_as_a_secret() -> None:
    wiki = {"name": "w", "kind": "bookstack", "url": "https://b.example.com", "api_token": "id:secret",
            "secret": "replace-with-24-random-characters"}
    message = config_error(wikis=[wiki])
    assert "is the README's placeholder, which anyone can read: make a random one with python3 -c " in message


def test_a_password_in_a_refused_address_is_not_repeated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEARNLOOP_MATTERMOST_URL", "https://ann:hunter2@chat.example.com")
    message = config_error()
    assert "LEARNLOOP_MATTERMOST_URL: expected an address without user:password" in message
    assert "hunter2" not in message


def test_a_config_file_that_is_not_utf8_or_not_a_file_is_an_error_naming_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (Path.cwd() / "learnloop.toml").write_bytes('[[communities]]\nname = "Caf\xe9"\n'.encode("latin-1"))
    assert config_error() == "learnloop.toml: not UTF-8 text (byte 27); TOML files are UTF-8"
    monkeypatch.setenv("LEARNLOOP_CONFIG_FILE", str(tmp_path))
    assert config_error().startswith(f"{tmp_path}: cannot be read: ")
    monkeypatch.setenv("LEARNLOOP_CONFIG_FILE", "/dev/zero")
    assert config_error() == "/dev/zero: longer than 1,048,576 bytes; is it the configuration file?"


def test_a_wiki_address_with_a_query_is_refused() -> None:
    write_toml('[[wikis]]\nname = "kb"\nkind = "outline"\nurl = "https://kb.example.com/?team=1"\n'
               'api_token = "ol_api_0123456789abcdef0123456789abcdef"\n')
    assert "wikis → 0.url: expected an address without ?query or #fragment" in config_error()
