"""Rollups from the event log, the dashboard's figures, exports and who may see them."""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.domain.measures import week_of
from learnloop.jobs.worker import Worker
from learnloop.services import dashboard, links, rollups
from learnloop.services.rating import Rater, give_reason, rate_url
from learnloop.storage.tables import Feedback, WeeklyCount, WeeklyMember
from learnloop.wiring import create_app
from tests.conftest import FakeClock, make_settings
from tests.contract.mattermost_openapi import MattermostContract
from tests.prompts.world import Person, slash
from tests.web.links import confirm, link_path

CHANNEL, OTHER_CHANNEL = "fukk3xq1bbn8fgmsiwh4xprwdh", "otherchannel00000000000000"
OWNER = Person("owner")
K = 5


@pytest.fixture
def dash(engine, clock: FakeClock) -> Runtime:
    settings = make_settings(communities=[{"name": "Data guild", "channel_id": CHANNEL, "owners": [OWNER.id]},
                                          {"name": "Other", "channel_id": OTHER_CHANNEL, "owners": []}])
    return build_runtime(settings, clock=clock, engine=engine)


def rate(runtime: Runtime, user: str, url: str, stars: int, comment: str | None = None,
         channel: str = CHANNEL) -> None:
    with runtime.uow() as uow:
        rate_url(uow, runtime.settings, Rater(user.ljust(26, "x"), channel, channel_name="data-guild"), url, stars,
                 comment, runtime.clock())


def fold(runtime: Runtime, clock: FakeClock) -> int:
    clock.advance(minutes=1)
    return rollups.fold_all(runtime.uow, runtime.signing_key, K, clock.now)


def release(runtime: Runtime, clock: FakeClock) -> None:
    """Fold, then let the week end and the worker's pass run: the week's figures are released."""
    fold(runtime, clock)
    clock.next_week()
    Worker(runtime).run_rollups()


def community_id(runtime: Runtime, channel: str = CHANNEL) -> int:
    with runtime.uow() as uow:
        return uow.communities.by_channel(channel).id


def signed_in(runtime: Runtime, community: int, person: Person = OWNER) -> FlaskClient:
    client = create_app(runtime).test_client()
    with runtime.uow() as uow:
        token = links.issue(uow, user_id=person.id, username=person.name, next_path=f"/dashboard/{community}",
                            now=runtime.clock())
    response = confirm(client, links.signin_url("", token))
    assert response.headers["Location"] == f"/dashboard/{community}"
    return client


def figure_on_page(page: str, label: str) -> str:
    return re.search(rf"<dt>{label}</dt><dd[^>]*>([^<]+)", page).group(1).strip()


def period_rows(rows: list[dict]) -> dict:
    return {r["measure"]: r["value"] for r in rows if r["scope"] == "period"}


def test_rollups_fold_each_event_once_and_keep_people_pseudonymous(dash: Runtime, clock: FakeClock) -> None:
    for n in range(6):
        rate(dash, f"user{n}", f"https://wiki.acme.example/p{n % 2}", 4)
    assert fold(dash, clock) == 6
    assert fold(dash, clock) == 0, "the cursor remembers"
    with dash.uow() as uow:
        counts = dict(uow.session.execute(select(WeeklyCount.metric, WeeklyCount.value)).all())
        members = list(uow.session.scalars(select(WeeklyMember.member).where(WeeklyMember.metric == "ratings")))
    assert counts == {"ratings": 6, "items_rated": 6}
    assert len(members) == 6 and not any(m.startswith("user") for m in members)


def test_fresh_events_wait_until_they_have_settled(dash: Runtime, clock: FakeClock) -> None:
    rate(dash, "user0", "https://wiki.acme.example/p", 4)
    assert rollups.fold_all(dash.uow, dash.signing_key, K, clock.now) == 0
    clock.advance(seconds=31)
    assert rollups.fold_all(dash.uow, dash.signing_key, K, clock.now) == 1


