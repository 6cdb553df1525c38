"""What people chose for their reflections (kept private, shared, published) and whether a reflection answered a
prompt are parts of the reflections written: no figure on the page or in the exports, nor a difference of
figures, gives what fewer than k of the people who wrote chose."""

from __future__ import annotations

import csv
import io
import re
from itertools import product
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import delete, event, func, select, update

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.domain.measures import member_key
from learnloop.jobs.outbox import RATE_LIMITED_FOR
from learnloop.jobs.worker import Worker
from learnloop.mattermost.wiki_messages import announcer
from learnloop.services import links, personal_data, rollups
from learnloop.services import reflections as refl
from learnloop.storage import rollup_store
from learnloop.storage.tables import Event, OutboxMessage, Reflection, ReleaseBlock, WeeklyCount, WeeklyMember
from learnloop.wiring import create_app
from tests.conftest import FakeClock, make_settings
from tests.contract.mattermost_openapi import MattermostContract
from tests.web.links import confirm

CHANNEL = "fukk3xq1bbn8fgmsiwh4xprwdh"
OWNER = "ownerdana00000000000000000"
K = 5


@pytest.fixture
def guild(engine, clock: FakeClock) -> Runtime:
    settings = make_settings(communities=[{"name": "Data guild", "channel_id": CHANNEL, "owners": [OWNER]}])
    return build_runtime(settings, clock=clock, engine=engine)


def community_id(runtime: Runtime) -> int:
    with runtime.uow() as uow:
        found = uow.communities.ensure(CHANNEL, None, "data-guild", runtime.clock())
        uow.commit()
        return found


def user(n: int) -> str:
    return f"writer{n}".ljust(26, "x")


def write(runtime: Runtime, n: int, visibility: str) -> int:
    """A reflection written in chat, shared as its author chose; its id."""
    with runtime.uow() as uow:
        return refl.write(uow, user_id=user(n), author_name=f"writer{n}", text=f"What I learnt, {n}", scale=None,
                          visibility=visibility, community_id=community_id(runtime), delivery_id=None,
                          now=runtime.clock(), key=runtime.signing_key, public_url="https://ll.example",
                          post_builder=lambda share: {"channel_id": share.channel_id, "message": share.text}).id


def share_later(runtime: Runtime, n: int, reflection_id: int) -> None:
    with runtime.uow() as uow:
        refl.change_visibility(uow, user_id=user(n), reflection_id=reflection_id, visibility="community",
                               author_name=f"writer{n}", now=runtime.clock(), key=runtime.signing_key,
                               public_url="https://ll.example",
                               post_builder=lambda share: {"channel_id": share.channel_id, "message": share.text})


def answer(runtime: Runtime, n: int, *, answered: bool, reflected: bool = True) -> None:
    """A prompt sent to someone, answered by a private reflection, or left unanswered (with a reflection of
    theirs written without it, when `reflected`): the events services.reflections.write and the prompt's lapse
    record."""
    now, where = runtime.clock(), community_id(runtime)
    with runtime.uow() as uow:
        uow.events.append("prompt_sent", occurred_at=now, recorded_at=now, community_id=where, actor_id=user(n))
        if not answered:
            uow.events.append("prompt_unanswered", occurred_at=now, recorded_at=now, community_id=where,
                              actor_id=user(n))
        if answered or reflected:
            uow.events.append("reflection", occurred_at=now, recorded_at=now, community_id=where,
                              actor_id=user(n), data={"answered_prompt": answered, "visibility": "private"})
        uow.commit()


def posts_made(runtime: Runtime) -> None:
    """The worker's outbox made the shared reflections' posts (a reflection's block waits until it has)."""
    with runtime.uow() as uow:
        uow.session.execute(update(OutboxMessage).where(OutboxMessage.status == "pending",
                                                        OutboxMessage.idempotency_key.like("share-reflection:%"))
                            .values(status="sent"))
        uow.commit()


def week_ends(runtime: Runtime, *, posted: bool = True) -> None:
    """The week ends and the worker's pass runs: what its people did may be released."""
    if posted:
        posts_made(runtime)
    runtime.clock.next_week()
    Worker(runtime).run_rollups()


