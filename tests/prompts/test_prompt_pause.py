"""An owner pauses one of the community's prompts through a local date (a bank holiday), and may end the pause
early: `/learn prompts pause <number> until <YYYY-MM-DD>`, `/learn prompts resume <number>`."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from learnloop.bootstrap import Runtime
from learnloop.jobs import prompts as prompt_jobs
from learnloop.mattermost.ownership import OWNERS
from learnloop.services.prompts import setup as prompt_setup
from learnloop.services.prompts.delivered import open_prompt, snooze
from learnloop.storage.tables import Delivery, Event, PromptRun, PromptSchedule
from tests.conftest import FakeClock
from tests.contract.mattermost_openapi import MattermostContract
from tests.prompts.test_prompt_commands import TEAM, owner_may_open_forms
from tests.prompts.world import CHANNEL, Person, World, add_schedule, reasons, slash, statuses

ANN, OWNER = Person("ann"), Person("owner")
QUESTION = "What did you learn today?"


@pytest.fixture
def world(runtime: Runtime, mattermost_contract: MattermostContract) -> World:
    owner_may_open_forms(mattermost_contract)
    return World(runtime, mattermost_contract, people=[ANN])


def daily(runtime: Runtime) -> int:
    """Every day at 16:30 in Berlin, open four hours; the clock starts on Monday 2 November at 10:00 there."""
    return add_schedule(runtime, repeat="daily", window="4h", anchor=date(2026, 11, 2), questions=[QUESTION])


def planned_daily(runtime: Runtime, world: World) -> int:
    """`daily`, its first runs planned by a worker's pass (Monday to Wednesday)."""
    number = daily(runtime)
    world.serve_members()
    world.tick()
    return number


def at_half_past_four(clock: FakeClock, world: World, day: int, *, plans: bool = True) -> int:
    """16:31 in Berlin on that day of November: the prompts sent then."""
    before = len(world.prompt_posts())
    clock.now = datetime(2026, 11, day, 15, 31, tzinfo=UTC)
    if plans:
        world.serve_members()
    world.serve_statuses()
    world.serve_dm_and_posts(1)
    world.tick()
    return len(world.prompt_posts()) - before


def events(runtime: Runtime, kind: str) -> int:
    with runtime.reader() as uow:
        return uow.session.scalar(select(func.count()).select_from(Event).where(Event.kind == kind)) or 0


def run_dates(runtime: Runtime) -> list[date]:
    with runtime.reader() as uow:
        return sorted(uow.session.scalars(select(PromptRun.local_date)))


def paused_through(runtime: Runtime, number: int) -> date | None:
    with runtime.reader() as uow:
        row = uow.session.get(PromptSchedule, number)
        assert row is not None
        return row.paused_through


def test_nobody_is_asked_on_the_paused_dates_and_everyone_is_asked_the_first_date_after(
        world: World, runtime: Runtime, clock: FakeClock, client: FlaskClient) -> None:
    number = daily(runtime)
    assert slash(client, OWNER, f"prompts pause {number} until 2026-11-04")["text"] == (
        f"Prompt {number} (“{QUESTION}”) is paused through Wed 04 Nov (Europe/Berlin): nobody is asked it for "
        f"those dates, and a prompt already sent can still be answered. `/learn prompts resume {number}` ends the pause "
        "early.")
    assert [at_half_past_four(clock, world, day) for day in (2, 3, 4, 5, 6)] == [0, 0, 0, 1, 1]
    assert run_dates(runtime) == [date(2026, 11, day) for day in (5, 6, 7, 8)], "no run for a paused date"
    assert (events(runtime, "prompt_sent"), events(runtime, "prompt_unanswered")) == (2, 1), \
        "Thursday's and Friday's sent, Thursday's left unanswered; none of the paused dates counted"


