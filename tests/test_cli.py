"""The `learnloop` command as an admin uses it."""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from learnloop.bootstrap import build_runtime
from learnloop.cli import listen_address, main
from learnloop.config import load_settings
from learnloop.services.rating import Rater, rate_url
from learnloop.storage.engine import make_engine
from tests.web.test_serve import _free_port as free_port


@pytest.fixture
def sqlite_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    database = tmp_path / "cli.db"
    monkeypatch.setenv("LEARNLOOP_DATABASE_URL", f"sqlite:///{database}")
    return database


@pytest.mark.slow
def test_db_upgrade_then_export_everything(sqlite_env: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    runtime = build_runtime(load_settings())
    runtime.signing_key  # noqa: B018  (stores the generated key)
    with runtime.uow() as uow:
        rate_url(uow, runtime.settings, Rater("ob7m4qhjzjfy5c6qgbwkz3mn8r", "fukk3xq1bbn8fgmsiwh4xprwdh"),
                 "https://wiki.acme.example/wiki/Page", 4, "Private note for owners", runtime.clock())
    out = tmp_path / "export.json"
    result = runner.invoke(main, ["export", "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["format"] == "learnloop-export" and data["version"] == 1
    tables = data["tables"]
    assert [r["stars"] for r in tables["ratings"]] == [4]
    assert tables["content_items"][0]["url"] == "https://wiki.acme.example/wiki/Page"
    assert tables["feedback"][0]["comment"] == "Private note for owners"
    assert [e["kind"] for e in tables["events"]] == ["rating"]
    assert tables["instance_secrets"][0]["value"] == "<redacted>"
    assert not out.with_name("export.json.partial").exists()
    person = tmp_path / "person.json"
    assert runner.invoke(main, ["person", "export", "ob7m4qhjzjfy5c6qgbwkz3mn8r", "--out", str(person)]).exit_code == 0
    private = {path.name: stat.S_IMODE(path.stat().st_mode)
               for path in (sqlite_env, out, person, sqlite_env.with_name("cli.db-wal"))}
    assert private == dict.fromkeys(private, 0o600), "the database holds the key to every reflection; exports hold " \
        "people's data: readable by their owner only, whatever the umask"


def test_export_to_an_unwritable_place_says_so(sqlite_env: Path) -> None:
    runner = CliRunner()
    runner.invoke(main, ["db", "upgrade"])
    result = runner.invoke(main, ["export", "--out", "/nonexistent-dir/export.json"])
    assert result.exit_code != 0
    assert "cannot write /nonexistent-dir/export.json" in result.output


def test_a_bad_setting_stops_the_command_with_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEARNLOOP_DATABASE_URL", "mysql://root@localhost/x")
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code != 0
    assert "LEARNLOOP_DATABASE_URL" in result.output and "postgresql+psycopg://" in result.output


def test_db_upgrade_to_an_unknown_revision_says_which_there_are_and_changes_nothing(sqlite_env: Path) -> None:
    runner = CliRunner()
    for wrong in ("nonsense", "head+1", "0001+99", "0023@x", "a:b", "base", "\x1b[2J"):
        refused = runner.invoke(main, ["db", "upgrade", wrong])
        assert refused.exit_code == 1 and f"there is no revision {wrong!r}" in refused.output, refused.output
        assert "give 'head' or a revision from 0001 to" in refused.output
        assert isinstance(refused.exception, SystemExit), "a message, not a traceback"
    done = runner.invoke(main, ["db", "upgrade"])
    head = done.output.strip().removeprefix("database at ")
    assert done.exit_code == 0 and head.isdigit()
    older = runner.invoke(main, ["db", "upgrade", "0001"])
    assert older.exit_code == 0 and older.output.strip() == f"database at {head}", "upgrade never goes down"


def test_worker_once_without_mattermost_sends_nothing(sqlite_env: Path) -> None:
    runner = CliRunner()
    runner.invoke(main, ["db", "upgrade"])
    result = runner.invoke(main, ["worker", "--once"])
    assert result.exit_code == 0 and "sent 0" in result.output


def test_help_lists_the_commands() -> None:
    output = CliRunner().invoke(main, ["--help"]).output
    for name in ("serve", "worker", "db", "export"):
        assert name in output


def test_doctor_and_worker_help_say_what_they_use_and_do() -> None:
    doctor = " ".join(CliRunner().invoke(main, ["doctor", "--help"]).output.split())
    assert "--token TEXT A Mattermost system admin's personal access token" in doctor and "Outline" not in doctor
    worker = " ".join(CliRunner().invoke(main, ["worker", "--help"]).output.split())
    assert "the network's pass (digests, suggestions, recognition)" in worker


@pytest.mark.parametrize(("host", "bind"), [("127.0.0.1", "127.0.0.1:8080"), ("::1", "[::1]:8080"),
                                            ("[::1]", "[::1]:8080"), ("learnloop.internal", "learnloop.internal:8080")])
def test_serve_binds_an_ipv6_address_in_brackets(host: str, bind: str) -> None:
    assert listen_address(host, 8080) == bind


@pytest.mark.parametrize(("url", "says"), [
    ("postgresql+psycopg://postgres@127.0.0.1:1/test", "cannot use the database (connection failed"),
    ("sqlite:///{tmp}/not-a-database.db", "cannot use the database (file is not a database)"),
])
def test_a_database_that_cannot_be_used_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str,
                                                          says: str) -> None:
    (tmp_path / "not-a-database.db").write_text("a text file\n" * 100)
    monkeypatch.setenv("LEARNLOOP_DATABASE_URL", url.format(tmp=tmp_path))
    for command in (["db", "upgrade"], ["export", "--out", str(tmp_path / "x.json")], ["worker", "--once"]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 1 and says in result.output, result.output
        assert isinstance(result.exception, SystemExit), "a message, not a traceback"


def test_a_database_folder_learnloop_cannot_write_is_one_clear_line(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    """/sys: a folder in which nobody, root included, may create a file. The export is not blamed on its file."""
    monkeypatch.setenv("LEARNLOOP_DATABASE_URL", "sqlite:////sys/learnloop.db")
    for command in (["serve", "--port", str(free_port())], ["worker", "--once"], ["db", "upgrade"]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 1, result.output
        assert result.output == ("Error: cannot create or lock the database in /sys (Permission denied): make it "
                                 "writable by this user or set LEARNLOOP_DATABASE_URL\n"), result.output
    result = CliRunner().invoke(main, ["export", "--out", str(tmp_path / "x.json")])
    assert result.exit_code == 1 and result.output.startswith("Error: /sys/learnloop.db does not exist"), result.output


def test_serve_on_a_port_in_use_says_so_before_migrating(sqlite_env: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["serve", "--host", "127.0.0.1", "--port", str(port)])
    assert result.exit_code == 1, result.output
    assert result.output == (f"Error: port {port} on 127.0.0.1 is in use: choose another with --port or "
                             "LEARNLOOP_PORT\n")
    assert not sqlite_env.exists(), "nothing migrated"


def test_a_migrations_lock_that_cannot_be_opened_is_one_clear_line(sqlite_env: Path) -> None:
    assert CliRunner().invoke(main, ["db", "upgrade"]).exit_code == 0
    lock = sqlite_env.with_name("cli.db-migrations.lock")
    lock.unlink()
    lock.mkdir()
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 1 and f"cannot create or lock the database in {sqlite_env.parent} (Is a directory)" \
        in result.output, result.output


def test_a_database_without_tables_says_to_upgrade(sqlite_env: Path, tmp_path: Path) -> None:
    sqlite_env.touch()
    for command in (["export", "--out", str(tmp_path / "x.json")],
                    ["person", "export", "ob7m4qhjzjfy5c6qgbwkz3mn8r", "--out", str(tmp_path / "p.json")],
                    ["person", "erase", "ob7m4qhjzjfy5c6qgbwkz3mn8r", "--yes"]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 1 and "run `learnloop db upgrade` first" in result.output, result.output
        assert "the database is not at this learnloop's schema (no such table" in result.output


@pytest.mark.parametrize(("name", "options"), [("export", ["--out", "x.json"]),
                                              ("person export", ["ob7m4qhjzjfy5c6qgbwkz3mn8r", "--out", "p.json"]),
                                              ("person erase", ["ob7m4qhjzjfy5c6qgbwkz3mn8r", "--yes"])])
def test_commands_that_read_the_database_never_create_one(sqlite_env: Path, monkeypatch: pytest.MonkeyPatch,
                                                          name: str, options: list[str]) -> None:
    """Run from another folder than serve's, they would read an empty database made on the spot."""
    monkeypatch.chdir(sqlite_env.parent)
    result = CliRunner().invoke(main, [*name.split(), *options])
    assert result.exit_code == 1 and f"{sqlite_env} does not exist: run {name} in the folder `learnloop serve` " \
        "runs in, or set LEARNLOOP_DATABASE_URL to its database" in result.output, result.output
    assert list(sqlite_env.parent.iterdir()) == []


@pytest.mark.parametrize(("url", "says"), [
    ("sqlite:", "is not a database URL"), ("postgresql:", "is not a database URL"),
    ("postgresql+psycopg://app@db:99999/x", "port 99999 is not between 1 and 65535"),
    ("sqlite:////nonexistent-dir/x.db", "the folder /nonexistent-dir for the SQLite file does not exist"),
])
def test_a_database_url_that_cannot_work_is_refused_by_name(monkeypatch: pytest.MonkeyPatch, url: str,
                                                           says: str) -> None:
    monkeypatch.setenv("LEARNLOOP_DATABASE_URL", url)
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 1 and f"LEARNLOOP_DATABASE_URL: {says}" in result.output, result.output


@pytest.mark.parametrize("value", ["notjson", "[1", "{"])
def test_a_list_setting_that_is_not_json_is_refused_by_name(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("LEARNLOOP_COMMUNITIES", value)
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 1 and "LEARNLOOP_COMMUNITIES: is not valid JSON" in result.output, result.output


def test_export_through_a_symbolic_link_writes_the_file_it_names(sqlite_env: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    runner.invoke(main, ["db", "upgrade"])
    target, link = tmp_path / "target.json", tmp_path / "link.json"
    target.write_text("old")
    link.symlink_to(target)
    result = runner.invoke(main, ["export", "--out", str(link)])
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and json.loads(target.read_text())["format"] == "learnloop-export"


@pytest.mark.slow
def test_export_refuses_what_is_not_a_regular_file(sqlite_env: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    runner.invoke(main, ["db", "upgrade"])
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    result = runner.invoke(main, ["export", "--out", str(fifo)])
    assert result.exit_code == 1 and "it exists and is not a regular file" in result.output, result.output
    assert stat.S_ISFIFO(fifo.stat().st_mode), "left as it was"


def test_a_secret_key_the_database_was_not_written_with_stops_the_worker(
        sqlite_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reflections are sealed, and people hashed, with the key: another one would lose both."""
    runner = CliRunner()
    assert runner.invoke(main, ["worker", "--once"]).exit_code == 0  # learnloop generates its key
    monkeypatch.setenv("LEARNLOOP_SECRET_KEY", "k" * 40)
    refused = runner.invoke(main, ["worker", "--once"])
    assert refused.exit_code == 1 and "is not the key this database was written with" in refused.output
    assert isinstance(refused.exception, SystemExit)
    monkeypatch.setenv("LEARNLOOP_SECRET_KEY", build_runtime(load_settings(secret_key=None)).signing_key.decode())
    assert runner.invoke(main, ["worker", "--once"]).exit_code == 0, "the generated key itself is the same key"


def test_a_configured_secret_key_cannot_be_swapped_for_another(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEARNLOOP_DATABASE_URL", f"sqlite:///{tmp_path / 'keyed.db'}")
    monkeypatch.setenv("LEARNLOOP_SECRET_KEY", "a" * 40)
    runner = CliRunner()
    assert runner.invoke(main, ["worker", "--once"]).exit_code == 0
    monkeypatch.setenv("LEARNLOOP_SECRET_KEY", "b" * 40)
    assert "is not the key this database was written with" in runner.invoke(main, ["worker", "--once"]).output
    monkeypatch.setenv("LEARNLOOP_SECRET_KEY", "a" * 40)
    assert runner.invoke(main, ["worker", "--once"]).exit_code == 0, "the key set back works again"


def test_without_the_key_the_database_was_written_with_commands_say_to_set_it_and_write_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An admin's shell lacks the key the service has in its environment file: nothing may generate one."""
    database = tmp_path / "keyed.db"
    monkeypatch.setenv("LEARNLOOP_DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.setenv("LEARNLOOP_SECRET_KEY", "a" * 40)
    runner = CliRunner()
    assert runner.invoke(main, ["worker", "--once"]).exit_code == 0
    monkeypatch.delenv("LEARNLOOP_SECRET_KEY")
    for command in (["person", "export", "ob7m4qhjzjfy5c6qgbwkz3mn8r", "--out", str(tmp_path / "p.json")],
                    ["person", "erase", "ob7m4qhjzjfy5c6qgbwkz3mn8r", "--yes"], ["worker", "--once"]):
        refused = runner.invoke(main, command)
        assert refused.exit_code == 1 and "this database was written with LEARNLOOP_SECRET_KEY, which is not set: " \
            "set it as the service has it (under systemd, in /etc/learnloop.env)" in refused.output, refused.output
        assert "unset it" not in refused.output
    with make_engine(f"sqlite:///{database}").connect() as connection:
        names = connection.execute(text("SELECT name FROM instance_secrets")).scalars().all()
    assert names == ["signing_key_check"], "no key generated"


def test_a_misspelt_secret_in_the_file_is_named_with_the_file_and_its_value_is_not_repeated(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "learnloop.toml"
    config.write_text('mattermost_bot_tokn = "xoxb-SUPER-SECRET-123"\n')
    monkeypatch.setenv("LEARNLOOP_CONFIG_FILE", str(config))
    monkeypatch.setenv("LEARNLOOP_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 1 and f"{config}: mattermost_bot_tokn" in result.output, result.output
    assert "SUPER-SECRET" not in result.output


def test_a_database_a_newer_learnloop_upgraded_is_one_clear_line(sqlite_env: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    with make_engine(f"sqlite:///{sqlite_env}").begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    for command in (["db", "upgrade"], ["worker", "--once"]):
        refused = runner.invoke(main, command)
        assert refused.exit_code == 1 and "at revision '0099', which this learnloop does not know" in refused.output
        assert isinstance(refused.exception, SystemExit), "a message, not a traceback"
    assert "restore the backup taken before the upgrade" in refused.output
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    upgrading = readme.split("- **Upgrading**:", 1)[1].split("\n- ", 1)[0]
    assert all(step in upgrading for step in ('".backup FILE"', "`pg_dump`", "`learnloop doctor`")), \
        "the README's upgrade takes the backup that message tells to restore"


@pytest.mark.parametrize("command", [["serve"], ["worker", "--once"]])
@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_database_for_serve_or_worker_is_one_clear_line(
        monkeypatch: pytest.MonkeyPatch, command: list[str], url: str) -> None:
    monkeypatch.setenv("LEARNLOOP_DATABASE_URL", url)
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 1 and "in-memory SQLite database, one per process" in result.output
    assert isinstance(result.exception, SystemExit), "a message, not a traceback"
