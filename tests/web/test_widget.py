"""The rating widget's frame: rating inline, the community score only from k ratings, a reason for a low rating,
"Sign in with Mattermost" in a popup, post/redirect/get, and the frame's own cookie and CSP."""

from __future__ import annotations

import base64
import math
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.config import Settings
from learnloop.services.outbox_kinds import SEND_DM
from learnloop.services.rating import Rater, rate_url
from learnloop.storage.tables import Event, Feedback, OutboxMessage, Rating
from learnloop.wiring import create_app
from tests.conftest import FakeClock, make_settings, shown_scores
from tests.contract.fixtures import MATTERMOST_TEST_URL
from tests.contract.mattermost_oauth import OAuthProvider
from tests.contract.mattermost_openapi import MattermostContract
from tests.prompts.world import Person, slash
from tests.web.links import confirm, link_path
from tests.web.widget_world import MEDIAWIKI, OTHER_PAGE, PAGE, WIKI, Reader, attribute, field

PUBLIC_URL = "https://learnloop.example.com"


@pytest.fixture
def provider(mattermost_contract: MattermostContract) -> OAuthProvider:
    provider = OAuthProvider(MATTERMOST_TEST_URL)
    provider.register(mattermost_contract)
    return provider


@pytest.fixture
def ann(provider: OAuthProvider) -> dict[str, object]:
    user = provider.add_user("ann")
    provider.logged_in = str(user["id"])
    return user


@pytest.fixture
def settings(provider: OAuthProvider) -> Settings:
    app = provider.add_app(f"{PUBLIC_URL}/oauth/callback")
    return make_settings(wikis=[MEDIAWIKI], min_group_size=3, mattermost_oauth_client_id=app.id,
                         mattermost_oauth_client_secret=app.client_secret)


@pytest.fixture
def reader(client: FlaskClient, provider: OAuthProvider) -> Reader:
    return Reader(client, provider)


def others_rate(runtime: Runtime, page: str, *stars: int) -> None:
    for n, value in enumerate(stars):
        with runtime.uow() as uow:
            rate_url(uow, runtime.settings, Rater(f"other{n}".ljust(26, "0")), page, value, None, runtime.clock())


def count(runtime: Runtime, statement: object) -> int:
    with runtime.reader() as uow:
        return int(uow.session.scalar(statement))  # type: ignore[call-overload]


def test_the_frame_is_framed_by_the_wiki_only_and_has_its_own_cookie(reader: Reader) -> None:
    response = reader.frame()
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert f"frame-ancestors {WIKI};" in policy and "script-src 'self';" in policy and "unsafe-inline" not in policy
    assert "X-Frame-Options" not in response.headers
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("learnloop_frame=")
    assert all(part in cookie for part in ("Path=/widget/", "SameSite=None", "Secure", "Partitioned", "HttpOnly"))
    html = response.get_data(as_text=True)
    assert html.count('<button type="submit" name="stars"') == 5
    assert "1 · Not useful" in html and "5 · Essential" in html
    assert "Sign in with Mattermost" in html and "<legend>Was this page useful?</legend>" in html


@pytest.mark.parametrize(("query", "problem"), [
    ({"url": PAGE, "origin": "https://evil.example"}, "wikis learnloop is connected to"),
    ({"url": "https://elsewhere.example/page", "origin": WIKI}, "rates the page it is on"),
    ({"url": "javascript:alert(1)", "origin": WIKI}, "not an http"),
])
def test_the_frame_refuses_pages_outside_the_wikis(client: FlaskClient, query: dict[str, str], problem: str) -> None:
    response = client.get("/widget/frame", query_string=query)
    assert response.status_code == 400 and problem in response.get_data(as_text=True)
    assert f"frame-ancestors {WIKI};" in response.headers["Content-Security-Policy"]


def test_signed_out_a_click_stores_nothing_and_asks_to_sign_in(reader: Reader, runtime: Runtime) -> None:
    response = reader.rate(4)
    assert response.status_code == 303 and "signin=1" in response.headers["Location"]
    assert "Sign in first to rate" in reader.client.get(response.headers["Location"]).get_data(as_text=True)
    assert count(runtime, select(func.count()).select_from(Rating)) == 0


def test_a_score_from_many_ratings_says_a_tenth_of_them_move_it(
        reader: Reader, ann: dict[str, object], runtime: Runtime) -> None:
    others_rate(runtime, PAGE, *([4] * 79))
    response = reader.sign_in(stars="5")
    shown_scores(runtime)
    frame = reader.client.get(response.headers["Location"]).get_data(as_text=True)
    shown, to_move = map(int, re.search(r"from (\d+) ratings; it moves only once at least (\d+) more", frame).groups())
    assert shown > 50 and to_move == math.ceil(shown / 10)