@pytest.mark.parametrize(("raters", "shown"), [(K - 1, False), (K, True), (K + 1, True)])
def test_the_dashboard_withholds_people_figures_below_k(dash: Runtime, clock: FakeClock, raters: int,
                                                         shown: bool) -> None:
    for n in range(raters):
        rate(dash, f"user{n}", "https://wiki.acme.example/p", 5)
    release(dash, clock)
    client = signed_in(dash, community_id(dash))
    page = client.get(f"/dashboard/{community_id(dash)}").get_data(as_text=True)
    if shown:
        assert figure_on_page(page, "Ratings given") == str(raters)
    else:
        assert "Nothing to show yet, and that is by design" in page and "<svg" not in page
        assert "<dd" not in page, "one plain explanation, not a wall of figures withheld"
    rows = list(csv.DictReader(io.StringIO(client.get(f"/dashboard/{community_id(dash)}/export.csv").get_data(
        as_text=True))))
    assert period_rows(rows)["ratings"] == (str(raters) if shown else "not shown")
    json_rows = client.get(f"/dashboard/{community_id(dash)}/export.json").get_json()["rows"]
    assert period_rows(json_rows)["ratings"] == (raters if shown else "not shown")
    for export in ("export.csv", "export.json"):
        assert client.get(f"/dashboard/{community_id(dash)}/{export}").headers["Cache-Control"] == "no-store", \
            "kept by no browser or proxy cache"


def test_the_page_has_charts_weeks_and_top_content_by_title(dash: Runtime, clock: FakeClock) -> None:
    for n in range(6):
        rate(dash, f"user{n}", "https://wiki.acme.example/Good", 5)
        rate(dash, f"user{n}", "https://wiki.acme.example/Meh", 2)
    release(dash, clock)
    client = signed_in(dash, community_id(dash))
    response = client.get(f"/dashboard/{community_id(dash)}?period=12w")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and page.count("<svg") == 1 and "<script" not in page
    assert "Not enough people took part in this period to show this yet" in page, "no share from ratings alone"
    assert page.index("wiki.acme.example/Good") < page.index("wiki.acme.example/Meh")
    assert "Stage:" in page and "Next step:" in page
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert "12/5 from" not in page and re.search(r"from <span class=\"raters\">6</span> ratings", page)
    assert re.search(r"Week of \d\d \w\w\w</span>\s*<span class=\"what\">12</span>", page)


def test_the_raters_of_top_content_never_move_by_fewer_than_k(dash: Runtime, clock: FakeClock) -> None:
    """Four people change their stars and one newcomer rates: "from 6 ratings" would tell that exactly one person
    first rated the page last week."""
    url = "https://wiki.acme.example/Onboarding"
    for n in range(K):
        rate(dash, f"user{n}", url, 4)
    release(dash, clock)
    mine = community_id(dash)
    client = signed_in(dash, mine)

    def raters() -> tuple[list[str], list[int]]:
        page = client.get(f"/dashboard/{mine}").get_data(as_text=True)
        return (re.findall(r'class="raters">(\d+)<', page),
                [item["ratings"] for item in client.get(f"/dashboard/{mine}/export.json").get_json()["top_content"]])

    assert raters() == (["5"], [5])
    clock.advance(days=1)
    for n in range(K - 1):
        rate(dash, f"user{n}", url, 3)
    rate(dash, "newcomer", url, 1)
    release(dash, clock)
    assert raters() == (["5"], [5])


