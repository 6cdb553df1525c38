"""Contract harness: every outbound Mattermost REST call is checked against the
official OpenAPI source in ``shared/contracts/mattermost-api-v4`` (see its
README for the merge recipe) before a canned reply is served."""

from __future__ import annotations

import copy
import functools
import json as jsonlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
import responses
import yaml
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest
from openapi_core.exceptions import OpenAPIError
from openapi_core.templating.paths.exceptions import PathError
from openapi_core.templating.paths.finders import APICallPathFinder
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_schema_validator import OAS30Validator
from responses.registries import FirstMatchRegistry
from werkzeug.datastructures import Headers

SPEC_DIR_ENV = "LEARNLOOP_MATTERMOST_OPENAPI_DIR"
DEFAULT_SPEC_DIR = (
    Path(__file__).resolve().parents[2].parent / "shared" / "contracts" / "mattermost-api-v4"
)
ROOT_FILE = "introduction.yaml"
DEFINITIONS_FILE = "definitions.yaml"

COMMAND_RESPONSE_KEYS = frozenset(
    {
        "response_type", "text", "username", "channel_id", "icon_url", "type", "props",
        "goto_location", "trigger_id", "skip_slack_parsing", "attachments", "extra_responses",
    }
)
EXTRA_RESPONSE_KEYS = COMMAND_RESPONSE_KEYS - {"extra_responses", "goto_location"}
COMMAND_RESPONSE_TYPES = frozenset({"", "ephemeral", "in_channel"})
RATE_LIMIT_BODY = "limit exceeded"
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def spec_dir() -> Path:
    configured = os.environ.get(SPEC_DIR_ENV)
    directory = Path(configured) if configured else DEFAULT_SPEC_DIR
    if not (directory / ROOT_FILE).is_file() or not (directory / DEFINITIONS_FILE).is_file():
        pytest.fail(
            f"Mattermost OpenAPI source not found in {directory} (expected {ROOT_FILE} and "
            f"{DEFINITIONS_FILE}). Provide shared/contracts/mattermost-api-v4 next to the repo "
            f"or set {SPEC_DIR_ENV}.",
            pytrace=False,
        )
    return directory


def _load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_YAML_LOADER)


@functools.cache
def merged_spec(directory: Path) -> dict[str, Any]:
    """The upstream ``cat`` build, done structurally. Cached: treat as read-only."""
    root = _load_yaml((directory / ROOT_FILE).read_text(encoding="utf-8"))
    paths: dict[str, Any] = root.get("paths") or {}
    for fragment in sorted(directory.glob("*.yaml")):
        if fragment.name in (ROOT_FILE, DEFINITIONS_FILE):
            continue
        fragment_paths = _load_yaml("paths:\n" + fragment.read_text(encoding="utf-8"))["paths"] or {}
        duplicated = paths.keys() & fragment_paths.keys()
        if duplicated:
            raise ValueError(f"{fragment.name} redefines paths {sorted(duplicated)}")
        paths.update(fragment_paths)
    root["paths"] = paths
    root.update(_load_yaml((directory / DEFINITIONS_FILE).read_text(encoding="utf-8")))
    return root


def _apply_known_fixes(spec: dict[str, Any]) -> dict[str, Any]:
    """Spec defects fixed in memory; the Go server is the tie-breaker."""
    spec = copy.deepcopy(spec)
    spec["servers"] = [{"url": "/"}]
    paths = spec["paths"]
    paths["/api/v4/users/{user_id}/posts/{post_id}/ack"]["delete"]["operationId"] = (
        "DeleteAcknowledgementForPost"
    )
    # model.PostPatch.Props / model.Post.Props are maps (StringInterface), not strings.
    for path, method in (("/api/v4/posts/{post_id}/patch", "put"), ("/api/v4/posts/{post_id}", "put")):
        body_schema = paths[path][method]["requestBody"]["content"]["application/json"]["schema"]
        body_schema["properties"]["props"] = {"type": "object"}
    # model.User.Timezone is a StringMap: the server sends "useAutomaticTimezone": "true".
    spec["components"]["schemas"]["Timezone"]["properties"]["useAutomaticTimezone"]["type"] = "string"
    _close_request_bodies(spec)
    return spec