def test_sign_in_with_mattermost_rates_in_the_same_click_then_one_click_each(
        reader: Reader, ann: dict[str, object], runtime: Runtime, provider: OAuthProvider) -> None:
    others_rate(runtime, PAGE, 4, 5)
    response = reader.sign_in(stars="4")
    assert response.status_code == 303, response.get_data(as_text=True)
    frame = reader.client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'value="4" aria-pressed="true"' in frame and "You rate this page 4/5 (Very useful)" in frame
    assert "too early to tell" in frame and "Sign in with Mattermost" not in frame
    shown_scores(runtime)
    frame = reader.client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Community score 3.5/5 from 3 ratings; it moves only once at least 3 more people have rated" in frame
    second = reader.rate(5, OTHER_PAGE)
    assert second.status_code == 303
    other = reader.client.get(second.headers["Location"]).get_data(as_text=True)
    assert "You rate this page 5/5" in other and "too early to tell (a page's score shows once 3 people have rated it and the week has ended)" in other
    with runtime.reader() as uow:
        mine = uow.session.execute(select(Rating.stars).where(Rating.user_id == ann["id"])
                                   .order_by(Rating.id)).scalars().all()
    assert mine == [4, 5] and provider.exchanges == 1


def test_reloading_after_rating_repeats_nothing(reader: Reader, ann: dict[str, object], runtime: Runtime) -> None:
    response = reader.sign_in(stars="2")
    for _ in range(3):
        assert reader.client.get(response.headers["Location"]).status_code == 200
    reader.rate(2)
    ratings = select(func.count()).select_from(Rating).where(Rating.user_id == ann["id"])
    events = select(func.count()).select_from(Event).where(Event.kind == "rating", Event.actor_id == ann["id"])
    assert count(runtime, ratings) == 1 and count(runtime, events) == 2


def test_a_low_rating_may_carry_a_reason_and_a_private_note(
        reader: Reader, ann: dict[str, object], runtime: Runtime) -> None:
    reader.sign_in(stars="2")
    html = reader.frame().get_data(as_text=True)
    assert "What fell short?" in html and 'value="broken_link"' in html
    assert "A private note for the community's owners and the page's owners (optional)" in html and ">Send privately</button>" in html
    assert reader.post("reason", reason="outdated", note="The VPN steps <b>changed</b>").status_code == 303
    assert reader.post("reason", reason="broken_link").status_code == 303, "a second reason replaces the first"
    with runtime.reader() as uow:
        rows = uow.session.execute(select(Feedback.reason, Feedback.comment, Feedback.stars)).all()
    assert rows == [("broken_link", "", 2)]
    after = reader.frame().get_data(as_text=True)
    assert "What fell short?" not in after and "<strong>broken link</strong>" in after
    assert "Thanks: the community's owners and the page's owners see that it is" in after


def test_a_reason_needs_a_low_rating_and_a_known_reason(reader: Reader, ann: dict[str, object]) -> None:
    reader.sign_in(stars="4")
    assert "What fell short?" not in reader.frame().get_data(as_text=True)
    assert reader.post("reason", reason="outdated").status_code == 400
    reader.rate(1)
    refused = reader.post("reason", reason="boring")
    assert refused.status_code == 400 and "not a reason" in refused.get_data(as_text=True)


def test_a_refused_reason_says_the_same_whether_or_not_anyone_else_rated_the_page(
        reader: Reader, ann: dict[str, object], runtime: Runtime) -> None:
    reader.sign_in(stars="4")
    others_rate(runtime, OTHER_PAGE, 2)
    rated_by_others = reader.post("reason", OTHER_PAGE, reason="outdated")
    rated_by_no_one = reader.post("reason", "https://wiki.acme.example/wiki/Nobody_rated_this", reason="outdated")
    assert rated_by_others.status_code == rated_by_no_one.status_code == 400
    assert rated_by_others.get_data(as_text=True) == rated_by_no_one.get_data(as_text=True).replace(
        "https://wiki.acme.example/wiki/Nobody_rated_this", OTHER_PAGE)
    assert "your own rating of 2 or less" in rated_by_others.get_data(as_text=True)


def test_a_callback_state_beyond_ascii_is_refused_like_any_other(
        client: FlaskClient, reader: Reader, ann: dict[str, object], provider: OAuthProvider) -> None:
    client.get(attribute(reader.frame().get_data(as_text=True), "data-connect"))
    refused = client.get("/oauth/callback", query_string={"code": "c" * 52, "state": "é"})
    assert refused.status_code == 403 and provider.exchanges == 0


