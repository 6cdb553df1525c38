"""`/learn prompts ...`: each person's own settings, and owners' setup with clear errors."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from learnloop.bootstrap import Runtime
from learnloop.domain import schedules
from learnloop.mattermost.ownership import OWNERS
from learnloop.services.outbox_kinds import RESPOND
from learnloop.services.prompts import setup as prompt_setup
from learnloop.services.prompts.timing import schedule_of
from learnloop.storage.tables import Member, PromptSchedule
from tests.conftest import FakeClock
from tests.contract.mattermost_openapi import MattermostContract
from tests.prompts.world import CHANNEL, Person, add_schedule, opened_dialog, slash, submit
from tests.wikis.test_publication import queued

ANN = Person("ann")
OWNER = Person("owner")
TEAM = "rdc9bgriktyx9p4kowh3dmgqyc"
"""The team the recorded slash commands come from."""


def member(runtime: Runtime, person: Person) -> Member:
    with runtime.uow() as uow:
        return uow.session.get(Member, person.id)


def test_off_on_pause_resume_time_quiet_nudges(client: FlaskClient, runtime: Runtime) -> None:
    assert "Prompts are off" in slash(client, ANN, "prompts off")["text"]
    assert member(runtime, ANN).prompts_enabled is False
    assert "Prompts are on" in slash(client, ANN, "prompts on")["text"]
    assert "Your own prompts are paused until Mon 16 Nov at 09:00 (UTC)" in slash(client, ANN, "prompts pause 2w")["text"]
    assert member(runtime, ANN).paused_until == datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
    slash(client, ANN, "prompts resume")
    assert member(runtime, ANN).paused_until is None
    assert "16:30, your local time" in slash(client, ANN, "prompts time 16:30")["text"]
    assert "each community's own time" in slash(client, ANN, "prompts time default")["text"]
    assert "Quiet hours 22:00-07:00" in slash(client, ANN, "prompts quiet 22:00-07:00")["text"]
    assert "No more reminders" in slash(client, ANN, "prompts nudges off")["text"]
    settings = member(runtime, ANN)
    assert (settings.quiet_hours, settings.nudges, settings.time_of_day) == ("22:00-07:00", False, None)
    status = slash(client, ANN, "prompts")["text"]
    assert "quiet hours: 22:00-07:00" in status and "reminders: off" in status


def test_time_or_quiet_with_nothing_after_it_says_the_setting_and_changes_nothing(
    client: FlaskClient, runtime: Runtime
) -> None:
    slash(client, ANN, "prompts time 16:30")
    slash(client, ANN, "prompts quiet 22:00-07:00")
    assert slash(client, ANN, "prompts time")["text"] == (
        "Your prompts come at 16:30, your local time. Change it with `/learn prompts time 16:30` (24-hour, your "
        "local time), or `/learn prompts time default` for each community's own time.")
    assert slash(client, ANN, "prompts quiet")["text"] == (
        "Your quiet hours are 22:00-07:00. Set them with `/learn prompts quiet 22:00-07:00` (prompts falling then "
        "wait until they end), or turn them off with `/learn prompts quiet off`.")
    settings = member(runtime, ANN)
    assert (settings.time_of_day, settings.quiet_hours) == ("16:30", "22:00-07:00"), "nothing changed"
    assert "Quiet hours are off" in slash(client, ANN, "prompts quiet off")["text"]
    assert "each community's own time" in slash(client, ANN, "prompts time default")["text"]
    assert "Your quiet hours are off." in slash(client, ANN, "prompts quiet")["text"]
    assert "come at each community's own time." in slash(client, ANN, "prompts time")["text"]


def test_a_pause_is_told_and_taken_in_the_persons_own_time_and_zone(client: FlaskClient, runtime: Runtime) -> None:
    """Mattermost gave Ann's zone (New York); Bob's is not known yet, so it is that of the community's prompt."""
    with runtime.uow() as uow:
        uow.members.ensure(ANN.id, runtime.clock()).timezone = "America/New_York"
        uow.commit()
    add_schedule(runtime, timezone="Europe/Berlin")
    assert slash(client, ANN, "prompts pause 2w")["text"] == (
        "Your own prompts are paused until Mon 16 Nov at 04:00 (America/New_York). `/learn prompts resume` ends the pause early.")
    assert slash(client, ANN, "prompts pause until 2026-12-24")["text"].startswith(
        "Your own prompts are paused through Thu 24 Dec (America/New_York).")
    assert member(runtime, ANN).paused_until == datetime(2026, 12, 25, 5, 0, tzinfo=UTC), "the end of her 24th"
    assert "- paused through Thu 24 Dec (America/New_York)" in slash(client, ANN, "prompts")["text"]
    bob = Person("bob")
    assert slash(client, bob, "prompts pause 2026-12-24")["text"].startswith(
        "Your own prompts are paused through Thu 24 Dec (Europe/Berlin).")
    assert member(runtime, bob).paused_until == datetime(2026, 12, 24, 23, 0, tzinfo=UTC)
    for refused, says in (("until 2026-11-01", "Sun 01 Nov 2026 has passed"),
                          ("until 2027-12-01", "Wed 01 Dec 2027 is more than a year ahead"),
                          ("until someday", "'someday' is not a date: use YYYY-MM-DD")):
        assert slash(client, ANN, f"prompts pause {refused}")["text"].startswith(says)
    assert member(runtime, ANN).paused_until == datetime(2026, 12, 25, 5, 0, tzinfo=UTC), "refusals change nothing"


