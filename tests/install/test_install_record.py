"""The install record and the configuration writer: what a half-way failure leaves behind."""

from __future__ import annotations

import json
import stat
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from learnloop.files import WriteFailed
from learnloop.install.config_file import ConfigFile, mask
from learnloop.install.ledger import Ledger, Resource, ledger_path_for
from learnloop.mattermost.client import MattermostError, MattermostUnavailable
from learnloop.outline.client import OutlineError
from learnloop.wikis import WikiError


def test_the_record_sits_beside_the_configuration() -> None:
    assert ledger_path_for(Path("/etc/learnloop/learnloop.toml")) == Path("/etc/learnloop/learnloop.install.json")


def test_every_change_is_saved_at_once_and_survives_a_new_reader(tmp_path: Path) -> None:
    path = tmp_path / "learnloop.install.json"
    ledger = Ledger(path)
    ledger.record("mattermost x", Resource("bot", "b1", "@learnloop", True))
    ledger.record("mattermost x", Resource("command", "c1", "/learn in team a", True, {"team_id": "t1"}))
    ledger.record("mattermost x", Resource("bot", "b1", "@learnloop", True))  # same type and label: replaced

    reread = Ledger(path)
    assert [(r.type, r.id) for r in reread.resources("mattermost x")] == [("command", "c1"), ("bot", "b1")]
    assert reread.find("mattermost x", "command").data == {"team_id": "t1"}
    assert reread.status("mattermost x") == "incomplete"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    reread.set_status("mattermost x", "complete")
    assert Ledger(path).status("mattermost x") == "complete"

    for resource in Ledger(path).resources("mattermost x"):
        reread.forget("mattermost x", resource)
    assert json.loads(path.read_text())["hosts"] == {}


def lost_reply() -> None:
    raise MattermostUnavailable("ReadTimeout", call="POST /api/v4/bots")


def test_a_pending_entry_is_kept_until_the_resource_is_recorded(tmp_path: Path) -> None:
    path = tmp_path / "learnloop.install.json"
    ledger = Ledger(path)
    with pytest.raises(MattermostUnavailable):
        ledger.creating("mattermost x", "bot", "@learnloop", "learnloop", lost_reply)

    reread = Ledger(path)
    assert reread.made("mattermost x", "bot", "@learnloop", "learnloop")
    assert reread.made("mattermost x", "bot", None, "learnloop")
    assert not reread.made("mattermost x", "bot", "@learnloop", "someone")
    assert not reread.made("mattermost x", "bot", "@learnloop", None)
    assert reread.resources("mattermost x") == []
    reread.record("mattermost x", Resource("bot", "b1", "@learnloop", False))
    assert not Ledger(path).made("mattermost x", "bot", "@learnloop", "learnloop")

    with pytest.raises(MattermostUnavailable):
        reread.creating("mattermost x", "command", "/learn in team a",
                        "/learn https://l.example.com/mattermost/command", lost_reply)
    reread.forget("mattermost x", reread.resources("mattermost x")[0])
    assert Ledger(path).made("mattermost x", "command", "/learn in team a",
                             "/learn https://l.example.com/mattermost/command")


def test_a_recorded_resource_is_learnloops_only_under_its_id_when_one_is_asked_for(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "learnloop.install.json")
    ledger.record("outline docs", Resource("webhook_subscription", "s1", "subscription", True))
    assert ledger.made("outline docs", "webhook_subscription", "subscription", None)
    assert ledger.made("outline docs", "webhook_subscription", "subscription", None, "s1")
    assert not ledger.made("outline docs", "webhook_subscription", "subscription", None, "s2")


def fails_with(error: Exception) -> Callable[[], None]:
    def create() -> None:
        raise error

    return create


@pytest.mark.parametrize("error", [
    MattermostError("A bot with that username already exists.", status_code=400, call="POST /api/v4/bots"),
    MattermostError("You do not have the appropriate permissions.", status_code=403, call="POST /api/v4/bots"),
    MattermostError("conflict", status_code=409, call="POST /api/v4/bots"),
    OutlineError("url: must be a valid URL", status_code=400, call="webhookSubscriptions.create"),
    WikiError("MediaWiki refused edit: editconflict: Edit conflict.", refused=True),
], ids=["mattermost 400", "mattermost 403", "mattermost 409", "outline 400", "mediawiki error code"])
def test_a_refused_create_leaves_no_pending_entry(tmp_path: Path, error: Exception) -> None:
    path = tmp_path / "learnloop.install.json"
    with pytest.raises(type(error)):
        Ledger(path).creating("mattermost x", "bot", "@learnloop", "learnloop", fails_with(error))
    assert not Ledger(path).made("mattermost x", "bot", "@learnloop", "learnloop")
    assert json.loads(path.read_text())["hosts"] == {}


@pytest.mark.parametrize("error", [
    MattermostUnavailable("ReadTimeout", call="POST /api/v4/bots"),
    MattermostError("internal error", status_code=500, call="POST /api/v4/bots"),
    MattermostError("bad gateway", status_code=502, call="POST /api/v4/bots"),
    MattermostError("request timeout", status_code=408, call="POST /api/v4/bots"),
    MattermostError("no user id in the answer", status_code=200, call="POST /api/v4/bots"),
    OutlineError("ConnectionError", status_code=None, call="webhookSubscriptions.create"),
    OutlineError("Internal error", status_code=503, call="webhookSubscriptions.create"),
    WikiError("https://wiki.example.com/w/api.php: no answer within 30 s"),
    WikiError("MediaWiki refused edit: internal_api_error_DBQueryError: ...", retryable=True),
    KeyError("id"),
], ids=["mattermost timeout", "mattermost 500", "mattermost 502", "mattermost 408", "mattermost bad answer",
        "outline no answer", "outline 503", "mediawiki timeout", "mediawiki internal error", "not a host's error"])