SERVER_ACCEPTS = {
    ("/api/v4/posts", "post"): {"pending_post_id": {"type": "string"}},  # model.Post.PendingPostId
    ("/api/v4/bots", "post"): {"description": {"type": "string"}},  # model.Bot.Description
    ("/api/v4/bots/{bot_user_id}", "put"): {"description": {"type": "string"}},  # model.BotPatch.Description
    ("/api/v4/hooks/outgoing", "post"): {"description": {"type": "string"}},  # model.OutgoingWebhook.Description
    ("/api/v4/commands", "post"): {  # model.Command
        "display_name": {"type": "string"}, "description": {"type": "string"}, "auto_complete": {"type": "boolean"},
        "auto_complete_desc": {"type": "string"}, "auto_complete_hint": {"type": "string"},
        "username": {"type": "string"}, "icon_url": {"type": "string"}},
}
"""Body fields the Go server's models take that the spec's request schemas leave out."""
WHOLE_MODEL_UPDATES = {
    ("/api/v4/hooks/outgoing/{hook_id}", "put"),  # api4/webhook.go updateOutgoingHook: a whole model.OutgoingWebhook
    ("/api/v4/oauth/apps/{app_id}", "put"),  # api4/oauth.go updateOAuthApp: a whole model.OAuthApp
    ("/api/v4/commands/{command_id}", "put"),  # api4/command.go updateCommand: a whole model.Command
}
"""Updates that take the object as read back, every field of the model: their bodies stay open."""


def _close_request_bodies(spec: dict[str, Any]) -> None:
    """Every JSON request body object takes only the fields its schema names (plus SERVER_ACCEPTS), so a
    misspelt optional field fails the test instead of being ignored by the server."""
    components = spec["components"]["schemas"]
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            media = ((operation.get("requestBody") or {}).get("content") or {}).get("application/json")
            if not isinstance(operation, dict) or not media or "schema" not in media \
                    or (path, method) in WHOLE_MODEL_UPDATES:
                continue
            schema = media["schema"]
            if "$ref" in schema:  # shared with replies: close a copy
                schema = copy.deepcopy(components[schema["$ref"].rsplit("/", 1)[-1]])
            if schema.get("type") == "object" and "properties" in schema and "allOf" not in schema:
                schema = {**schema, "properties": {**schema["properties"], **SERVER_ACCEPTS.get((path, method), {})},
                          "additionalProperties": False}
            media["schema"] = schema


@functools.cache
def mattermost_openapi(directory: Path) -> OpenAPI:
    return OpenAPI.from_dict(_apply_known_fixes(merged_spec(directory)))


@dataclass(frozen=True)
class RecordedCall:
    method: str
    path: str
    query: dict[str, list[str]]
    json: Any
    headers: dict[str, str]
    operation_id: str | None


@dataclass(frozen=True)
class _CannedReply:
    status: int
    headers: dict[str, str]
    body: bytes | Exception

    @property
    def content_type(self) -> str:
        return Headers(self.headers).get("Content-Type", "").lower()


@dataclass(frozen=True)
class _OpenAPIResponse:
    """openapi-core's Response protocol for a canned reply."""

    status_code: int
    content_type: str
    data: bytes
    headers: Headers = field(default_factory=Headers)


class _ReportingRegistry(FirstMatchRegistry):
    """Lets the contract report requests nobody registered a reply for."""

    def __init__(self) -> None:
        super().__init__()
        self.on_unmatched: Callable[[requests.PreparedRequest], None] | None = None

    def find(self, request: requests.PreparedRequest) -> tuple[Any, list[str]]:
        match, reasons = super().find(request)
        if match is None and self.on_unmatched is not None:
            self.on_unmatched(request)
        return match, reasons


def _canned_reply(
    status: int, json: Any, body: str | bytes | Exception | None, headers: Mapping[str, str] | None
) -> _CannedReply:
    if json is not None and body is not None:
        raise ValueError("pass either json or body, not both")
    merged = dict(headers or {})
    if isinstance(body, Exception):
        return _CannedReply(status, merged, body)
    has_content_type = any(name.lower() == "content-type" for name in merged)
    if json is not None:
        if not has_content_type:
            merged["Content-Type"] = "application/json"
        return _CannedReply(status, merged, jsonlib.dumps(json).encode())
    if not has_content_type:
        merged["Content-Type"] = "text/plain; charset=utf-8"
    return _CannedReply(status, merged, body.encode() if isinstance(body, str) else body or b"")


def _request_json(request: requests.PreparedRequest) -> Any:
    if not request.body or "json" not in request.headers.get("Content-Type", ""):
        return None
    raw = request.body.decode() if isinstance(request.body, bytes) else request.body
    try:
        return jsonlib.loads(raw)
    except ValueError:
        return None


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    cause = exc.__cause__
    if cause is not None and str(cause) not in text:
        text = f"{text} ({cause})"
    return text


