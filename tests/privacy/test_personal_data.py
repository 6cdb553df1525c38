"""Each person owns their data: they see what is stored, take it away, and erase it; so can the admin for
them. Retention deletes old activity without changing the dashboards; the admin's backup never fails."""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select, text

from learnloop.bootstrap import Runtime
from learnloop.cli import main
from learnloop.domain.measures import member_key, week_of
from learnloop.errors import GaveUp
from learnloop.jobs.outbox import Courier
from learnloop.jobs.worker import Worker
from learnloop.mattermost import delivery as mattermost_delivery
from learnloop.mattermost.network_views import send_thanks
from learnloop.mattermost.wiki_messages import announcer
from learnloop.services import dashboard, personal_data, rollups
from learnloop.services.communities import community_for_channel
from learnloop.services.outbox_kinds import CLASSIFY_POST, CREATE_POST, SEND_DM
from learnloop.storage.export import export_to_file
from learnloop.storage.outbox import Outbox
from learnloop.storage.tables import (
    Announcement,
    Base,
    ContentItem,
    Event,
    Member,
    OutboxMessage,
    Reflection,
    WeeklyMember,
)
from tests.conftest import FakeClock
from tests.contract.fixtures import MATTERMOST_TEST_URL
from tests.contract.mattermost_openapi import MattermostContract
from tests.network.world import ingest, page_event, settings_for
from tests.prompts.world import CHANNEL, Person, World, add_schedule, opened_dialog, slash, submit
from tests.web.links import confirm, link_path

ANN, BOB = Person("ann"), Person("bob")
ANN_PRIVATE = "I still do not understand the deploy pipeline"
ANN_SHARED = "Pairing on incidents teaches more than any runbook"
BOB_PRIVATE = "Bob's own private thought about the retro"


def everything_stored(engine: Engine) -> str:
    """Every row of every table, as text."""
    with engine.connect() as connection:
        rows = [dict(row._mapping) for table in Base.metadata.sorted_tables
                for row in connection.execute(select(table))]
    return json.dumps(rows, default=str)


def lived_in(client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract,
             clock: FakeClock) -> None:
    """Ann and Bob use learnloop for a while: ratings, a comment, a share, reflections, settings, a prompt."""
    for person in (ANN, BOB):
        slash(client, person, "rate https://wiki.acme.example/Deploy 4 The rollback part is missing")
        slash(client, person, f"rate https://wiki.acme.example/{person.name} 5")
    slash(client, ANN, "rate https://wiki.acme.example/Onboarding 2")
    slash(client, ANN, "share https://docs.python.org/3/ Everything is here")
    slash(client, ANN, f"reflect {ANN_PRIVATE}")
    reply = slash(client, ANN, f"reflect {ANN_SHARED}")
    from tests.prompts.world import click
    click(client, ANN, reply["attachments"][0]["actions"][0]["integration"]["context"])
    slash(client, BOB, f"reflect {BOB_PRIVATE}")
    slash(client, ANN, "prompts quiet 22:00-07:00")
    add_schedule(runtime, anchor=date(2026, 11, 2))
    world = World(runtime, mattermost_contract, people=[ANN, BOB])
    clock.now = clock.now.replace(day=5)
    world.serve_members()
    for n in range(2):  # the share and the shared reflection
        mattermost_contract.add("POST", "/api/v4/posts", status=201,
                                json={"id": f"post{n}".ljust(26, "0"), "channel_id": CHANNEL, "message": ""})
    world.tick()
    confirm(client, link_path(slash(client, ANN, "signin")["text"]))


