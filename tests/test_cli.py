"""The `learnloop` command as an admin uses it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from learnloop.bootstrap import build_runtime
from learnloop.cli import main
from learnloop.config import load_settings
from learnloop.services.rating import Rater, rate_url


@pytest.fixture
def sqlite_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    database = tmp_path / "cli.db"
    monkeypatch.setenv("LEARNLOOP_DATABASE_URL", f"sqlite:///{database}")
    return database


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
    refused = runner.invoke(main, ["db", "upgrade", "nonsense"])
    assert refused.exit_code == 1 and "Can't locate revision identified by 'nonsense'" in refused.output
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
