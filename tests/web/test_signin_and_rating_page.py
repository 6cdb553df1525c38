"""Signing in from a one-time link, and rating a wiki page from its "Was this useful?" box."""

from __future__ import annotations

import re
import time

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from learnloop.bootstrap import Runtime
from learnloop.storage.tables import Feedback, Rating
from tests.conftest import FakeClock
from tests.prompts.world import Person, slash
from tests.web.links import confirm, link_path

ANN = Person("ann")
PAGE = "https://wiki.acme.example/wiki/Onboarding"


def signin_link(client: FlaskClient, person: Person = ANN) -> str:
    return link_path(slash(client, person, "signin")["text"])


def signed_in(client: FlaskClient, person: Person = ANN) -> None:
    assert confirm(client, signin_link(client, person)).status_code == 303


def csrf(client: FlaskClient) -> str:
    page = client.get("/rate", query_string={"url": PAGE}).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_a_link_signs_in_once_and_a_get_does_not_use_it(client: FlaskClient) -> None:
    path = signin_link(client)
    assert client.get(path).status_code == 200, "a link preview fetching the URL does not consume it"
    assert client.get(path).status_code == 200
    response = confirm(client, path)
    assert response.status_code == 303 and response.headers["Location"] == "/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    assert "Signed in as @ann" in client.get("/").get_data(as_text=True)
    assert confirm(FlaskClient(client.application), path).status_code == 403, "used links stay used"


def test_links_expire_after_ten_minutes(client: FlaskClient, clock: FakeClock) -> None:
    path = signin_link(client)
    client.get(path)
    clock.advance(minutes=10, seconds=1)
    assert client.get(path).status_code == 403
    assert confirm(client, path).status_code == 403
    assert confirm(client, "/signin?token=made-up-token").status_code == 403
    said = client.get(path).get_data(as_text=True)
    assert "/learn dashboard in your community&#39;s channel" in said, "dashboard links are sign-in links too"
    assert "/learn signin" in said


