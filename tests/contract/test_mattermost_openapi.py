from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.contract.fixtures import mattermost_contract  # noqa: F401
from tests.contract.mattermost_openapi import (
    SPEC_DIR_ENV,
    MattermostContract,
    mattermost_openapi,
    merged_spec,
    spec_dir,
)

BASE = "http://mattermost.test"
HTTP_METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}
AUTH = {"Authorization": "Bearer bot-token"}
USER = {"id": "u1", "username": "ada", "roles": "system_user", "create_at": 1, "update_at": 1, "delete_at": 0}
POST = {"id": "p1", "channel_id": "c1", "user_id": "bot", "message": "hi", "props": {}, "create_at": 1}
APP_ERROR = {
    "id": "api.context.permissions.app_error",
    "message": "You do not have the appropriate permissions.",
    "status_code": 403,
    "request_id": "r1",
}


@pytest.fixture
def contract() -> Iterator[MattermostContract]:
    with MattermostContract(base_url=BASE) as fresh:
        yield fresh


def test_merged_spec_matches_the_readme_counts() -> None:
    spec = merged_spec(spec_dir())
    operations = [
        op for item in spec["paths"].values() for method, op in item.items() if method in HTTP_METHODS
    ]
    assert len(spec["paths"]) == 338
    assert len(operations) == 425
    assert len(spec["components"]["schemas"]) == 139


def test_operation_ids_are_unique_after_the_in_memory_rename() -> None:
    spec = mattermost_openapi(spec_dir()).spec.read_value()
    ids = [op["operationId"] for item in spec["paths"].values() for op in item.values() if isinstance(op, dict)]
    assert len(ids) == len(set(ids))
    assert spec["paths"]["/api/v4/users/{user_id}/posts/{post_id}/ack"]["delete"]["operationId"] == (
        "DeleteAcknowledgementForPost"
    )