class MattermostContract:
    """``responses`` mock that validates every request (and canned reply) against the spec.

    Use as a context manager. Violations raise ``AssertionError`` inside the
    request and are kept in ``violations`` in case the code under test
    swallows the exception.
    """

    def __init__(
        self,
        base_url: str = "http://mattermost.test",
        *,
        expected_token: str | None = None,
        spec_directory: Path | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.expected_token = expected_token
        self.openapi = mattermost_openapi(spec_directory or spec_dir())
        self.calls: list[RecordedCall] = []
        self.violations: list[str] = []
        self._mock = responses.RequestsMock(assert_all_requests_are_fired=False, registry=_ReportingRegistry)
        registry = self._mock.get_registry()
        assert isinstance(registry, _ReportingRegistry)
        registry.on_unmatched = self._unmatched
        self._base_path = urlsplit(self.base_url).path

    def __enter__(self) -> MattermostContract:
        self._mock.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._mock.stop()
        self._mock.reset()

    def add(
        self,
        method: str,
        path: str | re.Pattern[str],
        *,
        status: int = 200,
        json: Any = None,
        body: str | bytes | Exception | None = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> None:
        """Register a reply for ``base_url + path`` (query ignored unless ``query`` is given).

        ``path`` may be a regex matched against the URL after ``base_url``.
        ``body`` may be an exception (e.g. ``requests.Timeout()``) to raise
        after the request has been validated. Registering the same route
        twice serves the replies in order.
        """
        method = method.upper()
        reply = _canned_reply(status, json, body, headers)
        if isinstance(path, str):
            probe = requests.Request(method, self._url(path)).prepare()
            if self._find_operation(probe) is not None:
                self._check_reply(probe, reply)

        def callback(request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes] | Exception:
            operation_id = self._check_request(request)
            if not isinstance(path, str):
                self._check_reply(request, reply)
            self._record(request, operation_id)
            if isinstance(reply.body, Exception):
                return reply.body
            return reply.status, reply.headers, reply.body

        match = [responses.matchers.query_param_matcher(dict(query))] if query is not None else []
        self._mock.add_callback(method, self._url(path), callback, content_type=None, match=match)

    def add_handler(
        self,
        method: str,
        path: re.Pattern[str],
        handler: Callable[[requests.PreparedRequest, re.Match[str]], tuple[int, Any]],
    ) -> None:
        """Register a stateful stand-in: ``handler(request, match)`` returns ``(status, json)``.

        The request and the reply it builds are both validated against the spec, as for ``add``.
        """
        method = method.upper()
        url_pattern = self._url(path)
        assert isinstance(url_pattern, re.Pattern)

        def callback(request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
            operation_id = self._check_request(request)
            match = url_pattern.match((request.url or "").split("?", 1)[0])
            assert match is not None
            status, payload = handler(request, match)
            reply = _canned_reply(status, payload, None, None)
            self._check_reply(request, reply)
            self._record(request, operation_id)
            assert isinstance(reply.body, bytes)
            return reply.status, reply.headers, reply.body

        self._mock.add_callback(method, url_pattern, callback, content_type=None)

    def add_unvalidated(
        self,
        url: str | re.Pattern[str],
        *,
        status: int = 200,
        body: str | bytes | Exception | None = "ok",
        headers: Mapping[str, str] | None = None,
        methods: tuple[str, ...] = HTTP_METHODS,
        check: Callable[[requests.PreparedRequest], list[str]] | None = None,
        reply: Callable[[requests.PreparedRequest, re.Match[str] | None], tuple[int, Any]] | None = None,
    ) -> None:
        """Register a call the REST spec does not describe.

        By default a slash-command ``response_url``: requests are checked against reference §2a
        instead (POST, JSON object with only CommandResponse keys, no bot credentials).

        For an endpoint newer than the spec copy (channel bookmarks, server 9.5+), ``check`` returns
        what is wrong with a request, following the server's source, and ``reply`` builds
        ``(status, json)`` for a stateful stand-in; a JSON error reply must still be an AppError.
        ``url`` may then be a regex matched after ``base_url``.
        """
        canned = _canned_reply(status, None, body, headers)
        full_url = url if isinstance(url, str) and urlsplit(url).scheme else self._url(url)
        pattern = full_url if isinstance(full_url, re.Pattern) else None
        checker = check or _command_response_problems
        label = "response_url" if check is None else "not in the spec"

        def callback(request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes] | Exception:
            problems = checker(request)
            if problems:
                self._violation(f"{request.method} {urlsplit(request.url or '').path} ({label}): "
                                + "; ".join(problems))
            self._record(request, None)
            answer = canned
            if reply is not None:
                match = pattern.match((request.url or "").split("?", 1)[0]) if pattern is not None else None
                answer = _canned_reply(*reply(request, match), None, None)
                if answer.status >= 400:
                    self._check_undocumented_reply(answer, f"stand-in {answer.status} reply for {request.method} "
                                                   f"{urlsplit(request.url or '').path}")
            if isinstance(answer.body, Exception):
                return answer.body
            return answer.status, answer.headers, answer.body

        for method in methods:
            self._mock.add_callback(method, full_url, callback, content_type=None)

    def add_outside_spec(
        self,
        method: str,
        path: str,
        handler: Callable[[requests.PreparedRequest], tuple[int, dict[str, str], bytes]],
    ) -> None:
        """Register a stand-in for a Mattermost route outside the REST API (the OAuth 2.0 provider's
        ``/oauth/access_token``), which the spec does not describe: the handler follows the Go server instead.
        The path must really be outside the spec, so that nothing the spec covers escapes validation."""
        method = method.upper()
        probe = requests.Request(method, self._url(path)).prepare()
        if self._find_operation(probe) is not None:
            raise ValueError(f"{method} {path} is in the spec: use add() or add_handler()")

        def callback(request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
            self._record(request, None)
            return handler(request)

        self._mock.add_callback(method, self._url(path), callback, content_type=None)

    def add_misbehaving(self, method: str, path: str, *, status: int = 200, body: bytes = b"",
                        headers: Mapping[str, str] | None = None) -> None:
        """A reply the spec forbids (the wrong JSON shape, a redirect to another host), to test how learnloop
        copes with a host or a proxy in front of it that misbehaves; the request is still checked."""
        method = method.upper()
        reply = _canned_reply(status, None, body, {"Content-Type": "application/json", **(headers or {})})

        def callback(request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
            self._record(request, self._check_request(request))
            assert isinstance(reply.body, bytes)
            return reply.status, reply.headers, reply.body

        self._mock.add_callback(method, self._url(path), callback, content_type=None)

    def add_passthru(self, prefix: str | re.Pattern[str]) -> None:
        """Let requests to e.g. a real local test server through the mock."""
        self._mock.add_passthru(prefix)

    def assert_no_violations(self) -> None:
        assert not self.violations, "Mattermost contract violations:\n" + "\n".join(self.violations)

    def _url(self, path: str | re.Pattern[str]) -> str | re.Pattern[str]:
        if isinstance(path, str):
            return self.base_url + path
        return re.compile(re.escape(self.base_url) + path.pattern, path.flags)

    def _record(self, request: requests.PreparedRequest, operation_id: str | None) -> None:
        parts = urlsplit(request.url or "")
        self.calls.append(
            RecordedCall(
                method=request.method or "",
                path=parts.path,
                query=parse_qs(parts.query),
                json=_request_json(request),
                headers=dict(request.headers),
                operation_id=operation_id,
            )
        )

    def _unmatched(self, request: requests.PreparedRequest) -> None:
        url = request.url or ""
        if not url.startswith(self.base_url + "/"):
            return
        found = self._find_operation(request)
        known = f"spec operation {found[0]}" if found else "not in the spec either"
        self._violation(
            f"{request.method} {urlsplit(url).path}: no canned reply registered ({known}); "
            "use contract.add() or contract.add_unvalidated()"
        )

    def _violation(self, message: str) -> None:
        self.violations.append(message)
        raise AssertionError(message)

    def _spec_request(self, request: requests.PreparedRequest) -> RequestsOpenAPIRequest:
        """The request as the spec sees it: base URL path prefix removed."""
        if not self._base_path:
            return RequestsOpenAPIRequest(request)
        rebased = request.copy()
        parts = urlsplit(request.url or "")
        path = parts.path.removeprefix(self._base_path) or "/"
        rebased.url = urljoin(f"{parts.scheme}://{parts.netloc}", path) + (
            f"?{parts.query}" if parts.query else ""
        )
        return RequestsOpenAPIRequest(rebased)

    def _find_operation(
        self, request: requests.PreparedRequest
    ) -> tuple[str, str, dict[str, Any]] | None:
        spec_request = self._spec_request(request)
        try:
            found = APICallPathFinder(self.openapi.spec).find(
                spec_request.method, spec_request.host_url + spec_request.path
            )
        except PathError:
            return None
        operation: dict[str, Any] = found.operation.read_value()
        return operation.get("operationId", "?"), found.path_result.pattern, operation

    def _check_request(self, request: requests.PreparedRequest) -> str | None:
        label = f"{request.method} {urlsplit(request.url or '').path}"
        found = self._find_operation(request)
        if found is None:
            self._violation(self._not_found_message(request, label))
            return None
        operation_id, template, operation = found
        label = f"{label} ({operation_id} {request.method} {template})"
        try:
            self.openapi.validate_request(self._spec_request(request))
        except OpenAPIError as exc:
            self._violation(f"{label}: {_describe(exc)}")
        if self._requires_bearer(operation):
            self._check_bearer(request, label)
        return operation_id

    def _not_found_message(self, request: requests.PreparedRequest, label: str) -> str:
        try:
            self.openapi.validate_request(self._spec_request(request))
        except OpenAPIError as exc:
            return f"{label}: {_describe(exc)}"
        return f"{label}: no such operation in the Mattermost API spec"

    def _requires_bearer(self, operation: dict[str, Any]) -> bool:
        security = operation.get("security")
        if security is None:
            security = self.openapi.spec.read_value().get("security") or []
        return any("bearerAuth" in requirement for requirement in security)

    def _check_bearer(self, request: requests.PreparedRequest, label: str) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            self._violation(f"{label}: missing 'Authorization: Bearer <token>'")
        elif self.expected_token is not None and token != self.expected_token:
            self._violation(f"{label}: bearer token is not the configured bot token")

    def _check_reply(self, request: requests.PreparedRequest, reply: _CannedReply) -> None:
        if isinstance(reply.body, Exception):
            return
        label = f"canned {reply.status} reply for {request.method} {urlsplit(request.url or '').path}"
        if reply.status == 429 and reply.content_type.startswith("text/plain"):
            if reply.body.decode().strip() != RATE_LIMIT_BODY:
                self._violation(f"{label}: Mattermost answers 429 with text/plain '{RATE_LIMIT_BODY}'")
            return
        response = _OpenAPIResponse(reply.status, reply.content_type, reply.body, Headers(reply.headers))
        try:
            self.openapi.validate_response(self._spec_request(request), response)
        except ResponseNotFound:
            self._check_undocumented_reply(reply, label)
        except OpenAPIError as exc:
            self._violation(f"{label}: {_describe(exc)}")

    def _check_undocumented_reply(self, reply: _CannedReply, label: str) -> None:
        """Statuses the spec omits: errors must still look like an AppError when JSON."""
        if reply.status < 400:
            self._violation(f"{label}: the spec documents no {reply.status} response for this operation")
        if "json" not in reply.content_type:
            return
        app_error = self.openapi.spec / "components" / "schemas" / "AppError"
        errors = list(OAS30Validator(app_error.read_value()).iter_errors(jsonlib.loads(reply.body)))
        if errors:
            self._violation(f"{label}: not an AppError: {errors[0].message}")


def _command_response_problems(request: requests.PreparedRequest) -> list[str]:
    problems: list[str] = []
    if request.method != "POST":
        problems.append(f"response_url accepts POST only, got {request.method}")
    if "Authorization" in request.headers:
        problems.append("response_url needs no credentials; do not send Authorization")
    if not request.headers.get("Content-Type", "").startswith("application/json"):
        problems.append("Content-Type must be application/json (otherwise the body is shown as text)")
        return problems
    payload = _request_json(request)
    if not isinstance(payload, dict) or not payload:
        return [*problems, "body must be a non-empty JSON object"]
    problems.extend(_command_response_object_problems(payload, COMMAND_RESPONSE_KEYS, "body"))
    extra = payload.get("extra_responses", [])
    if not isinstance(extra, list):
        problems.append("extra_responses must be an array")
        return problems
    for index, item in enumerate(extra):
        where = f"extra_responses[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{where} must be an object")
            continue
        problems.extend(_command_response_object_problems(item, EXTRA_RESPONSE_KEYS, where))
    return problems


def _command_response_object_problems(
    payload: dict[str, Any], allowed: frozenset[str], where: str
) -> list[str]:
    problems = []
    unknown = sorted(payload.keys() - allowed)
    if unknown:
        problems.append(f"{where} has keys not in CommandResponse: {unknown}")
    if payload.get("response_type", "") not in COMMAND_RESPONSE_TYPES:
        problems.append(f"{where}.response_type must be 'ephemeral' or 'in_channel'")
    if str(payload.get("type", "")).startswith("system_"):
        problems.append(f"{where}.type must not start with 'system_'")
    for key, expected in (("text", str), ("props", dict), ("attachments", list)):
        if key in payload and not isinstance(payload[key], expected):
            problems.append(f"{where}.{key} must be {expected.__name__}")
    return problems