def test_a_headline_compares_figures_over_different_numbers_of_weeks_a_week_each(dash: Runtime,
                                                                                 clock: FakeClock) -> None:
    """A block that crosses from the period before into this one counts in neither: this period's 12 ratings
    cover its last 2 weeks (6 a week), the 15 before cover 3 weeks (5 a week). Activity went up, not down."""
    people = iter(f"p{n}" for n in range(40))
    for count in [5, 5, 5, 2, 3, 6, 6]:  # a block a week, but the 4th and 5th weeks make one
        for _ in range(count):
            rate(dash, next(people), "https://wiki.acme.example/p", 4)
        release(dash, clock)
    mine = community_id(dash)
    page = signed_in(dash, mine).get(f"/dashboard/{mine}?period=4w").get_data(as_text=True)
    line = re.search(r'<li><span class="label">Ratings given</span>(.*?)</li>', page, re.S).group(1)
    week = week_of(clock.now)
    assert " ".join(re.sub(r"<[^>]+>", " ", line).split()) == (
        f"12 (weeks of {week - timedelta(weeks=2):%d %b} to {week - timedelta(weeks=1):%d %b %Y}) "
        f"&#9650; up from 5.0 to 6.0 a week (weeks of {week - timedelta(weeks=7):%d %b} to "
        f"{week - timedelta(weeks=5):%d %b %Y})")


def test_feedback_reaches_owners_grouped_by_page_without_stars_or_times(dash: Runtime, clock: FakeClock) -> None:
    rate(dash, "user1", "https://wiki.acme.example/p", 2, comment="<b>VPN</b> steps are out of date")
    rate(dash, "user2", "https://wiki.acme.example/p", 4, comment="The proxy part helped")
    client = signed_in(dash, community_id(dash))
    page = client.get(f"/dashboard/{community_id(dash)}").get_data(as_text=True)
    assert "&lt;b&gt;VPN&lt;/b&gt; steps are out of date" in page and "The proxy part helped" in page
    feedback = page[page.index('id="feedback"'):]
    assert feedback.count("<h3>") == 1, "one page, its comments together"
    assert "/5" not in feedback and "09:0" not in feedback and "Week of" in feedback
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    with dash.uow() as uow:
        feedback_id = uow.session.scalars(select(Feedback.id).order_by(Feedback.id)).first()
    assert f"/feedback/{feedback_id}?" not in page, "a form names a comment by its handle, not its id"
    handle = dashboard.feedback_handle(feedback_id, dash.signing_key)
    assert client.post(f"/dashboard/{community_id(dash)}/feedback/{feedback_id}",
                       data={"status": "resolved", "csrf_token": token}).status_code == 404
    assert client.post(f"/dashboard/{community_id(dash)}/feedback/{handle}",
                       data={"status": "resolved"}).status_code == 400, "CSRF token required"
    response = client.post(f"/dashboard/{community_id(dash)}/feedback/{handle}",
                           data={"status": "resolved", "csrf_token": token})
    assert response.status_code == 303
    after = client.get(f"/dashboard/{community_id(dash)}").get_data(as_text=True)
    assert re.search(r'<li class="state-resolved">.*?steps are out of date', after, re.S), "resolved, still listed"
    other = community_id(dash) + 1
    assert client.post(f"/dashboard/{other}/feedback/{handle}",
                       data={"status": "hidden", "csrf_token": token}).status_code in (403, 404)