def owner(runtime: Runtime) -> FlaskClient:
    runtime.clock.advance(minutes=1)
    rollups.fold_all(runtime.uow, runtime.signing_key, K, runtime.clock())
    client = create_app(runtime).test_client()
    with runtime.uow() as uow:
        token = links.issue(uow, user_id=OWNER, username="dana", next_path="/", now=runtime.clock())
    confirm(client, links.signin_url("", token))
    return client


Shown = tuple[dict[str, set[str]], list[dict], list[dict]]


def shown(runtime: Runtime) -> Shown:
    """The page's figures by label (a label's figure in its section and among the headlines), and the CSV's and
    the JSON's rows, as the community's owner gets them."""
    client, cid = owner(runtime), community_id(runtime)
    page = client.get(f"/dashboard/{cid}").get_data(as_text=True)
    on_page: dict[str, set[str]] = {}
    for label, value in [*re.findall(r"<dt>([^<]+)</dt><dd[^>]*>([^<]+)", page),
                         *re.findall(r'<span class="label">([^<]+)</span>\s*<span class="value"[^>]*>([^<]+)<', page)]:
        on_page.setdefault(label, set()).add(value.strip())
    csv_rows = list(csv.DictReader(io.StringIO(client.get(f"/dashboard/{cid}/export.csv").get_data(as_text=True))))
    return on_page, csv_rows, client.get(f"/dashboard/{cid}/export.json").get_json()["rows"]


def counts(found: Shown) -> set[float]:
    """Every released count (percentages aside) on the page and in the exports."""
    on_page, csv_rows, json_rows = found
    texts = [*(text for values in on_page.values() for text in values),
             *(str(row["value"]) for row in csv_rows + json_rows if not row["measure"].endswith("_percent"))]
    return {float(text.replace(",", "")) for text in texts if re.fullmatch(r"[\d,.]+", text)}


def fewer_than_k(released: set[float]) -> list[tuple[float, float, float]]:
    """A figure, a figure less another, or less two others, that comes to 1 to k-1 (the figures here all count the
    same few writers, so any such sum says what fewer than k of them did)."""
    values = released | {0.0}
    return [(a, b, c) for a, b, c in product(values, repeat=3) if 0 < a - b - c < K]


def test_one_writer_keeping_theirs_private_cannot_be_worked_out_from_the_shared_figures(guild: Runtime) -> None:
    for n in range(6):
        write(guild, n, "private" if n < 5 else "community")
    week_ends(guild)
    found = shown(guild)
    assert fewer_than_k(counts(found)) == [], "written less shared less published is the one that shared"
    on_page = found[0]
    assert on_page["Reflections written"] == {"6"}
    assert "Reflections shared" not in on_page and "Reflections published" not in on_page
    assert on_page["Kept private"] == on_page["Shared with the community"] == {"not shown"}
    assert on_page["Reflections written to share with the community"] == {"not shown"}, \
        "people to people shows the split's shared part, withheld with it"


SHARED_IN_CHANNEL = 5


def test_one_writer_keeping_theirs_private_cannot_be_worked_out_from_what_the_channel_shows(guild: Runtime) -> None:
    """Five people share their reflections in the channel, where anyone can count the posts, and one keeps theirs
    private: the reflections written less those five would be that one person's. Nothing about the reflections
    shows until the private ones are by nobody or by k people."""
    for n in range(6):
        write(guild, n, "community" if n < SHARED_IN_CHANNEL else "private")
    week_ends(guild)
    found = shown(guild)
    periods = {row["measure"]: row["value"] for row in found[2] if row["scope"] == "period"}
    assert periods["reflections"] == periods["reflections_private"] == "not shown"
    assert fewer_than_k(counts(found) | {SHARED_IN_CHANNEL}) == [], "written less the posts is the one kept private"
    for n in range(6, 6 + K - 1):  # the next week, enough others keep theirs private too
        write(guild, n, "private")
    week_ends(guild)
    found = shown(guild)
    on_page = found[0]
    assert on_page["Reflections written"] == {str(6 + K - 1)}
    assert (on_page["Kept private"], on_page["Shared with the community"]) == ({str(K)}, {str(SHARED_IN_CHANNEL)})
    assert fewer_than_k(counts(found) | {SHARED_IN_CHANNEL}) == []


