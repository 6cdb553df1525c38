"""An item's community says where it is listed: it must not tell that someone rated it first, or where."""

from __future__ import annotations

from flask.testing import FlaskClient

from learnloop.bootstrap import Runtime
from learnloop.services import dashboard
from tests.prompts.world import Person, slash, uid

ANN, SAM = Person("ann"), Person("sam")
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
