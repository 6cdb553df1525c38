"""The BookStack installer against a stub BookStack (`responses`) shaped like BookStack v24.10:
`GET /api/books` lists `{data, total}`; `app/Api/ApiTokenGuard.php` answers 401 for an unknown token or
a wrong secret and 403 for a user without "Access system API"; `/login` renders the Custom HTML Head
(layouts/base.blade.php includes common.custom-head, with a CSP nonce added to each script)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import responses
from responses import matchers

from learnloop.config import Settings
from learnloop.install.bookstack import doctor_checks, installer_for
from learnloop.install.config_file import ConfigFile
from learnloop.install.ledger import Ledger
from learnloop.install.manifest import BookStackManifest, load_manifest
from learnloop.install.plan import InstallBlocked, InstallContext, Plan
from tests.conftest import make_settings

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bookstack" / "api"
BASE_URL = "https://bookstack.example.com"
PUBLIC_URL = "https://learnloop.example.com"
SECRET = "bs-hook-7c41e9a2f05d4b8e93a6c1d7f2e8b05a"
API_TOKEN = "tokenid0123:tokensecret4567"
BOOKS = f"{BASE_URL}/api/books"
LOGIN = f"{BASE_URL}/login"
HEAD = ('<!-- Start: custom user content -->\n<!-- learnloop: ratings and reflection prompts on every page of this '
        'wiki -->\n<script src="https://learnloop.example.com/widget.js" data-learnloop-wiki="kb" defer '
        'nonce="r4nd0mn0nce"></script>\n<!-- End: custom user content -->')


def login_page(head: str = "") -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><title>Log In | BookStack</title>'
            f'<meta name="base-url" content="{BASE_URL}">{head}</head><body><form action="{LOGIN}" method="POST">'
            "</form><script src=\"https://bookstack.example.com/dist/app.js?version=v24.10\" nonce=\"x\"></script>"
            "</body></html>")


def books_answer() -> dict[str, Any]:
    book = json.loads((FIXTURES / "books-read-13.json").read_text())
    return {"data": [{key: book[key] for key in ("id", "name", "slug", "description", "created_at", "updated_at")}],
            "total": 1}


def token_error(status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message}}


def settings(**overrides: Any) -> Settings:
    return make_settings(public_url=PUBLIC_URL, wikis=[
        {"name": "kb", "kind": "bookstack", "url": BASE_URL, "secret": SECRET, "api_token": API_TOKEN}], **overrides)


def manifest(**changes: Any) -> BookStackManifest:
    loaded = load_manifest(MANIFESTS / "bookstack.yaml")
    assert isinstance(loaded, BookStackManifest)
    return loaded.model_copy(update=changes)


def run(action: str, tmp_path: Path, *, dry_run: bool = False, chosen: BookStackManifest | None = None,
        config: Settings | None = None, show_secrets: bool = False) -> Plan:
    context = InstallContext(config or settings(), Ledger(tmp_path / "learnloop.install.json"),
                             ConfigFile(tmp_path / "learnloop.toml"), dry_run, show_secrets)
    plan = Plan(dry_run=dry_run)
    getattr(installer_for(chosen or manifest(), context, wiki_name=None, token=None), action)(plan)
    return plan


def api_accepts_token() -> None:
    responses.get(BOOKS, json=books_answer(), match=[
        matchers.header_matcher({"Authorization": f"Token {API_TOKEN}"}), matchers.query_param_matcher({"count": "1"})])


@responses.activate
def test_install_checks_the_token_and_prints_the_webhook_and_the_head_snippet(tmp_path: Path) -> None:
    api_accepts_token()
    responses.get(LOGIN, body=login_page())
    plan = run("install", tmp_path)
    assert plan.changes == 0
    assert [(s.action, s.what) for s in plan.steps] == [
        ("keep", "API token"), ("manual", "webhook 'learnloop'"), ("manual", "rating widget")]
    webhook, head = plan.notes
    assert f"Endpoint: {PUBLIC_URL}/wiki/kb/events?secret=bs-h… (40 characters)" in webhook
    assert SECRET not in plan.render()
    assert "contains this wiki's secret" in webhook and "run the same command with --show-secrets" in webhook
    assert ("Events: tick page_create, page_update, page_restore, page_move, page_delete, recycle_bin_restore"
            in webhook)
    assert '<script src="https://learnloop.example.com/widget.js" data-learnloop-wiki="kb" defer></script>' in head
    assert "Custom HTML Head Content" in head
    assert 'ALLOWED_IFRAME_SOURCES="... https://learnloop.example.com"' in head
    assert "tokensecret4567" not in plan.render()
    assert "Authorization" not in responses.calls[1].request.headers
    assert not (tmp_path / "learnloop.install.json").exists()


@responses.activate
def test_the_webhook_url_with_its_secret_is_printed_in_full_only_on_request(tmp_path: Path) -> None:
    api_accepts_token()
    responses.get(LOGIN, body=login_page(HEAD))
    webhook, frame = run("install", tmp_path, show_secrets=True).notes
    assert "ALLOWED_IFRAME_SOURCES" in frame, "BookStack's CSP must allow the widget's frame, also once it is in place"
    assert f"Endpoint: {PUBLIC_URL}/wiki/kb/events?secret={SECRET}\n" in webhook
    assert "--show-secrets" not in webhook


@responses.activate
def test_a_pasted_snippet_is_kept_and_a_rerun_changes_nothing(tmp_path: Path) -> None:
    api_accepts_token()
    responses.get(LOGIN, body=login_page(HEAD))
    for dry_run in (True, False, False):
        plan = run("install", tmp_path, dry_run=dry_run)
        assert plan.changes == 0
        assert ("keep", "rating widget") in [(s.action, s.what) for s in plan.steps]
        assert len(plan.notes) == 2


@responses.activate
def test_uninstall_tells_what_to_remove_by_hand_and_calls_nothing(tmp_path: Path) -> None:
    plan = run("uninstall", tmp_path)
    assert [s.action for s in plan.steps] == ["manual", "manual"] and plan.changes == 0
    assert len(responses.calls) == 0


@pytest.mark.parametrize(("status", "message", "expected"), [
    (401, "The secret provided for the given used API token is incorrect", "refuses the api_token"),
    (403, "The owner of the used API token does not have permission to make API calls", "may not use the API"),
])
@responses.activate
def test_a_refused_token_blocks_with_what_to_fix(tmp_path: Path, status: int, message: str, expected: str) -> None:
    responses.get(BOOKS, json=token_error(status, message), status=status)
    with pytest.raises(InstallBlocked) as caught:
        run("install", tmp_path)
    assert expected in str(caught.value) and "Access system API" in str(caught.value)
    assert "tokensecret4567" not in str(caught.value)


@responses.activate
def test_an_unreachable_bookstack_blocks(tmp_path: Path) -> None:
    with pytest.raises(InstallBlocked, match="cannot reach BookStack at https://bookstack.example.com"):
        run("install", tmp_path)
    rows = doctor_checks(settings(), settings().wikis[0], last_delivery=None)
    assert [(c.check, c.status) for c in rows] == [("reachable", "fix")]


@responses.activate
def test_doctor_ok_when_the_snippet_is_in_the_head_and_deliveries_arrive() -> None:
    api_accepts_token()
    responses.get(LOGIN, body=login_page(HEAD))
    when = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    rows = doctor_checks(settings(), settings().wikis[0], last_delivery=when)
    assert [(c.check, c.status) for c in rows] == [
        ("reachable", "ok"), ("api token", "ok"), ("rating widget", "ok"), ("webhook deliveries", "ok")]
    assert rows[-1].detail == "last delivery 2026-11-02T09:00:00+00:00"


@responses.activate
def test_doctor_fix_without_the_snippet_and_without_deliveries() -> None:
    responses.get(BOOKS, json=token_error(401, "No matching API token was found for the provided authorization "
                                               "token"), status=401)
    responses.get(LOGIN, body=login_page())
    rows = {c.check: c for c in doctor_checks(settings(), settings().wikis[0], last_delivery=None)}
    assert rows["reachable"].status == "ok" and rows["api token"].status == "fix"
    assert rows["rating widget"].status == "fix" and "Custom HTML Head" in rows["rating widget"].detail
    assert (rows["webhook deliveries"].status, rows["webhook deliveries"].detail) == (
        "fix", "no delivery received yet: save a page, or check the webhook URL in Settings → Webhooks")


@responses.activate
def test_doctor_does_not_count_a_snippet_for_another_learnloop() -> None:
    api_accepts_token()
    responses.get(LOGIN, body=login_page(HEAD.replace("learnloop.example.com", "old-learnloop.example.com")))
    rows = {c.check: c.status for c in doctor_checks(settings(), settings().wikis[0], last_delivery=None)}
    assert rows["rating widget"] == "fix"


@responses.activate
def test_doctor_skips_the_widget_when_login_redirects() -> None:
    api_accepts_token()
    responses.get(LOGIN, status=302, headers={"Location": "https://sso.example.com/"})
    rows = {c.check: c.status for c in doctor_checks(settings(), settings().wikis[0], last_delivery=None)}
    assert rows["rating widget"] == "skip"
