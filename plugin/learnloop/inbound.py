"""What every inbound route shares (Mattermost's, the wikis' and the pages'): reading a request's fields
safely, error replies, and log lines that a request cannot forge.

Nothing here trusts the body: it is read as UTF-8 strictly, JSON is parsed with a bound on nesting, and
text with lone surrogates (which no store or signature can take) or a NUL character (which PostgreSQL's text
cannot hold, and which neither Mattermost nor a wiki sends) is refused with a 400 that says why."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from flask import Request, Response, jsonify

MAX_JSON_DEPTH = 32
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
FORM_URLENCODED = "application/x-www-form-urlencoded"


class BadBody(ValueError):
    """The body cannot be read as what it claims to be; the message says what is wrong."""


def json_error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"error": {"status": status, "message": message}}), status


def escape_controls(text: str) -> str:
    """`text` with control characters and line separators written as \\x escapes, so it stays on one line."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)


def for_log(value: object, limit: int = 80) -> str:
    """A value from a request as one safe log token: control characters escaped, at most `limit` characters."""
    text = str(value)
    return repr(escape_controls(text[:limit]) + ("…" if len(text) > limit else ""))


def _check_text(value: str, where: str) -> None:
    if _SURROGATE.search(value):
        raise BadBody(f"{where} contains a lone surrogate, which is not valid Unicode text")
    if "\x00" in value:
        raise BadBody(f"{where} contains a NUL character (\\x00), which text cannot hold")


def _check(value: Any, where: str, depth: int = 0) -> None:
    if depth > MAX_JSON_DEPTH:
        raise BadBody(f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep")
    if isinstance(value, str):
        _check_text(value, where)
    elif isinstance(value, dict):
        for name, item in value.items():
            _check_text(name, where)
            _check(item, f"{where}.{name}"[:60], depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check(item, where, depth + 1)


def parse_json(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadBody(f"the body is not UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(text)
    except RecursionError:  # the parser's own bound, far deeper than ours
        raise BadBody(f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep") from None
    except ValueError:
        raise BadBody("the body is not JSON") from None
    _check(value, "body")
    return value


def json_body(request: Request) -> Any:
    """The request's JSON body, whatever its Content-Type claims; BadBody if it is not JSON."""
    return parse_json(request.get_data(cache=True))


def form_fields(body: bytes) -> dict[str, str]:
    """An application/x-www-form-urlencoded body: each field's first value."""
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise BadBody(f"the body is not UTF-8 text (byte {exc.start})") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        _check_text(name, "a field name")
        _check_text(value, f"field {name[:40]!r}")
        fields.setdefault(name, value)
    return fields


def request_fields(request: Request) -> dict[str, Any]:
    """The fields a webhook sent: a form-encoded body (what Mattermost sends; a query string's fields come
    first), a JSON object, or, for a GET, the query string. Raises BadBody."""
    content_type = (request.mimetype or "").lower()
    if request.method == "GET":
        return form_fields(request.query_string)
    if content_type == FORM_URLENCODED:
        fields = form_fields(request.query_string) if request.query_string else {}
        for name, value in form_fields(request.get_data(cache=True)).items():
            fields.setdefault(name, value)
        return fields
    if request.is_json:
        body = json_body(request)
        if not isinstance(body, dict):
            raise BadBody("the JSON body must be an object")
        return body
    raise BadBody(f"expected a form-encoded or JSON body, got Content-Type '{content_type[:60] or 'none'}'")