@pytest.mark.slow
def test_members_see_the_dashboard_read_only_and_outsiders_nothing(
    dash: Runtime, clock: FakeClock, mattermost_contract: MattermostContract
) -> None:
    rate(dash, "user1", "https://wiki.acme.example/p", 4, comment="private to owners")
    rate(dash, "user1", "https://wiki.acme.example/q", 4, channel=OTHER_CHANNEL)
    mine, theirs = community_id(dash), community_id(dash, OTHER_CHANNEL)
    anonymous = create_app(dash).test_client()
    assert anonymous.get(f"/dashboard/{mine}").status_code == 401
    said = anonymous.get(f"/dashboard/{mine}/export.csv", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert "type /learn dashboard in your community&#39;s channel." in said
    assert "/learn signin" not in said, "one next step, not two that disagree"
    mattermost_contract.add("GET", f"/api/v4/channels/{OTHER_CHANNEL}/members/{OWNER.id}", status=404,
                            json={"id": "app.channel.get_member.missing.app_error", "message": "No channel member",
                                  "status_code": 404})
    client = signed_in(dash, mine)
    assert client.get(f"/dashboard/{mine}").status_code == 200
    assert client.get(f"/dashboard/{theirs}").status_code == 403, "outside another community"
    assert client.get(f"/dashboard/{theirs}/export.csv").status_code == 403
    assert client.get(f"/dashboard/{mine + 99}").status_code == 403, "guessing URLs"
    member = Person("ann")
    mattermost_contract.add("GET", f"/api/v4/channels/{CHANNEL}/members/{member.id}",
                            json={"channel_id": CHANNEL, "user_id": member.id, "roles": "channel_user"})
    as_member = signed_in(dash, mine, member)
    page = as_member.get(f"/dashboard/{mine}").get_data(as_text=True)
    assert "Stage:" in page and "private to owners" not in page and "export.csv" not in page
    assert as_member.get(f"/dashboard/{mine}/export.csv").status_code == 403
    assert as_member.get(f"/dashboard/{mine}/export.json").status_code == 403


def test_a_tampered_session_cookie_is_not_a_session(dash: Runtime, clock: FakeClock) -> None:
    rate(dash, "user1", "https://wiki.acme.example/p", 4)
    client = signed_in(dash, community_id(dash))
    cookie = client.get_cookie("learnloop_session")
    client.set_cookie("learnloop_session", cookie.value[:-3] + ("AAA" if not cookie.value.endswith("AAA") else "BBB"))
    assert client.get(f"/dashboard/{community_id(dash)}").status_code == 401


@pytest.mark.parametrize(("query", "expected"), [
    ("period=3y", "4w, 12w or custom"),
    ("period=custom&start=2026-01-01", "YYYY-MM-DD"),
    ("period=custom&start=2026-05-01&end=2026-01-01", "run forwards"),
    ("period=custom&start=2020-01-01&end=2026-01-01", "run forwards"),
    ("period=custom&start=0001-01-01&end=0001-02-01", "must lie between 0003-01-13 and 9999-12-17"),
    ("period=custom&start=9999-12-01&end=9999-12-20", "must lie between 0003-01-13 and 9999-12-17"),
])
def test_bad_periods_are_explained(dash: Runtime, query: str, expected: str) -> None:
    rate(dash, "user1", "https://wiki.acme.example/p", 4)
    mine = community_id(dash)
    client = signed_in(dash, mine)
    response = client.get(f"/dashboard/{mine}?{query}")
    assert response.status_code == 400 and expected in response.get_json()["error"]["message"]
    page = client.get(f"/dashboard/{mine}?{query}", headers={"Accept": "text/html"})
    assert page.mimetype == "text/html" and expected in page.get_data(as_text=True)


def test_a_custom_range_is_whole_weeks(dash: Runtime, clock: FakeClock) -> None:
    for n in range(6):
        rate(dash, f"user{n}", "https://wiki.acme.example/p", 4)
    wednesday = clock.now.date() + timedelta(days=2)
    monday = clock.now.date() - timedelta(days=clock.now.weekday())
    release(dash, clock)
    mine = community_id(dash)
    client = signed_in(dash, mine)
    rows = client.get(f"/dashboard/{mine}/export.json?period=custom&start={wednesday}&end={wednesday}").get_json()
    assert rows["period"] == {"first_week": monday.isoformat(), "last_week": monday.isoformat()}
    assert period_rows(rows["rows"])["ratings"] == 6


def test_a_late_event_for_a_released_week_changes_no_released_figure(dash: Runtime, clock: FakeClock) -> None:
    for n in range(6):
        rate(dash, f"user{n}", f"https://wiki.acme.example/p{n % 2}", 4)
    last_week = clock.now
    release(dash, clock)
    mine = community_id(dash)
    client = signed_in(dash, mine)

    def released() -> tuple[list[tuple[str, str]], list[str], list[dict]]:
        """Every figure shown with a value: the page's, and the exports' rows that are not withheld."""
        page = client.get(f"/dashboard/{mine}?period=12w").get_data(as_text=True)
        csv_rows = client.get(f"/dashboard/{mine}/export.csv?period=12w").get_data(as_text=True).splitlines()
        json_rows = client.get(f"/dashboard/{mine}/export.json?period=12w").get_json()["rows"]
        return ([(label, value.strip()) for label, value in re.findall(r"<dt>([^<]+)</dt><dd[^>]*>([^<]+)", page)
                 if "not shown" not in value],
                [row for row in csv_rows if "not shown" not in row],
                [row for row in json_rows if not str(row["value"]).startswith("not shown")])

    before = released()
    assert ("Ratings given", "6") in before[0] and ("Items rated", "2") in before[0]
    now, clock.now = clock.now, last_week + timedelta(hours=2)
    rate(dash, "late", "https://wiki.acme.example/p9", 5)  # one more person last week, on another page
    clock.now = now
    fold(dash, clock)
    Worker(dash).run_rollups()
    assert released() == before, "the page, the CSV and the JSON say nothing about the one who came late"
    with dash.reader() as uow:
        weeks = dict(uow.session.execute(select(WeeklyCount.week, WeeklyCount.value).where(
            WeeklyCount.metric == "ratings")).all())
    assert weeks == {week_of(last_week): 6, week_of(clock.now): 1}, "counted in the first week not yet released"


def test_the_slash_command_gives_members_a_link_and_outsiders_a_no(
    dash: Runtime, mattermost_contract: MattermostContract
) -> None:
    client = create_app(dash).test_client()
    mattermost_contract.add("GET", f"/api/v4/channels/{CHANNEL}/stats", json={"channel_id": CHANNEL, "member_count": 12})
    reply = slash(client, OWNER, "dashboard")
    assert confirm(client, link_path(reply["text"])).headers["Location"].startswith("/dashboard/")
    member = Person("ann")
    mattermost_contract.add("GET", f"/api/v4/channels/{CHANNEL}/members/{member.id}",
                            json={"channel_id": CHANNEL, "user_id": member.id, "roles": "channel_user"})
    team = "rdc9bgriktyx9p4kowh3dmgqyc"
    mattermost_contract.add("GET", f"/api/v4/teams/{team}/members/{member.id}",
                            json={"team_id": team, "user_id": member.id, "roles": "team_user"})
    assert "Open the dashboard" in slash(client, member, "dashboard")["text"]
    outsider = Person("eve")
    mattermost_contract.add("GET", f"/api/v4/channels/{CHANNEL}/members/{outsider.id}", status=404,
                            json={"id": "app.channel.get_member.missing.app_error", "message": "No channel member",
                                  "status_code": 404})
    mattermost_contract.add("GET", f"/api/v4/teams/{team}/members/{outsider.id}",
                            json={"team_id": team, "user_id": outsider.id, "roles": "team_user"})
    assert "Only this channel's members" in slash(client, outsider, "dashboard")["text"]


def test_items_rated_counts_distinct_items_not_ratings(dash: Runtime, clock: FakeClock) -> None:
    for n in range(6):
        rate(dash, f"user{n}", "https://wiki.acme.example/Same", 4)
    rate(dash, "user0", "https://wiki.acme.example/Other", 3)
    release(dash, clock)
    page = signed_in(dash, community_id(dash)).get(f"/dashboard/{community_id(dash)}").get_data(as_text=True)
    assert figure_on_page(page, "Ratings given") == "7"
    assert figure_on_page(page, "Items rated") == "2"


def test_a_dashboard_is_read_on_the_connection_without_an_orm_session(dash: Runtime, clock: FakeClock) -> None:
    """Every read of a build (figures, top content, too early, the owners' feedback) is a Core statement on the unit
    of work's connection: the ORM's Session and its per-statement work cost more than most of the reads themselves."""
    for n in range(6):
        rate(dash, f"user{n}", "https://wiki.acme.example/Same", 4, comment=f"note {n}")
    rate(dash, "user0", "https://wiki.acme.example/Other", 3)
    release(dash, clock)
    community, period = community_id(dash), dashboard.Period.last_weeks(clock.now.date(), 4)
    begun: list[Session] = []

    def count(session: Session, *_: object) -> None:
        begun.append(session)

    event.listen(Session, "after_begin", count)
    try:
        with dash.reader() as uow:
            view = dashboard.build(uow, community, period, K, feedback_key=dash.signing_key, show_hidden=True)
    finally:
        event.remove(Session, "after_begin", count)
    assert begun == []
    assert (view.totals["ratings"].value, view.totals["items_rated"].value) == (7, 2)
    assert [item.url for item in view.top] == ["https://wiki.acme.example/Same"]
    assert [len(group.comments) for group in view.feedback] == [6]


def test_a_team_admin_owns_the_communities_of_their_team(
    dash: Runtime, mattermost_contract: MattermostContract
) -> None:
    team = "rdc9bgriktyx9p4kowh3dmgqyc"
    with dash.uow() as uow:
        uow.communities.ensure(OTHER_CHANNEL, team, "Other", dash.clock())
        uow.commit()
    admin = Person("teamadmin")
    mattermost_contract.add("GET", f"/api/v4/channels/{OTHER_CHANNEL}/members/{admin.id}",
                            json={"channel_id": OTHER_CHANNEL, "user_id": admin.id, "roles": "channel_user"})
    mattermost_contract.add("GET", f"/api/v4/teams/{team}/members/{admin.id}",
                            json={"team_id": team, "user_id": admin.id, "roles": "team_user team_admin"})
    theirs = community_id(dash, OTHER_CHANNEL)
    client = signed_in(dash, theirs, admin)
    assert client.get(f"/dashboard/{theirs}").status_code == 200
    assert client.get(f"/dashboard/{theirs}/export.csv").status_code == 200


def give(runtime: Runtime, user: str, url: str, reason: str, note: str | None = None) -> None:
    rate(runtime, user, url, 2)
    with runtime.uow() as uow:
        give_reason(uow, user.ljust(26, "x"), url, reason, note, runtime.clock())


def feedback_handles(runtime: Runtime) -> dict[str, str]:
    with runtime.uow() as uow:
        return {comment: dashboard.feedback_handle(int(i), runtime.signing_key)
                for i, comment in uow.session.execute(select(Feedback.id, Feedback.comment))}


def test_owners_triage_feedback_per_page_with_reasons_counted_and_hidden_out_of_the_way(
        dash: Runtime, clock: FakeClock, mattermost_contract: MattermostContract) -> None:
    page_url, other_url = "https://wiki.acme.example/VPN", "https://wiki.acme.example/Proxy"
    give(dash, "user1", page_url, "outdated", "The VPN client was renamed")
    give(dash, "user2", page_url, "outdated")
    give(dash, "user3", page_url, "broken_link", "The download link 404s")
    rate(dash, "user4", other_url, 4, comment="Worth a diagram")
    mine = community_id(dash)
    client = signed_in(dash, mine)
    page = client.get(f"/dashboard/{mine}").get_data(as_text=True)
    feedback = page[page.index('id="feedback"'):]
    assert feedback.count("<h3>") == 2 and feedback.index("VPN") < feedback.index("Proxy"), "most open first"
    assert 'data-reason="outdated">Outdated 2<' in feedback and 'data-reason="broken_link">Broken link 1<' in feedback
    assert 'data-state="new">New: 3<' in feedback and "No note." in feedback
    assert "user1" not in feedback and "/5" not in feedback, "never who, never stars"
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    ids = feedback_handles(dash)
    assert all(f"/feedback/{handle}?" in page for handle in ids.values())

    def triage(handle: str, status: str, as_client: FlaskClient = client):
        return as_client.post(f"/dashboard/{mine}/feedback/{handle}?period=12w",
                              data={"status": status, "csrf_token": token}, headers={"Accept": "application/json"})

    refused = triage(ids["The VPN client was renamed"], "done")
    assert refused.status_code == 400 and "'done' is not a feedback state" in refused.get_json()["error"]["message"]
    assert triage(ids["The VPN client was renamed"], "planned").headers["Location"].endswith("?period=12w")
    assert triage(ids["Worth a diagram"], "hidden").status_code == 303
    page = client.get(f"/dashboard/{mine}").get_data(as_text=True)
    feedback = page[page.index('id="feedback"'):]
    assert re.search(r'<li class="state-planned">.*?The VPN client was renamed', feedback, re.S)
    assert 'data-reason="outdated">Outdated 2<' in feedback, "planned is still open"
    assert "Worth a diagram" not in feedback and "Show hidden feedback too (1)" in feedback
    shown = client.get(f"/dashboard/{mine}?hidden=1").get_data(as_text=True)
    assert re.search(r'<li class="state-hidden">.*?Worth a diagram', shown, re.S) and "Leave out hidden" in shown
    assert triage(ids["The download link 404s"], "resolved").status_code == 303
    rows = [r for r in csv.DictReader(io.StringIO(client.get(f"/dashboard/{mine}/export.csv").get_data(as_text=True)))
            if r["scope"] == "feedback"]
    assert {(r["page"], r["measure"], r["value"]) for r in rows} == {
        (page_url, "state:new", "1"), (page_url, "state:planned", "1"), (page_url, "state:resolved", "1"),
        (page_url, "open_reason:outdated", "2"), (other_url, "state:hidden", "1")}
    exported = client.get(f"/dashboard/{mine}/export.json").get_json()["feedback"]
    assert {g["url"]: (g["states"], g["open_reasons"]) for g in exported} == {
        page_url: ({"new": 1, "planned": 1, "resolved": 1}, {"outdated": 2}), other_url: ({"hidden": 1}, {})}
    text = client.get(f"/dashboard/{mine}/export.json").get_data(as_text=True)
    assert "user1" not in text and "renamed" not in text, "counts only: no authors, no notes"
    member = Person("ann")
    mattermost_contract.add("GET", f"/api/v4/channels/{CHANNEL}/members/{member.id}",
                            json={"channel_id": CHANNEL, "user_id": member.id, "roles": "channel_user"})
    as_member = signed_in(dash, mine, member)
    member_page = as_member.get(f"/dashboard/{mine}").get_data(as_text=True)
    member_main = member_page[:member_page.index("<footer>")]  # the footer's Sign out has a token of its own
    assert re.search(r'name="csrf_token" value="([^"]+)"', member_main) is None, "members get no triage forms"
    assert as_member.post(f"/dashboard/{mine}/feedback/{ids['Worth a diagram']}",
                          data={"status": "new", "csrf_token": token}).status_code == 403
    with dash.uow() as uow:
        states = dict(uow.session.execute(select(Feedback.comment, Feedback.status)).all())
    assert states == {"The VPN client was renamed": "planned", "": "new", "The download link 404s": "resolved",
                      "Worth a diagram": "hidden"}, "the refused requests changed nothing"


def channel_admin_signed_in(dash: Runtime, contract: MattermostContract) -> tuple[int, str, FlaskClient]:
    """Someone commented "steps changed" on a page; Ann, an admin of the community's channel as Mattermost says,
    signs in. The community, the path Mattermost answers Ann's membership at, and her client."""
    rate(dash, "user1", "https://wiki.acme.example/p", 2, comment="steps changed")
    mine, admin = community_id(dash), Person("ann")
    membership = f"/api/v4/channels/{CHANNEL}/members/{admin.id}"
    contract.add("GET", membership, json={"channel_id": CHANNEL, "user_id": admin.id,
                                          "roles": "channel_user channel_admin"})
    return mine, membership, signed_in(dash, mine, admin)


def test_an_owner_removed_from_the_channel_cannot_export_or_triage_in_the_minutes_the_page_is_kept(
        dash: Runtime, clock: FakeClock, mattermost_contract: MattermostContract) -> None:
    """Reading the page may use the role kept in the session for a few minutes; what only owners may see or do
    asks Mattermost again."""
    mine, membership, client = channel_admin_signed_in(dash, mattermost_contract)
    page = client.get(f"/dashboard/{mine}").get_data(as_text=True)
    assert "export.csv" in page, "an owner"
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    handle = next(iter(feedback_handles(dash).values()))
    mattermost_contract.add("GET", membership, status=404, json={
        "id": "app.channel.get_member.missing.app_error", "message": "No channel member found for that user ID "
        "and channel ID.", "detailed_error": "", "request_id": "r", "status_code": 404})
    assert client.get(f"/dashboard/{mine}").status_code == 403, "an owner's page, with its comments, asks again"
    for path in ("export.csv", "export.json"):
        assert client.get(f"/dashboard/{mine}/{path}").status_code == 403
    assert client.post(f"/dashboard/{mine}/feedback/{handle}", data={"status": "hidden", "csrf_token": token}
                       ).status_code == 403


def test_an_owner_removed_since_the_page_was_last_read_reads_no_comment(dash: Runtime, clock: FakeClock,
                                                                       engine: Engine) -> None:
    """The role is kept in the session for a few minutes for reading the page, but the owners' comments are
    asked for afresh, as triage and exports are."""
    rate(dash, "user0", "https://wiki.acme.example/p", 2, "the on-call rota is unfair to Bob")
    cid = community_id(dash)
    client = signed_in(dash, cid)
    assert "unfair to Bob" in client.get(f"/dashboard/{cid}").get_data(as_text=True)
    demoted = build_runtime(make_settings(communities=[{"name": "Data guild", "channel_id": CHANNEL, "owners": []},
                                                       {"name": "Other", "channel_id": OTHER_CHANNEL, "owners": []}]),
                            clock=clock, engine=engine)
    other = create_app(demoted).test_client()
    other.set_cookie("learnloop_session", client.get_cookie("learnloop_session").value, domain="localhost")
    clock.advance(minutes=2)
    page = other.get(f"/dashboard/{cid}")
    assert page.status_code == 200, "Mattermost cannot be asked here: the page shows, as a member's"
    assert "unfair to Bob" not in page.get_data(as_text=True)


def test_mattermost_down_opens_the_page_only_while_the_owner_role_is_kept(
        dash: Runtime, clock: FakeClock, mattermost_contract: MattermostContract, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While Mattermost cannot answer, an owner role kept in the session still opens the page as a member's, but
    only for the minutes it is kept: hours later (they may have been removed since) the page is a 503."""
    mine, membership, client = channel_admin_signed_in(dash, mattermost_contract)
    assert "steps changed" in client.get(f"/dashboard/{mine}").get_data(as_text=True), "an owner"
    mattermost_contract.add("GET", membership, status=503, json={
        "id": "api.context.503", "message": "Service Unavailable", "detailed_error": "", "request_id": "r",
        "status_code": 503})
    page = client.get(f"/dashboard/{mine}")
    assert page.status_code == 200 and "steps changed" not in page.get_data(as_text=True), "kept: a member's page"
    later = time.time() + 6 * 3600
    monkeypatch.setattr(time, "time", lambda: later)
    assert client.get(f"/dashboard/{mine}").status_code == 503