def test_resume_says_when_there_was_nothing_to_resume_and_takes_no_prompt_number(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract
) -> None:
    assert slash(client, ANN, "prompts resume")["text"] == (
        "You were not paused: your prompts come as usual. Nothing changed.")
    slash(client, ANN, "prompts pause 2w")
    assert slash(client, ANN, "prompts resume")["text"] == "Welcome back: prompts resume from the next one."
    assert member(runtime, ANN).paused_until is None
    assert "You were not paused" in slash(client, ANN, "prompts resume")["text"]
    owner_may_open_forms(mattermost_contract)
    number = add_schedule(runtime)
    assert slash(client, OWNER, f"prompts stop {number}")["text"] == (
        f"Prompt {number} (“What did you learn this week?”) is stopped: nobody will be asked it again (one already "
        "sent can still be answered).")
    assert slash(client, OWNER, f"prompts stop {number}")["text"] == (
        f"Prompt {number} (“What did you learn this week?”) was stopped already. Nothing changed.")
    slash(client, OWNER, "prompts pause 2w")
    assert slash(client, OWNER, f"prompts resume {number}")["text"] == (
        f"Prompt {number} is stopped. A stopped prompt cannot be resumed: an owner sets it up again with "
        "`/learn prompts setup`. Nothing changed.")
    assert member(runtime, OWNER).paused_until is not None, "the owner's own pause goes on"
    assert "takes nothing after it" in slash(client, OWNER, "prompts resume now")["text"]
    assert member(runtime, OWNER).paused_until is not None


@pytest.mark.parametrize(("text", "expected"), [
    ("prompts pause soon", "for example"),
    ("prompts pause", "How long to pause is missing: use days, weeks or months, for example 3d, 2w or 1m. Usage: "
                      "`/learn prompts pause <3d|2w|1m> | pause until <YYYY-MM-DD>`, for example `/learn prompts "
                      "pause 2w`. Nothing changed."),
    ("prompts pause until 2026-13-01", "'2026-13-01' is not a date: use YYYY-MM-DD, for example until 2026-12-24. "
                                       "Usage: `/learn prompts pause"),
    ("prompts pause 0d", "for example"),
    ("prompts time 4pm", "16:30"),
    ("prompts time 25:00", "16:30"),
    ("prompts quiet 22-7", "for example"),
    ("prompts nudges maybe", "Your reminders are on. Turn them off with `/learn prompts nudges off`. Nothing changed."),
    ("prompts fly", "not something learnloop knows"),
])
def test_bad_settings_say_what_is_wrong_and_change_nothing(
    client: FlaskClient, runtime: Runtime, text: str, expected: str
) -> None:
    reply = slash(client, ANN, text)
    assert reply["response_type"] == "ephemeral" and expected in reply["text"]
    stored = member(runtime, ANN)
    assert stored is None or (stored.paused_until, stored.time_of_day, stored.quiet_hours) == (None, None, None)


