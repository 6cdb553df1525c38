"""`/learn seed`: the starter kit, through the recorded Mattermost request shapes (every REST call validated
against the OpenAPI source; channel bookmarks against the server's source, see tests/network/standin.py),
with the fake clock."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from learnloop.bootstrap import Runtime
from learnloop.services.outbox_kinds import CHANNEL_BOOKMARKS, CREATE_POST
from learnloop.storage.tables import Community, Cursor, OutboxMessage, PromptSchedule
from learnloop.wiring import create_app
from tests.conftest import FakeClock
from tests.contract.mattermost_openapi import MattermostContract
from tests.network.seed.conftest import (
    ANN,
    OWNER,
    SHELF_TITLES,
    count,
    outbox,
    replies,
    stocked,
)
from tests.network.standin import StandIn
from tests.prompts.world import CHANNEL, courier, opened_dialog, slash, submit

KIT = {"prompt": "what_so_what", "repeat": "", "time": "16:30", "timezone": "Europe/Berlin",
       "visibility": "private", "shelf": True, "bookmarks": True}
DASHBOARD = "https://learnloop.example.com/dashboard/1"


def open_kit(chat: FlaskClient, contract: MattermostContract) -> str:
    assert slash(chat, OWNER, "seed") == {}, "the dialog opens; nothing else is said"
    return opened_dialog(contract)["state"]


def run_kit(chat: FlaskClient, contract: MattermostContract, **changes: Any) -> Any:
    return submit(chat, OWNER, "seed", open_kit(chat, contract), {**KIT, **changes})


def test_the_kit_sets_up_a_prompt_posts_a_shelf_and_bookmarks_the_dashboard_and_top_pages(
    seeded_runtime: Runtime, chat: FlaskClient, standin: StandIn, mattermost_contract: MattermostContract
) -> None:
    stocked(seeded_runtime)
    state = open_kit(chat, mattermost_contract)
    form = opened_dialog(mattermost_contract)
    assert [o["value"] for o in form["elements"][0]["options"]] == ["what_so_what", "after_event", "one_thing", "none"]
    response = submit(chat, OWNER, "seed", state, KIT)
    assert (response.status_code, response.data) == (200, b""), "the form closes"

    report = courier(seeded_runtime).deliver()
    assert (report.sent, report.failed) == (3, 0), report.errors

    [schedule] = _schedules(seeded_runtime)
    assert (schedule.label, schedule.rrule, schedule.local_time, schedule.window_minutes, schedule.timezone,
            schedule.default_visibility, schedule.created_by) == (
        "What? So what? Now what?", "FREQ=WEEKLY;BYDAY=FR", "16:30", 16 * 60, "Europe/Berlin", "private", OWNER.id)
    assert [q["text"].split(":")[0] for q in schedule.questions] == [
        "What happened this week that you learned from?", "So what", "Now what"]

    [shelf] = standin.channel_posts(CHANNEL)
    attachments = shelf["props"]["attachments"]
    assert [a["title"] for a in attachments] == SHELF_TITLES
    assert [a["text"] for a in attachments] == ["Rated most useful here by the community."] * 2 + [
        "Recently improved in the wiki."] * 2
    assert all(len(a["actions"]) == 5 and a["actions"][0]["integration"]["url"].endswith("/mattermost/actions")
               for a in attachments), "every item carries the rating buttons"
    assert "/5" not in str(shelf) and "ratings" not in shelf["message"], "no score or count shown (herding)"

    bookmarks = standin.channel_bookmarks(CHANNEL)
    assert (bookmarks[0]["display_name"], bookmarks[0].get("emoji")) == ("Learning dashboard", "bar_chart")
    assert [b["link_url"] for b in bookmarks] == [DASHBOARD, "https://blog.example.com/pipelines",
                                                  "https://outline.example.com/doc/deploying",
                                                  "https://outline.example.com/doc/onboarding",
                                                  "https://outline.example.com/doc/runbook"]
    assert "token" not in bookmarks[0]["link_url"], "the page itself, never a one-time sign-in link"

    [told] = replies(mattermost_contract)
    assert "Prompt: Saved as prompt 1: members will be asked “What happened this week that you learned from?”, " in told
    assert "” every Friday at 16:30 (What? So what? Now what?)" in told
    assert "A starter shelf of 4 pages will be posted in this channel" in told
    assert "The dashboard and 4 top pages will be bookmarked in this channel" in told


def _schedules(runtime: Runtime) -> list[PromptSchedule]:
    with runtime.uow() as uow:
        return list(uow.session.scalars(select(PromptSchedule).order_by(PromptSchedule.id)))


def test_the_prompt_goes_through_the_prompt_set_up_service(
    seeded_runtime: Runtime, chat: FlaskClient, standin: StandIn, mattermost_contract: MattermostContract,
    clock: FakeClock
) -> None:
    """The kit's prompt is an ordinary prompt: listed by /learn prompts, and the same one set up again is
    recognised by the set-up service instead of made twice."""
    run_kit(chat, mattermost_contract, prompt="after_event", time="09:15", shelf=False, bookmarks=False)
    assert "After-event review" in slash(chat, OWNER, "prompts")["text"]
    clock.advance(minutes=20)
    run_kit(chat, mattermost_contract, prompt="after_event", time="09:15", shelf=False, bookmarks=False)
    courier(seeded_runtime).deliver()
    [schedule] = _schedules(seeded_runtime)
    assert (schedule.rrule, schedule.local_time) == ("FREQ=WEEKLY;INTERVAL=2;BYDAY=FR", "09:15")
    first, again = replies(mattermost_contract)
    assert f"Saved as prompt {schedule.id}: members will be asked “Think of a recent event" in first
    assert "” every 2 weeks on Friday at 09:15 (After-event review)" in first
    assert f"already set up (number {schedule.id})" in again and "Nothing new was saved" in again


def test_someone_who_is_not_an_owner_is_told_so_and_nothing_opens(
    seeded_runtime: Runtime, chat: FlaskClient, standin: StandIn, mattermost_contract: MattermostContract
) -> None:
    reply = slash(chat, ANN, "seed")
    assert reply["response_type"] == "ephemeral" and "Only this community's owners" in reply["text"]
    assert "/learn share" in reply["text"], "and what they can do instead"
    assert not [c for c in mattermost_contract.calls if c.path == "/api/v4/actions/dialogs/open"]
    assert count(seeded_runtime, OutboxMessage) == count(seeded_runtime, PromptSchedule) == 0


def test_a_channel_admin_is_an_owner(
    seeded_runtime: Runtime, chat: FlaskClient, standin: StandIn, mattermost_contract: MattermostContract
) -> None:
    standin.channel_admins.add(ANN.id)
    assert slash(chat, ANN, "seed") == {}
    assert opened_dialog(mattermost_contract)["callback_id"] == "seed"


@pytest.mark.parametrize(("changes", "expected"), [
    ({"time": "25:00"}, {"time": "16:30"}),
    ({"timezone": "Mars/Olympus"}, {"timezone": "time zone"}),
    ({"repeat": "now and then"}, {"repeat": "weekly"}),
    ({"visibility": "shouted"}, {"visibility": "private"}),
    ({"prompt": "pep_talk"}, {"prompt": "starter prompts"}),
    ({"prompt": "none", "shelf": False, "bookmarks": False}, {"prompt": "nothing was chosen"}),
    ({"time": "4pm", "timezone": "Berlin"}, {"time": "HH:MM", "timezone": "Europe/Berlin"}),
])
def test_bad_input_gets_an_error_on_each_wrong_field_and_stores_nothing(
    seeded_runtime: Runtime, chat: FlaskClient, standin: StandIn, mattermost_contract: MattermostContract,
    changes: dict[str, Any], expected: dict[str, str]
) -> None:
    stocked(seeded_runtime)
    before = (count(seeded_runtime, Community), count(seeded_runtime, OutboxMessage), count(seeded_runtime, Cursor))
    response = run_kit(chat, mattermost_contract, **changes)
    assert response.status_code == 200
    errors = response.get_json()["errors"]
    assert sorted(errors) == sorted(expected)
    for field, fragment in expected.items():
        assert fragment in errors[field], errors
    assert (count(seeded_runtime, Community), count(seeded_runtime, OutboxMessage),
            count(seeded_runtime, Cursor)) == before
    assert count(seeded_runtime, PromptSchedule) == 0


def test_nothing_to_list_is_said_to_the_owner_instead_of_posting_an_empty_shelf(
    bare_runtime: Runtime, standin: StandIn, mattermost_contract: MattermostContract
) -> None:
    chat = create_app(bare_runtime).test_client()
    run_kit(chat, mattermost_contract, prompt="none", bookmarks=False)
    assert not outbox(bare_runtime, CREATE_POST)
    courier(bare_runtime).deliver()
    assert standin.channel_posts(CHANNEL) == []
    [told] = replies(mattermost_contract)
    assert "No starter shelf: no wiki space is mapped to this community yet" in told and "/learn share" in told


def test_running_the_kit_twice_soon_posts_once_and_later_posts_a_fresh_shelf(
    seeded_runtime: Runtime, chat: FlaskClient, standin: StandIn, mattermost_contract: MattermostContract,
    clock: FakeClock
) -> None:
    stocked(seeded_runtime)
    run_kit(chat, mattermost_contract, prompt="none")
    clock.advance(minutes=3)
    run_kit(chat, mattermost_contract, prompt="none")
    assert len(outbox(seeded_runtime, CREATE_POST)) == len(outbox(seeded_runtime, CHANNEL_BOOKMARKS)) == 1
    courier(seeded_runtime).deliver()
    second = replies(mattermost_contract)[1]
    assert "A starter shelf was queued at 10:00, so nothing new was posted; a fresh one can go out after 10:10" \
        in second, "times in the community's time zone (Berlin)"

    clock.advance(minutes=8)
    run_kit(chat, mattermost_contract, prompt="none")
    courier(seeded_runtime).deliver()
    assert len(standin.channel_posts(CHANNEL)) == 2, "an owner can deliberately post a fresh shelf later"
    assert len(standin.channel_bookmarks(CHANNEL)) == 5, "bookmarks are never made twice"
    assert "A starter shelf of 4 pages will be posted" in replies(mattermost_contract)[2]


def test_the_first_prompt_set_up_offers_the_kit_once(
    seeded_runtime: Runtime, chat: FlaskClient, standin: StandIn, mattermost_contract: MattermostContract
) -> None:
    setup_form = {"question1": "What did you learn this week?", "repeat": "weekly fri", "time": "16:30",
                  "window": "16h", "timezone": "Europe/Berlin", "visibility": "private"}
    for question in ("What did you learn this week?", "What will you try next?"):
        slash(chat, OWNER, "prompts setup")
        submit(chat, OWNER, "prompt_setup", opened_dialog(mattermost_contract)["state"],
               {**setup_form, "question1": question})
    courier(seeded_runtime).deliver()
    first, second = replies(mattermost_contract)
    assert "`/learn seed`" in first and "starter shelf" in first
    assert "/learn seed" not in second, "offered once"


def test_after_the_kit_setting_up_prompts_does_not_offer_it_again(
    seeded_runtime: Runtime, chat: FlaskClient, standin: StandIn, mattermost_contract: MattermostContract
) -> None:
    run_kit(chat, mattermost_contract, prompt="none", bookmarks=False)
    slash(chat, OWNER, "prompts setup")
    submit(chat, OWNER, "prompt_setup", opened_dialog(mattermost_contract)["state"],
           {"question1": "What did you learn?", "repeat": "weekly fri", "time": "16:30", "window": "16h",
            "timezone": "Europe/Berlin", "visibility": "private"})
    courier(seeded_runtime).deliver()
    assert "/learn seed" not in replies(mattermost_contract)[-1]
