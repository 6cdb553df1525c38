"""The form-encoded body reader used for Mattermost's slash commands and outgoing webhooks."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from learnloop.bootstrap import Runtime
from learnloop.storage.tables import Event, Rating
from learnloop.web.form_body import FormBodyError, first_values, is_urlencoded_post, urlencoded_fields
from tests.mattermost.inbound import FIXTURES, ROUTES, load_form


def werkzeug_form(body: bytes) -> dict[str, str]:
    environ = EnvironBuilder(method="POST", data=body, content_type="application/x-www-form-urlencoded").get_environ()
    form: MultiDict[str, str] = Request(environ).form
    return form.to_dict()


@pytest.mark.parametrize("name", sorted(path.name for path in FIXTURES.glob("*.form")))
def test_every_recorded_form_reads_as_werkzeug_reads_it(name: str) -> None:
    body = urlencode(sorted(load_form(name).items())).encode("ascii")
    assert first_values(body) == werkzeug_form(body)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"a=1&b=two", {"a": "1", "b": "two"}),
        (b"text=rate+https%3A%2F%2Fwiki.example%2FA%C3%A9+5", {"text": "rate https://wiki.example/Aé 5"}),
        (b"a=first&a=second", {"a": "first"}),
        (b"flag&b=&&c=3", {"flag": "", "b": "", "c": "3"}),
        (b"", {}),
        (b"a=1;b=2", {"a": "1;b=2"}),
        (b"a%5Bx%5D=%2B1", {"a[x]": "+1"}),
        (b"bad=%ZZ%4", {"bad": "%ZZ%4"}),
        (b"eq=a%3Db=c", {"eq": "a=b=c"}),
    ],
)
def test_fields_are_decoded_as_werkzeug_decodes_them(body: bytes, expected: dict[str, str]) -> None:
    assert first_values(body) == expected == werkzeug_form(body)


def test_a_percent_escape_that_is_not_utf8_becomes_a_replacement_character() -> None:
    assert first_values(b"name=caf%E9") == {"name": "caf\ufffd"}


def test_a_body_that_is_not_utf8_is_refused_with_the_byte_named() -> None:
    with pytest.raises(FormBodyError, match=r"not UTF-8 \(byte 5 is 0xe9\)"):
        first_values(b"name=\xe9t\xe9")


@pytest.mark.parametrize(
    ("method", "query", "content_type", "expected"),
    [
        ("POST", "", "application/x-www-form-urlencoded", True),
        ("POST", "", "Application/X-WWW-Form-Urlencoded; charset=UTF-8", True),
        ("POST", "token=abc", "application/x-www-form-urlencoded", False),
        ("POST", "", "application/json", False),
        ("POST", "", "multipart/form-data; boundary=x", False),
        ("GET", "", "application/x-www-form-urlencoded", False),
    ],
)
def test_only_a_form_encoded_post_without_a_query_string_is_read_here(
    method: str, query: str, content_type: str, expected: bool
) -> None:
    environ = EnvironBuilder(method=method, query_string=query, data=b"a=1", content_type=content_type).get_environ()
    assert is_urlencoded_post(Request(environ)) is expected


def _count(runtime: Runtime, model: type) -> int:
    with runtime.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(model)) or 0


def test_a_slash_command_body_that_is_not_utf8_is_a_clear_400_and_stores_nothing(
    client: FlaskClient, runtime: Runtime
) -> None:
    fields = load_form("slash_command__rate.form")
    body = urlencode(sorted(fields.items())).encode("ascii") + b"&note=\xff"
    response = client.post(ROUTES["slash_command"], data=body, content_type="application/x-www-form-urlencoded",
                           headers={"Authorization": f"Token {fields['token']}"})
    assert response.status_code == 400
    assert "malformed slash command: the form body is not UTF-8" in response.get_json()["error"]["message"]
    assert _count(runtime, Rating) == 0 and _count(runtime, Event) == 0


def test_a_slash_command_with_a_charset_parameter_is_served(client: FlaskClient, runtime: Runtime) -> None:
    fields = load_form("slash_command__rate.form")
    response = client.post(ROUTES["slash_command"], data=urlencode(sorted(fields.items())),
                           content_type="application/x-www-form-urlencoded; charset=utf-8",
                           headers={"Authorization": f"Token {fields['token']}"})
    assert response.status_code == 200 and "Thanks" in response.get_json()["text"]
    assert _count(runtime, Rating) == 1


def test_a_post_with_a_query_string_still_merges_it_with_the_body(client: FlaskClient, runtime: Runtime) -> None:
    """Fields in the URL come first, as werkzeug's `request.values` gives them."""
    fields = load_form("slash_command__rate.form")
    token = fields.pop("token")
    response = client.post(ROUTES["slash_command"], query_string={"token": token}, data=urlencode(sorted(fields.items())),
                           content_type="application/x-www-form-urlencoded", headers={"Authorization": f"Token {token}"})
    assert response.status_code == 200
    assert _count(runtime, Rating) == 1


def test_an_outgoing_webhook_body_that_is_not_utf8_is_a_clear_400(client: FlaskClient, runtime: Runtime) -> None:
    fields = load_form("outgoing_webhook__link_shared.form")
    body = urlencode(sorted(fields.items())).encode("ascii") + b"&x=\xc3"
    response = client.post(ROUTES["outgoing_webhook"], data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert "malformed outgoing webhook: the form body is not UTF-8" in response.get_json()["error"]["message"]
    assert _count(runtime, Event) == 0


def _form_request(body: bytes, **environ: object) -> Request:
    built = EnvironBuilder(method="POST", data=body, content_type="application/x-www-form-urlencoded").get_environ()
    built.update(environ)
    return Request({k: v for k, v in built.items() if v is not None})


def test_a_body_shorter_than_its_content_length_is_refused() -> None:
    with pytest.raises(FormBodyError, match="ended after 7 of the 90 bytes"):
        urlencoded_fields(_form_request(b"a=1&b=2", CONTENT_LENGTH="90"))


def test_a_body_without_a_content_length_is_read_to_its_end() -> None:
    """A chunked request: the server marks the input as terminated and werkzeug reads it to the end."""
    request = _form_request(b"a=1&b=%2F", CONTENT_LENGTH=None, **{"wsgi.input_terminated": True})
    assert urlencoded_fields(request) == {"a": "1", "b": "/"}
