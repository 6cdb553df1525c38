"""Recognition: a sharer hears privately, once per milestone, when at least k other people found what they
shared useful (never a count below k, never who); a rater may send a named thank-you; either can be turned off,
and both wait out the sharer's quiet hours."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from learnloop.bootstrap import Runtime
from learnloop.jobs.worker import Worker
from learnloop.mattermost.network_messages import RECOGNITION_OFF_ACTION, THANK_ACTION, milestone_dm, thanks_dm
from learnloop.mattermost.signed_state import button_context
from learnloop.mattermost.wiki_messages import announcer
from learnloop.services import communities, personal_data
from learnloop.services.dashboard import REFLECTION_TITLE
from learnloop.services.network import recognition
from learnloop.services.rating import Rater, rate_url
from learnloop.storage.network_store import NetworkStore
from learnloop.storage.repositories import RatingRepository
from learnloop.storage.tables import ItemScore
from tests.conftest import FakeClock
from tests.network.standin import StandIn
from tests.network.world import ingest, page_event, rate, share, tick, uid, week_ends
from tests.privacy.test_personal_data import erasing, everything_stored
from tests.prompts.world import Person, click, slash

K = 5
SAM, RAE = Person("sam"), Person("rae")
LINK = "https://blog.example.com/pipelines"


def notes(standin: StandIn, person: Person = SAM) -> list[str]:
    return [p["message"] for p in standin.dms_to(person.id) if "people have found" in p["message"]]


def useful(runtime: Runtime, url: str, people: range, stars: int = 4) -> None:
    for n in people:
        rate(runtime, uid(f"r{n}"), url, stars)


@pytest.mark.parametrize(("people", "told"), [(K - 1, None), (K, K), (K + 1, K)])
def test_a_sharer_hears_once_k_other_people_found_it_useful(runtime: Runtime, clock: FakeClock, standin: StandIn,
                                                            people: int, told: int | None) -> None:
    tick(runtime, clock)
    share(runtime, SAM.id, LINK, title="Data pipeline handbook")
    rate(runtime, SAM.id, LINK, 5)
    useful(runtime, LINK, range(people))
    rate(runtime, uid("meh"), LINK, 2)
    tick(runtime, clock)
    assert standin.posts == {}, "nothing before the week ends: the score has not moved"
    week_ends(runtime, clock)
    if told is None:
        assert standin.posts == {}, "below k: no message, and no count"
        return
    [note] = notes(standin)
    assert note == f"{told} people have found [Data pipeline handbook]({LINK}) useful. Thank you for sharing it!"
    week_ends(runtime, clock)
    assert len(notes(standin)) == 1, "once per milestone"


def test_each_milestone_once_and_history_from_before_is_not_announced(runtime: Runtime, clock: FakeClock,
                                                                      standin: StandIn) -> None:
    share(runtime, SAM.id, LINK)
    useful(runtime, LINK, range(K))
    week_ends(runtime, clock)
    assert notes(standin) == [], "milestones reached before recognition existed are taken as told"
    useful(runtime, LINK, range(K, 10))
    week_ends(runtime, clock)
    assert [n.split()[0] for n in notes(standin)] == ["10"]
    useful(runtime, LINK, range(10, 24))
    week_ends(runtime, clock)
    assert [n.split()[0] for n in notes(standin)] == ["10"], "24 is not a milestone"


def test_shared_reflections_and_created_wiki_pages_count_as_shared(client: FlaskClient, runtime: Runtime,
                                                                    clock: FakeClock, standin: StandIn) -> None:
    with runtime.uow() as uow:
        uow.members.ensure(SAM.id, clock.now, username="sam")
        uow.commit()
    tick(runtime, clock)
    ingest(runtime, page_event(1, "created", clock.now, author="Sam"))
    page = "https://outline.example.com/doc/p1"
    reflection = share(runtime, RAE.id, "https://learnloop.example.com/reflections/7", title=REFLECTION_TITLE)
    with runtime.uow() as uow:
        item = uow.items.get(reflection)
        item.kind = "reflection"
        uow.commit()
    useful(runtime, page, range(K))
    useful(runtime, "https://learnloop.example.com/reflections/7", range(K))
    week_ends(runtime, clock)
    assert notes(standin, SAM) == [f"{K} people have found [Page p1]({page}) useful. Thank you for sharing it!"]
    assert notes(standin, RAE) == [f"{K} people have found the reflection you shared useful. Thank you for "
                                "sharing it!"]  # its address has no page behind it: no link


def test_turned_off_nothing_and_quiet_hours_wait(client: FlaskClient, runtime: Runtime, clock: FakeClock,
                                                 standin: StandIn) -> None:
    tick(runtime, clock)
    share(runtime, SAM.id, LINK)
    slash(client, SAM, "prompts quiet 08:00-12:00")
    useful(runtime, LINK, range(K))
    week_ends(runtime, clock)
    assert notes(standin) == [], "09:01 is within sam's quiet hours"
    clock.now = datetime(2026, 11, 9, 12, 1, tzinfo=UTC)
    tick(runtime, clock)
    assert len(notes(standin)) == 1
    off = button_context(RECOGNITION_OFF_ACTION, runtime.signing_key, for_user=SAM.id)
    assert "no more of these notes" in click(client, SAM, off).get_json()["ephemeral_text"]
    useful(runtime, LINK, range(K, 10))
    week_ends(runtime, clock)
    assert len(notes(standin)) == 1, "turned off"
    assert "On:" in slash(client, SAM, "recognition on")["text"]
    week_ends(runtime, clock)
    assert len(notes(standin)) == 1, "the milestone passed while off is not told later"


def test_a_deactivated_sharer_is_not_told_and_the_milestone_is_settled(runtime: Runtime, clock: FakeClock,
                                                                      standin: StandIn) -> None:
    tick(runtime, clock)
    share(runtime, SAM.id, LINK)
    useful(runtime, LINK, range(K))
    standin.deactivated.add(SAM.id)
    week_ends(runtime, clock)
    assert notes(standin) == []
    standin.deactivated.discard(SAM.id)
    week_ends(runtime, clock)
    assert notes(standin) == [], "settled, not kept for later"


def test_milestones_owed_to_people_who_cannot_be_told_now_do_not_hold_back_everyone_elses(
        runtime: Runtime, clock: FakeClock, standin: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    """A milestone whose sharer keeps do not disturb on stays owed; read first every pass, OWED_PER_PASS of them
    (500) kept every other sharer from hearing of theirs."""
    monkeypatch.setattr(recognition, "OWED_PER_PASS", 1)  # one stands for 500 here
    tick(runtime, clock)
    sams, raes = "https://blog.example.com/sams", "https://blog.example.com/raes"
    share(runtime, SAM.id, sams)  # the older item, read first
    share(runtime, RAE.id, raes)
    useful(runtime, sams, range(K))
    useful(runtime, raes, range(K))
    standin.statuses[SAM.id] = "dnd"
    week_ends(runtime, clock)
    for _ in range(3):
        tick(runtime, clock)
    assert len(notes(standin, RAE)) == 1 and notes(standin, SAM) == []
    standin.statuses[SAM.id] = "online"
    for _ in range(2):
        tick(runtime, clock)
    assert len(notes(standin, SAM)) == 1 and len(notes(standin, RAE)) == 1, "sam's still comes, once; rae's once"


def test_a_rater_sends_a_named_thank_you_once(client: FlaskClient, runtime: Runtime, clock: FakeClock,
                                              standin: StandIn) -> None:
    item = share(runtime, SAM.id, LINK, title="Data pipeline handbook")
    thanks = button_context(THANK_ACTION, runtime.signing_key, item_id=item)
    assert "rate it first" in click(client, RAE, thanks).get_json()["ephemeral_text"]
    rate(runtime, RAE.id, LINK, 5)
    sent = click(client, RAE, thanks).get_json()["ephemeral_text"]
    assert sent.startswith("Thank you: your thanks go, with your name, to the person who shared it")
    assert "already" in click(client, RAE, thanks).get_json()["ephemeral_text"]
    assert "yourself" in click(client, SAM, thanks).get_json()["ephemeral_text"]
    tick(runtime, clock)
    [dm] = standin.dms_to(SAM.id)
    assert dm["message"].startswith(f"@rae thanks you for sharing [Data pipeline handbook]({LINK}): it helped them.")
    slash(client, SAM, "recognition off")
    rate(runtime, uid("other"), LINK, 5)
    reply = click(client, Person("other"), thanks).get_json()["ephemeral_text"]
    assert reply == sent, "a rater is answered the same whether or not the sharer takes thank-you notes"
    assert "already" in click(client, Person("other"), thanks).get_json()["ephemeral_text"]
    tick(runtime, clock)
    assert len(standin.dms_to(SAM.id)) == 1, "nothing goes to a sharer who turned them off"


@pytest.mark.parametrize(("known", "signed"), [(True, "@rae thanks you"), (False, "A colleague thanks you")])
def test_a_rater_mattermost_cannot_name_still_sends_thanks_unsigned(client: FlaskClient, runtime: Runtime,
                                                                    clock: FakeClock, standin: StandIn, known: bool,
                                                                    signed: str) -> None:
    if known:
        standin.users["rae"] = RAE.id
    item = share(runtime, SAM.id, LINK, title="Data pipeline handbook")
    rate(runtime, RAE.id, LINK, 5)
    thanks = button_context(THANK_ACTION, runtime.signing_key, item_id=item)
    reply = client.post("/mattermost/actions", json={
        "user_id": RAE.id, "user_name": "", "channel_id": uid("dmrae"), "team_id": "", "post_id": "p" * 26,
        "trigger_id": "", "type": "button", "context": thanks})
    assert reply.status_code == 200
    assert "your thanks go, with your name" in reply.get_json()["ephemeral_text"]
    tick(runtime, clock)
    [dm] = standin.dms_to(SAM.id)
    assert dm["message"].startswith(f"{signed} for sharing [Data pipeline handbook]({LINK})")
    assert "@someone" not in dm["message"]


def test_rate_offers_a_thank_you_button_only_for_someone_elses_share(client: FlaskClient, runtime: Runtime,
                                                                     standin: StandIn) -> None:
    share(runtime, SAM.id, LINK)
    reply = slash(client, RAE, f"rate {LINK} 5")
    [attachment] = reply["attachments"]
    assert attachment["actions"][0]["name"] == "Thank the person who shared it"
    assert "attachments" not in slash(client, SAM, f"rate {LINK} 5")
    assert "attachments" not in slash(client, RAE, "rate https://blog.example.com/unshared 5")


def test_a_thank_you_waits_out_quiet_hours(client: FlaskClient, runtime: Runtime, clock: FakeClock,
                                           standin: StandIn) -> None:
    item = share(runtime, SAM.id, LINK)
    slash(client, SAM, "prompts quiet 08:00-12:00")
    rate(runtime, RAE.id, LINK, 5)
    click(client, RAE, button_context(THANK_ACTION, runtime.signing_key, item_id=item))
    tick(runtime, clock)
    assert standin.dms_to(SAM.id) == []
    clock.now = datetime(2026, 11, 2, 12, 0, 30, tzinfo=UTC)
    tick(runtime, clock, settle=False)
    assert len(standin.dms_to(SAM.id)) == 1


def test_a_thank_you_waits_out_quiet_hours_that_end_only_tomorrow(
        client: FlaskClient, runtime: Runtime, clock: FakeClock, standin: StandIn) -> None:
    item = share(runtime, SAM.id, LINK)
    slash(client, SAM, "prompts quiet 08:00-07:00")  # 23 hours a day
    rate(runtime, RAE.id, LINK, 5)
    click(client, RAE, button_context(THANK_ACTION, runtime.signing_key, item_id=item))
    tick(runtime, clock)
    assert standin.dms_to(SAM.id) == [], "not sent at once although the quiet hours end only tomorrow"
    clock.now = datetime(2026, 11, 3, 7, 0, 30, tzinfo=UTC)  # quiet hours over (the sharer keeps UTC)
    tick(runtime, clock, settle=False)
    assert len(standin.dms_to(SAM.id)) == 1


def test_recognition_off_takes_back_the_thank_yous_still_waiting(client: FlaskClient, runtime: Runtime,
                                                                 clock: FakeClock, standin: StandIn) -> None:
    item = share(runtime, SAM.id, LINK)
    slash(client, SAM, "prompts pause 2w")
    rate(runtime, RAE.id, LINK, 5)
    assert "your thanks go, with your name" in click(client, RAE, button_context(THANK_ACTION, runtime.signing_key,
                                                             item_id=item)).get_json()["ephemeral_text"]
    slash(client, SAM, "recognition off")
    clock.advance(days=15)
    tick(runtime, clock, settle=False)
    assert standin.dms_to(SAM.id) == [], "turned off while it waited: never sent"


def test_a_milestone_waits_for_the_score_to_move_so_it_never_follows_one_rating(
        runtime: Runtime, clock: FakeClock, standin: StandIn) -> None:
    """With k-1 useful ratings shown, a message right after one more would say that this rating was useful."""
    tick(runtime, clock)
    share(runtime, SAM.id, LINK)
    useful(runtime, LINK, range(K - 1))
    for n in range(2):
        rate(runtime, uid(f"low{n}"), LINK, 2)
    week_ends(runtime, clock)
    rate(runtime, uid("bob"), LINK, 4)
    week_ends(runtime, clock)
    assert notes(standin) == [], "one rating moved no score, so no milestone"
    for n in range(K - 1):
        rate(runtime, uid(f"later{n}"), LINK, 2)
    week_ends(runtime, clock)
    assert [n.split()[0] for n in notes(standin)] == [str(K)], "told once k people changed the score"


def test_a_milestone_counts_no_newcomer_the_shown_score_leaves_waiting(runtime: Runtime, clock: FakeClock,
                                                                         standin: StandIn) -> None:
    """The score moves with the re-ratings of the people it counts while a newcomer waits (one more rater would
    tell that someone newly rated it): the newcomer's rating counts towards no milestone either."""
    tick(runtime, clock)
    share(runtime, SAM.id, LINK)
    useful(runtime, LINK, range(K - 1))
    rate(runtime, uid("low"), LINK, 2)
    week_ends(runtime, clock)
    rate(runtime, uid("new"), LINK, 5)
    useful(runtime, LINK, range(K - 1), stars=5)
    rate(runtime, uid("low"), LINK, 1)
    week_ends(runtime, clock)
    with runtime.reader() as uow:
        score = uow.session.get(ItemScore, uow.items.by_url(LINK).id)
        assert (score.ratings_count, score.before_ratings_count) == (K, K), "moved, with the K people it counts"
    assert notes(standin) == [], "K-1 of them found it useful"