def test_error_pages_end_in_one_full_stop(client: FlaskClient) -> None:
    said = client.get("/no-such-page", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert "try again." in said and ".." not in said


def test_rating_from_the_wiki_is_the_same_rating_as_in_chat(client: FlaskClient, runtime: Runtime) -> None:
    slash(client, ANN, f"rate {PAGE} 2")
    signed_in(client)
    page = client.get("/rate", query_string={"url": PAGE + "?utm_source=wiki"})
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and 'value="2" checked' in body
    assert "A private note for the community's owners and the page's owners (optional)" in body, "the same owners as the widget and chat name"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    response = client.post("/rate", data={"csrf_token": csrf(client), "url": PAGE, "stars": "5",
                                          "comment": "<script>alert(1)</script> the VPN part"})
    assert response.status_code == 303, "post/redirect/get: a reload repeats nothing"
    text = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "you rate it 5/5" in text
    with runtime.uow() as uow:
        assert [(r.user_id, r.stars) for r in uow.session.scalars(select(Rating))] == [(ANN.id, 5)]
        assert uow.session.scalars(select(Feedback)).one().comment.startswith("<script>")
    assert "<script>alert(1)</script>" not in text


def test_rating_needs_a_signed_in_person_and_a_csrf_token(client: FlaskClient, runtime: Runtime) -> None:
    assert client.get("/rate", query_string={"url": PAGE}).status_code == 401
    assert client.post("/rate", data={"url": PAGE, "stars": "4"}).status_code == 401
    signed_in(client)
    for guess in ("guess", "é✓"):  # not ASCII: compared as bytes, a 400 too
        forged = client.post("/rate", data={"url": PAGE, "stars": "4", "csrf_token": guess})
        assert forged.status_code == 400 and "security token" in forged.get_json()["error"]["message"]
    with runtime.uow() as uow:
        assert uow.session.scalars(select(Rating)).all() == []


@pytest.mark.parametrize(("url", "stars", "expected"), [("javascript:alert(1)", "4", "not an http"),
                                                        (PAGE, "9", "out of range")])
def test_bad_input_on_the_rating_page(client: FlaskClient, url: str, stars: str, expected: str) -> None:
    signed_in(client)
    response = client.post("/rate", data={"csrf_token": csrf(client), "url": url, "stars": stars})
    assert response.status_code == 400 and expected in response.get_data(as_text=True)


def test_a_nul_in_a_comment_is_refused_and_nothing_stored(client: FlaskClient, runtime: Runtime) -> None:
    signed_in(client)
    response = client.post("/rate", data={"csrf_token": csrf(client), "url": PAGE, "stars": "4",
                                          "comment": "fine\x00then"})
    assert response.status_code == 400 and "NUL character" in response.get_data(as_text=True)
    with runtime.uow() as uow:
        assert uow.session.scalars(select(Rating)).all() == [] and uow.session.scalars(select(Feedback)).all() == []


def test_the_rate_page_escapes_what_it_echoes(client: FlaskClient) -> None:
    signed_in(client)
    body = client.get("/rate", query_string={"url": 'https://wiki.acme.example/"><script>x</script>'}).get_data(
        as_text=True)
    assert "<script>x</script>" not in body


def test_the_widget_script_points_at_this_service(client: FlaskClient) -> None:
    response = client.get("/widget.js")
    assert response.mimetype == "application/javascript"
    script = response.get_data(as_text=True)
    assert '"https://learnloop.example.com"' in script and "innerHTML" not in script


def test_a_sign_in_link_posted_from_another_browser_signs_nobody_in(app, client: FlaskClient) -> None:
    """Login CSRF: an attacker opens their own link (their browser gets the nonce), then a page elsewhere makes
    the victim's browser post the attacker's token. The victim's browser has no nonce for it, so nothing
    happens; the attacker's link still works in the attacker's own browser."""
    attacker, victim = client, app.test_client()
    path = signin_link(attacker, Person("mallory"))
    page = attacker.get(path).get_data(as_text=True)
    token = re.search(r'name="token" value="([^"]*)"', page).group(1)
    nonce = re.search(r'name="nonce" value="([^"]*)"', page).group(1)
    for form in ({"token": token}, {"token": token, "nonce": nonce}, {"token": token, "nonce": "guessed"}):
        refused = victim.post("/signin", data=form)
        assert refused.status_code == 403 and "did not come from the browser that opened the link" in \
            refused.get_data(as_text=True)
        assert victim.get("/rate", query_string={"url": PAGE}).status_code == 401, "the victim is still signed out"
    assert attacker.post("/signin", data={"token": token, "nonce": nonce}).status_code == 303, "still unused"


def test_a_link_s_page_names_the_account_it_signs_in(client: FlaskClient) -> None:
    """Someone may send you their own link: you would be signed in as them, and what you rate and write would be
    theirs to read. The page says whose it is before anything happens."""
    page = client.get(signin_link(client)).get_data(as_text=True)
    assert "This link signs you in as <strong>@ann</strong>" in page and "Continue as @ann" in page


def test_signing_out_forgets_me_in_this_browser(client: FlaskClient) -> None:
    confirm(client, signin_link(client))
    home = client.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', home).group(1)
    assert client.post("/signout", data={}).status_code == 400, "a form from elsewhere signs no one out"
    assert "Signed out" in client.post("/signout", data={"csrf_token": token}).get_data(as_text=True)
    assert "Type /learn signin" in client.get("/").get_data(as_text=True)


def test_the_footer_s_sign_out_signs_out_from_any_page(client: FlaskClient) -> None:
    confirm(client, signin_link(client))
    page = client.get("/privacy").get_data(as_text=True)
    footer = page[page.index("<footer>"):]
    assert '<form method="post" action="/signout"' in footer and ">Sign out</button>" in footer
    token = re.search(r'name="csrf_token" value="([^"]+)"', footer).group(1)
    assert "Signed out" in client.post("/signout", data={"csrf_token": token}).get_data(as_text=True)
    assert "Sign out" not in client.get("/privacy").get_data(as_text=True)


def test_the_home_page_has_one_sign_out(client: FlaskClient) -> None:
    confirm(client, signin_link(client))
    assert client.get("/").get_data(as_text=True).count(">Sign out</button>") == 1


def test_a_session_ends_twelve_hours_after_signing_in_however_often_it_is_used(
        client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    confirm(client, signin_link(client))
    signed_in_at = time.time()
    for hours in (11, 11.9):
        monkeypatch.setattr(time, "time", lambda hours=hours: signed_in_at + hours * 3600)
        assert "Signed in as @ann" in client.get("/").get_data(as_text=True)
    monkeypatch.setattr(time, "time", lambda: signed_in_at + 12.1 * 3600)
    assert "Type /learn signin" in client.get("/").get_data(as_text=True)


def test_the_cacheable_loader_sets_no_cookie_for_someone_signed_in(client: FlaskClient) -> None:
    """/widget.js may be kept by a shared cache: an answer carrying someone's session cookie must not be."""
    confirm(client, signin_link(client))
    loader = client.get("/widget.js")
    assert "public" in loader.headers["Cache-Control"] and "Set-Cookie" not in loader.headers


def test_a_link_opened_after_a_session_ended_signs_in_at_the_first_try(
        client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ending a session forgets who was signed in, not the nonce the link's page has just given this browser."""
    confirm(client, signin_link(client))
    signed_in_at = time.time()
    monkeypatch.setattr(time, "time", lambda: signed_in_at + 11 * 3600)
    with client.session_transaction() as kept:  # written again later (the dashboard keeps roles in it)
        kept["roles"] = {}
    monkeypatch.setattr(time, "time", lambda: signed_in_at + 13 * 3600)
    response = confirm(client, signin_link(client))
    assert response.status_code == 303, response.get_data(as_text=True)
    assert "Signed in as @ann" in client.get("/").get_data(as_text=True)