@pytest.mark.parametrize("later", [K - 1, K])
def test_reflections_shared_after_they_were_written_come_off_the_private_ones(guild: Runtime, later: int) -> None:
    """Five share, five keep theirs private, then some of those five share theirs too, the same week: the channel
    holds every post, so written less the posts is what the rest still keep to themselves (one person's, when
    four of the five shared)."""
    kept = {n: write(guild, n, "community" if n < 5 else "private") for n in range(10)}
    guild.clock.advance(hours=1)
    for n in range(5, 5 + later):
        share_later(guild, n, kept[n])
    week_ends(guild)
    found = shown(guild)
    periods = {row["measure"]: row["value"] for row in found[2] if row["scope"] == "period"}
    posts = 5 + later
    if later == K:
        assert periods["reflections"] == 10, "nobody keeps any to themselves: nothing to tell"
    else:
        assert periods["reflections"] == "not shown", "10 written, 9 posts: one person's"
    assert fewer_than_k(counts(found) | {posts}) == []


def test_reflections_shared_after_their_week_was_shown_keep_the_next_weeks_back(guild: Runtime) -> None:
    """Four of five who kept theirs private share them a week later, when five others write and share: the second
    week's posts outnumber what it kept private, and the two weeks' written less their posts would be the fifth
    person's. The second week waits until k people keep some of theirs private."""
    kept = {n: write(guild, n, "community" if n < 5 else "private") for n in range(10)}
    week_ends(guild)
    for n in range(5, 9):
        share_later(guild, n, kept[n])
    for n in range(10, 15):
        write(guild, n, "community")
    week_ends(guild)
    found = shown(guild)
    periods = {row["measure"]: row["value"] for row in found[2] if row["scope"] == "period"}
    assert periods["reflections"] == 10, "the first week alone (less its 5 posts: 5), as shown before"
    for n in range(15, 15 + K):
        write(guild, n, "private")
    week_ends(guild)
    periods = {row["measure"]: row["value"] for row in shown(guild)[2] if row["scope"] == "period"}
    assert periods["reflections"] == 10 + 5 + K, "closed once k people keep theirs: less the posts, 1 + k"


def test_a_reflection_shared_after_its_prompt_was_purged_still_counts_as_answering_it(guild: Runtime) -> None:
    """The delivery goes after the retention window and its reflection's delivery_id with it; shared later, it still
    comes off the prompted side."""
    reflection_id = write(guild, 0, "private")
    with guild.uow() as uow:  # as an answer to a prompt whose delivery retention has since removed
        row = uow.session.get(Reflection, reflection_id)
        row.answered_prompt, row.delivery_id = True, None
        uow.commit()
    share_later(guild, 0, reflection_id)
    with guild.uow() as uow:
        [event] = uow.session.scalars(select(Event).where(Event.kind == "reflection_shared"))
    assert event.data == {"later": True, "answered_prompt": True}


@pytest.mark.parametrize("how", ["the wiki refuses it", "its author deletes it before it is posted"])
def test_a_reflection_chosen_for_everyone_that_nobody_sees_goes_back_to_the_private_ones(guild: Runtime,
                                                                                        how: str) -> None:
    """Five share theirs in the channel; a sixth chooses the wiki (or the channel) for theirs, but nobody will see it
    there: written less what anyone sees would be that one person's."""
    kept = {n: write(guild, n, "community") for n in range(5)}
    if how == "the wiki refuses it":
        kept[5] = write(guild, 5, "private")
        guild.clock.advance(hours=1)
        with guild.uow() as uow:
            refl.change_visibility(uow, user_id=user(5), reflection_id=kept[5], visibility="wiki",
                                   author_name="writer5", now=guild.clock(), key=guild.signing_key,
                                   public_url="https://ll.example", post_builder=lambda share: {})
        with guild.uow() as uow:  # as jobs.wiki records a refusal for good
            assert refl.mark_publication(uow, kept[5], state="failed", now=guild.clock())
            uow.commit()
    else:
        kept[5] = write(guild, 5, "community")
        with guild.uow() as uow:
            refl.delete(uow, user(5), kept[5], guild.clock())
    week_ends(guild)
    periods = {row["measure"]: row["value"] for row in shown(guild)[2] if row["scope"] == "period"}
    assert periods["reflections"] == "not shown", "6 written, 5 to be seen: the sixth's"