def test_mydata_shows_what_is_stored_and_gives_it_all_to_its_owner_alone(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    lived_in(client, runtime, mattermost_contract, clock)
    reply = slash(client, ANN, "mydata")["text"]
    lines = reply.split("\n")
    assert {"- 3 ratings", "- 1 comment to owners", "- 2 reflections", "- 1 channel post of a shared reflection",
            "- your settings (prompts, weekly suggestions, recognition notes)",
            "- and your name on: 2 links you shared first"} <= set(lines), "every kind an erase takes away"
    assert "only you rated" not in reply, "it would tell, asked again, whether someone else rated a page since"
    path = link_path(reply)
    token = path.split("token=", 1)[1]
    forced = FlaskClient(client.application).post("/mydata", data={"token": token})
    assert forced.status_code == 403, "a POST from a page that did not open the link (CSRF) gets nothing"
    download = confirm(client, path)
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    data = download.get_json()
    assert data["user_id"] == ANN.id
    assert {r["text"] for r in data["reflections"]} == {ANN_PRIVATE, ANN_SHARED}, "in clear, for her"
    assert {r["channel_post_id"] for r in data["reflections"]} == {None, "post1".ljust(26, "0")}, "its post too"
    assert BOB_PRIVATE not in download.get_data(as_text=True) and BOB.id not in download.get_data(as_text=True)
    assert len(data["ratings"]) == 3 and data["comments_to_owners"][0]["comment"] == "The rollback part is missing"
    assert data["settings"]["quiet_hours"] == "22:00-07:00" and data["events"]
    assert confirm(client, path).status_code == 403, "the link works once"


def test_erasing_in_chat_leaves_nothing_that_names_the_person(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock, engine: Engine
) -> None:
    lived_in(client, runtime, mattermost_contract, clock)
    clock.advance(minutes=2)
    Worker(runtime).run_rollups()
    with runtime.reader() as uow:
        folded = uow.session.scalar(select(func.count()).select_from(Event))
    assert ANN.id in everything_stored(engine)
    listed = slash(client, ANN, "mydata")["text"]
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    assert slash(client, ANN, "mydata delete") == {}
    form = opened_dialog(mattermost_contract)
    assert "cannot" not in form["introduction_text"] and "erases" in form["introduction_text"]
    assert "Prompts and recognition notes you turned off are then on again" in form["introduction_text"] \
        and [e["name"] for e in form["elements"]] == ["keep_off"], "she is told, and offered to keep them off"
    assert submit(client, ANN, "mydata_delete", form["state"], {}).status_code == 200
    stored = everything_stored(engine)
    assert ANN.id not in stored, "no row names her"
    assert "@ann" not in stored and '"ann"' not in stored, "nor by her name"
    assert BOB.id in stored and BOB_PRIVATE not in stored, "Bob's data stays, his reflection still sealed"
    with runtime.reader() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Event)) < folded
        replies = [m.payload["body"]["text"] for m in uow.session.scalars(select(OutboxMessage))
                   if m.kind == "mattermost.respond"]
    [erased] = [reply for reply in replies if reply.startswith("Erased: ")]
    assert erased.startswith("Erased: 3 ratings, 1 comment to owners, 2 reflections, 1 channel post of a shared "
                             "reflection, 1 prompt delivery, ")
    assert not re.search(r"\b1 [a-z-]+s\b[,.]", erased), "one of a kind is named in the singular"
    gone = erased.removeprefix("Erased: ").split(". ")[0]
    named = [re.sub(r"^\d+ ", "", part) for part in re.split(r", (?![^()]*\))", gone)]
    assert len(named) > 5 and all(f" {name}\n" in listed for name in named), "the names /learn mydata gave"
    assert "Prompts and recognition notes reach you again while you are in a community's channels: " \
           "`/learn prompts off` and `/learn recognition off` turn them off." in erased
    assert "on" in slash(client, ANN, "prompts")["text"].split("\n")[0], "as the reply said"
    clock.advance(seconds=5)
    submit(client, ANN, "mydata_delete", form["state"], {})
    with runtime.reader() as uow:
        replies = [m.payload["body"]["text"] for m in uow.session.scalars(select(OutboxMessage))
                   if m.kind == "mattermost.respond"]
    assert "learnloop had nothing stored about you; nothing was erased." in replies, "a second erase is a no-op"


def test_an_erase_can_keep_prompts_and_recognition_off_and_keeps_only_that(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock, engine: Engine
) -> None:
    lived_in(client, runtime, mattermost_contract, clock)
    slash(client, ANN, "prompts off")
    slash(client, ANN, "recognition off")
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    slash(client, ANN, "mydata delete")
    submit(client, ANN, "mydata_delete", opened_dialog(mattermost_contract)["state"], {"keep_off": True})
    with runtime.reader() as uow:
        kept = uow.session.get(Member, ANN.id)
        replies = [m.payload["body"]["text"] for m in uow.session.scalars(select(OutboxMessage))
                   if m.kind == "mattermost.respond"]
        assert kept is not None and (kept.prompts_enabled, kept.recognition, kept.suggestions) == (False, False, False)
        assert (kept.username, kept.dm_channel_id, kept.timezone, kept.quiet_hours) == (None, None, None, None)
    assert everything_stored(engine).count(ANN.id) == 1, "her id on that one row, nothing else"
    assert any("Kept, as you asked: only that your prompts and recognition notes stay off" in r for r in replies)
    assert slash(client, ANN, "prompts")["text"].startswith("**Your prompts**: off")