def test_prompts_planned_before_the_pause_are_not_sent_nor_counted_unanswered(
        world: World, runtime: Runtime, clock: FakeClock, client: FlaskClient) -> None:
    """Runs are planned two days ahead: Monday's, Tuesday's and Wednesday's prompts wait when the owner pauses
    through Tuesday; Wednesday's goes out."""
    number = planned_daily(runtime, world)
    assert statuses(runtime) == {"scheduled": 3}
    slash(client, OWNER, f"prompts pause {number} until 2026-11-03")
    assert statuses(runtime) == {"scheduled": 1, "skipped": 2}
    assert reasons(runtime, "skipped") == ["prompt paused", "prompt paused"]
    assert [at_half_past_four(clock, world, day, plans=day > 2) for day in (2, 3, 4)] == [0, 0, 1]
    clock.now = datetime(2026, 11, 6, 12, 0, tzinfo=UTC)
    world.serve_members()
    world.tick()
    assert (events(runtime, "prompt_sent"), events(runtime, "prompt_unanswered")) == (1, 1), \
        "only Wednesday's prompt was sent, and only it lapsed unanswered"


def test_a_prompt_sent_before_the_pause_can_still_be_answered(
        world: World, runtime: Runtime, clock: FakeClock, client: FlaskClient) -> None:
    number = daily(runtime)
    assert at_half_past_four(clock, world, 2) == 1
    slash(client, OWNER, f"prompts pause {number} until 2026-11-03")
    with runtime.uow() as uow:
        [sent] = uow.session.scalars(select(Delivery).where(Delivery.status == "sent")).all()
        assert open_prompt(uow, sent.id, ANN.id, clock.now).questions[0]["text"] == QUESTION
        assert sent.nudge_at is None, "no reminder in the holiday"


def test_resuming_early_plans_the_dates_after_today_and_leaves_those_skipped(
        world: World, runtime: Runtime, clock: FakeClock, client: FlaskClient) -> None:
    number = planned_daily(runtime, world)
    slash(client, OWNER, f"prompts pause {number} until 2026-11-10")
    assert at_half_past_four(clock, world, 2, plans=False) == 0
    clock.now = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
    assert slash(client, OWNER, f"prompts resume {number}")["text"] == (
        f"Prompt {number} (“{QUESTION}”) is no longer paused: members are asked it again from its next date after "
        "today.")
    assert paused_through(runtime, number) is None
    assert at_half_past_four(clock, world, 3) == 0, "today's was skipped and stays skipped"
    assert [at_half_past_four(clock, world, day) for day in (4, 5, 6)] == [1, 1, 1]
    assert slash(client, OWNER, f"prompts resume {number}")["text"] == (
        f"Prompt {number} is not paused: members are asked it as usual. Nothing changed.")