def test_a_week_with_only_a_later_share_in_it_counts_too(guild: Runtime) -> None:
    """Three keep theirs private; the next week nobody writes and one of them shares hers; the week after, two more
    keep theirs private. Five took part, but written less the one post would be four people's."""
    kept = {n: write(guild, n, "private") for n in range(3)}
    week_ends(guild)
    share_later(guild, 0, kept[0])
    week_ends(guild)
    for n in (3, 4):
        write(guild, n, "private")
    week_ends(guild)
    periods = {row["measure"]: row["value"] for row in shown(guild)[2] if row["scope"] == "period"}
    assert periods["reflections"] == "not shown"


def test_a_reflection_whose_post_is_not_made_yet_holds_its_week_back(guild: Runtime) -> None:
    """Whether anyone will see it is not known until its post is made (Mattermost could refuse it for good)."""
    for n in range(5):
        write(guild, n, "private")
    write(guild, 5, "community")
    week_ends(guild, posted=False)
    periods = {row["measure"]: row["value"] for row in shown(guild)[2] if row["scope"] == "period"}
    assert periods["reflections"] == "not shown"
    week_ends(guild)
    periods = {row["measure"]: row["value"] for row in shown(guild)[2] if row["scope"] == "period"}
    assert periods["reflections"] == 6


def test_a_week_held_for_a_post_is_shown_once_the_post_is_made_not_when_someone_next_writes(guild: Runtime) -> None:
    """Shown at the next reflection written, the figure would appear at the moment someone wrote one (a private
    one, when no post follows); shown as the post goes out, it tells what the channel already shows."""
    for n in range(5):
        write(guild, n, "private")
    write(guild, 5, "community")
    week_ends(guild, posted=False)
    assert period_value(guild) == "not shown"
    assert "release_blocks" not in " ".join(statements_of_a_pass(guild)), "held: nothing to cut again each minute"
    posts_made(guild)
    guild.clock.advance(minutes=1)
    Worker(guild).run_rollups()
    assert period_value(guild) == 6


