"""An item's community says where it is listed: it must not tell that someone rated it first, or where."""

from __future__ import annotations

from flask.testing import FlaskClient

from learnloop.bootstrap import Runtime
from learnloop.jobs.worker import Worker
from learnloop.mattermost.network_views import send_thanks
from learnloop.mattermost.wiki_messages import announcer
from learnloop.services import dashboard, personal_data
from learnloop.services.outbox_kinds import SEND_DM
from tests.conftest import FakeClock
from tests.prompts.world import Person, slash, uid

ANN, SAM, EVE = Person("ann"), Person("sam"), Person("eve")
SMALL, BIG = uid("small-team"), uid("big-team")
K = 5


def listed(runtime: Runtime) -> dict[str, list[str]]:
    """The pages each channel's community lists as too early to tell."""
    found = {}
    with runtime.reader() as uow:
        for name, channel in (("small", SMALL), ("big", BIG)):
            community = uow.communities.by_channel(channel)
            if community is not None:
                found[name] = [item.url.rsplit("/", 1)[1] for item in dashboard.too_early(uow, community.id, K)]
    return found


def test_a_share_is_listed_where_it_was_shared_whether_or_not_someone_rated_it_first(
        client: FlaskClient, runtime: Runtime) -> None:
    slash(client, ANN, "rate https://docs.example.com/rated 2", channel=SMALL, channel_name="small-team")
    slash(client, SAM, "rate https://docs.example.com/other 4", channel=SMALL, channel_name="small-team")
    slash(client, SAM, "share https://docs.example.com/rated", channel=BIG, channel_name="big-team")
    slash(client, SAM, "share https://docs.example.com/unrated", channel=BIG, channel_name="big-team")
    assert listed(runtime) == {"small": [], "big": ["rated", "unrated"]}


def test_a_page_rated_then_shared_in_a_direct_message_is_listed_nowhere(
        client: FlaskClient, runtime: Runtime) -> None:
    slash(client, ANN, "rate https://docs.example.com/rated 2", channel=SMALL, channel_name="small-team")
    slash(client, SAM, "share https://docs.example.com/rated", channel=uid("dm"), channel_name="samid__carolid")
    assert listed(runtime) == {"small": []}


def test_a_sharers_erasure_changes_nothing_others_can_see_of_what_they_shared(
        client: FlaskClient, runtime: Runtime) -> None:
    """The share was seen by everyone; who shared it goes, the rest stays as it was, thank-you button included."""
    slash(client, SAM, "share https://docs.example.com/shared", channel=BIG, channel_name="big-team")
    slash(client, SAM, "share https://docs.example.com/kept", channel=BIG, channel_name="big-team")
    before = slash(client, ANN, "rate https://docs.example.com/kept 5", channel=BIG, channel_name="big-team")
    with runtime.uow() as uow:
        personal_data.erase(uow, SAM.id, SAM.name, runtime.clock(), runtime.signing_key, announcer(runtime))
    assert listed(runtime) == {"big": ["kept", "shared"]}
    after = slash(client, ANN, "rate https://docs.example.com/shared 5", channel=BIG, channel_name="big-team")
    assert [a["fallback"] for a in after.get("attachments", [])] == ["Thank the person who shared it"]
    assert [a["fallback"] for a in before["attachments"]] == ["Thank the person who shared it"]
    with runtime.reader() as uow:
        item_id = uow.items.ref_by_url("https://docs.example.com/shared").id
    assert send_thanks(runtime, ANN.id, ANN.name, item_id), "answered as a thank-you on its way"
    with runtime.reader() as uow:
        assert uow.outbox.pending(SEND_DM) == [], "to nobody: the sharer is gone"


def test_a_share_of_a_deleted_page_known_only_from_a_rating_is_as_if_nobody_had_rated_it(
        client: FlaskClient, runtime: Runtime) -> None:
    slash(client, ANN, "rate https://docs.example.com/gone 2", channel=SMALL, channel_name="small-team")
    with runtime.uow() as uow:
        uow.items.retire(uow.items.ref_by_url("https://docs.example.com/gone").id, runtime.clock())
        uow.commit()
    for url in ("https://docs.example.com/gone", "https://docs.example.com/never-rated"):
        slash(client, SAM, f"share {url}", channel=BIG, channel_name="big-team")
        reply = slash(client, EVE, f"rate {url} 4", channel=BIG, channel_name="big-team")
        assert "4/5" in reply["text"] and "deleted" not in reply["text"], url
    assert listed(runtime) == {"small": [], "big": ["gone", "never-rated"]}, "alike: shared, live, too early"


def test_a_share_leaves_a_scored_page_in_the_community_that_ranks_it(
        client: FlaskClient, runtime: Runtime, clock: FakeClock) -> None:
    for n in range(K):
        slash(client, Person(f"rater{n}"), "rate https://docs.example.com/scored 4", channel=SMALL,
              channel_name="small-team")
    clock.advance(minutes=5)
    Worker(runtime).run_rollups()
    slash(client, SAM, "share https://docs.example.com/scored", channel=BIG, channel_name="big-team")
    with runtime.reader() as uow:
        item = uow.items.ref_by_url("https://docs.example.com/scored")
        small = uow.communities.by_channel(SMALL).id
        assert item.community_id == small
        assert [top.url for top in dashboard.top_content(uow, small, K)] == ["https://docs.example.com/scored"]
