from __future__ import annotations

import pytest
import requests
from tests.contract.fixtures import MATTERMOST_TEST_URL, mattermost_contract  # noqa: F401
from tests.contract.mattermost_openapi import MattermostContract

from learnloop.mattermost.admin_client import describe_failure
from learnloop.mattermost.client import MattermostClient, MattermostError, MattermostUnavailable, RateLimited

TOKEN = "xoxb-secret-bot-token-4p1"
BOT_ID = "bot4p1bot4p1bot4p1bot4p1b"
USER_ID = "usr1usr1usr1usr1usr1usr1ab"
CHANNEL_ID = "chn1chn1chn1chn1chn1chn1ab"
POST_ID = "pst1pst1pst1pst1pst1pst1ab"
ROOT_ID = "root1root1root1root1root1a"
RESPONSE_URL = f"{MATTERMOST_TEST_URL}/hooks/commands/qtd5tkrny3ym5qw6ygu8tbgo3h"


def user(user_id: str, username: str) -> dict:
    return {
        "id": user_id,
        "create_at": 1700000000000,
        "update_at": 1700000000000,
        "delete_at": 0,
        "username": username,
        "first_name": "",
        "last_name": "",
        "nickname": "",
        "email": f"{username}@example.org",
        "auth_service": "",
        "roles": "system_user",
        "locale": "en",
        "notify_props": {"email": "true", "push": "mention", "desktop": "all", "channel": "true"},
        "props": {},
        "timezone": {"useAutomaticTimezone": "true", "manualTimezone": "", "automaticTimezone": "Europe/Berlin"},
    }


def channel(channel_id: str = CHANNEL_ID, kind: str = "O") -> dict:
    return {
        "id": channel_id,
        "create_at": 1700000000000,
        "update_at": 1700000000000,
        "delete_at": 0,
        "team_id": "" if kind == "D" else "team1team1team1team1team1a",
        "type": kind,
        "display_name": "Learning",
        "name": f"{BOT_ID}__{USER_ID}" if kind == "D" else "learning",
        "header": "",
        "purpose": "",
        "last_post_at": 1700000000000,
        "total_msg_count": 3,
        "creator_id": USER_ID,
    }


def member(user_id: str, *, admin: bool = False) -> dict:
    return {
        "channel_id": CHANNEL_ID,
        "user_id": user_id,
        "roles": "channel_user channel_admin" if admin else "channel_user",
        "last_viewed_at": 1700000000000,
        "msg_count": 3,
        "mention_count": 0,
        "notify_props": {"desktop": "default", "email": "default", "mark_unread": "all", "push": "default"},
        "last_update_at": 1700000000000,
        "scheme_guest": False,
        "scheme_user": True,
        "scheme_admin": admin,
    }


def post(message: str, props: dict | None = None, root_id: str = "") -> dict:
    return {
        "id": POST_ID,
        "create_at": 1700000000000,
        "update_at": 1700000000000,
        "edit_at": 0,
        "delete_at": 0,
        "user_id": BOT_ID,
        "channel_id": CHANNEL_ID,
        "root_id": root_id,
        "original_id": "",
        "message": message,
        "type": "",
        "props": props or {},
        "hashtag": "",
        "file_ids": [],
        "pending_post_id": "",
        "metadata": {},
    }


def app_error(status: int, error_id: str, message: str) -> dict:
    return {"id": error_id, "message": message, "request_id": "req1req1req1req1req1req1ab", "status_code": status}


@pytest.fixture
def client() -> MattermostClient:
    return MattermostClient(MATTERMOST_TEST_URL + "/", TOKEN, timeout=2.5)