def test_only_owners_set_up_prompts(client: FlaskClient, mattermost_contract: MattermostContract) -> None:
    mattermost_contract.add("GET", f"/api/v4/channels/{CHANNEL}/members/{ANN.id}",
                            json={"channel_id": CHANNEL, "user_id": ANN.id, "roles": "channel_user",
                                  "scheme_admin": False})
    mattermost_contract.add("GET", f"/api/v4/teams/{TEAM}/members/{ANN.id}",
                            json={"team_id": TEAM, "user_id": ANN.id, "roles": "team_user", "scheme_admin": False})
    reply = slash(client, ANN, "prompts setup")
    assert f"Only this community's owners ({OWNERS})" in reply["text"], "owners are named as every reply names them"
    assert not [c for c in mattermost_contract.calls if c.path == "/api/v4/actions/dialogs/open"]


def owner_may_open_forms(mattermost_contract: MattermostContract) -> None:
    """The owner is the channel's admin in Mattermost, which opens the forms learnloop asks for."""
    mattermost_contract.add("GET", f"/api/v4/channels/{CHANNEL}/members/{OWNER.id}",
                            json={"channel_id": CHANNEL, "user_id": OWNER.id, "roles": "channel_user channel_admin"})
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})


def test_a_channel_admin_sets_up_a_schedule(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract
) -> None:
    owner_may_open_forms(mattermost_contract)
    assert slash(client, OWNER, "prompts setup") == {}
    form = opened_dialog(mattermost_contract)
    names = [e["name"] for e in form["elements"]]
    assert names[-1] == "visibility" and "repeat" in names and "window" in names
    bad = submit(client, OWNER, "prompt_setup", form["state"], {
        "question1": "", "repeat": "fortnightly-ish", "time": "4pm", "window": "3 years", "timezone": "Mars/Base",
        "visibility": "private"}).get_json()
    assert set(bad["errors"]) == {"question1", "repeat", "time", "window", "timezone"}, \
        "a bad time zone hides no other wrong field"
    bad = submit(client, OWNER, "prompt_setup", form["state"], {
        "question1": "", "repeat": "fortnightly-ish", "time": "4pm", "window": "3 years", "timezone": "UTC",
        "visibility": "private"}).get_json()
    assert set(bad["errors"]) == {"question1", "repeat", "time", "window"}, "every wrong field at once"
    assert "weekly fri" in bad["errors"]["repeat"] and "16:30" in bad["errors"]["time"]
    with runtime.uow() as uow:
        assert uow.session.scalars(select(PromptSchedule)).all() == [], "nothing half-saved"
    good = submit(client, OWNER, "prompt_setup", form["state"], {
        "question1": "What did you learn this week?", "scale_question": "How useful was the week?",
        "repeat": "monthly first monday", "time": "10:00", "window": "2d", "timezone": "Europe/Berlin",
        "visibility": "community"})
    assert good.status_code == 200 and good.data == b""
    with runtime.uow() as uow:
        row = uow.session.scalars(select(PromptSchedule)).one()
    assert (row.local_time, row.window_minutes, row.default_visibility, row.timezone) == (
        "10:00", 2880, "community", "Europe/Berlin")
    assert [q["kind"] for q in row.questions] == ["text", "scale"]
    listing = slash(client, ANN, "prompts")["text"]
    assert "first Monday" in listing and "What did you learn this week?" in listing
    again = submit(client, OWNER, "prompt_setup", form["state"], {
        "question1": "What did you learn this week?", "scale_question": "How useful was the week?",
        "repeat": "monthly first monday", "time": "10:00", "window": "2d", "timezone": "Europe/Berlin",
        "visibility": "community"})
    assert again.status_code == 200
    with runtime.uow() as uow:
        assert len(uow.session.scalars(select(PromptSchedule)).all()) == 1, "the same form sent twice is one schedule"