def test_a_run_planned_while_the_owner_pauses_asks_nobody(
        world: World, runtime: Runtime, clock: FakeClock, client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run was made before the pause; its members are listed (seconds, for a large channel) while the owner
    pauses, and planned after."""
    number = daily(runtime)
    world.serve_members()
    listed = prompt_jobs.community_profiles

    def listed_while_the_owner_pauses(client_: Any, channel_ids: list[str]) -> Any:
        profiles = listed(client_, channel_ids)
        slash(client, OWNER, f"prompts pause {number} until 2026-11-04")
        return profiles

    monkeypatch.setattr(prompt_jobs, "community_profiles", listed_while_the_owner_pauses)
    world.tick()
    monkeypatch.setattr(prompt_jobs, "community_profiles", listed)
    assert statuses(runtime) == {}
    with runtime.reader() as uow:
        assert uow.runs.unplanned() == [], "not listed again at every pass"
    assert at_half_past_four(clock, world, 2, plans=False) == 0


def test_the_list_shows_a_pause_until_it_is_over(
        world: World, runtime: Runtime, clock: FakeClock, client: FlaskClient) -> None:
    number = daily(runtime)
    slash(client, OWNER, f"prompts pause {number} until 2026-11-04")
    listing = slash(client, OWNER, "prompts")["text"]
    assert f"{number}. every day at 16:30, Europe/Berlin, paused through Wed 04 Nov: {QUESTION}" in listing
    assert "`/learn prompts pause <number> until 2026-12-24`" in listing and "`/learn prompts resume <number>`" in listing
    clock.now = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)
    assert "paused" not in slash(client, OWNER, "prompts")["text"]


def ann_is_a_member(contract: MattermostContract) -> None:
    contract.add("GET", f"/api/v4/channels/{CHANNEL}/members/{ANN.id}",
                 json={"channel_id": CHANNEL, "user_id": ANN.id, "roles": "channel_user", "scheme_admin": False})
    contract.add("GET", f"/api/v4/teams/{TEAM}/members/{ANN.id}",
                 json={"team_id": TEAM, "user_id": ANN.id, "roles": "team_user", "scheme_admin": False})


def test_bad_pauses_say_what_is_wrong_and_change_nothing(
        world: World, runtime: Runtime, client: FlaskClient, mattermost_contract: MattermostContract) -> None:
    number = daily(runtime)
    stopped = add_schedule(runtime, repeat="weekly mon")
    slash(client, OWNER, f"prompts stop {stopped}")
    with runtime.uow() as uow:
        community_id = uow.session.get(PromptSchedule, number).community_id
        [event] = prompt_setup.create_event_prompts(
            uow, community_id=community_id, timezone="Europe/Berlin", label="Retro", event_date=date(2026, 11, 20),
            when="after", question_before="", question_after="What went well?", local_time="17:00", window="2d",
            default_visibility="private", created_by=OWNER.id, now=runtime.clock())
    ann_is_a_member(mattermost_contract)
    usage = "Usage: `/learn prompts pause <number> until <YYYY-MM-DD>`, for example `/learn prompts pause"
    for person, text, says in (
        (OWNER, "pause 99 until 2026-12-24", "This channel has no prompt number 99: `/learn prompts` lists them"),
        (OWNER, f"pause {stopped} until 2026-12-24", f"Prompt {stopped} is stopped. A stopped prompt cannot be "
                                                     "paused: an owner sets it up again with `/learn prompts setup`"),
        (OWNER, f"pause {number} until 2026-11-01", "Sun 01 Nov 2026 has passed: pause until today or a later date"),
        (OWNER, f"pause {number} until 2027-11-03", "Wed 03 Nov 2027 is more than a year ahead"),
        (OWNER, f"pause {number} until 24.12.2026", f"'24.12.2026' is not a date: use YYYY-MM-DD, for example until 2026-12-24. {usage}"),
        (OWNER, f"pause {number} until 2026-02-30", "'2026-02-30' is not a date"),
        (OWNER, f"pause {number}", "The last day of the pause is missing"),
        (OWNER, f"pause {event.schedule.id} until 2026-12-24",
         f"Prompt {event.schedule.id} is asked once, for an event, so a pause would only skip it: "
         f"`/learn prompts stop {event.schedule.id}` stops it."),
        (ANN, f"pause {number} until 2026-12-24", f"Only this community's owners ({OWNERS}) can pause its prompts."),
        (OWNER, "resume 99", "This channel has no prompt number 99"),
        (OWNER, f"resume {stopped}", "A stopped prompt cannot be resumed"),
    ):
        reply = slash(client, person, f"prompts {text}")
        assert reply["response_type"] == "ephemeral" and says in reply["text"], text
        assert reply["text"].endswith("Nothing changed."), text
    with runtime.reader() as uow:
        assert list(uow.session.scalars(select(PromptSchedule.paused_through))) == [None, None, None]


def test_a_member_s_resume_with_a_number_says_numbers_are_for_owners_and_ends_no_pause(
        world: World, runtime: Runtime, client: FlaskClient, mattermost_contract: MattermostContract) -> None:
    number = daily(runtime)
    slash(client, OWNER, f"prompts pause {number} until 2026-11-04")
    ann_is_a_member(mattermost_contract)
    assert slash(client, ANN, f"prompts resume {number}")["text"] == (
        "`/learn prompts resume` ends your own pause and takes no number: a prompt's number is for its owners, who "
        "pause and resume it for everyone. Nothing changed.")
    assert paused_through(runtime, number) == date(2026, 11, 4)
    assert slash(client, ANN, "prompts pause 2w")["text"].startswith(
        "Your own prompts are paused until Mon 16 Nov"), "her own pause"
    assert paused_through(runtime, number) == date(2026, 11, 4)


def test_a_shorter_pause_plans_the_dates_after_it_again(
        world: World, runtime: Runtime, clock: FakeClock, client: FlaskClient) -> None:
    number = planned_daily(runtime, world)
    slash(client, OWNER, f"prompts pause {number} until 2026-11-10")
    slash(client, OWNER, f"prompts pause {number} until 2026-11-03")
    assert paused_through(runtime, number) == date(2026, 11, 3)
    assert [at_half_past_four(clock, world, day, plans=day > 2) for day in (2, 3, 4)] == [0, 0, 1]


@pytest.mark.parametrize("length", ["2 weeks", "10 days", "3 d"])
def test_a_members_own_pause_of_a_number_and_a_unit_is_not_taken_for_a_prompts_number(
        world: World, runtime: Runtime, client: FlaskClient, mattermost_contract: MattermostContract,
        length: str) -> None:
    daily(runtime)
    ann_is_a_member(mattermost_contract)
    assert slash(client, ANN, f"prompts pause {length}")["text"].startswith("Your own prompts are paused until")
    assert slash(client, OWNER, f"prompts pause {length}")["text"].startswith("Your own prompts are paused until"), "an owner's own"


def test_a_pause_leaves_the_prompts_of_earlier_dates_still_to_come_far_west(
        runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock, client: FlaskClient) -> None:
    """Tuesday 01:10 in Berlin is Monday 16:10 in Los Angeles: a pause from Tuesday leaves Leo's Monday prompt,
    due at 16:30 his time, to go out."""
    owner_may_open_forms(mattermost_contract)
    leo = Person("leo", timezone="America/Los_Angeles")
    world = World(runtime, mattermost_contract, people=[ANN, leo])
    number = planned_daily(runtime, world)
    clock.now = datetime(2026, 11, 3, 0, 10, tzinfo=UTC)
    slash(client, OWNER, f"prompts pause {number} until 2026-11-03")
    with runtime.reader() as uow:
        monday = uow.session.scalars(select(Delivery.status).join(PromptRun, PromptRun.id == Delivery.run_id).where(
            PromptRun.local_date == date(2026, 11, 2), Delivery.user_id == leo.id)).one()
        tuesday = uow.session.scalars(select(Delivery.status).join(PromptRun, PromptRun.id == Delivery.run_id).where(
            PromptRun.local_date == date(2026, 11, 3), Delivery.user_id == leo.id)).one()
    assert (monday, tuesday) == ("scheduled", "skipped")


def test_a_snoozed_prompt_does_not_come_again_on_a_paused_date(
        world: World, runtime: Runtime, clock: FakeClock, client: FlaskClient) -> None:
    """It was sent, so it lapses unanswered, as when a prompt is stopped."""
    number = daily(runtime)
    assert at_half_past_four(clock, world, 2) == 1
    with runtime.uow() as uow:
        [sent] = uow.session.scalars(select(Delivery).where(Delivery.status == "sent")).all()
        snooze(uow, sent.id, ANN.id, clock.now)
    slash(client, OWNER, f"prompts pause {number} until 2026-11-04")
    assert at_half_past_four(clock, world, 3, plans=False) == 0
    assert events(runtime, "prompt_unanswered") == 1