def test_a_create_with_an_unknown_outcome_keeps_its_pending_entry(tmp_path: Path, error: Exception) -> None:
    path = tmp_path / "learnloop.install.json"
    with pytest.raises(type(error)):
        Ledger(path).creating("mattermost x", "bot", "@learnloop", "learnloop", fails_with(error))
    assert Ledger(path).made("mattermost x", "bot", "@learnloop", "learnloop")


@pytest.mark.parametrize("content", ["{not json", '{"version": 9, "hosts": {}}', "[]"])
def test_an_unreadable_record_is_refused_with_what_to_do(tmp_path: Path, content: str) -> None:
    path = tmp_path / "learnloop.install.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=str(path)):
        Ledger(path)


def test_config_writer_keeps_comments_and_tables(tmp_path: Path) -> None:
    path = tmp_path / "learnloop.toml"
    path.write_text('# mine\npublic_url = "https://l.example.com"  # here\n\n[[communities]]\nname = "A"\n'
                    'channel_id = "' + "a" * 26 + '"\n')
    config = ConfigFile(path)
    config.set("mattermost_bot_token", "secret-token-123")
    config.add_to_list("mattermost_command_tokens", "t1")
    config.add_to_list("mattermost_command_tokens", "t2")
    config.add_to_list("mattermost_command_tokens", "t1")
    config.save()

    text = path.read_text()
    assert "# mine" in text and "# here" in text
    data = tomllib.loads(text)
    assert data["mattermost_bot_token"] == "secret-token-123"
    assert data["mattermost_command_tokens"] == ["t1", "t2"]
    assert data["communities"][0]["name"] == "A"

    config = ConfigFile(path)
    config.remove_from_list("mattermost_command_tokens", "t1")
    config.remove("mattermost_bot_token")
    config.save()
    data = tomllib.loads(path.read_text())
    assert data["mattermost_command_tokens"] == ["t2"] and "mattermost_bot_token" not in data


def test_config_writer_reads_comma_separated_tokens(tmp_path: Path) -> None:
    path = tmp_path / "learnloop.toml"
    path.write_text('mattermost_webhook_tokens = "a, b"\n')
    config = ConfigFile(path)
    config.add_to_list("mattermost_webhook_tokens", "c")
    config.save()
    assert tomllib.loads(path.read_text())["mattermost_webhook_tokens"] == ["a", "b", "c"]


def test_a_new_configuration_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "learnloop.toml"
    config = ConfigFile(path)
    config.set("mattermost_url", "https://chat.example.com")
    config.save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert tomllib.loads(path.read_text()) == {"mattermost_url": "https://chat.example.com"}


def test_nothing_is_written_when_nothing_changed(tmp_path: Path) -> None:
    path = tmp_path / "learnloop.toml"
    path.write_text('mattermost_url = "https://chat.example.com"\n')
    before = path.stat().st_mtime_ns
    config = ConfigFile(path)
    config.set("mattermost_url", "https://chat.example.com")
    config.save()
    assert path.stat().st_mtime_ns == before and not config.changed


def test_invalid_toml_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "learnloop.toml"
    path.write_text("public_url = \n")
    with pytest.raises(ValueError, match="not valid TOML, so the installer will not write to it"):
        ConfigFile(path)
    assert path.read_text() == "public_url = \n"


def test_mask_shows_only_the_start() -> None:
    assert mask("abcdefghijklmnopqrstuvwxyz") == "abcd… (26 characters)"
    assert mask("short") == "…"


def test_an_existing_configuration_keeps_its_mode_and_a_symbolic_link_stays_one(tmp_path: Path) -> None:
    """A configuration a service reads through its group stays readable to it; one linked from elsewhere (under
    /etc) is written where the link points, not replaced by a file of its own."""
    target = tmp_path / "etc" / "learnloop.toml"
    target.parent.mkdir()
    target.write_text('public_url = "https://learnloop.example.com"\n')
    target.chmod(0o640)
    link = tmp_path / "learnloop.toml"
    link.symlink_to(target)
    config = ConfigFile(link)
    config.set("mattermost_bot_user_id", "learnloopbot0000000000000a")
    config.save()
    assert link.is_symlink() and "learnloopbot0000000000000a" in target.read_text()
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_a_record_or_configuration_that_cannot_be_written_says_which_file(tmp_path: Path) -> None:
    """An OSError on writing is one line naming the file, not a traceback (the folder here is a regular file, a
    failure even root meets)."""
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    with pytest.raises(WriteFailed, match=f"cannot write {blocked / 'learnloop.install.json'}: "):
        Ledger(blocked / "learnloop.install.json").record("mattermost x", Resource("bot", "b1", "@learnloop", True))
    config = ConfigFile(blocked / "learnloop.toml")
    config.set("mattermost_bot_user_id", "learnloopbot0000000000000a")
    with pytest.raises(WriteFailed, match=f"cannot write {blocked / 'learnloop.toml'}: "):
        config.save()
