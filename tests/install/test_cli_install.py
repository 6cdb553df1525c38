"""`learnloop install | uninstall | doctor` as an admin types them."""
# ruff: noqa: F811  (the fixtures imported from mattermost_world are the tests' parameters)

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import responses
from click.testing import CliRunner, Result
from werkzeug.serving import make_server

from learnloop.bootstrap import build_runtime
from learnloop.cli import main
from learnloop.config import load_settings
from learnloop.jobs.worker import Worker
from learnloop.mattermost.admin_client import MattermostAdminClient
from learnloop.mattermost.client import MattermostUnavailable
from learnloop.storage import migrate
from learnloop.storage.migrate import upgrade
from learnloop.wiring import create_app
from tests.contract.fixtures import MATTERMOST_TEST_URL
from tests.install.fake_mattermost import ADMIN_TOKEN
from tests.install.mattermost_world import MANIFEST, World, public_addresses, world  # noqa: F401
from tests.install.test_bookstack_install import (
    API_TOKEN,
    BASE_URL,
    HEAD,
    LOGIN,
    SECRET,
    api_accepts_token,
    login_page,
)


@pytest.fixture
def cli(world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> World:
    monkeypatch.setenv("LEARNLOOP_CONFIG_FILE", str(world.config_path))
    monkeypatch.setenv("LEARNLOOP_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    return world


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def install(*extra: str) -> Result:
    return run("install", str(MANIFEST), "--url", MATTERMOST_TEST_URL, "--token", ADMIN_TOKEN, *extra)


def test_install_prints_the_plan_and_writes_the_configuration(cli: World) -> None:
    result = install("--channel", "engineering/random")
    assert result.exit_code == 0, result.output
    assert "create  bot account @learnloop" in result.output
    assert "create  outgoing webhook in ~engineering/random" in result.output
    assert "bot access token" in result.output and "characters)" in result.output
    settings = load_settings()
    assert settings.mattermost_bot_token is not None
    assert settings.mattermost_bot_token.get_secret_value() not in result.output
    assert ADMIN_TOKEN not in result.output
    assert len(settings.mattermost_webhook_tokens) == 2

    assert "learnloop.toml changed: restart `learnloop serve` and `learnloop worker` so they read it" in result.output
    again = install("--channel", "engineering/random")
    assert again.exit_code == 0
    assert again.output.rstrip().endswith("nothing to change: already installed")


def test_the_token_can_come_from_the_environment(cli: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEARNLOOP_INSTALL_TOKEN", ADMIN_TOKEN)
    result = run("install", str(MANIFEST), "--url", MATTERMOST_TEST_URL, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "dry run:" in result.output
    assert cli.changes_sent() == []


def test_missing_token_or_url_is_a_usage_error(cli: World) -> None:
    result = run("install", str(MANIFEST), "--url", MATTERMOST_TEST_URL)
    assert result.exit_code == 2 and "pass --token" in result.output
    result = run("install", str(MANIFEST), "--token", ADMIN_TOKEN)
    assert result.exit_code == 2 and "pass --url" in result.output
    result = run("install", str(MANIFEST), "--url", "chat.example.com", "--token", ADMIN_TOKEN)
    assert result.exit_code == 2 and "must start with http:// or https://" in result.output
    assert cli.contract.calls == []


@pytest.mark.parametrize(("url", "reason"), [
    ("http://[bad", "invalid IPv6 address"), ("http://", "empty host"), ("http://exa mple.com", "domain name"),
    ("http://x:99999", "invalid port number"), ("https://admin:pw@chat.example.com", "without user:password"),
])
def test_a_malformed_url_is_a_usage_error(cli: World, url: str, reason: str) -> None:
    """The rule of LEARNLOOP_MATTERMOST_URL: nothing is sent to an address that is none."""
    result = run("install", str(MANIFEST), "--url", url, "--token", ADMIN_TOKEN)
    assert result.exit_code == 2 and "--url: not an address such as https://chat.example.com" in result.output
    assert reason in result.output and "HTTP None" not in result.output and "pw@" not in result.output
    assert cli.contract.calls == []


def test_wiki_options_on_the_mattermost_manifest_are_refused(cli: World) -> None:
    result = install("--wiki", "docs")
    assert result.exit_code == 2 and "--wiki is for wiki manifests" in result.output


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda t: t.replace("manifest_version: 1", "manifest_version: 2"), ":5: manifest_version: 2 is not supported"),
    (lambda t: t.replace("  username: learnloop", "  username: learnloop\n  colour: red"),
     ":14: bot_user.colour: unknown key"),
    (lambda t: t.replace("autocomplete: true ", "autocomplete: often"), (":22: slash_command.autocomplete: Input "
                                                                        "should be a valid boolean")),
    (lambda t: t.replace("slash_command:", "old_command:"), ":17: old_command: unknown key"),
])
def test_a_bad_manifest_is_refused_before_anything_is_touched(cli: World, tmp_path: Path, edit, expected) -> None:
    bad = tmp_path / "mattermost.yaml"
    bad.write_text(edit(MANIFEST.read_text(encoding="utf-8")), encoding="utf-8")
    config_before = cli.config_path.read_text()

    result = run("install", str(bad), "--url", MATTERMOST_TEST_URL, "--token", ADMIN_TOKEN)

    assert result.exit_code == 1
    assert "the manifest is invalid, nothing was touched" in result.output
    assert f"{bad}{expected}" in result.output
    assert cli.contract.calls == []
    assert cli.config_path.read_text() == config_before


def test_a_missing_manifest_file(cli: World) -> None:
    result = run("install", "manifests/nope.yaml", "--url", MATTERMOST_TEST_URL, "--token", ADMIN_TOKEN)
    assert result.exit_code == 1 and "manifests/nope.yaml: cannot read the manifest" in result.output


def test_failed_checks_say_what_to_fix(cli: World) -> None:
    cli.fake.service_settings["EnableBotAccountCreation"] = False
    result = install()
    assert result.exit_code == 1
    assert "nothing was changed; fix first:" in result.output
    assert "Enable Bot Account Creation" in result.output


def test_an_install_record_that_cannot_be_written_stops_install_before_any_change(cli: World) -> None:
    """Checked before Mattermost is touched, for the configuration and the install record alike (here the record
    is a link into a folder that is a regular file, which even root cannot write in)."""
    blocked = cli.config_path.parent / "not-a-folder"
    blocked.write_text("")
    (cli.config_path.parent / "learnloop.install.json").symlink_to(blocked / "learnloop.install.json")
    result = install()
    assert result.exit_code == 1, result.output
    assert f"cannot write {cli.config_path.parent / 'learnloop.install.json'}: " in result.output
    assert "nothing was changed" in result.output and "Traceback" not in result.output
    assert cli.changes_sent() == []


def test_a_failure_half_way_says_how_to_finish(cli: World) -> None:
    cli.fake.fail_next("POST", r"/api/v4/commands", 500)
    result = install()
    assert result.exit_code == 1
    assert "create  bot account @learnloop" in result.output
    assert "install stopped: could not create slash command /learn in team engineering" in result.output
    assert "learnloop.install.json" in result.output and "run the same command again" in result.output
    assert install().exit_code == 0
    assert len(cli.fake.commands) == 1 and len(cli.fake.bots) == 1


def test_a_command_whose_reply_was_lost_is_removed_by_uninstall(cli: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Mattermost made the command but the reply timed out (install stops); the re-run the message asks for
    finishes, and uninstall then removes the /learn command learnloop made."""
    real = MattermostAdminClient.create_command

    def made_then_timed_out(self: MattermostAdminClient, command: dict[str, object]) -> None:
        real(self, command)
        raise MattermostUnavailable("ReadTimeout", call="POST /api/v4/commands")

    monkeypatch.setattr(MattermostAdminClient, "create_command", made_then_timed_out)
    first = install()
    assert first.exit_code == 1 and "run the same command again" in first.output
    monkeypatch.setattr(MattermostAdminClient, "create_command", real)
    assert install().exit_code == 0
    removed = run("uninstall", str(MANIFEST), "--token", ADMIN_TOKEN)
    assert removed.exit_code == 0, removed.output
    assert cli.fake.commands == {}, "the /learn command learnloop made is still in Mattermost"


def test_a_bot_whose_reply_was_lost_is_disabled_by_uninstall(cli: World, monkeypatch: pytest.MonkeyPatch) -> None:
    real = MattermostAdminClient.create_bot

    def made_then_timed_out(self: MattermostAdminClient, *args: str) -> None:
        real(self, *args)
        raise MattermostUnavailable("ReadTimeout", call="POST /api/v4/bots")

    monkeypatch.setattr(MattermostAdminClient, "create_bot", made_then_timed_out)
    assert install().exit_code == 1
    monkeypatch.setattr(MattermostAdminClient, "create_bot", real)
    assert install().exit_code == 0
    run("uninstall", str(MANIFEST), "--token", ADMIN_TOKEN)
    assert all(bot.get("delete_at") for bot in cli.fake.bots.values()), "the bot learnloop made is still enabled"


def test_uninstall_removes_what_install_made(cli: World) -> None:
    assert install().exit_code == 0
    result = run("uninstall", str(MANIFEST), "--url", MATTERMOST_TEST_URL, "--token", ADMIN_TOKEN, "--dry-run")
    assert result.exit_code == 0 and "remove  slash command /learn in team engineering" in result.output
    assert len(cli.fake.commands) == 1
    result = run("uninstall", str(MANIFEST), "--token", ADMIN_TOKEN)  # the URL now comes from the configuration
    assert result.exit_code == 0, result.output
    assert cli.fake.commands == {} and cli.fake.hooks == {}
    again = run("uninstall", str(MANIFEST), "--token", ADMIN_TOKEN)
    assert again.exit_code == 0 and again.output.rstrip().endswith("nothing to remove: the install record lists "
                                                                   "nothing learnloop made that is still there")


@pytest.fixture
def serving(cli: World) -> Iterator[str]:
    """learnloop itself, really serving on a loopback port, for doctor's 'serving' row."""
    runtime = build_runtime(load_settings())
    upgrade(runtime.engine)
    server = make_server("127.0.0.1", 0, create_app(runtime))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    cli.contract.add_passthru(url)
    try:
        yield url
    finally:
        server.shutdown()


@pytest.mark.slow
def test_doctor_prints_a_table_and_exits_by_its_findings(cli: World, serving: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    assert install().exit_code == 0
    monkeypatch.setenv("LEARNLOOP_PUBLIC_URL", serving)
    assert install().exit_code == 1  # Mattermost may not call 127.0.0.1 yet
    cli.fake.service_settings["AllowedUntrustedInternalConnections"] = "127.0.0.1"
    assert install().exit_code == 0

    result = run("doctor", "--token", ADMIN_TOKEN)
    assert result.exit_code == 1 and "no worker has run: start `learnloop worker`" in result.output
    Worker(build_runtime(load_settings())).heartbeat()
    result = run("doctor", "--token", ADMIN_TOKEN)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["host", "check", "status", "detail"]
    assert any(line.startswith("learnloop") and " ok " in line for line in lines)
    assert doctor_rows(result)["secret key"][0] == "warn"  # generated: a warning, not a thing to fix
    assert lines[-1] == "nothing to fix; read the 1 warning above"

    cli.fake.hooks.clear()
    result = run("doctor", "--token", ADMIN_TOKEN)
    assert result.exit_code == 1
    assert "gone from Mattermost: run learnloop install" in result.output
    assert result.output.splitlines()[-1] == "1 thing to fix"


def test_doctor_when_learnloop_is_not_serving(cli: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEARNLOOP_PUBLIC_URL", "http://127.0.0.1:9")
    cli.contract.add_passthru("http://127.0.0.1:9")
    result = run("doctor")
    assert result.exit_code == 1
    assert "http://127.0.0.1:9/healthz: no answer" in result.output and "learnloop serve" in result.output


def doctor_rows(result: Result) -> dict[str, tuple[str, str]]:
    """The learnloop rows of doctor's table: check -> (status, detail)."""
    rows = [line.split(None, 1)[1] for line in result.output.splitlines() if line.startswith("learnloop ")]
    return {row.split("  ")[0]: tuple(row.split("  ", 1)[1].strip().split(None, 1)) for row in rows}


@pytest.mark.parametrize(("url", "prepare", "says"), [
    ("sqlite:///{tmp}/cli.db", "", "does not exist: run doctor in the folder `learnloop serve` runs in"),
    ("sqlite:///{tmp}/cli.db", "text", "cannot use the database (file is not a database)"),
    ("sqlite:///{tmp}/cli.db", "empty", "no tables yet: run `learnloop db upgrade`"),
    ("postgresql+psycopg://postgres@127.0.0.1:1/test", "", "cannot use the database (connection failed"),
])
def test_doctor_names_a_database_it_cannot_use_and_checks_nothing_in_it(
        cli: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, prepare: str, says: str) -> None:
    database = tmp_path / "cli.db"
    if prepare == "text":
        database.write_text("a text file\n" * 100)
    elif prepare == "empty":
        sqlite3.connect(database).close()
    monkeypatch.setenv("LEARNLOOP_DATABASE_URL", url.format(tmp=tmp_path))
    result = run("doctor")
    rows = doctor_rows(result)
    assert result.exit_code == 1 and rows["database"][0] == "fix" and says in rows["database"][1], result.output
    assert rows["worker"] == rows["messages"] == ("skip", "not checked: the database is not usable (see its row)")
    assert database.exists() == bool(prepare), "doctor creates no database"


def test_doctor_says_the_database_is_at_this_learnloops_schema(cli: World, tmp_path: Path) -> None:
    assert run("db", "upgrade").exit_code == 0
    status, detail = doctor_rows(run("doctor"))["database"]
    assert status == "ok" and detail == f"{tmp_path / 'cli.db'} at revision {migrate.head()}"


@pytest.fixture
def bookstack_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """learnloop.toml with one BookStack wiki, whose secret goes into the webhook URL the installer prints."""
    for name in ("PUBLIC_URL", "WIKIS", "MATTERMOST_URL"):
        monkeypatch.delenv(f"LEARNLOOP_{name}", raising=False)
    config = tmp_path / "learnloop.toml"
    config.write_text(f'public_url = "https://learnloop.example.com"\n\n[[wikis]]\nname = "kb"\nkind = "bookstack"\n'
                      f'url = "{BASE_URL}"\nsecret = "{SECRET}"\napi_token = "{API_TOKEN}"\n', encoding="utf-8")
    monkeypatch.setenv("LEARNLOOP_CONFIG_FILE", str(config))
    monkeypatch.setenv("LEARNLOOP_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    return config


@responses.activate
@pytest.mark.parametrize("dry_run", [(), ("--dry-run",)])
def test_a_wiki_secret_is_never_printed_in_full_unless_asked(bookstack_cli: Path, dry_run: tuple[str, ...]) -> None:
    api_accepts_token()
    responses.get(LOGIN, body=login_page(HEAD))
    manifest = str(MANIFEST.with_name("bookstack.yaml"))

    for _ in range(2):
        result = run("install", manifest, *dry_run)
        assert result.exit_code == 0, result.output
        assert SECRET not in result.output
        assert "secret=bs-h… (40 characters)" in result.output and "--show-secrets" in result.output

    shown = run("install", manifest, *dry_run, "--show-secrets")
    assert shown.exit_code == 0, shown.output
    assert f"secret={SECRET}" in shown.output


@responses.activate
def test_doctor_without_a_database_checks_the_wiki_but_not_its_deliveries(bookstack_cli: Path) -> None:
    api_accepts_token()
    responses.get(LOGIN, body=login_page(HEAD))
    rows = {line.split("  ")[1].strip(): " ".join(line.split()[4:]) for line in run("doctor").output.splitlines()
            if line.startswith("bookstack kb")}
    assert rows["api token"].startswith("ok")
    assert rows["webhook deliveries"] == "skip not checked: the database is not usable (see its row)"


def test_uninstall_finds_what_install_made_however_the_url_was_spelt(cli: World) -> None:
    """The record is keyed by the address as learnloop.toml keeps it: `--url http://Mattermost.test/` at install
    and nothing (the file's) at uninstall are one Mattermost."""
    spelt = MATTERMOST_TEST_URL.replace("http://mattermost.test", "http://Mattermost.test") + "/"
    assert spelt != MATTERMOST_TEST_URL
    installed = run("install", str(MANIFEST), "--url", spelt, "--token", ADMIN_TOKEN)
    assert installed.exit_code == 0, installed.output
    removed = run("uninstall", str(MANIFEST), "--token", ADMIN_TOKEN)
    assert removed.exit_code == 0 and "nothing to remove" not in removed.output, removed.output
    assert cli.fake.commands == {} and cli.fake.hooks == {}


def test_install_uninstall_install_uninstall_leaves_the_bot_disabled(cli: World) -> None:
    """The first uninstall disables the bot learnloop made; the second install enables it again and so owns that
    change: the second uninstall disables it again instead of calling it someone else's."""
    install = ("install", str(MANIFEST), "--url", MATTERMOST_TEST_URL, "--token", ADMIN_TOKEN)
    for args in (install, ("uninstall", str(MANIFEST), "--token", ADMIN_TOKEN), install):
        assert run(*args).exit_code == 0
    removed = run("uninstall", str(MANIFEST), "--token", ADMIN_TOKEN)
    assert removed.exit_code == 0 and "it was there before learnloop was installed" not in removed.output, \
        removed.output
    assert all(bot.get("delete_at") for bot in cli.fake.bots.values())


@pytest.mark.slow
def test_doctor_names_a_database_file_others_can_read(cli: World, tmp_path: Path) -> None:
    """One made by an older learnloop, or copied in, may be 0644: it holds the key to every reflection."""
    database = tmp_path / "cli.db"
    assert run("db", "upgrade").exit_code == 0
    database.chmod(0o644)
    result = run("doctor")
    assert result.exit_code == 1 and f"chmod 600 {database}" in result.output, result.output
    database.chmod(0o600)
    assert "readable by its owner only" in run("doctor").output