def test_get_me(mattermost_contract: MattermostContract, client: MattermostClient) -> None:  # noqa: F811
    mattermost_contract.add("GET", "/api/v4/users/me", json=user(BOT_ID, "learnloop"))

    assert client.get_me()["username"] == "learnloop"
    assert mattermost_contract.calls[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_get_user(mattermost_contract: MattermostContract, client: MattermostClient) -> None:  # noqa: F811
    mattermost_contract.add("GET", f"/api/v4/users/{USER_ID}", json=user(USER_ID, "ada"))

    assert client.get_user(USER_ID)["id"] == USER_ID


def test_get_users_by_ids(mattermost_contract: MattermostContract, client: MattermostClient) -> None:  # noqa: F811
    mattermost_contract.add("POST", "/api/v4/users/ids", json=[user(USER_ID, "ada"), user(BOT_ID, "learnloop")])

    users = client.get_users_by_ids([USER_ID, BOT_ID])

    assert [u["username"] for u in users] == ["ada", "learnloop"]
    assert mattermost_contract.calls[0].json == [USER_ID, BOT_ID]


def test_get_users_by_ids_without_ids_makes_no_request(
    mattermost_contract: MattermostContract, client: MattermostClient  # noqa: F811
) -> None:
    assert client.get_users_by_ids([]) == []
    assert mattermost_contract.calls == []


def test_get_user_status(mattermost_contract: MattermostContract, client: MattermostClient) -> None:  # noqa: F811
    mattermost_contract.add(
        "GET",
        f"/api/v4/users/{USER_ID}/status",
        json={"user_id": USER_ID, "status": "dnd", "manual": True, "last_activity_at": 1700000000000},
    )

    assert client.get_user_status(USER_ID) == "dnd"


def test_get_channel(mattermost_contract: MattermostContract, client: MattermostClient) -> None:  # noqa: F811
    mattermost_contract.add("GET", f"/api/v4/channels/{CHANNEL_ID}", json=channel())

    assert client.get_channel(CHANNEL_ID)["name"] == "learning"


def test_get_channel_member(mattermost_contract: MattermostContract, client: MattermostClient) -> None:  # noqa: F811
    mattermost_contract.add("GET", f"/api/v4/channels/{CHANNEL_ID}/members/{USER_ID}", json=member(USER_ID, admin=True))

    found = client.get_channel_member(CHANNEL_ID, USER_ID)

    assert found["scheme_admin"] is True
    assert "channel_admin" in found["roles"].split()


def test_get_channel_members(mattermost_contract: MattermostContract, client: MattermostClient) -> None:  # noqa: F811
    mattermost_contract.add(
        "GET", f"/api/v4/channels/{CHANNEL_ID}/members", query={"page": "2", "per_page": "50"}, json=[member(USER_ID)]
    )

    assert client.get_channel_members(CHANNEL_ID, page=2, per_page=50) == [member(USER_ID)]


def test_iter_channel_member_ids_pages_until_a_short_page(
    mattermost_contract: MattermostContract, client: MattermostClient  # noqa: F811
) -> None:
    first_page = [member(f"user{index:022d}") for index in range(200)]
    path = f"/api/v4/channels/{CHANNEL_ID}/members"
    mattermost_contract.add("GET", path, query={"page": "0", "per_page": "200"}, json=first_page)
    mattermost_contract.add("GET", path, query={"page": "1", "per_page": "200"}, json=[member(USER_ID)])

    ids = list(client.iter_channel_member_ids(CHANNEL_ID))

    assert len(ids) == 201
    assert ids[0] == "user" + "0" * 22
    assert ids[-1] == USER_ID
    assert [call.query["page"] for call in mattermost_contract.calls] == [["0"], ["1"]]


def test_create_direct_channel(mattermost_contract: MattermostContract, client: MattermostClient) -> None:  # noqa: F811
    dm_id = "dm11dm11dm11dm11dm11dm11ab"
    mattermost_contract.add("POST", "/api/v4/channels/direct", status=201, json=channel(dm_id, kind="D"))

    assert client.create_direct_channel(BOT_ID, USER_ID) == dm_id
    assert mattermost_contract.calls[0].json == [BOT_ID, USER_ID]


def test_get_post(mattermost_contract: MattermostContract, client: MattermostClient) -> None:  # noqa: F811
    mattermost_contract.add("GET", f"/api/v4/posts/{POST_ID}", json=post("Reply", root_id=ROOT_ID))

    assert client.get_post(POST_ID)["root_id"] == ROOT_ID


def test_create_post(mattermost_contract: MattermostContract, client: MattermostClient) -> None:  # noqa: F811
    props = {"attachments": [{"text": "Rate it", "actions": [{"id": "rate5", "name": "5"}]}]}
    mattermost_contract.add("POST", "/api/v4/posts", status=201, json=post("Thanks!", props, root_id=POST_ID))

    created = client.create_post(CHANNEL_ID, "Thanks!", props=props, root_id=POST_ID)

    assert created["id"] == POST_ID
    assert mattermost_contract.calls[0].json == {
        "channel_id": CHANNEL_ID,
        "message": "Thanks!",
        "props": props,
        "root_id": POST_ID,
    }


def test_create_post_sends_only_required_fields_by_default(
    mattermost_contract: MattermostContract, client: MattermostClient  # noqa: F811
) -> None:
    mattermost_contract.add("POST", "/api/v4/posts", status=201, json=post("hi"))

    client.create_post(CHANNEL_ID, "hi")

    assert mattermost_contract.calls[0].json == {"channel_id": CHANNEL_ID, "message": "hi"}


def test_patch_post(mattermost_contract: MattermostContract, client: MattermostClient) -> None:  # noqa: F811
    mattermost_contract.add("PUT", f"/api/v4/posts/{POST_ID}/patch", json=post("Rated 5", {"learnloop_rated": True}))

    patched = client.patch_post(POST_ID, message="Rated 5", props={"learnloop_rated": True})

    assert patched["message"] == "Rated 5"
    assert mattermost_contract.calls[0].json == {"message": "Rated 5", "props": {"learnloop_rated": True}}


def test_patch_post_needs_something_to_change(client: MattermostClient) -> None:
    with pytest.raises(ValueError):
        client.patch_post(POST_ID)


def test_open_dialog(mattermost_contract: MattermostContract, client: MattermostClient) -> None:  # noqa: F811
    mattermost_contract.add("POST", "/api/v4/actions/dialogs/open", json={"status": "OK"})
    dialog = {
        "callback_id": "reflect",
        "title": "Reflect",
        "elements": [{"display_name": "What did you learn?", "name": "learned", "type": "textarea"}],
        "state": "signed-state",
    }

    client.open_dialog("trigger-1", "https://learnloop.test/mattermost/dialogs", dialog)

    assert mattermost_contract.calls[0].json == {
        "trigger_id": "trigger-1",
        "url": "https://learnloop.test/mattermost/dialogs",
        "dialog": dialog,
    }


def test_post_to_response_url_sends_no_token(
    mattermost_contract: MattermostContract, client: MattermostClient  # noqa: F811
) -> None:
    mattermost_contract.add_unvalidated(RESPONSE_URL)

    client.post_to_response_url(RESPONSE_URL, {"response_type": "ephemeral", "text": "Done."})

    [call] = mattermost_contract.calls
    assert call.json == {"response_type": "ephemeral", "text": "Done."}
    assert "Authorization" not in call.headers


def test_response_url_error_hides_the_url(
    mattermost_contract: MattermostContract, client: MattermostClient  # noqa: F811
) -> None:
    mattermost_contract.add_unvalidated(RESPONSE_URL, status=404, body="404 page not found")

    with pytest.raises(MattermostError) as raised:
        client.post_to_response_url(RESPONSE_URL, {"text": "late"})

    assert raised.value.status_code == 404
    assert "qtd5tkrny3ym5qw6ygu8tbgo3h" not in str(raised.value)


@pytest.mark.parametrize(
    ("headers", "retry_after"),
    [
        ({"X-RateLimit-Limit": "101", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "7"}, 7.0),
        ({"Retry-After": "3", "X-RateLimit-Reset": "4"}, 3.0),
        ({}, 1.0),
    ],
)
def test_rate_limited(
    mattermost_contract: MattermostContract,  # noqa: F811
    client: MattermostClient,
    headers: dict[str, str],
    retry_after: float,
) -> None:
    mattermost_contract.add("POST", "/api/v4/posts", status=429, body="limit exceeded\n", headers=headers)

    with pytest.raises(RateLimited) as raised:
        client.create_post(CHANNEL_ID, "hi")

    assert raised.value.status_code == 429
    assert raised.value.retry_after == retry_after
    assert raised.value.retryable


def test_app_error_is_parsed(mattermost_contract: MattermostContract, client: MattermostClient) -> None:  # noqa: F811
    error_id = "api.context.permissions.app_error"
    message = "You do not have the appropriate permissions."
    mattermost_contract.add("POST", "/api/v4/posts", status=403, json=app_error(403, error_id, message))

    with pytest.raises(MattermostError) as raised:
        client.create_post(CHANNEL_ID, "hi")

    error = raised.value
    assert type(error) is MattermostError
    assert (error.status_code, error.error_id, error.message) == (403, error_id, message)
    assert not error.retryable
    assert "POST /api/v4/posts" in str(error)


def test_server_error_without_json_is_retryable(
    mattermost_contract: MattermostContract, client: MattermostClient  # noqa: F811
) -> None:
    mattermost_contract.add("GET", "/api/v4/users/me", status=502, body="<html>Bad Gateway</html>")

    with pytest.raises(MattermostError) as raised:
        client.get_me()

    assert (raised.value.status_code, raised.value.error_id) == (502, None)
    assert raised.value.retryable


def test_a_feature_switched_off_on_the_server_is_not_retried(
    mattermost_contract: MattermostContract, client: MattermostClient  # noqa: F811
) -> None:
    """501 is how Mattermost says a feature is disabled (commands.yaml, oauth.yaml): trying again cannot help."""
    mattermost_contract.add("GET", "/api/v4/users/me", status=501,
                            json=app_error(501, "api.command.disabled.app_error", "Commands have been disabled"))

    with pytest.raises(MattermostError) as raised:
        client.get_me()

    assert raised.value.status_code == 501
    assert not raised.value.retryable


@pytest.mark.parametrize("failure", [requests.ReadTimeout("read timed out"), requests.ConnectionError("refused")])
def test_network_failure_is_unavailable(
    mattermost_contract: MattermostContract,  # noqa: F811
    client: MattermostClient,
    failure: Exception,
) -> None:
    mattermost_contract.add("GET", "/api/v4/users/me", body=failure)

    with pytest.raises(MattermostUnavailable) as raised:
        client.get_me()

    assert raised.value.status_code is None
    assert raised.value.retryable


def test_every_call_has_a_timeout_and_no_retries(client: MattermostClient) -> None:
    class RecordingSession(requests.Session):
        def __init__(self) -> None:
            super().__init__()
            self.timeouts: list[object] = []

        def request(self, method: str, url: str, **kwargs: object) -> requests.Response:  # type: ignore[override]
            self.timeouts.append(kwargs.get("timeout"))
            raise requests.ConnectTimeout("connect timed out")

    session = RecordingSession()
    client = MattermostClient(MATTERMOST_TEST_URL, TOKEN, timeout=1.5, session=session)

    with pytest.raises(MattermostUnavailable):
        client.create_post(CHANNEL_ID, "hi")

    assert session.timeouts == [1.5]


def test_token_never_appears_in_errors(
    mattermost_contract: MattermostContract, client: MattermostClient  # noqa: F811
) -> None:
    echoed = app_error(401, "api.context.session_expired.app_error", f"Invalid or expired session: Bearer {TOKEN}")
    mattermost_contract.add("GET", "/api/v4/users/me", status=401, json=echoed)
    mattermost_contract.add("GET", f"/api/v4/users/{USER_ID}", body=requests.ReadTimeout(f"timed out {TOKEN}"))
    mattermost_contract.add("GET", f"/api/v4/channels/{CHANNEL_ID}", status=429, body="limit exceeded")

    errors: list[MattermostError] = []
    for call in (client.get_me, lambda: client.get_user(USER_ID), lambda: client.get_channel(CHANNEL_ID)):
        with pytest.raises(MattermostError) as raised:
            call()
        errors.append(raised.value)

    for error in errors:
        assert TOKEN not in str(error)
        assert TOKEN not in repr(error)
        assert TOKEN not in error.message
    assert TOKEN not in repr(client)


def test_a_redirect_is_not_followed_and_says_where_it_pointed(
    mattermost_contract: MattermostContract, client: MattermostClient  # noqa: F811
) -> None:
    """Following it would send the post, and with another client the token or the OAuth secret, elsewhere."""
    mattermost_contract.add_misbehaving("POST", "/api/v4/posts", status=307,
                                        headers={"Location": "http://other.test/capture"})
    with pytest.raises(MattermostError, match="redirected to 'http://other.test/capture'") as raised:
        client.create_post(CHANNEL_ID, "private weekly summary")
    assert not raised.value.retryable and len(mattermost_contract.calls) == 1


@pytest.mark.parametrize("answer", [b"[]", b"null", b"{}", b'{"user_id": "someoneelse0000000000000000"}'])
def test_a_membership_answer_that_is_not_this_persons_is_an_error(
    mattermost_contract: MattermostContract, client: MattermostClient, answer: bytes  # noqa: F811
) -> None:
    mattermost_contract.add_misbehaving("GET", f"/api/v4/channels/{CHANNEL_ID}/members/{USER_ID}", body=answer)
    with pytest.raises(MattermostError, match="not this person's membership|expected a JSON object"):
        client.get_channel_member(CHANNEL_ID, USER_ID)


@pytest.mark.parametrize("path", ["/api/v4/users/me", f"/api/v4/users/{USER_ID}", "/api/v4/users/username/ann"])
@pytest.mark.parametrize("answer", [b"{}", b'{"id": ""}', b'{"username": "ann"}'])
def test_a_user_answer_without_an_id_is_an_error(
    mattermost_contract: MattermostContract, client: MattermostClient, path: str, answer: bytes  # noqa: F811
) -> None:
    """Taken as it came, `learnloop doctor` said the bot token signs in as @None."""
    mattermost_contract.add_misbehaving("GET", path, body=answer)
    call = {"/api/v4/users/me": client.get_me, "/api/v4/users/username/ann": lambda: client.get_user_by_username("ann")
            }.get(path, lambda: client.get_user(USER_ID))
    with pytest.raises(MattermostError, match="no user id in the answer"):
        call()


def test_a_failure_is_described_by_its_status_or_as_no_answer_never_as_http_none() -> None:
    assert describe_failure(MattermostError("Not found", status_code=404)) == "HTTP 404: Not found"
    assert describe_failure(MattermostUnavailable("ReadTimeout")) == "no answer (ReadTimeout)"
    assert describe_failure(MattermostError("InvalidURL", call="GET /api/v4/system/ping")) == "InvalidURL"
