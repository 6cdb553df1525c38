"""The download `/learn mydata` links to holds what names the person by @username, as `/learn mydata` lists it and
the erase takes it, also when learnloop keeps no settings of theirs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import Engine

from learnloop.bootstrap import Runtime
from learnloop.cli import main
from tests.conftest import FakeClock
from tests.contract.mattermost_openapi import MattermostContract
from tests.network.world import ingest, page_event, settings_for
from tests.privacy.test_erasure_leaves_nothing import admin_cli_with_mattermost
from tests.prompts.world import Person, slash
from tests.web.links import confirm, link_path

ANN, BOB = Person("ann"), Person("bob")


@pytest.mark.parametrize("settings", [settings_for(BOB.id)], ids=["bob_owns"])
def test_my_download_holds_the_announcements_and_messages_my_mydata_lists(
        client: FlaskClient, runtime: Runtime, clock: FakeClock) -> None:
    ingest(runtime, page_event(1, "created", clock.now, author="Ann"))  # Ann wrote a wiki page
    slash(client, BOB, "share https://wiki.acme.example/Runbook Ask @ann, she wrote it")
    with runtime.reader() as uow:
        assert uow.members.get(ANN.id) is None, "Ann never changed a setting"
    listed = slash(client, ANN, "mydata")["text"]
    assert "1 page announcement that names you" in listed
    data = confirm(client, link_path(listed)).get_json()
    assert data["page_announcements_naming_you"], "listed by /learn mydata, erased by mydata delete, not exported"
    assert data["messages_to_others_naming_you"], "Bob's share naming @ann: the erase redacts it, the export omits it"


@pytest.mark.parametrize("settings", [settings_for(BOB.id)], ids=["bob_owns"])
def test_the_admin_export_asks_mattermost_for_my_username_to_find_what_names_me(
        client: FlaskClient, runtime: Runtime, clock: FakeClock, engine: Engine,
        mattermost_contract: MattermostContract, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ingest(runtime, page_event(1, "created", clock.now, author="Ann"))
    slash(client, BOB, "share https://wiki.acme.example/Runbook Ask @ann, she wrote it")
    admin_cli_with_mattermost(engine, monkeypatch, runtime)
    mattermost_contract.add("GET", f"/api/v4/users/{ANN.id}", json={"id": ANN.id, "username": ANN.name})
    out = tmp_path / "ann.json"
    result = CliRunner().invoke(main, ["person", "export", ANN.id, "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["page_announcements_naming_you"] and data["messages_to_others_naming_you"]
