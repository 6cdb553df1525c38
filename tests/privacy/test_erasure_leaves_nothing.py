"""Erasing leaves nothing that names the person or can be tied to them: not the messages sent to them (whose
results say where they went), not those they sent (keyed by their id, or naming them by @username), not the
reply that tells them it is done once it is out, and not their keyed hash in the dashboards' weekly member
sets, which whoever holds the key could compute again."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.cli import main
from learnloop.domain.measures import member_key, week_of
from learnloop.jobs.worker import Worker, run_once
from learnloop.mattermost.network_views import send_thanks
from learnloop.mattermost.page_messages import _quoted as quoted
from learnloop.mattermost.wiki_messages import announcer
from learnloop.services import dashboard, personal_data
from learnloop.services.outbox_kinds import RESPOND, SEND_DM, SEND_PROMPT
from learnloop.services.rating import give_reason
from learnloop.storage.tables import Announcement, ContentItem, OutboxMessage, Reflection, WeeklyMember
from tests.conftest import BOT_TOKEN, FakeClock, make_settings
from tests.contract.fixtures import MATTERMOST_TEST_URL
from tests.contract.mattermost_openapi import MattermostContract
from tests.network.standin import StandIn
from tests.network.test_page_review import PAGE, a_page, bob_owns, reviews_to
from tests.network.world import OWNER, rate, settings_for, tick
from tests.privacy.test_personal_data import cli_env, everything_stored
from tests.prompts.world import CHANNEL, FRIDAY_DUE, Person, opened_dialog, planned_world, slash, submit, uid
from tests.wikis.test_wiki_ingest import COMMUNITY, WIKI, event, ingest, rows

ANN, BOB = Person("ann"), Person("bob")
RESPONSE_URL = f"{MATTERMOST_TEST_URL}/hooks/commands/pbjfh1dcmfrq3qjtsdxnnyzq5w"
"""The response_url of the recorded slash command (tests/fixtures/mattermost/slash_command__help.form)."""


def outbox(runtime: Runtime, kind: str) -> list[OutboxMessage]:
    with runtime.reader() as uow:
        return list(uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)))


def erase(runtime: Runtime, person: Person, username: str | None) -> None:
    with runtime.uow() as uow:
        personal_data.erase(uow, person.id, username, runtime.clock(), runtime.signing_key, announcer(runtime))


def test_erasing_removes_the_prompts_sent_to_me_whose_results_name_me_and_my_dm_channel(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock, engine: Engine
) -> None:
    world = planned_world(runtime, mattermost_contract, clock, [ANN, BOB])
    clock.now = FRIDAY_DUE
    world.serve_statuses()
    world.serve_dm_and_posts(2)
    world.tick()
    assert {m.result["user_id"] for m in outbox(runtime, SEND_PROMPT) if m.result} == {ANN.id, BOB.id}

    erase(runtime, ANN, ANN.name)
    stored = everything_stored(engine)
    assert ANN.id not in stored and uid("dmann") not in stored, "no sent prompt says whom it went to, or where"
    assert [m.result["user_id"] for m in outbox(runtime, SEND_PROMPT) if m.result] == [BOB.id], "Bob's stays"


def test_erasing_removes_the_thank_you_i_sent_even_when_my_username_is_not_known(
    client: FlaskClient, runtime: Runtime, engine: Engine
) -> None:
    slash(client, BOB, "share https://wiki.acme.example/Deploy")
    slash(client, ANN, "rate https://wiki.acme.example/Deploy 5")
    with runtime.reader() as uow:
        item_id = uow.session.scalars(select(ContentItem.id)).one()
    assert send_thanks(runtime, ANN.id, ANN.name, item_id)
    [thanks] = outbox(runtime, SEND_DM)
    assert thanks.payload["user_id"] == BOB.id and thanks.payload["message"].startswith("@ann thanks you")

    erase(runtime, ANN, None)
    assert outbox(runtime, SEND_DM) == [], "its key names the rater: the thank-you goes with her"
    assert "@ann" not in everything_stored(engine)


def test_erasing_by_username_leaves_the_messages_of_someone_whose_name_starts_with_mine(
    client: FlaskClient, runtime: Runtime
) -> None:
    anna = Person("anna")
    slash(client, BOB, "share https://wiki.acme.example/Deploy")
    for person in (ANN, anna):
        slash(client, person, "rate https://wiki.acme.example/Deploy 5")
    with runtime.reader() as uow:
        item_id = uow.session.scalars(select(ContentItem.id)).one()
    assert send_thanks(runtime, ANN.id, ANN.name, item_id) and send_thanks(runtime, anna.id, anna.name, item_id)
    assert len(outbox(runtime, SEND_DM)) == 2

    with runtime.uow() as uow:
        uow.outbox.enqueue(SEND_DM, {"user_id": BOB.id, "message": "Ask @ann."}, key="sentence", now=runtime.clock())
        uow.commit()
    with runtime.uow() as uow:
        assert uow.outbox.remove_naming([f"@{ANN.name}"]) == 2, "her thank-you, and the sentence ending in her name"
        uow.commit()
    [kept] = outbox(runtime, SEND_DM)
    assert kept.payload["message"].startswith("@anna thanks you"), "@ann is not a whole name inside @anna"


def admin_cli_with_mattermost(engine: Engine, monkeypatch: pytest.MonkeyPatch, runtime: Runtime) -> None:
    """The admin's CLI on this database, with the bot's Mattermost connection to ask for usernames."""
    cli_env(engine, monkeypatch, runtime)
    monkeypatch.setenv("LEARNLOOP_MATTERMOST_URL", MATTERMOST_TEST_URL)
    monkeypatch.setenv("LEARNLOOP_MATTERMOST_BOT_TOKEN", BOT_TOKEN)


def test_the_admin_erase_asks_mattermost_for_my_username_to_find_the_messages_naming_me(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, engine: Engine,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    slash(client, ANN, "rate https://wiki.acme.example/Deploy 5")
    slash(client, BOB, "share https://wiki.acme.example/Runbook Ask @ann, she wrote it")
    with runtime.reader() as uow:
        assert uow.members.get(ANN.id) is None, "learnloop keeps no settings of hers, so not her username"
    admin_cli_with_mattermost(engine, monkeypatch, runtime)
    mattermost_contract.add("GET", f"/api/v4/users/{ANN.id}", json={"id": ANN.id, "username": ANN.name})

    result = CliRunner().invoke(main, ["person", "erase", ANN.id, "--yes"])
    assert result.exit_code == 0 and "erased:" in result.output, result.output
    stored = everything_stored(engine)
    assert ANN.id not in stored and "@ann" not in stored, "as complete as her own erase in chat"


def test_the_admin_erase_of_a_deleted_account_says_what_it_cannot_find_and_takes_a_username(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, engine: Engine,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    slash(client, ANN, "rate https://wiki.acme.example/Deploy 5")
    slash(client, BOB, "share https://wiki.acme.example/Runbook Ask @ann, she wrote it")
    admin_cli_with_mattermost(engine, monkeypatch, runtime)
    mattermost_contract.add("GET", f"/api/v4/users/{ANN.id}", status=404,
                            json={"id": "app.user.missing_account.const", "message": "Unable to find the user.",
                                  "status_code": 404})

    result = CliRunner().invoke(main, ["person", "erase", ANN.id, "--yes"])
    assert result.exit_code == 0 and "run again with --username NAME" in result.output, result.output
    assert "@ann" in everything_stored(engine), "what names her only by her username stays, and the admin is told"
    again = CliRunner().invoke(main, ["person", "erase", ANN.id, "--yes", "--username", ANN.name])
    assert again.exit_code == 0 and "--username NAME" not in again.output, again.output
    assert "@ann" not in everything_stored(engine)


def test_the_reply_to_my_erase_is_not_kept_once_it_is_sent(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, engine: Engine
) -> None:
    slash(client, ANN, "reflect Published thought")
    with runtime.uow() as uow:  # as the publish job leaves a reflection once it is on the wiki
        reflection = uow.session.scalars(select(Reflection)).one()
        reflection.visibility, reflection.publish_state = "wiki", "published"
        reflection.publish_marker = "learnloop-reflection-1-abcdef12"
        reflection.published_wiki, reflection.published_page_ref = "handbook", "42"
        reflection.published_url, reflection.published_title = "https://wiki.acme.example/Log", "Learning log"
        uow.commit()
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    slash(client, ANN, "mydata delete")
    assert submit(client, ANN, "mydata_delete", opened_dialog(mattermost_contract)["state"], {}).status_code == 200
    [reply] = outbox(runtime, RESPOND)
    assert reply.payload["body"]["attachments"], "it offers to remove her sections, bound to her"

    mattermost_contract.add_unvalidated(RESPONSE_URL)
    assert run_once(runtime).sent == 1
    assert [c.json["text"] for c in mattermost_contract.calls if c.path.startswith("/hooks/commands/")] \
        == [reply.payload["body"]["text"]], "she got it"
    assert outbox(runtime, RESPOND) == []
    stored = everything_stored(engine)
    assert ANN.id not in stored and "wiki.acme.example/Log" not in stored


def test_after_erasing_no_weekly_member_set_holds_my_hash_and_the_dashboards_count_the_same(
    client: FlaskClient, runtime: Runtime, clock: FakeClock
) -> None:
    raters = [Person(f"rater{n}") for n in range(6)]
    for page in ("Deploy", "Runbook"):  # the same six people in two weeks
        for rater in raters:
            slash(client, rater, f"rate https://wiki.acme.example/{page} 4")
        clock.advance(days=7)
    first, last = week_of(clock.now - timedelta(days=14)), week_of(clock.now - timedelta(days=7))
    Worker(runtime).run_rollups()
    period = dashboard.Period(first, last)
    hashed = member_key(raters[0].id, runtime.signing_key)

    def seen() -> tuple[object, ...]:
        with runtime.reader() as uow:
            community_id = uow.communities.by_channel(CHANNEL).id
            return (uow.rollups.totals(community_id, "ratings", first, last),
                    dashboard.build(uow, community_id, period, 5).totals,
                    uow.session.scalar(select(func.count()).select_from(WeeklyMember)))

    def rows_of(member: str) -> int:
        with runtime.reader() as uow:
            return len(uow.session.scalars(select(WeeklyMember).where(WeeklyMember.member == member)).all())

    before = seen()
    assert before[0] == (12, 6) and rows_of(hashed) == 2
    erase(runtime, raters[0], raters[0].name)
    assert rows_of(hashed) == 0, "the key no longer finds her weeks"
    assert seen() == before, "her stand-in is one and the same in every week: six people, as before"


def test_someone_who_erases_and_rates_again_in_a_week_not_yet_shown_counts_once(
    client: FlaskClient, runtime: Runtime, clock: FakeClock
) -> None:
    raters = [Person(f"rater{n}") for n in range(5)]
    for rater in raters:
        slash(client, rater, "rate https://wiki.acme.example/Deploy 4")
    clock.advance(minutes=5)
    Worker(runtime).run_rollups()
    week = week_of(clock.now)
    erase(runtime, raters[0], raters[0].name)
    slash(client, raters[0], "rate https://wiki.acme.example/Deploy 2")
    clock.next_week()
    Worker(runtime).run_rollups()
    with runtime.reader() as uow:
        community_id = uow.communities.by_channel(CHANNEL).id
        [block] = uow.rollups.blocks(community_id, "ratings")
        people = uow.rollups.totals(community_id, "ratings", week, week)[1]
    assert (block.first, block.closed) == (week, True)
    assert people == block.people == 5, "five people rated that week: not her stand-in and her again"


def test_erasing_takes_my_name_out_of_announcements_where_the_wiki_capitalises_it(
    runtime: Runtime, clock: FakeClock, engine: Engine
) -> None:
    wiki = build_runtime(make_settings(wikis=[WIKI], communities=[COMMUNITY]), clock=clock, engine=engine)
    ingest(wiki, replace(event(0, action="created"), author="Ann"), replace(event(1), author="Anna"))
    with wiki.uow() as uow:
        uow.members.ensure(ANN.id, clock.now, username=ANN.name)
        uow.commit()
    assert [a.authors for a in rows(wiki, Announcement)] == [[{"name": "Ann"}, {"name": "Anna"}]]

    with wiki.uow() as uow:
        erased = personal_data.erase(uow, ANN.id, ANN.name, clock.now, wiki.signing_key, announcer(wiki))
    assert erased.counts["page_announcements"] == 1, "MediaWiki's 'Ann' is Mattermost's 'ann'"
    assert [a.authors for a in rows(wiki, Announcement)] == [[{"name": "Anna"}]], "not Anna, whose name starts so"
    texts = [m.payload["props"]["attachments"][0]["text"] for m in rows(wiki, OutboxMessage)]
    assert len(texts) == 2 and all(text.startswith("New page by Anna\n") for text in texts), "nor in any copy"
    assert '"Ann"' not in everything_stored(engine)


@pytest.mark.parametrize("settings", [settings_for(OWNER, announce="digest_only")], ids=["owner"])
def test_erasing_takes_my_notes_out_of_the_owners_messages_that_quote_them(
    client: FlaskClient, runtime: Runtime, clock: FakeClock, mattermost_contract: MattermostContract, engine: Engine
) -> None:
    standin = StandIn(mattermost_contract, clock)
    a_page(runtime, clock, 2)
    bob_owns(client, standin)
    long_note = "The steps   changed:\nthe deploy now " + "needs the new runner and its token " * 12
    for n, note in enumerate([long_note, "ok", "still broken"]):
        rate(runtime, uid(f"reader{n}"), PAGE, 2)
        with runtime.uow() as uow:
            give_reason(uow, uid(f"reader{n}"), PAGE, "outdated", note, runtime.clock())
    tick(runtime, clock)
    tick(runtime, clock)
    [dm] = reviews_to(standin, BOB)
    assert "> The steps changed: the deploy now needs" in str(dm) and "…" in str(dm), "quoted, shortened"
    assert "> The steps changed: the deploy now needs" in everything_stored(engine), "and kept once sent"

    erase(runtime, Person("reader0"), "reader0")
    stored = everything_stored(engine)
    assert "the deploy now needs the new runner" not in stored, "no quote of her note is kept"
    assert "still broken" in stored, "the other readers' notes stay with their feedback"
    assert "> still broken" in stored, "and in the owner's message, which stays"


def test_erasing_a_short_note_leaves_the_messages_that_merely_hold_its_words(runtime: Runtime) -> None:
    long_note = "word " * 100
    kept = ["ok, thanks", "> ok then", "> okay", "> word word…"]
    quoting = ["Notes:\n> ok\n> other", "> ok", quoted(long_note), quoted("Fine  \n  as it is")]
    with runtime.uow() as uow:
        for n, message in enumerate(kept + quoting):
            uow.outbox.enqueue(SEND_DM, {"user_id": BOB.id, "message": message}, key=f"m{n}", now=runtime.clock())
        uow.commit()
    with runtime.uow() as uow:
        assert uow.outbox.redact_quoting(["", " "]) == 0
        assert uow.outbox.redact_quoting(["ok", long_note, "Fine as it is"]) == len(quoting)
        uow.commit()
    erased = "> (a note its writer has since erased)"
    assert [m.payload["message"] for m in outbox(runtime, SEND_DM)] == kept + [
        f"Notes:\n{erased}\n> other", erased, erased, erased], "only whole quoted lines count; the rest stays"


def test_a_page_only_i_rated_goes_with_my_rating_and_pages_others_know_stay(
    client: FlaskClient, runtime: Runtime, engine: Engine
) -> None:
    """A link learnloop learnt of from my rating alone kept its URL, and a creation time that was the moment I
    rated it, after my rating was erased; one someone else rated, or shared in chat, stays."""
    ann, bob = Person("ann"), Person("bob")
    slash(client, ann, "rate https://wiki.acme.example/Erins-performance-plan 2")
    slash(client, ann, "rate https://wiki.acme.example/Deploy 4")
    slash(client, bob, "rate https://wiki.acme.example/Deploy 5")
    slash(client, ann, "rate https://wiki.acme.example/Shared 3")
    with runtime.uow() as uow:
        item = uow.session.scalars(select(ContentItem).where(ContentItem.url.endswith("/Shared"))).one()
        item.shared_at = runtime.clock()
        uow.commit()
    erase(runtime, ann, ann.name)
    with runtime.reader() as uow:
        urls = sorted(uow.session.scalars(select(ContentItem.url)))
    assert urls == ["https://wiki.acme.example/Deploy", "https://wiki.acme.example/Shared"]
    assert "Erins-performance-plan" not in everything_stored(engine)