def test_the_callback_needs_the_state_this_browser_started_with(
        client: FlaskClient, reader: Reader, ann: dict[str, object], provider: OAuthProvider,
        mattermost_contract: MattermostContract) -> None:
    forged = client.get("/oauth/callback", query_string={"code": "c" * 52, "state": "made-up"})
    assert forged.status_code == 403 and "did not start in this browser" in forged.get_data(as_text=True)
    connect = attribute(reader.frame().get_data(as_text=True), "data-connect")
    started = client.get(connect)
    assert started.status_code == 302 and started.headers["Location"].startswith(f"{MATTERMOST_TEST_URL}/oauth/")
    other_browser = FlaskClient(client.application)
    assert other_browser.get("/oauth/callback", query_string={"code": "c" * 52, "state": "x"}).status_code == 403
    assert provider.exchanges == 0 and mattermost_contract.calls == []


def test_a_code_works_once_in_the_frame_it_was_made_for(
        reader: Reader, ann: dict[str, object], clock: FakeClock, app: Flask) -> None:
    popup = reader.popup()
    code = attribute(popup.get_data(as_text=True), "data-handoff")
    stranger = Reader(app.test_client())
    assert stranger.post("signin", code=code).status_code == 403, "another browser's frame has another nonce"
    assert reader.post("signin", code=code).status_code == 303
    reader.client.delete_cookie("learnloop_frame", path="/widget/")
    assert reader.post("signin", code=code).status_code == 403, "used: the frame's nonce changed"
    late = attribute(reader.popup().get_data(as_text=True), "data-handoff")
    clock.advance(seconds=61)
    assert reader.post("signin", code=late).status_code == 403


def test_a_code_nested_too_deep_is_refused_as_any_made_up_code(reader: Reader) -> None:
    code = base64.urlsafe_b64encode(b"[" * 200_000 + b"]" * 200_000).decode().rstrip("=")
    refused = reader.post("signin", code=code)
    assert refused.status_code == 403 and "Not signed in" in refused.get_data(as_text=True)


def test_signed_in_already_the_popup_hands_over_without_mattermost(
        reader: Reader, ann: dict[str, object], provider: OAuthProvider) -> None:
    reader.sign_in()
    reader.client.delete_cookie("learnloop_frame", path="/widget/")
    popup = reader.client.get(attribute(reader.frame().get_data(as_text=True), "data-connect"))
    assert popup.status_code == 200 and 'data-origin="https://learnloop.example.com"' in popup.get_data(as_text=True)
    assert provider.exchanges == 1


def test_one_identity_across_chat_and_the_wiki(reader: Reader, ann: dict[str, object], runtime: Runtime) -> None:
    with runtime.uow() as uow:
        rate_url(uow, runtime.settings, Rater(str(ann["id"]), "town0square0channel0000000"), PAGE, 3, None,
                 runtime.clock())
    reader.sign_in()
    assert 'value="3" aria-pressed="true"' in reader.frame().get_data(as_text=True)


def test_without_oauth_the_popup_points_to_learn_signin(
        engine: object, clock: FakeClock) -> None:
    runtime = build_runtime(make_settings(wikis=[MEDIAWIKI]), clock=clock, engine=engine)  # type: ignore[arg-type]
    client = create_app(runtime).test_client()
    reader = Reader(client)
    popup = reader.popup()
    assert popup.status_code == 200 and "/learn signin" in popup.get_data(as_text=True)
    assert confirm(client, link_path(slash(client, Person("ann"), "signin")["text"])).status_code == 303
    handed = reader.popup()
    assert handed.status_code == 200 and "data-handoff" in handed.get_data(as_text=True)
    code = attribute(handed.get_data(as_text=True), "data-handoff")
    assert reader.post("signin", code=code, stars="5").status_code == 303
    assert 'value="5" aria-pressed="true"' in reader.frame().get_data(as_text=True)


def test_a_page_deleted_from_the_wiki_shows_no_rating_control(
        reader: Reader, ann: dict[str, object], runtime: Runtime) -> None:
    reader.sign_in(stars="4")
    with runtime.uow() as uow:
        item = uow.items.by_url(PAGE)
        item.followed_at = item.retired_at = runtime.clock()  # the wiki named the page, then deleted it
        uow.commit()
    html = reader.frame().get_data(as_text=True)
    assert "deleted from the wiki" in html and 'name="stars"' not in html
    token = field(reader.frame(OTHER_PAGE).get_data(as_text=True), "csrf_token")
    refused = reader.client.post("/widget/rate", data={"url": PAGE, "origin": WIKI, "stars": "5", "csrf_token": token})
    assert refused.status_code == 400 and "can no longer be rated" in refused.get_data(as_text=True)