def test_an_install_that_noted_milestones_from_rating_events_loses_none_in_the_upgrade(
        runtime: Runtime, clock: FakeClock, standin: StandIn) -> None:
    """Its recognition cursor is an event id; scores moved by its last fold, whose milestones it had not noted
    yet, are noted on the first pass after the upgrade, and told once."""
    share(runtime, SAM.id, LINK, title="Data pipeline handbook")
    useful(runtime, LINK, range(K))
    week_ends(runtime, clock)  # the score moves (as the old fold moved it), nothing noted yet:
    with runtime.uow() as uow:
        uow.cursors.move("recognition", "1", clock.now)
        uow.network.settle_all_owed()
        item = uow.items.by_url(LINK)
        item.recognition_due = item.recognised = 0
        uow.commit()
    tick(runtime, clock)
    assert [n.split()[0] for n in notes(standin)] == [str(K)]
    tick(runtime, clock)
    assert len(notes(standin)) == 1


def owed_to_sam(runtime: Runtime, clock: FakeClock) -> list[recognition.Milestone]:
    """Sam's link found useful by k people, its score moved at the week's end: the milestone the pass reads."""
    tick(runtime, clock)
    share(runtime, SAM.id, LINK, title="Data pipeline handbook")
    for n in range(5):
        rate(runtime, uid(f"r{n}"), LINK, 4)
    clock.next_week()
    clock.advance(hours=9)
    Worker(runtime).run_rollups()
    with runtime.reader() as uow:
        owed = recognition.owed(uow)
    return owed