def test_a_prompt_set_up_is_named_by_its_number_and_question_and_one_asked_at_the_same_time_is_pointed_out(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract
) -> None:
    """The form sent again with a changed question is a second prompt beside the first (there is no editor): the
    owner is told which is which, and how to stop the older one."""
    owner_may_open_forms(mattermost_contract)
    slash(client, OWNER, "prompts setup")
    state = opened_dialog(mattermost_contract)["state"]
    form = {"question1": "What did you learn this week?", "repeat": "weekly fri", "time": "16:30", "window": "16h",
            "timezone": "Europe/Berlin", "visibility": "private"}
    for question in ("What did you learn this week?", "What surprised you this week?"):
        assert submit(client, OWNER, "prompt_setup", state, form | {"question1": question}).status_code == 200
    first, second = [reply.payload["body"]["text"] for reply in queued(runtime, RESPOND)]
    with runtime.uow() as uow:
        old, new = [row.id for row in uow.session.scalars(select(PromptSchedule).order_by(PromptSchedule.id))]
    assert first.startswith(f"Saved as prompt {old}: members will be asked “What did you learn this week?” every "
                            "Friday at 16:30, each at their own local time. Nobody is named for not answering.\n")
    assert "same time" not in first
    assert second == (f"Saved as prompt {new}: members will be asked “What surprised you this week?” every Friday "
                      "at 16:30, each at their own local time. Nobody is named for not answering. "
                      f"Prompt {old} (“What did you learn this week?”) is asked at the same time; if the new one "
                      f"replaces it, stop the older one with `/learn prompts stop {old}`.")
    listing = slash(client, OWNER, "prompts")["text"]
    assert f"{old}. every Friday at 16:30, Europe/Berlin: What did you learn this week?" in listing
    assert f"{new}. every Friday at 16:30, Europe/Berlin: What surprised you this week?" in listing


@pytest.mark.parametrize(("rule", "says"), [
    ("FREQ=YEARLY;BYYEARDAY=" + ",".join(str(day) for day in range(1, 120)),
     "is 389 characters long: a rule can be at most 300"),
    ("FREQ=DAILY;UNTIL=20200101", "the prompt would never go out"),
], ids=["too_long_to_keep", "until_has_passed"])
def test_a_repeat_rule_that_cannot_be_kept_is_a_form_error(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, rule: str, says: str
) -> None:
    owner_may_open_forms(mattermost_contract)
    slash(client, OWNER, "prompts setup")
    form = opened_dialog(mattermost_contract)
    bad = submit(client, OWNER, "prompt_setup", form["state"], {
        "question1": "What did you learn?", "repeat": rule, "time": "16:30", "window": "16h", "timezone": "UTC",
        "visibility": "private"})
    assert bad.status_code == 200 and set(bad.get_json()["errors"]) == {"repeat"}
    assert says in bad.get_json()["errors"]["repeat"]
    with runtime.uow() as uow:
        assert uow.session.scalars(select(PromptSchedule)).all() == [], "nothing saved"


def test_owners_named_in_the_configuration_need_no_api_call(
    engine, clock, mattermost_contract: MattermostContract
) -> None:
    from learnloop.bootstrap import build_runtime
    from learnloop.wiring import create_app
    from tests.conftest import make_settings

    settings = make_settings(communities=[{"name": "Data guild", "channel_id": CHANNEL, "owners": [OWNER.id]}])
    runtime = build_runtime(settings, clock=clock, engine=engine)
    client = create_app(runtime).test_client()
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    assert slash(client, OWNER, "prompts event") == {}
    form = opened_dialog(mattermost_contract)
    bad = submit(client, OWNER, "prompt_event", form["state"], {"label": "K8s", "date": "3rd of Dec"}).get_json()
    assert "YYYY-MM-DD" in bad["errors"]["date"]
    ok = submit(client, OWNER, "prompt_event", form["state"], {
        "label": "Kubernetes training", "date": "2026-12-03", "when": "both", "time": "17:00", "window": "2d",
        "visibility": "private"})
    assert ok.status_code == 200
    assert queued(runtime, RESPOND)[0].payload["body"]["text"] == (
        "Saved 2 event prompts: Kubernetes training on Thu 03 Dec 2026 (the day before); Kubernetes training on Thu 03 "
        "Dec 2026 (on the day), at 17:00 (UTC).")
    listing = slash(client, OWNER, "prompts")["text"]
    assert "Kubernetes training on Thu 03 Dec 2026 (the day before)" in listing
    assert "Kubernetes training on Thu 03 Dec 2026 (on the day)" in listing
    past = submit(client, OWNER, "prompt_event", form["state"], {
        "label": "Retro", "date": "2026-10-01", "when": "after", "time": "17:00", "window": "2d"}).get_json()
    assert "has passed" in past["errors"]["date"], "an event in the past is refused, not accepted silently"
    tomorrow = submit(client, OWNER, "prompt_event", form["state"], {
        "label": "Demo", "date": "2026-11-02", "when": "both", "time": "17:00", "window": "2d"}).get_json()
    assert "the day before has passed" in tomorrow["errors"]["when"]
    long = submit(client, OWNER, "prompt_event", form["state"], {
        "label": "Demo", "date": "2026-12-10", "when": "both", "time": "17:00", "window": "2d",
        "question_after": "x" * 301}).get_json()
    assert set(long["errors"]) == {"question_after"} and "at most 300 characters" in long["errors"]["question_after"], \
        "on the dialog's own field, where the form shows it"