def test_missing_spec_directory_fails_loudly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(SPEC_DIR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(pytest.fail.Exception, match=SPEC_DIR_ENV):
        spec_dir()


def test_valid_request_is_served_and_recorded(mattermost_contract: MattermostContract) -> None:  # noqa: F811
    mattermost_contract.add("POST", "/api/v4/posts", status=201, json=POST)

    response = requests.post(f"{BASE}/api/v4/posts", json={"channel_id": "c1", "message": "hi"}, headers=AUTH)

    assert response.status_code == 201
    assert response.json() == POST
    [call] = mattermost_contract.calls
    assert (call.method, call.path, call.operation_id) == ("POST", "/api/v4/posts", "CreatePost")
    assert call.json == {"channel_id": "c1", "message": "hi"}


def test_unknown_path_is_a_violation(contract: MattermostContract) -> None:
    contract.add("GET", "/api/v4/users/me/learning")

    with pytest.raises(AssertionError, match="GET /api/v4/users/me/learning.*not found"):
        requests.get(f"{BASE}/api/v4/users/me/learning", headers=AUTH)
    assert contract.violations


def test_wrong_method_is_a_violation(contract: MattermostContract) -> None:
    contract.add("PATCH", "/api/v4/users/me", json=USER)

    with pytest.raises(AssertionError, match="Operation patch not found"):
        requests.patch(f"{BASE}/api/v4/users/me", json={"nickname": "x"}, headers=AUTH)


def test_create_post_without_channel_id_is_a_violation(contract: MattermostContract) -> None:
    contract.add("POST", "/api/v4/posts", status=201, json=POST)

    with pytest.raises(AssertionError, match=r"CreatePost.*'channel_id' is a required property"):
        requests.post(f"{BASE}/api/v4/posts", json={"message": "hi"}, headers=AUTH)


def test_a_misspelt_optional_field_is_a_violation(contract: MattermostContract) -> None:
    """The server would ignore `root_idd` and post outside the thread: the contract does not."""
    contract.add("POST", "/api/v4/posts", status=201, json=POST)

    with pytest.raises(AssertionError, match=r"CreatePost.*'root_idd' was unexpected"):
        requests.post(f"{BASE}/api/v4/posts", json={"channel_id": "c1", "message": "hi", "root_idd": "p1"},
                      headers=AUTH)


def test_fields_the_server_takes_beyond_the_spec_are_accepted(contract: MattermostContract) -> None:
    contract.add("POST", "/api/v4/posts", status=201, json=POST)

    assert requests.post(f"{BASE}/api/v4/posts", json={"channel_id": "c1", "message": "hi", "pending_post_id": "x"},
                         headers=AUTH).status_code == 201


@pytest.mark.parametrize("body", [{"users": ["a", "b"]}, ["only-one"], ["a", "b", "c"]])
def test_direct_channel_body_must_be_two_ids(contract: MattermostContract, body: object) -> None:
    contract.add("POST", "/api/v4/channels/direct", status=201, json={"id": "dm1", "type": "D"})

    with pytest.raises(AssertionError, match="CreateDirectChannel"):
        requests.post(f"{BASE}/api/v4/channels/direct", json=body, headers=AUTH)


def test_query_parameter_types_are_checked(contract: MattermostContract) -> None:
    contract.add("GET", "/api/v4/channels/c1/members", json=[])

    with pytest.raises(AssertionError, match="GetChannelMembers.*page"):
        requests.get(f"{BASE}/api/v4/channels/c1/members", params={"page": "first"}, headers=AUTH)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Token bot-token"}, {"Authorization": "Bearer "}])
def test_missing_bearer_auth_is_a_violation(contract: MattermostContract, headers: dict[str, str]) -> None:
    contract.add("GET", "/api/v4/users/me", json=USER)

    with pytest.raises(AssertionError, match="GetUser"):
        requests.get(f"{BASE}/api/v4/users/me", headers=headers)


def test_expected_token_is_enforced() -> None:
    with MattermostContract(base_url=BASE, expected_token="right") as contract:
        contract.add("GET", "/api/v4/users/me", json=USER)
        with pytest.raises(AssertionError, match="not the configured bot token"):
            requests.get(f"{BASE}/api/v4/users/me", headers={"Authorization": "Bearer wrong"})


def test_base_url_with_a_path_prefix() -> None:
    with MattermostContract(base_url="https://chat.example.org/mm/") as contract:
        contract.add("GET", "/api/v4/users/me", json=USER)
        assert requests.get("https://chat.example.org/mm/api/v4/users/me", headers=AUTH).json() == USER
        assert contract.calls[0].operation_id == "GetUser"


def test_regex_paths_and_query_matching(mattermost_contract: MattermostContract) -> None:  # noqa: F811
    mattermost_contract.add("GET", re.compile(r"/api/v4/users/\w+"), json=USER)
    mattermost_contract.add("GET", "/api/v4/channels/c1/members", query={"page": "1", "per_page": "200"}, json=[])

    assert requests.get(f"{BASE}/api/v4/users/u1", headers=AUTH).json() == USER
    assert requests.get(f"{BASE}/api/v4/channels/c1/members?page=1&per_page=200", headers=AUTH).json() == []
    assert [call.operation_id for call in mattermost_contract.calls] == ["GetUser", "GetChannelMembers"]


def test_request_without_a_registered_reply_is_a_violation(contract: MattermostContract) -> None:
    contract.add("GET", "/api/v4/users/me", json=USER)

    expected = r"GET /api/v4/channels/c1: no canned reply registered \(spec operation GetChannel\)"
    with pytest.raises(AssertionError, match=expected):
        requests.get(f"{BASE}/api/v4/channels/c1", headers=AUTH)


def test_swallowed_violations_are_still_recorded(contract: MattermostContract) -> None:
    contract.add("POST", "/api/v4/posts", status=201, json=POST)

    with contextlib.suppress(Exception):  # imitates a worker that catches everything
        requests.post(f"{BASE}/api/v4/posts", json={"message": "no channel"}, headers=AUTH)

    with pytest.raises(AssertionError, match="contract violations"):
        contract.assert_no_violations()


class TestCannedReplies:
    def test_reply_not_matching_the_response_schema_is_rejected(self, contract: MattermostContract) -> None:
        with pytest.raises(AssertionError, match="canned 200 reply for GET /api/v4/users/me"):
            contract.add("GET", "/api/v4/users/me", json={"id": 42})

    def test_status_the_spec_does_not_document_for_success_is_rejected(self, contract: MattermostContract) -> None:
        with pytest.raises(AssertionError, match="no 200 response"):
            contract.add("POST", "/api/v4/posts", status=200, json=POST)

    def test_documented_error_reply_is_accepted(self, contract: MattermostContract) -> None:
        contract.add("POST", "/api/v4/posts", status=403, json=APP_ERROR)

    def test_undocumented_error_status_must_still_be_an_app_error(self, contract: MattermostContract) -> None:
        contract.add("GET", "/api/v4/channels/c1/members/u1", status=404, json={**APP_ERROR, "status_code": 404})
        with pytest.raises(AssertionError, match="not an AppError"):
            contract.add("GET", "/api/v4/channels/c1/members/u1", status=404, json={"id": 404})

    def test_rate_limit_reply_is_plain_text(self, contract: MattermostContract) -> None:
        contract.add("GET", "/api/v4/users/me", status=429, body="limit exceeded\n", headers={"Retry-After": "2"})
        with pytest.raises(AssertionError, match="limit exceeded"):
            contract.add("GET", "/api/v4/users/me", status=429, body="slow down")

    def test_exception_bodies_are_raised_after_request_validation(self, contract: MattermostContract) -> None:
        contract.add("GET", "/api/v4/users/me", body=requests.Timeout("read timed out"))

        with pytest.raises(requests.Timeout):
            requests.get(f"{BASE}/api/v4/users/me", headers=AUTH)
        assert contract.calls[0].operation_id == "GetUser"


class TestResponseUrl:
    URL = f"{BASE}/hooks/commands/qtd5tkrny3ym5qw6ygu8tbgo3h"

    def test_command_response_is_accepted(self, mattermost_contract: MattermostContract) -> None:  # noqa: F811
        mattermost_contract.add_unvalidated(self.URL)
        payload = {
            "response_type": "ephemeral",
            "text": "Saved.",
            "props": {"learnloop": 1},
            "extra_responses": [{"response_type": "in_channel", "text": "More"}],
        }

        response = requests.post(self.URL, json=payload)

        assert (response.status_code, response.text) == (200, "ok")
        assert mattermost_contract.calls[0].json == payload
        assert mattermost_contract.calls[0].operation_id is None

    @pytest.mark.parametrize(
        ("payload", "problem"),
        [
            ({"ResponseType": "ephemeral", "Text": "hi"}, "keys not in CommandResponse"),
            ({"response_type": "public", "text": "hi"}, "response_type"),
            ({}, "non-empty JSON object"),
            ({"text": "hi", "extra_responses": [{"text": "x", "goto_location": "/"}]}, r"extra_responses\[0\]"),
            ({"text": "hi", "type": "system_join_channel"}, "system_"),
        ],
    )
    def test_invalid_payloads_are_violations(self, contract: MattermostContract, payload: dict, problem: str) -> None:
        contract.add_unvalidated(self.URL)

        with pytest.raises(AssertionError, match=problem):
            requests.post(self.URL, json=payload)

    def test_only_json_posts_without_credentials(self, contract: MattermostContract) -> None:
        contract.add_unvalidated(self.URL)

        with pytest.raises(AssertionError, match="POST only"):
            requests.put(self.URL, json={"text": "hi"})
        with pytest.raises(AssertionError, match="application/json"):
            requests.post(self.URL, data="hi")
        with pytest.raises(AssertionError, match="do not send Authorization"):
            requests.post(self.URL, json={"text": "hi"}, headers=AUTH)