def test_a_deleted_page_known_only_from_someone_elses_rating_looks_like_a_page_nobody_rated(
        reader: Reader, ann: dict[str, object], runtime: Runtime) -> None:
    with runtime.uow() as uow:
        item_id = rate_url(uow, runtime.settings, Rater("bob".ljust(26, "0")), PAGE, 2, None, runtime.clock()).item_id
        uow.items.retire(item_id, runtime.clock())
        uow.commit()
    reader.sign_in(page=OTHER_PAGE)
    for page in (PAGE, OTHER_PAGE):
        html = reader.frame(page).get_data(as_text=True)
        assert "deleted from the wiki" not in html and 'name="stars"' in html, page
    assert reader.rate(5).status_code == 303


def test_a_forged_form_in_the_frame_is_refused_inside_the_frame(reader: Reader) -> None:
    response = reader.client.post("/widget/rate", data={"url": PAGE, "origin": WIKI, "stars": "5"},
                                  headers={"Accept": "text/html"})
    assert response.status_code == 400 and "security token" in response.get_data(as_text=True)
    assert "frame-ancestors https://wiki.acme.example" in response.headers["Content-Security-Policy"]


def test_the_loader_points_at_this_service_and_places_a_frame(client: FlaskClient) -> None:
    response = client.get("/widget.js")
    script = response.get_data(as_text=True)
    assert response.mimetype == "application/javascript" and "max-age=3600" in response.headers["Cache-Control"]
    assert f'var base = "{PUBLIC_URL}";' in script and "innerHTML" not in script and "eval(" not in script
    assert "wgContentNamespaces" in script and 'addEventListener("load"' in script


def test_a_reader_may_thank_the_person_who_shared_the_page_by_name(
        reader: Reader, ann: dict[str, object], runtime: Runtime) -> None:
    sam = "sam".ljust(26, "0")
    with runtime.uow() as uow:
        uow.items.ensure(PAGE, kind="wiki_page", community_id=None, shared_by=sam, title="Onboarding",
                         now=runtime.clock())
        uow.commit()
    reader.sign_in(stars="4")
    frame = reader.frame().get_data(as_text=True)
    assert 'name="thank" value="1"' in frame and "Also thank the person who shared it" in frame
    thanked = reader.post("rate", stars="5", thank="1")
    assert thanked.status_code == 303 and "thanked=sent" in thanked.headers["Location"]
    assert "Thank you: your thanks go, with your name" in reader.client.get(thanked.headers["Location"]).get_data(as_text=True)
    again = reader.post("rate", stars="5", thank="1")
    assert "thanked=again" in again.headers["Location"]
    with runtime.reader() as uow:
        [message] = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == SEND_DM)).all()
    assert message.payload["user_id"] == sam and message.payload["message"].startswith("@ann thanks you for sharing")
    with runtime.reader() as uow:
        assert uow.session.scalar(select(Rating.stars).where(Rating.user_id == ann["id"])) == 5


def test_no_thank_you_box_for_ones_own_share_or_a_page_nobody_shared(
        reader: Reader, ann: dict[str, object], runtime: Runtime) -> None:
    reader.sign_in(stars="4")
    assert 'name="thank"' not in reader.frame().get_data(as_text=True), "nobody shared it"
    with runtime.uow() as uow:
        uow.items.ensure(PAGE, kind="wiki_page", community_id=None, shared_by=str(ann["id"]), title=None,
                         now=runtime.clock())
        uow.commit()
    assert 'name="thank"' not in reader.frame().get_data(as_text=True), "ann shared it herself"


def test_the_box_signs_out_on_its_own_and_then_rates_nothing(reader: Reader, ann: dict[str, object],
                                                            runtime: Runtime) -> None:
    """Signing out of learnloop's pages cannot reach the box's cookie (the wiki's site keeps it apart): it has
    a sign-out of its own, for a shared browser."""
    reader.sign_in()
    assert "Sign out of this box" in reader.frame().get_data(as_text=True)
    assert reader.post("signout").status_code == 303
    frame = reader.frame().get_data(as_text=True)
    assert "Sign in with Mattermost" in frame and "Sign out of this box" not in frame
    reader.rate(3)
    with runtime.reader() as uow:
        assert uow.session.scalars(select(Rating).where(Rating.user_id == ann["id"])).all() == []


def test_an_error_page_under_the_box_offers_no_sign_out_of_the_pages(reader: Reader, ann: dict[str, object]) -> None:
    """Under /widget/ the session is the box's: a sign-out of learnloop's pages there could only be refused."""
    reader.sign_in()
    page = reader.client.get("/widget/rate", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert "<footer>" in page and "/signout" not in page[page.index("<footer>"):]