def test_a_milestone_read_before_its_sharer_erased_their_data_is_not_sent_to_them(
        runtime: Runtime, clock: FakeClock, standin: StandIn, engine: Engine) -> None:
    """The network pass reads what is owed, then asks Mattermost who is away; an erase in between leaves no
    message to the sharer, which would store them again."""
    owed = owed_to_sam(runtime, clock)
    assert [m.sharer for m in owed] == [SAM.id]
    with runtime.uow() as uow:
        personal_data.erase(uow, SAM.id, SAM.name, clock.now, runtime.signing_key, announcer(runtime))
    with runtime.uow() as uow:
        assert recognition.tell(uow, owed, {}, clock.now,
                                lambda m: milestone_dm(m, runtime.settings.public_url_text, runtime.signing_key)) == 0
    assert SAM.id not in everything_stored(engine)


def test_a_milestone_settled_while_its_sharer_erases_is_not_kept(
        runtime: Runtime, clock: FakeClock, standin: StandIn, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL: the pass settles the milestone (holding the item's row) as the erase runs: the erase waits, and
    the message queued meanwhile goes with everything else that names the sharer."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writer lock runs the two transactions one after the other")
    owed = owed_to_sam(runtime, clock)
    errors: list[BaseException] = []
    eraser, settle = erasing(runtime, SAM, errors), NetworkStore.settle_recognition

    def settling(self: NetworkStore, item_id: int, milestone: int, sharer: str) -> bool:
        done = settle(self, item_id, milestone, sharer)
        eraser.start()
        time.sleep(0.5)  # the erase runs until it waits for the item's row
        return done

    monkeypatch.setattr(NetworkStore, "settle_recognition", settling)
    with runtime.uow() as uow:
        recognition.tell(uow, owed, {}, clock.now,
                         lambda m: milestone_dm(m, runtime.settings.public_url_text, runtime.signing_key))
    eraser.join(10)
    assert errors == [] and SAM.id not in everything_stored(engine)


def test_a_thank_you_sent_while_its_sharer_erases_is_not_kept(
        runtime: Runtime, clock: FakeClock, standin: StandIn, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL: the thank-you holds the item's row; the erase, run meanwhile, waits for it, then removes the
    message queued to the sharer with everything else that names them."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writer lock runs the two transactions one after the other")
    item = share(runtime, SAM.id, LINK, title="Data pipeline handbook")
    rate(runtime, RAE.id, LINK, 5)
    errors: list[BaseException] = []
    eraser, of = erasing(runtime, SAM, errors), RatingRepository.of

    def rating_of(self: RatingRepository, item_id: int, user_id: str) -> Any:
        found = of(self, item_id, user_id)
        eraser.start()
        time.sleep(0.5)  # the erase runs until it waits for the item's row
        return found

    monkeypatch.setattr(RatingRepository, "of", rating_of)
    with runtime.uow() as uow:
        recognition.thank(uow, item, RAE.id, clock.now, lambda *a: thanks_dm("rae", *a))
    eraser.join(10)
    assert errors == [] and SAM.id not in everything_stored(engine)


def test_a_thank_you_sent_while_its_community_joins_another_does_not_deadlock(
        runtime: Runtime, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL: a join locks both communities, then moves their items; the thank-you's hold of its item must
    not block that move while it waits for the community row its event names."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writer lock runs the two transactions one after the other")
    alpha, beta = "alphachannel00000000000000", "betachannel000000000000000"
    now = runtime.clock()
    with runtime.uow() as uow:
        ids = [communities.community_for_channel(uow, runtime.settings, channel_id=channel, team_id=None,
                                                 channel_name=name, now=now)
               for channel, name in ((alpha, "alpha"), (beta, "beta"))]
        item, _ = uow.items.ensure(LINK, kind="link", community_id=ids[0], shared_by=SAM.id, title="T", now=now)
        uow.commit()
    with runtime.uow() as uow:
        rate_url(uow, runtime.settings, Rater(RAE.id, alpha, channel_name="alpha"), LINK, 5, None, now)
    errors: list[BaseException] = []

    def join() -> None:
        try:
            with runtime.uow() as uow:
                communities.join(uow, runtime.settings, channel_id=alpha, team_id=None, channel_name="alpha",
                                 other_channel_id=beta, other_channel_name="beta", k=5, key=runtime.signing_key, now=now)
        except BaseException as exc:  # noqa: BLE001  (the test reads it)
            errors.append(exc)

    joiner, of = threading.Thread(target=join), RatingRepository.of

    def rating_of(self: RatingRepository, item_id: int, user_id: str) -> Any:
        found = of(self, item_id, user_id)
        joiner.start()
        time.sleep(0.5)  # the join holds both communities and moves the items
        return found

    monkeypatch.setattr(RatingRepository, "of", rating_of)
    with runtime.uow() as uow:
        recognition.thank(uow, item.id, RAE.id, now, lambda *a: thanks_dm("rae", *a))
    joiner.join(10)
    assert errors == []