def test_the_rollups_keep_their_counts_after_an_erasure(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    for n in range(6):
        slash(client, Person(f"rater{n}"), "rate https://wiki.acme.example/Deploy 4")
    clock.next_week()
    Worker(runtime).run_rollups()
    period = dashboard.Period.last_weeks(clock.now.date(), 4)
    with runtime.reader() as uow:
        community_id = uow.communities.by_channel(CHANNEL).id
        before = dashboard.build(uow, community_id, period, 5).totals
    assert before["ratings"].value == 6, "released: the week has ended"
    with runtime.uow() as uow:
        personal_data.erase(uow, Person("rater0").id, "rater0", clock.now, runtime.signing_key, announcer(runtime))
    Worker(runtime).run_rollups()
    with runtime.reader() as uow:
        after = dashboard.build(uow, community_id, period, 5).totals
    assert after == before


def test_an_erase_while_the_worker_folds_leaves_no_trace_of_the_person_in_the_rollups(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    for n in range(6):
        slash(client, Person(f"rater{n}"), "rate https://wiki.acme.example/Deploy 4")
    clock.advance(minutes=2)
    with runtime.reader() as uow:  # the worker has read the events, not written them yet
        found = rollups.read_fold(uow, runtime.signing_key, clock.now)
    assert found is not None and found.size == 6
    with runtime.uow() as uow:
        personal_data.erase(uow, Person("rater0").id, "rater0", clock.now, runtime.signing_key, announcer(runtime))
    with runtime.uow() as uow:
        assert not rollups.apply_fold(uow, found, 5, clock.now), "read before the erase: not written"
    Worker(runtime).run_rollups()
    with runtime.reader() as uow:
        members = list(uow.session.scalars(select(WeeklyMember.member).where(WeeklyMember.metric == "ratings")))
    assert len(members) == 5, "the next pass reads again"
    assert member_key(Person("rater0").id, runtime.signing_key) not in members


def cli_env(engine: Engine, monkeypatch: pytest.MonkeyPatch, runtime: Runtime) -> None:
    """The CLI on the test's database (a PostgreSQL test runs in its own schema) with the test's secret key."""
    url = engine.url.render_as_string(hide_password=False)
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            schema = connection.execute(text("SELECT current_schema()")).scalar_one()
        url += f"?options=-csearch_path%3D{schema}"
    monkeypatch.setenv("LEARNLOOP_DATABASE_URL", url)
    monkeypatch.setenv("LEARNLOOP_SECRET_KEY", runtime.settings.secret_key.get_secret_value())


def test_the_admin_exports_and_erases_a_person_from_the_command_line(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock, engine: Engine,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    lived_in(client, runtime, mattermost_contract, clock)
    cli_env(engine, monkeypatch, runtime)
    runner = CliRunner()
    out = tmp_path / "ann.json"
    result = runner.invoke(main, ["person", "export", ANN.id, "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert {r["text"] for r in data["reflections"]} == {ANN_PRIVATE, ANN_SHARED}
    assert BOB_PRIVATE not in out.read_text()
    stored = everything_stored(engine)
    for wrong in ("a", ANN.id[-5:], ANN.name, ANN.id.upper(), ANN.id + "0"):
        for command in (["person", "erase", wrong, "--yes"], ["person", "export", wrong, "--out", str(out)]):
            mistyped = runner.invoke(main, command)
            assert mistyped.exit_code == 2 and "is not a Mattermost user id" in mistyped.output, mistyped.output
    assert everything_stored(engine) == stored, "a mistyped id erases nothing, not even what ends in it"
    refused = runner.invoke(main, ["person", "erase", ANN.id], input="n\n")
    assert refused.exit_code != 0 and ANN.id in everything_stored(engine), "nothing without confirmation"
    result = runner.invoke(main, ["person", "erase", ANN.id, "--yes"])
    assert result.exit_code == 0 and "erased:" in result.output, result.output
    assert ANN.id not in everything_stored(engine)
    again = runner.invoke(main, ["person", "erase", ANN.id, "--yes"])
    assert again.exit_code == 0 and f"nothing is stored about {ANN.id}" in again.output


def test_retention_removes_old_activity_and_the_old_weeks_still_read_the_same(
    client: FlaskClient, runtime: Runtime, clock: FakeClock
) -> None:
    for n in range(6):
        slash(client, Person(f"rater{n}"), f"rate https://wiki.acme.example/p{n % 2} 4")
    rated_at = clock.now
    clock.next_week()
    worker = Worker(runtime)
    worker.run_rollups()
    old_weeks = dashboard.Period.last_weeks(clock.now.date(), 4)
    with runtime.reader() as uow:
        community_id = uow.communities.by_channel(CHANNEL).id
        before = dashboard.build(uow, community_id, old_weeks, 5).totals
    assert (before["ratings"].value, before["items_rated"].value) == (6, 2), "released: the week has ended"
    clock.now = rated_at + timedelta(days=runtime.settings.retention_days - 1)
    worker.run_retention()
    with runtime.reader() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Event)) == 6, "not old enough yet"
    clock.advance(days=2)
    worker.run_retention()
    with runtime.reader() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Event)) == 0
        assert dashboard.build(uow, community_id, old_weeks, 5).totals == before
    slash(client, Person("later"), "rate https://wiki.acme.example/p0 5")
    clock.advance(minutes=1)
    assert worker.run_rollups() == 1, "with every event gone, the next still takes an id after the fold's cursor"


def test_retention_removes_page_announcements_that_wait_for_nothing(runtime: Runtime, clock: FakeClock) -> None:
    """They name the wiki's authors and quote their edit summaries."""
    with runtime.uow() as uow:
        community_id = community_for_channel(uow, runtime.settings, channel_id=CHANNEL, team_id=None,
                                             channel_name="data-guild", now=clock.now)
        item, _ = uow.items.ensure("https://wiki.acme.example/p", kind="wiki_page", community_id=community_id,
                                   shared_by=None, title="P", now=clock.now)
        for status in ("queued", "dropped", "pending"):
            uow.announcements.add(Announcement(
                item_id=item.id, community_id=community_id, authors=[{"name": "Erin"}], summaries=[], status=status,
                first_event_at=clock.now, due_at=clock.now))
        uow.commit()
    clock.advance(days=runtime.settings.retention_days + 1)
    Worker(runtime).run_retention()
    with runtime.reader() as uow:
        assert [a.status for a in uow.session.scalars(select(Announcement))] == ["pending"]


def test_a_shared_reflection_deleted_by_its_author_leaves_the_outbox_at_once(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract
) -> None:
    reply = slash(client, ANN, f"reflect {ANN_SHARED}")
    from tests.prompts.world import click
    click(client, ANN, reply["attachments"][0]["actions"][0]["integration"]["context"])
    with runtime.reader() as uow:
        assert any(ANN_SHARED in json.dumps(m.payload) for m in uow.session.scalars(select(OutboxMessage)))
    entry = slash(client, ANN, "journal")["attachments"][0]
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    click(client, ANN, entry["actions"][1]["integration"]["context"])
    submit(client, ANN, "journal_delete", opened_dialog(mattermost_contract)["state"], {})
    with runtime.reader() as uow:
        assert not any(ANN_SHARED in json.dumps(m.payload) for m in uow.session.scalars(select(OutboxMessage)))


def test_erasing_removes_the_channel_posts_of_the_person_s_shared_reflections(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, engine: Engine
) -> None:
    from tests.prompts.world import click
    reply = slash(client, ANN, f"reflect {ANN_SHARED}")
    click(client, ANN, reply["attachments"][0]["actions"][0]["integration"]["context"])
    post_id = "r" * 26
    mattermost_contract.add("POST", "/api/v4/posts", status=201, json={"id": post_id, "channel_id": CHANNEL,
                                                                        "message": ""})
    World(runtime, mattermost_contract).tick()
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    slash(client, ANN, "mydata delete")
    form = opened_dialog(mattermost_contract)
    assert "The posts of your shared reflections are removed from their channels" in form["introduction_text"]
    submit(client, ANN, "mydata_delete", form["state"], {})
    mattermost_contract.add("DELETE", f"/api/v4/posts/{post_id}", json={"status": "OK"})
    mattermost_contract.add_unvalidated(f"{MATTERMOST_TEST_URL}/hooks/commands/pbjfh1dcmfrq3qjtsdxnnyzq5w")
    World(runtime, mattermost_contract).tick()
    assert [c.path for c in mattermost_contract.calls if c.method == "DELETE"] == [f"/api/v4/posts/{post_id}"]
    assert ANN.id not in everything_stored(engine) and ANN_SHARED not in everything_stored(engine)


def test_a_channel_post_an_erase_cannot_remove_is_logged_naming_nobody(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, engine: Engine,
    caplog: pytest.LogCaptureFixture
) -> None:
    """The removal is tried after the erase's reply went out, and its message names nobody: when Mattermost still
    has the post (learnloop was removed from the channel), the log says which post a channel admin must delete."""
    from tests.prompts.test_reflecting import SHARED_POST, refuse_removal, share_and_post
    share_and_post(client, runtime, mattermost_contract, ANN_SHARED)
    with runtime.uow() as uow:
        personal_data.erase(uow, ANN.id, ANN.name, runtime.clock(), runtime.signing_key, announcer(runtime))
    refuse_removal(mattermost_contract)
    World(runtime, mattermost_contract).tick()
    with runtime.reader() as uow:
        [removal] = uow.session.scalars(select(OutboxMessage))
    assert removal.status == "failed" and f"post {SHARED_POST}" in (removal.last_error or "")
    assert [r.getMessage() for r in caplog.records if SHARED_POST in r.getMessage()], "a channel admin must hear of it"
    assert ANN.id not in everything_stored(engine) and ANN.id not in caplog.text


def test_an_erase_keeps_a_deleted_reflection_s_post_removal_naming_nobody(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, engine: Engine
) -> None:
    """Ann deleted a shared reflection, whose post is still to be removed, then erases her data: the post still
    goes, and she is not told afterwards."""
    from tests.prompts.test_reflecting import SHARED_POST, delete_newest, refuse_removal, share_and_post, told_by_dm
    share_and_post(client, runtime, mattermost_contract, ANN_SHARED)
    delete_newest(client, mattermost_contract)
    with runtime.uow() as uow:
        personal_data.erase(uow, ANN.id, ANN.name, runtime.clock(), runtime.signing_key, announcer(runtime))
    assert ANN.id not in everything_stored(engine)
    refuse_removal(mattermost_contract)
    World(runtime, mattermost_contract).tick()
    assert [c.path for c in mattermost_contract.calls if c.method == "DELETE"] == [f"/api/v4/posts/{SHARED_POST}"]
    assert told_by_dm(runtime) == [] and ANN.id not in everything_stored(engine)


def test_the_backup_export_never_fails_after_the_fold(
    client: FlaskClient, runtime: Runtime, clock: FakeClock, engine: Engine, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path
) -> None:
    for n in range(6):
        slash(client, Person(f"rater{n}"), f"rate https://wiki.acme.example/p{n % 2} 4 note {n}")
    clock.advance(minutes=2)
    assert Worker(runtime).run_rollups() > 0
    cli_env(engine, monkeypatch, runtime)
    out = tmp_path / "backup.json"
    result = CliRunner().invoke(main, ["export", "--out", str(out)])
    assert result.exit_code == 0, result.output
    tables = json.loads(out.read_text())["tables"]
    assert tables["weekly_counts"] and tables["release_blocks"] and isinstance(tables["weekly_counts"][0]["week"], str)
    assert not out.with_name("backup.json.partial").exists()


def test_a_failed_export_leaves_no_partial_file(engine: Engine, tmp_path: Path, clock: FakeClock,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import learnloop.storage.export as export

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(export, "export_records", broken)
    with pytest.raises(RuntimeError):
        export_to_file(engine, tmp_path / "backup.json", now=clock.now)
    assert list(tmp_path.iterdir()) == []


def test_privacy_is_explained_in_chat_and_on_a_page(client: FlaskClient) -> None:
    text = slash(client, ANN, "privacy")["text"]
    assert "fewer than 5 people" in text and "/learn mydata" in text and "730 days" in text
    assert "privacy" in slash(client, ANN, "help")["text"]
    page = client.get("/privacy")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "complementary suppression" in body and "/learn mydata delete" in body
    assert "Its number of ratings stays the same or moves by at least 5" in " ".join(body.split())
    assert 'href="/privacy"' in client.get("/").get_data(as_text=True), "linked from every page"


def test_the_rollups_never_hold_ids(client: FlaskClient, runtime: Runtime, clock: FakeClock, engine: Engine) -> None:
    for n in range(6):
        slash(client, Person(f"rater{n}"), "rate https://wiki.acme.example/p 4")
    clock.advance(minutes=2)
    Worker(runtime).run_rollups()
    with engine.connect() as connection:
        members = connection.execute(text("SELECT member FROM weekly_members")).scalars().all()
    assert members and not any(Person(f"rater{n}").id in m for m in members for n in range(6))


@pytest.mark.parametrize("settings", [settings_for(ANN.id)], ids=["ann_owns"])
def test_the_export_holds_what_an_erase_takes_away(client: FlaskClient, runtime: Runtime, clock: FakeClock) -> None:
    slash(client, ANN, "share https://wiki.acme.example/Deploy My manager keeps ignoring this runbook")
    slash(client, BOB, "share https://wiki.acme.example/Runbook")
    slash(client, ANN, "rate https://wiki.acme.example/Runbook 5")
    slash(client, ANN, "signin")
    ingest(runtime, page_event(1, "created", clock.now, author="Ann"))
    with runtime.uow() as uow:
        item_id = uow.items.ref_by_url("https://wiki.acme.example/Runbook").id
        uow.pages.replace_reviews(uow.communities.by_channel(CHANNEL).id, week_of(clock.now), [], [ANN.id])
        uow.members.ensure(ANN.id, clock.now, username=ANN.name)
        uow.members.get(ANN.id).dm_channel_id = "dmann".ljust(26, "0")
        uow.commit()
    assert send_thanks(runtime, ANN.id, ANN.name, item_id)

    def exported() -> dict[str, Any]:
        with runtime.reader() as uow:
            return json.loads(json.dumps(personal_data.export(uow, ANN.id, None, runtime.signing_key, clock.now),
                                         default=str))

    data = exported()
    messages = {m["kind"]: m for m in data["messages_naming_you"]}
    assert "My manager keeps ignoring this runbook" in json.dumps(messages[CREATE_POST]["payload"])
    assert SEND_DM not in messages, "her thank-you is Bob's message; her thanking is among her events"
    assert "thanks" in [event["kind"] for event in data["events"]]
    assert "/Runbook" not in json.dumps(messages[CREATE_POST]), "Bob's share does not name her"
    assert [a["url"] for a in data["page_announcements_naming_you"]] == ["https://outline.example.com/doc/p1"]
    assert data["weeks_you_were_a_community_owner"] == [{"community": "Data guild", "week": str(week_of(clock.now))}]
    assert [link["purpose"] for link in data["signin_links"]] == ["signin"] and "token_hash" not in data["signin_links"][0]
    assert data["settings"]["dm_channel_id"] == "dmann".ljust(26, "0")

    with runtime.uow() as uow:
        personal_data.erase(uow, ANN.id, ANN.name, clock.now, runtime.signing_key, announcer(runtime))
    after = exported()
    assert not any(after[key] for key in ("messages_naming_you", "messages_to_others_naming_you",
                                          "page_announcements_naming_you",
                                          "weeks_you_were_a_community_owner", "signin_links", "settings"))


@pytest.mark.parametrize("sharer_takes_notes", [True, False], ids=["notes_on", "notes_off"])
def test_a_raters_export_neither_names_the_sharer_nor_tells_their_setting(
        client: FlaskClient, runtime: Runtime, clock: FakeClock, sharer_takes_notes: bool) -> None:
    slash(client, BOB, "share https://wiki.acme.example/Runbook")
    if not sharer_takes_notes:
        slash(client, BOB, "recognition off")
    slash(client, ANN, "rate https://wiki.acme.example/Runbook 5")
    with runtime.reader() as uow:
        item_id = uow.items.ref_by_url("https://wiki.acme.example/Runbook").id
    assert send_thanks(runtime, ANN.id, ANN.name, item_id)
    with runtime.reader() as uow:
        queued = uow.outbox.naming([f"thanks:{item_id}:{ANN.id}"])
        data = json.loads(json.dumps(personal_data.export(uow, ANN.id, None, runtime.signing_key, clock.now), default=str))
    assert bool(queued) == sharer_takes_notes
    assert BOB.id not in json.dumps(data)
    assert data["messages_naming_you"] == [] and data["messages_to_others_naming_you"] == []
    assert [event["kind"] for event in data["events"]].count("thanks") == 1


def test_a_message_on_its_way_while_its_receiver_erases_stores_them_nowhere(
        client: FlaskClient, runtime: Runtime, clock: FakeClock, engine: Engine,
        mattermost_contract: MattermostContract) -> None:
    slash(client, ANN, "share https://wiki.acme.example/Deploy")
    slash(client, BOB, "rate https://wiki.acme.example/Deploy 5")
    with runtime.reader() as uow:
        item_id = uow.session.scalars(select(ContentItem.id)).one()
    assert send_thanks(runtime, BOB.id, BOB.name, item_id)
    courier = Courier(runtime.uow, runtime.clock, mattermost_delivery.handlers(runtime, runtime.mattermost()))
    [message] = courier._claim(10, [SEND_DM])  # the worker holds the thank-you to ann
    with runtime.uow() as uow:
        personal_data.erase(uow, ANN.id, ANN.name, clock.now, runtime.signing_key, announcer(runtime))
    World(runtime, mattermost_contract, people=[ANN]).serve_dm_and_posts(1)
    courier.handlers[SEND_DM](message)
    assert ANN.id not in everything_stored(engine), "sending to ann did not store her again"


def test_a_share_refused_after_its_sharer_erased_their_data_tells_nobody(
        client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, engine: Engine) -> None:
    """The worker was posting Ann's share when she erased: Mattermost's refusal must not queue a message to her,
    which would store her again (with the link she shared)."""
    slash(client, ANN, "share https://wiki.acme.example/Ann-private-notes")
    courier = Courier(runtime.uow, runtime.clock, mattermost_delivery.handlers(runtime, runtime.mattermost()))
    [message] = courier._claim(10, [CREATE_POST])
    with runtime.uow() as uow:
        personal_data.erase(uow, ANN.id, ANN.name, runtime.clock(), runtime.signing_key, announcer(runtime))
    mattermost_contract.add("POST", "/api/v4/posts", status=403, json={
        "id": "api.context.permissions.app_error", "message": "no permission", "status_code": 403})
    with pytest.raises(GaveUp):
        courier.handlers[CREATE_POST](message)
    assert ANN.id not in everything_stored(engine)


def test_a_reply_classified_after_its_author_erased_their_data_is_not_recorded(
        runtime: Runtime, mattermost_contract: MattermostContract, engine: Engine) -> None:
    """The worker asks Mattermost whether Ann's post is a thread reply; she erases meanwhile: no reply event of
    hers is written after her erase."""
    reply, root = "replypost00000000000000000", "rootpost000000000000000000"
    with runtime.uow() as uow:
        community_id = uow.communities.ensure(CHANNEL, None, "~data-guild", runtime.clock())
        uow.outbox.enqueue(CLASSIFY_POST, {"post_id": reply, "community_id": community_id, "user_id": ANN.id,
                                           "occurred_at": runtime.clock().isoformat()},
                           key=f"mattermost:post:{reply}:classify", now=runtime.clock())
        uow.commit()
    courier = Courier(runtime.uow, runtime.clock, mattermost_delivery.handlers(runtime, runtime.mattermost()))
    [message] = courier._claim(10, [CLASSIFY_POST])
    with runtime.uow() as uow:
        personal_data.erase(uow, ANN.id, ANN.name, runtime.clock(), runtime.signing_key, announcer(runtime))

    def post(post_id: str, user_id: str, root_id: str = "") -> dict[str, Any]:
        return {"id": post_id, "user_id": user_id, "channel_id": CHANNEL, "root_id": root_id, "message": "m",
                "create_at": 1762074000000, "update_at": 1762074000000, "delete_at": 0}

    mattermost_contract.add("GET", f"/api/v4/posts/{reply}", json=post(reply, ANN.id, root))
    mattermost_contract.add("GET", f"/api/v4/posts/{root}", json=post(root, BOB.id))
    assert courier.handlers[CLASSIFY_POST](message)["reply"] is False
    assert ANN.id not in everything_stored(engine)


def test_what_someone_shared_first_does_not_say_when_another_person_rated_it(
        client: FlaskClient, runtime: Runtime, clock: FakeClock) -> None:
    """Bob rated the link privately three days before Ann shared it: Ann's export must not carry the moment learnloop
    first heard of it, which was Bob's rating."""
    url = "https://blog.example.org/postmortem-2026"
    slash(client, BOB, f"rate {url} 2")
    clock.advance(days=3, hours=5, seconds=17)
    slash(client, ANN, f"share {url}")
    with runtime.reader() as uow:
        data = personal_data.export(uow, ANN.id, None, runtime.signing_key, clock())
    assert data["content_you_shared_first"] == [{"url": url, "title": None}]
    [shared] = [event for event in data["events"] if event["kind"] == "link_shared"]
    assert shared["occurred_at"].replace(tzinfo=None) == clock.now.replace(tzinfo=None)


def test_the_export_holds_every_column_of_a_person_s_ratings_and_settings(
        client: FlaskClient, runtime: Runtime) -> None:
    slash(client, ANN, "rate https://wiki.acme.example/Deploy 1")
    slash(client, ANN, "rate https://wiki.acme.example/Deploy 5")
    slash(client, ANN, "digest me on")
    with runtime.reader() as uow:
        data = personal_data.export(uow, ANN.id, None, runtime.signing_key, runtime.clock())
    [rating] = data["ratings"]
    assert (rating["stars"], rating["previous_stars"]) == (5, 1) and "community_id" in rating
    exported = {"username", "dm_channel_id", "timezone", "prompts_enabled", "paused_until", "time_of_day",
                "quiet_hours", "nudges", "weekly_suggestions", "recognition_notes", "suggestions_last_week",
                "page_review_last_week", "page_review_notes_after", "updated_at"}
    assert set(data["settings"]) == exported
    assert len(Member.__table__.columns) == len(exported) + 1, "a new column of a person's settings is exported"


REFLECTION_EXPORTED = {
    "id": "id", "community_id": "community", "delivery_id": "prompt_delivery_id", "answered_prompt": "answered_prompt",
    "body": "text", "scale": "scale", "visibility": "visibility", "shared_post_id": "channel_post_id",
    "publish_state": "publish_state", "published_url": "published_url", "publish_attribution":
    "published_with_your_name", "published_wiki": "published_wiki", "published_title": "published_page",
    "created_at": "created_at", "updated_at": "updated_at"}
REFLECTION_NOT_EXPORTED = {
    "user_id": "the export's own user_id",
    "shared_item_id": "learnloop's id of the rateable item its channel post carries",
    "publish_marker": "the invisible mark learnloop finds its wiki section by",
    "published_page_ref": "the wiki's own id of the page, whose address is exported",
}


def test_the_export_says_where_each_reflection_belongs_and_what_became_of_it(
    client: FlaskClient, runtime: Runtime
) -> None:
    """Ratings are exported with their community, and so are reflections, with the prompt one answered (what it
    asked) and what became of one chosen for the wiki: the journal says when it could not be published."""
    slash(client, ANN, "reflect Written in the data guild's channel")
    with runtime.uow() as uow:
        [stored] = uow.session.scalars(select(Reflection))
        stored.visibility, stored.publish_state, stored.publish_attribution = "wiki", "failed", "name"
        stored.published_wiki = "handbook"
        uow.commit()
    with runtime.reader() as uow:
        data = personal_data.export(uow, ANN.id, None, runtime.signing_key, runtime.clock())
    [row] = data["reflections"]
    assert set(row) == set(REFLECTION_EXPORTED.values())
    assert (row["community"], row["answered_prompt"], row["prompt_delivery_id"]) == ("~data-guild", False, None)
    assert (row["publish_state"], row["published_wiki"], row["published_url"]) == ("failed", "handbook", None)


def test_the_export_holds_every_column_of_a_person_s_reflections() -> None:
    columns = set(Reflection.__table__.columns.keys())
    assert set(REFLECTION_EXPORTED) | set(REFLECTION_NOT_EXPORTED) == columns, \
        "a new column of a reflection is exported, or listed here with why it is not the person's"
    assert not set(REFLECTION_EXPORTED) & set(REFLECTION_NOT_EXPORTED)


def test_the_export_names_the_prompt_a_reflection_answered_and_what_it_asked(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    from tests.prompts.test_reflecting import buttons, send_prompt
    reflect_now = buttons(send_prompt(runtime, mattermost_contract, clock))["Reflect now"]
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    from tests.prompts.world import click
    click(client, ANN, reflect_now)
    submit(client, ANN, "reflect", opened_dialog(mattermost_contract)["state"], {"answer1": "Read plans first"})
    with runtime.reader() as uow:
        data = personal_data.export(uow, ANN.id, None, runtime.signing_key, runtime.clock())
    [row] = data["reflections"]
    [delivery] = data["prompt_deliveries"]
    assert row["answered_prompt"] is True and row["prompt_delivery_id"] == delivery["id"]
    assert [q["text"] for q in delivery["questions"]] == ["What did you learn?", "What will you try next?",
                                                          "How useful was the week?"]


def erasing(runtime: Runtime, person: Person, errors: list[BaseException]) -> threading.Thread:
    """An erase in a thread of its own, as a web request beside the worker."""
    def run() -> None:
        try:
            with runtime.uow() as uow:
                personal_data.erase(uow, person.id, person.name, runtime.clock(), runtime.signing_key,
                                    announcer(runtime))
        except BaseException as exc:  # noqa: BLE001  (the test reads it)
            errors.append(exc)
    return threading.Thread(target=run)


def test_a_share_refused_while_its_sharer_erases_tells_nobody(
        client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, engine: Engine,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL: the handler holds its message's row; the erase, run meanwhile, waits for it, and the message
    to the sharer committed in between goes too."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writer lock runs the two transactions one after the other")
    slash(client, ANN, "share https://wiki.acme.example/Ann-private-notes")
    courier = Courier(runtime.uow, runtime.clock, mattermost_delivery.handlers(runtime, runtime.mattermost()))
    [message] = courier._claim(10, [CREATE_POST])
    errors: list[BaseException] = []
    eraser, held = erasing(runtime, ANN, errors), Outbox.still_queued

    def still_queued(self: Outbox, key: str) -> bool:
        found = held(self, key)
        eraser.start()
        time.sleep(0.5)  # the erase runs until it waits for the held row
        return found

    monkeypatch.setattr(Outbox, "still_queued", still_queued)
    mattermost_contract.add("POST", "/api/v4/posts", status=403, json={
        "id": "api.context.permissions.app_error", "message": "no permission", "status_code": 403})
    with pytest.raises(GaveUp):
        courier.handlers[CREATE_POST](message)
    eraser.join(10)
    assert errors == [] and ANN.id not in everything_stored(engine)


@pytest.mark.parametrize("notes", ["on", "off"])
def test_mydata_counts_no_thank_you_waiting_for_someone_else(
        client: FlaskClient, runtime: Runtime, notes: str) -> None:
    """A thank-you waiting for the sharer is the sharer's message: counting it in the thanker's mydata told
    whether the sharer keeps recognition notes on (the export already left it out)."""
    slash(client, BOB, "share https://wiki.acme.example/Runbook")
    slash(client, BOB, f"recognition {notes}")
    slash(client, ANN, "rate https://wiki.acme.example/Runbook 5")
    with runtime.reader() as uow:
        item = uow.items.by_url("https://wiki.acme.example/Runbook")
    assert item is not None and send_thanks(runtime, ANN.id, ANN.name, item.id)
    assert "message that names you" not in slash(client, ANN, "mydata")["text"]