def test_a_post_made_while_the_week_end_cuts_still_releases_the_week(
        guild: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL: the outbox commits the post between the cut that waited for it and the note of the hold."""
    if guild.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writer lock keeps the outbox out of the worker's pass")
    for n in range(5):
        write(guild, n, "private")
    write(guild, 5, "community")
    guild.clock.advance(minutes=1)
    Worker(guild).run_rollups()
    note = rollups._note_held

    def noting(uow: Any, held: list[str], now: Any) -> None:
        if any(held):
            posts_made(guild)
        note(uow, held, now)

    monkeypatch.setattr(rollups, "_note_held", noting)
    guild.clock.next_week()
    Worker(guild).run_rollups()
    monkeypatch.setattr(rollups, "_note_held", note)
    guild.clock.advance(minutes=1)
    Worker(guild).run_rollups()
    assert period_value(guild) == 6


def statements_of_a_pass(runtime: Runtime) -> list[str]:
    """The SQL of one worker pass over the rollups, a minute on."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    runtime.clock.advance(minutes=1)
    event.listen(runtime.engine, "before_cursor_execute", record)
    try:
        Worker(runtime).run_rollups()
    finally:
        event.remove(runtime.engine, "before_cursor_execute", record)
    return seen


def period_value(runtime: Runtime) -> object:
    return {row["measure"]: row["value"] for row in shown(runtime)[2] if row["scope"] == "period"}["reflections"]


def test_people_who_share_an_older_reflection_still_count_for_those_they_keep(guild: Runtime) -> None:
    """Eight keep theirs private every week, and four of them share one from the week before: the weeks are
    still shown, week by week."""
    kept = {n: write(guild, n, "private") for n in range(8)}
    week_ends(guild)
    for n in range(8):
        write(guild, n, "private")
    for n in range(4):
        share_later(guild, n, kept[n])
    week_ends(guild)
    for _ in range(2):
        for n in range(8):
            write(guild, n, "private")
        week_ends(guild)
    with guild.uow() as uow:
        blocks = uow.rollups.blocks(community_id(guild), "reflections")
    assert [b.closed for b in blocks] == [True] * 4 and [b.value for b in blocks] == [8, 8, 8, 8]


def six_write_and_the_sixth_erases_after_a_fold(runtime: Runtime, visibility: str) -> None:
    for n in range(6):
        write(runtime, n, visibility)
    runtime.clock.advance(minutes=2)
    Worker(runtime).run_rollups()
    with runtime.uow() as uow:
        personal_data.erase(uow, user(5), None, runtime.clock(), runtime.signing_key, announcer(runtime))


def test_an_erase_before_a_shared_reflection_is_posted_leaves_it_with_what_nobody_sees(guild: Runtime) -> None:
    """Five share theirs; a sixth shares too and erases their data before the post is made: it is never posted,
    so written less the five posts would be the sixth's."""
    six_write_and_the_sixth_erases_after_a_fold(guild, "community")
    week_ends(guild)
    periods = {row["measure"]: row["value"] for row in shown(guild)[2] if row["scope"] == "period"}
    assert periods["reflections"] == "not shown"


def test_the_events_after_an_erase_are_counted(guild: Runtime) -> None:
    """The erase deletes the person's newest events: SQLite without AUTOINCREMENT gave their ids to the next ones,
    which the fold had passed already, and those were never counted."""
    six_write_and_the_sixth_erases_after_a_fold(guild, "private")
    for n in range(6, 10):
        write(guild, n, "private")
    week_ends(guild)
    with guild.uow() as uow:
        [written] = uow.session.scalars(select(WeeklyCount.value).where(WeeklyCount.metric == "reflections"))
    assert written == 10, "the erased person's counted reflection stays counted, and the four after are counted"


def test_a_shared_reflection_whose_post_mattermost_refuses_goes_back_to_the_private_ones(
        guild: Runtime, mattermost_contract: MattermostContract) -> None:
    """Six share theirs; Mattermost makes five of the posts and refuses the sixth for good: written less the five
    posts would be the sixth's."""
    for n in range(6):
        write(guild, n, "community")
    for n in range(5):
        mattermost_contract.add("POST", "/api/v4/posts", status=201,
                                json={"id": f"post{n}".ljust(26, "x"), "channel_id": CHANNEL, "message": ""})
    mattermost_contract.add("POST", "/api/v4/posts", status=403, json={
        "id": "api.context.permissions.app_error", "message": "no permission", "status_code": 403})
    report = Worker(guild).deliver_outbox()
    assert (report.sent, report.failed) == (5, 1)
    week_ends(guild, posted=False)
    periods = {row["measure"]: row["value"] for row in shown(guild)[2] if row["scope"] == "period"}
    assert periods["reflections"] == "not shown"


def test_a_shared_reflection_whose_post_is_rate_limited_for_a_day_goes_back_to_the_private_ones(
        guild: Runtime, clock: FakeClock, mattermost_contract: MattermostContract) -> None:
    """As above, with the sixth post refused with 429 until the outbox gives it up a day after it was queued."""
    for n in range(6):
        write(guild, n, "community")
    for n in range(5):
        mattermost_contract.add("POST", "/api/v4/posts", status=201,
                                json={"id": f"post{n}".ljust(26, "x"), "channel_id": CHANNEL, "message": ""})
    limited = {"status": 429, "body": "limit exceeded\n",
               "headers": {"Content-Type": "text/plain; charset=utf-8", "Retry-After": "3600"}}
    mattermost_contract.add("POST", "/api/v4/posts", **limited)
    report = Worker(guild).deliver_outbox()
    assert (report.sent, report.retried) == (5, 1)
    clock.advance(seconds=RATE_LIMITED_FOR.total_seconds())
    mattermost_contract.add("GET", f"/api/v4/channels/{CHANNEL}/posts", json={"order": [], "posts": {}})
    mattermost_contract.add("POST", "/api/v4/posts", **limited)
    assert Worker(guild).deliver_outbox().failed == 1
    week_ends(guild, posted=False)
    periods = {row["measure"]: row["value"] for row in shown(guild)[2] if row["scope"] == "period"}
    assert periods["reflections"] == "not shown"


def test_the_prompt_split_hides_what_the_private_reflections_split_by_prompt_would_tell(guild: Runtime) -> None:
    """A shared reflection shows whether it answers a prompt (its questions are in it). Here five share reflections
    of their own in the channel, five keep answers to a prompt private and one keeps a reflection of their own
    private. Both sides of the prompt split hold five people or more, but the unprompted reflections (6) less the
    five posts would be that one person's: the prompt split is withheld."""
    with guild.uow() as uow:
        where = community_id(guild)
        for n in range(11):
            now = guild.clock()
            visibility = "community" if n < SHARED_IN_CHANNEL else "private"
            uow.events.append("reflection", occurred_at=now, recorded_at=now, community_id=where, actor_id=user(n),
                              data={"answered_prompt": 5 <= n < 10, "visibility": visibility})
        uow.commit()
    week_ends(guild)
    on_page = shown(guild)[0]
    assert on_page["Reflections written"] == {"11"}, "the private ones are by six people"
    assert on_page["Prompts answered"] == on_page["Response rate"] == {"not shown"}


def test_one_writer_answering_no_prompt_cannot_be_worked_out_from_prompts_answered(guild: Runtime) -> None:
    for n in range(6):
        answer(guild, n, answered=n < 5)
    week_ends(guild)
    found = shown(guild)
    assert fewer_than_k(counts(found)) == [], "written less answered is the one that answered none"
    on_page, csv_rows, json_rows = found
    assert on_page["Reflections written"] == {"6"}
    assert on_page["Prompts answered"] == on_page["Response rate"] == on_page["Prompts sent"] == {"not shown"}
    assert [row for row in csv_rows + json_rows if row["measure"] == "prompts_answered" and row["scope"] == "weeks"] \
        == [], "no weekly rows of their own"


@pytest.mark.parametrize(("sharing", "answering"), [(5, 5), (10, 0)])
def test_figures_show_when_every_part_has_k_people_or_none(guild: Runtime, sharing: int, answering: int) -> None:
    for n in range(10):
        write(guild, n, "community" if n < sharing else "private")
        answer(guild, 10 + n, answered=n < answering)
    week_ends(guild)
    found = shown(guild)
    on_page, _, json_rows = found
    assert on_page["Reflections written"] == {"20"}
    assert on_page["Shared with the community"] == on_page["Reflections written to share with the community"] \
        == {str(sharing)}
    assert (on_page["Kept private"], on_page["Published to the wiki"]) == ({str(20 - sharing)}, {"0"})
    assert on_page["Prompts answered"] == {str(answering)}, "in its section and among the headlines"
    assert on_page["Response rate"] == {f"{answering * 10}%"}
    periods = {row["measure"]: row["value"] for row in json_rows if row["scope"] == "period"}
    assert (periods["prompts_answered"], periods["reflections_shared"]) == (answering, sharing)
    assert fewer_than_k(counts(found)) == []


def test_one_person_leaving_their_prompt_unanswered_cannot_be_worked_out_from_prompts_sent(guild: Runtime) -> None:
    """Five of six people prompted answer; the sixth writes nothing. Prompts sent less prompts answered would be
    that one person: neither the prompts sent nor the response rate is shown."""
    for n in range(6):
        answer(guild, n, answered=n < 5, reflected=False)
    week_ends(guild)
    found = shown(guild)
    on_page, csv_rows, json_rows = found
    assert (on_page["Reflections written"], on_page["Prompts answered"]) == ({"5"}, {"5"})
    assert on_page["Prompts sent"] == on_page["Response rate"] == {"not shown"}
    periods = {row["measure"]: row["value"] for row in json_rows if row["scope"] == "period"}
    assert periods["prompts_sent"] == periods["prompt_response_rate_percent"] == "not shown"
    assert not [row for row in csv_rows + json_rows if "prompts_sent" in row["measure"] and row["scope"] == "weeks"]
    assert fewer_than_k(counts(found)) == []


def test_a_person_who_left_theirs_unanswered_and_then_erased_their_data_is_not_counted_out(guild: Runtime) -> None:
    """Their prompt was folded before the erase: the week's count keeps it, its member set no longer holds them.
    A count with no one behind it is withheld like one with a few."""
    for n in range(6):
        answer(guild, n, answered=n < 5, reflected=False)
    guild.clock.advance(minutes=2)
    Worker(guild).run_rollups()
    with guild.uow() as uow:
        personal_data.erase(uow, user(5), None, guild.clock(), guild.signing_key, announcer(guild))
    week_ends(guild)
    found = shown(guild)
    assert found[0]["Prompts sent"] == found[0]["Response rate"] == {"not shown"}
    assert fewer_than_k(counts(found)) == []


def test_prompts_left_unanswered_before_anyone_reflected_are_counted(guild: Runtime) -> None:
    for n in range(6):
        answer(guild, n, answered=False, reflected=False)
    guild.clock.next_week()
    for n in range(5):
        answer(guild, 10 + n, answered=True)
    week_ends(guild)
    on_page = shown(guild)[0]
    assert (on_page["Prompts sent"], on_page["Response rate"]) == ({"11"}, {"45%"})


@pytest.mark.parametrize("silent", [0, 5])
def test_prompts_sent_show_when_no_one_or_k_people_left_theirs_unanswered(guild: Runtime, silent: int) -> None:
    for n in range(5 + silent):
        answer(guild, n, answered=n < 5, reflected=False)
    week_ends(guild)
    on_page = shown(guild)[0]
    assert (on_page["Prompts sent"], on_page["Prompts answered"]) == ({str(5 + silent)}, {"5"})
    assert on_page["Response rate"] == {f"{round(500 / (5 + silent))}%"}


def test_weeks_counted_before_unprompted_reflections_were_kept_withhold_prompts_answered(guild: Runtime) -> None:
    for n in range(6):
        answer(guild, n, answered=n < 5)
    week_ends(guild)
    with guild.uow() as uow:  # as an install that counted prompts answered, and not the others, would hold them
        for table in (WeeklyCount, WeeklyMember):
            uow.session.execute(delete(table).where(table.metric == "reflections.unprompted"))
        rollups.rebuild_blocks(uow, K, guild.clock())
        uow.commit()
    on_page = shown(guild)[0]
    assert on_page["Reflections written"] == {"6"}
    assert on_page["Prompts answered"] == {"not shown"}, "parts that do not add up are not shown"


def test_weeks_folded_before_the_private_ones_were_split_by_prompt_still_wait_and_withhold_the_split(
        guild: Runtime) -> None:
    """As an install upgraded from a version that counted only the reflections kept private would hold them: five
    shared and one kept private do not close a block, and once one closes the prompt split is withheld."""
    for n in range(6):
        write(guild, n, "community" if n < SHARED_IN_CHANNEL else "private")
    guild.clock.advance(minutes=2)
    Worker(guild).run_rollups()
    with guild.uow() as uow:
        for table in (WeeklyCount, WeeklyMember):
            uow.session.execute(delete(table).where(table.metric.like("reflections.private.%")))
        uow.commit()
    week_ends(guild)
    periods = {row["measure"]: row["value"] for row in shown(guild)[2] if row["scope"] == "period"}
    assert periods["reflections"] == "not shown", "written less the five posts would be the sixth's"
    for n in range(6, 6 + K):
        write(guild, n, "private")
    week_ends(guild)
    on_page = shown(guild)[0]
    assert on_page["Reflections written"] == {str(6 + K)}
    assert on_page["Prompts answered"] == {"not shown"}, "the first week's private ones were not split"


def test_two_views_in_one_week_never_differ_and_the_week_shows_once_it_has_ended(guild: Runtime) -> None:
    for n in range(5):
        write(guild, n, "private")
    at_nine = shown(guild)
    guild.clock.advance(hours=2)
    write(guild, 5, "community")  # one more person, the same week, shares theirs
    at_eleven = shown(guild)
    assert at_eleven == at_nine, "what one person did between two views shows nowhere"
    assert "Reflections written" not in at_nine[0], "this week is not released before it ends"
    week_ends(guild)
    found = shown(guild)
    assert found[0]["Reflections written"] == {"6"}
    assert found[0]["Kept private"] == found[0]["Shared with the community"] == {"not shown"}
    assert fewer_than_k(counts(found) | counts(at_nine)) == []
    guild.clock.advance(hours=30)
    assert shown(guild) == found, "released once, the same later"


def test_an_erased_person_s_stand_ins_do_not_tie_their_public_weeks_to_their_private_ones(guild: Runtime) -> None:
    """Whoever holds the key can hash every user id: after an erase, the hashes that match nobody are stand-ins.
    One stand-in in every measure would be found by the person's replies, still in Mattermost, and then show
    them as someone who left a prompt unanswered and kept a reflection private. Each measure has its own."""
    cid = community_id(guild)
    for n in range(6):
        answer(guild, n, answered=n != 0)
        with guild.uow() as uow:  # everyone also replies in the channel, which anyone sees in Mattermost
            uow.events.append("reply", occurred_at=guild.clock(), recorded_at=guild.clock(), community_id=cid,
                              actor_id=user(n), data={"root_id": f"root{n}"})
            uow.commit()
    for n in range(1, 6):
        answer(guild, n, answered=False, reflected=False)
    week_ends(guild)
    with guild.uow() as uow:
        personal_data.erase(uow, user(0), "writer0", guild.clock(), guild.signing_key, announcer(guild))
    with guild.reader() as uow:
        rows = uow.session.execute(select(WeeklyMember.member, WeeklyMember.metric)).all()
    known = {member_key(user(n), guild.signing_key) for n in range(1, 6)}
    stand_ins: dict[str, set[str]] = {}
    for member, metric in rows:
        if member not in known and not member.startswith(("item:", "root:")):
            stand_ins.setdefault(member, set()).add(metric)
    measures = [metric for metrics in stand_ins.values() for metric in metrics]
    assert {"replies", "prompts_unanswered", "reflections.private"} <= set(measures), "what was shown stays"
    assert all(len(metrics) == 1 for metrics in stand_ins.values()), stand_ins


def test_a_catch_up_fold_reads_each_reflection_a_few_times_not_once_a_batch_for_every_later_one(
        guild: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Batch after batch, the cut of the reflections' open stretch read every reflection written since it began,
    up to now: the catch-up fold of two years took 236 s instead of 45. It reads only the weeks it cuts, and cuts
    the same blocks as one cut of every week."""
    weeks, read, kept = 16, [0], rollup_store.Kept

    def counted(*fields: Any) -> rollup_store.Kept:
        read[0] += 1
        return kept(*fields)

    for week in range(weeks):
        if week:
            guild.clock.next_week()
        for n in range(K):
            write(guild, n, "private")
    guild.clock.advance(minutes=1)
    with guild.reader() as uow:
        per_week = uow.session.scalar(select(func.count()).select_from(Event)) // weeks
    monkeypatch.setattr(rollup_store, "Kept", counted)
    for _ in range(weeks):
        with guild.uow() as uow:
            assert rollups.fold_new_events(uow, guild.signing_key, K, guild.clock(), batch=per_week) == per_week
    assert read[0] <= 3 * weeks * K, "a reflection is read by the cuts of its week, the one before and the one after"
    with guild.reader() as uow:
        folded = uow.session.execute(select(ReleaseBlock).order_by(ReleaseBlock.metric, ReleaseBlock.first_week))
        batched = [(b.metric, b.first_week, b.last_week, b.value, b.people, b.closed) for b in folded.scalars()]
    with guild.uow() as uow:
        rollups.rebuild_blocks(uow, K, guild.clock())
        uow.commit()
    with guild.reader() as uow:
        again = uow.session.execute(select(ReleaseBlock).order_by(ReleaseBlock.metric, ReleaseBlock.first_week))
        assert batched == [(b.metric, b.first_week, b.last_week, b.value, b.people, b.closed)
                           for b in again.scalars()]
    assert sum(closed for *_, closed in batched) >= weeks - 1