def event_form(client: FlaskClient, contract: MattermostContract) -> str:
    """The owner opens the event-prompt form: its signed state."""
    owner_may_open_forms(contract)
    slash(client, OWNER, "prompts event")
    return str(opened_dialog(contract)["state"])


@pytest.mark.parametrize("far", ["9999-12-31", "9988-01-01", "2031-11-03"])
def test_an_event_more_than_five_years_ahead_is_a_form_error_not_a_crash(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, far: str
) -> None:
    state = event_form(client, mattermost_contract)
    event = {"label": "Launch", "when": "both", "time": "17:00", "window": "2d", "visibility": "private"}
    refused = submit(client, OWNER, "prompt_event", state, event | {"date": far})
    assert refused.status_code == 200
    assert refused.get_json()["errors"] == {
        "date": f"{date.fromisoformat(far):%a %d %b %Y} is more than 5 years ahead; choose a date up to 2031-11-02"}
    with runtime.uow() as uow:
        assert uow.session.scalars(select(PromptSchedule)).all() == [], "nothing stored"
    assert queued(runtime, RESPOND) == []
    assert submit(client, OWNER, "prompt_event", state, event | {"date": "2031-11-02"}).status_code == 200
    assert queued(runtime, RESPOND)[0].payload["body"]["text"].startswith("Saved 2 event prompts: Launch on Sun 02 "
                                                                          "Nov 2031")


def test_five_years_from_the_29th_of_february_end_on_the_28th(
    client: FlaskClient, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    clock.now = datetime(2028, 2, 29, 12, 0, tzinfo=UTC)
    state = event_form(client, mattermost_contract)
    event = {"label": "Launch", "when": "both", "time": "17:00", "window": "2d", "visibility": "private",
             "date": "2033-03-01"}
    refused = submit(client, OWNER, "prompt_event", state, event)
    assert refused.get_json()["errors"]["date"].endswith("choose a date up to 2033-02-28")


def test_the_event_form_sent_twice_sets_up_its_prompts_once_and_says_so(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    state = event_form(client, mattermost_contract)
    event = {"label": "Kubernetes training", "date": "2026-12-03", "when": "before", "time": "17:00",
             "window": "2d", "visibility": "private"}
    for when in ("before", "before", "both"):
        assert submit(client, OWNER, "prompt_event", state, event | {"when": when}).status_code == 200
        clock.advance(minutes=1)
    with runtime.uow() as uow:
        rows = uow.session.scalars(select(PromptSchedule).order_by(PromptSchedule.id)).all()
    assert [row.event_part for row in rows] == ["before", "after"]
    assert rows[0].event_key == rows[1].event_key, "the prompt after reminds each person of their answer before"
    first, again, both = [reply.payload["body"]["text"] for reply in queued(runtime, RESPOND)]
    assert first == "Saved 1 event prompt: Kubernetes training on Thu 03 Dec 2026 (the day before), at 17:00 (UTC)."
    assert again == ("Already set up, so nothing new was saved for Kubernetes training on Thu 03 Dec 2026 "
                     f"(the day before) (number {rows[0].id}).")
    assert both.startswith("Saved 1 event prompt: Kubernetes training on Thu 03 Dec 2026 (on the day), at 17:00 (UTC). "
                           "Already")


def test_a_forged_setup_state_is_refused(client: FlaskClient, runtime: Runtime) -> None:
    state = json.dumps({"user_id": OWNER.id, "channel_id": CHANNEL, "sig": "forged"})
    reply = submit(client, OWNER, "prompt_setup", state, {"question1": "x"}).get_json()
    assert "could not be verified" in reply["error"]


def test_a_repeat_that_ended_yesterday_in_its_own_time_zone_is_refused(runtime: Runtime, clock: FakeClock) -> None:
    """In Tokyo it is already the day after the UNTIL date while in UTC it is still that day."""
    clock.now = datetime(2026, 12, 7, 20, 0, tzinfo=UTC)
    with pytest.raises(prompt_setup.InvalidSetup) as refused:
        add_schedule(runtime, repeat="FREQ=DAILY;UNTIL=20261207", window="1h", timezone="Asia/Tokyo")
    assert "has no date still to come" in refused.value.errors["repeat"]
    assert add_schedule(runtime, repeat="FREQ=DAILY;UNTIL=20261207", window="1h", timezone="America/New_York")


def test_a_one_off_prompt_due_yesterday_whose_answers_are_still_open_is_kept(
        runtime: Runtime, clock: FakeClock) -> None:
    """As the fan-out benchmark sets one up: due yesterday in its zone, open for two days."""
    clock.now = datetime(2026, 12, 7, 20, 0, tzinfo=UTC)
    assert add_schedule(runtime, repeat="FREQ=DAILY;COUNT=1", time="09:00", window="2d", timezone="UTC",
                        anchor=date(2026, 12, 6))
    with pytest.raises(prompt_setup.InvalidSetup):
        add_schedule(runtime, repeat="FREQ=DAILY;COUNT=1", time="09:00", window="1d", timezone="UTC",
                     anchor=date(2026, 12, 5))


def test_an_event_prompt_whose_answers_have_already_closed_is_refused_not_saved(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    """Set up in the afternoon for 09:00 that day with a two-hour window, it could never go out."""
    owner_may_open_forms(mattermost_contract)
    clock.now = datetime(2026, 11, 6, 14, 0, tzinfo=UTC)
    slash(client, OWNER, "prompts event")
    state = opened_dialog(mattermost_contract)["state"]
    event = {"label": "Workshop", "date": "2026-11-06", "when": "after", "time": "09:00", "window": "2h",
             "question_after": "What will you take away?", "visibility": "private"}
    refused = submit(client, OWNER, "prompt_event", state, event).get_json()
    assert refused is not None, f"saved, and the owner told {queued(runtime, RESPOND)[0].payload['body']['text']!r}"
    assert "would never go out" in refused["errors"]["time"]
    assert "11:00 on Fri 06 Nov" in refused["errors"]["time"]
    with runtime.uow() as uow:
        assert uow.session.scalars(select(PromptSchedule)).all() == []
    assert submit(client, OWNER, "prompt_event", state, event | {"time": "17:00"}).status_code == 200
    assert queued(runtime, RESPOND)[0].payload["body"]["text"].startswith("Saved 1 event prompt: Workshop")


def test_the_event_form_takes_its_time_in_the_owners_zone_and_says_which(
    client: FlaskClient, runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    """An event's prompts come at one moment for everyone: the owners' time, as their weekly prompt's."""
    owner_may_open_forms(mattermost_contract)
    slash(client, OWNER, "prompts event")
    first = opened_dialog(mattermost_contract)
    time_field = next(e for e in first["elements"] if e["name"] == "time")
    assert "in UTC" in time_field["help_text"], "no prompt of the owners' yet, no zone configured: UTC, and said"
    add_schedule(runtime, timezone="Europe/Berlin")  # the owners' weekly prompt, Fridays 16:30 in Berlin
    slash(client, OWNER, "prompts event")
    form = opened_dialog(mattermost_contract)
    time_field = next(e for e in form["elements"] if e["name"] == "time")
    assert "in Europe/Berlin" in time_field["help_text"]
    assert submit(client, OWNER, "prompt_event", form["state"], {
        "label": "Kubernetes training", "date": "2026-12-03", "when": "after", "time": "17:00", "window": "2d",
        "visibility": "private"}).status_code == 200
    assert queued(runtime, RESPOND)[0].payload["body"]["text"] == (
        "Saved 1 event prompt: Kubernetes training on Thu 03 Dec 2026 (on the day), at 17:00 (Europe/Berlin).")
    with runtime.uow() as uow:
        event = uow.session.scalars(select(PromptSchedule).where(PromptSchedule.event_part == "after")).one()
    assert schedules.due_at(schedule_of(event), date(2026, 12, 3), ZoneInfo(event.timezone)) == \
        datetime(2026, 12, 3, 16, 0, tzinfo=UTC), "17:00 in Berlin"
