"""The Outline installer against a stub Outline (`responses`) shaped like its webhooks plugin
(plugins/webhooks/server/api/webhookSubscriptions.ts, presenters/webhookSubscription.ts, outline@d77dcdf):
every method is `POST /api/<method>` with a bearer key; list/create/update answer `{data}`, delete
`{success: true}`; only admins may call them (403 otherwise)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from click.testing import CliRunner

from learnloop.cli import main
from learnloop.config import Settings
from learnloop.install.config_file import ConfigFile
from learnloop.install.ledger import Ledger
from learnloop.install.manifest import OutlineManifest, load_manifest
from learnloop.install.outline import doctor_checks, installer_for
from learnloop.install.plan import InstallBlocked, InstallContext, InstallFailed, Plan
from learnloop.outline.client import OutlineClient, OutlineError
from tests.conftest import make_settings

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"
OUTLINE_URL = "https://outline.example.com"
PUBLIC_URL = "https://learnloop.example.com"
EVENTS_URL = f"{PUBLIC_URL}/wiki/docs/events"
SECRET = "ol_whs_Zq8pN3vR6tY1wK4mB7cX9dF2gH5jL0sA"
ADMIN_KEY = "ol_api_admin0123456789abcdefghijklmnopqrstu"
MEMBER_KEY = "ol_api_member0123456789abcdefghijklmnopqrst"
EVENTS = ["documents.create", "documents.publish", "documents.update", "documents.move", "documents.delete",
          "documents.permanent_delete", "documents.archive", "documents.restore", "documents.unarchive",
          "documents.unpublish", "collections.delete", "collections.archive", "collections.restore"]
HOST = "outline docs"


class FakeOutline:
    """The webhook subscription routes of one Outline team, with its API keys and their roles."""

    def __init__(self, mocked: responses.RequestsMock) -> None:
        self.keys = {ADMIN_KEY: "admin", MEMBER_KEY: "member"}
        self.subscriptions: list[dict[str, Any]] = []
        self.calls: list[str] = []
        self.fail: set[str] = set()
        self.refuse: set[str] = set()
        self.mocked = mocked
        mocked.add_callback(responses.POST, re.compile(rf"{re.escape(OUTLINE_URL)}/api/[A-Za-z.]+"),
                            callback=self._answer)

    def add(self, **fields: Any) -> dict[str, Any]:
        subscription = {"id": str(uuid.uuid4()), "name": "someone else's", "url": "https://elsewhere.example/hook",
                        "secret": "", "events": ["documents.create"], "enabled": True,
                        "createdAt": "2026-10-01T09:00:00.000Z", "updatedAt": "2026-10-01T09:00:00.000Z", **fields}
        self.subscriptions.insert(0, subscription)
        return subscription

    def _answer(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        method = str(request.url).rsplit("/", 1)[1]
        self.calls.append(method)
        body = json.loads(request.body or b"{}")
        role = self.keys.get(str(request.headers.get("Authorization", "")).removeprefix("Bearer "))
        if role is None:
            return self._error(401, "authentication_required", "Authentication error")
        if method in self.fail:
            return self._error(500, "internal_error", "Internal error")
        if method in self.refuse:
            return self._error(400, "validation_error", "url: Must be a valid url")
        if method == "auth.info":
            return self._ok({"user": {"id": str(uuid.uuid4()), "name": "Ada Admin" if role == "admin" else "Max",
                                      "role": role}, "team": {"id": str(uuid.uuid4()), "name": "Acme"}})
        if not method.startswith("webhookSubscriptions."):
            return self._error(404, "not_found", "Resource not found")
        if role != "admin":
            return self._error(403, "authorization_error", "Authorization error")
        if method == "webhookSubscriptions.list":
            offset, limit = body.get("offset", 0), body.get("limit", 25)
            return self._ok(self.subscriptions[offset:offset + limit], pagination={"offset": offset, "limit": limit})
        if method in ("webhookSubscriptions.create", "webhookSubscriptions.update"):
            if not body.get("name") or not body.get("url") or not body.get("events"):
                return self._error(400, "validation_error", "name, url and events are required")
            fields = {"name": body["name"], "url": body["url"], "events": body["events"], "enabled": True,
                      "secret": body.get("secret") or ""}
            if method.endswith("create"):
                return self._ok(self.add(**fields))
            target = self._find(body.get("id"))
            if target is None:
                return self._error(404, "not_found", "Resource not found")
            target.update(fields)
            return self._ok(target)
        if method == "webhookSubscriptions.delete":
            target = self._find(body.get("id"))
            if target is None:
                return self._error(404, "not_found", "Resource not found")
            self.subscriptions.remove(target)
            return 200, {"Content-Type": "application/json"}, json.dumps({"success": True, "status": 200, "ok": True})
        return self._error(404, "not_found", "Resource not found")

    def _find(self, subscription_id: Any) -> dict[str, Any] | None:
        return next((s for s in self.subscriptions if s["id"] == subscription_id), None)

    @staticmethod
    def _ok(data: Any, **extra: Any) -> tuple[int, dict[str, str], str]:
        return 200, {"Content-Type": "application/json"}, json.dumps({**extra, "data": data, "status": 200, "ok": True})

    @staticmethod
    def _error(status: int, error: str, message: str) -> tuple[int, dict[str, str], str]:
        return status, {"Content-Type": "application/json"}, json.dumps(
            {"ok": False, "error": error, "status": status, "message": message})

    def ours(self) -> list[dict[str, Any]]:
        return [s for s in self.subscriptions if s["url"] == EVENTS_URL]


@pytest.fixture
def outline() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield FakeOutline(mocked)


def settings(api_token: str = MEMBER_KEY, url: str = OUTLINE_URL, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"public_url": PUBLIC_URL, "wikis": [
        {"name": "docs", "kind": "outline", "url": url, "secret": SECRET, "api_token": api_token}]}
    return make_settings(**(values | overrides))


def manifest() -> OutlineManifest:
    loaded = load_manifest(MANIFESTS / "outline.yaml")
    assert isinstance(loaded, OutlineManifest)
    return loaded


def run(action: str, tmp_path: Path, *, token: str | None = ADMIN_KEY, dry_run: bool = False,
        chosen: Settings | None = None) -> Plan:
    context = InstallContext(chosen or settings(), Ledger(tmp_path / "learnloop.install.json"),
                             ConfigFile(tmp_path / "learnloop.toml"), dry_run)
    plan = Plan(dry_run=dry_run)
    getattr(installer_for(manifest(), context, wiki_name=None, token=token), action)(plan)
    return plan


def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "learnloop.install.json")


def test_install_creates_the_subscription_a_second_run_keeps_it(outline: FakeOutline, tmp_path: Path) -> None:
    plan = run("install", tmp_path)
    assert plan.changes == 1
    [made] = outline.ours()
    assert (made["name"], made["events"], made["secret"], made["enabled"]) == ("learnloop", EVENTS, SECRET, True)
    [resource] = ledger(tmp_path).resources(HOST)
    assert (resource.type, resource.id, resource.created) == ("webhook_subscription", made["id"], True)
    assert SECRET not in json.dumps(json.loads((tmp_path / "learnloop.install.json").read_text()))
    rendered = plan.render()
    assert SECRET not in rendered and ADMIN_KEY not in rendered
    origin = "https%3A%2F%2Foutline.example.com"
    assert f"{PUBLIC_URL}/widget/frame?origin={origin}&url=" in rendered and "type /embed" in rendered

    outline.calls.clear()
    again = run("install", tmp_path)
    assert again.changes == 0, again.render()
    assert [step.action for step in again.steps] == ["keep", "manual"]
    assert outline.calls == ["auth.info", "webhookSubscriptions.list"] and len(outline.ours()) == 1


def test_dry_run_plans_the_creation_and_touches_nothing(outline: FakeOutline, tmp_path: Path) -> None:
    plan = run("install", tmp_path, dry_run=True)
    assert (plan.steps[0].action, plan.steps[0].what) == ("create", "webhook subscription 'learnloop'")
    assert "dry run: 1 change planned" in plan.render()
    assert outline.subscriptions == [] and "webhookSubscriptions.create" not in outline.calls
    assert not (tmp_path / "learnloop.install.json").exists()


def test_a_disabled_or_different_subscription_to_our_url_is_updated_not_duplicated(outline: FakeOutline,
                                                                                   tmp_path: Path) -> None:
    existing = outline.add(name="learnloop", url=EVENTS_URL, secret="old-secret-0123456789abcdef",
                           events=["documents.create"], enabled=False)
    plan = run("install", tmp_path)
    [step] = [s for s in plan.steps if s.action == "update"]
    assert "disabled" in step.detail and "another secret" in step.detail and "events" in step.detail
    assert "old-secret" not in plan.render()
    assert outline.ours() == [existing]
    assert (existing["enabled"], existing["secret"], existing["events"]) == (True, SECRET, EVENTS)
    assert run("install", tmp_path).changes == 0
    [resource] = ledger(tmp_path).resources(HOST)
    assert resource.created is False
    removed = run("uninstall", tmp_path)
    assert removed.changes == 0 and outline.ours() == [existing]


def test_uninstall_deletes_only_what_install_created(outline: FakeOutline, tmp_path: Path) -> None:
    others = outline.add()
    run("install", tmp_path)
    plan = run("uninstall", tmp_path, dry_run=True)
    assert [s.action for s in plan.steps] == ["remove"] and len(outline.ours()) == 1
    plan = run("uninstall", tmp_path)
    assert plan.changes == 1 and outline.ours() == [] and outline.subscriptions == [others]
    assert ledger(tmp_path).resources(HOST) == []
    again = run("uninstall", tmp_path)
    assert again.changes == 0 and outline.subscriptions == [others]


def test_a_subscription_deleted_by_hand_is_made_again(outline: FakeOutline, tmp_path: Path) -> None:
    run("install", tmp_path)
    outline.subscriptions.clear()
    assert run("install", tmp_path).changes == 1 and len(outline.ours()) == 1


def test_a_member_key_blocks_before_anything_changes(outline: FakeOutline, tmp_path: Path) -> None:
    with pytest.raises(InstallBlocked) as caught:
        run("install", tmp_path, token=MEMBER_KEY)
    assert "not an admin's" in str(caught.value) and "--token" in str(caught.value)
    assert MEMBER_KEY not in str(caught.value)
    assert "webhookSubscriptions.create" not in outline.calls


def test_without_token_the_wikis_api_token_is_used(outline: FakeOutline, tmp_path: Path) -> None:
    plan = run("install", tmp_path, token=None, chosen=settings(api_token=ADMIN_KEY))
    assert plan.changes == 1


def test_a_wrong_key_and_an_unreachable_outline_block(outline: FakeOutline, tmp_path: Path) -> None:
    with pytest.raises(InstallBlocked) as caught:
        run("install", tmp_path, token="ol_api_wrong")
    assert "refuses the API key" in str(caught.value) and "ol_api_wrong" not in str(caught.value)
    with pytest.raises(InstallBlocked) as caught:
        run("install", tmp_path, chosen=settings(url="http://127.0.0.1:9"))
    assert "cannot reach Outline at http://127.0.0.1:9" in str(caught.value)


def test_a_failure_half_way_is_install_failed_and_a_rerun_finishes(outline: FakeOutline, tmp_path: Path) -> None:
    outline.fail.add("webhookSubscriptions.create")
    with pytest.raises(InstallFailed) as caught:
        run("install", tmp_path)
    assert "could not create webhook subscription 'learnloop'" in str(caught.value)
    assert ledger(tmp_path).resources(HOST) == []
    outline.fail.clear()
    assert run("install", tmp_path).changes == 1 and len(outline.ours()) == 1


@pytest.mark.parametrize("status", [None, 502], ids=["timeout", "502"])
def test_a_subscription_whose_reply_was_lost_is_deleted_by_uninstall(outline: FakeOutline, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    status: int | None) -> None:
    real = OutlineClient.create_webhook_subscription

    def made_then_lost(self: OutlineClient, **fields: Any) -> None:
        real(self, **fields)
        raise OutlineError("ReadTimeout", status_code=status, call="webhookSubscriptions.create")

    monkeypatch.setattr(OutlineClient, "create_webhook_subscription", made_then_lost)
    with pytest.raises(InstallFailed):
        run("install", tmp_path)
    assert "pending" in (tmp_path / "learnloop.install.json").read_text()
    monkeypatch.setattr(OutlineClient, "create_webhook_subscription", real)
    assert run("install", tmp_path).changes == 0 and len(outline.ours()) == 1

    run("uninstall", tmp_path)
    assert outline.ours() == []


def test_a_subscription_made_by_hand_after_outline_refused_learnloops_stays_the_admins(outline: FakeOutline,
                                                                                      tmp_path: Path) -> None:
    outline.refuse.add("webhookSubscriptions.create")
    with pytest.raises(InstallFailed, match="HTTP 400"):
        run("install", tmp_path)
    assert "pending" not in (tmp_path / "learnloop.install.json").read_text()
    outline.refuse.clear()
    mine = outline.add(name="the admin's", url=EVENTS_URL, secret=SECRET, events=EVENTS)

    assert run("install", tmp_path).changes == 0
    [resource] = ledger(tmp_path).resources(HOST)
    assert (resource.id, resource.created) == (mine["id"], False)
    assert run("uninstall", tmp_path).changes == 0 and outline.ours() == [mine]


def test_wiki_choice_errors_name_the_choices(outline: FakeOutline, tmp_path: Path) -> None:
    two = settings(wikis=[{"name": "docs", "kind": "outline", "url": OUTLINE_URL, "secret": SECRET,
                           "api_token": ADMIN_KEY},
                          {"name": "kb", "kind": "outline", "url": OUTLINE_URL, "secret": SECRET,
                           "api_token": ADMIN_KEY},
                          {"name": "handbook", "kind": "bookstack", "url": "https://books.example.com",
                           "secret": SECRET, "api_token": "id:secret"}])
    context = InstallContext(two, Ledger(tmp_path / "l.json"), ConfigFile(tmp_path / "l.toml"))
    with pytest.raises(InstallBlocked, match=r"2 Outline wikis are configured \(docs, kb\).*--wiki"):
        installer_for(manifest(), context, wiki_name=None, token=None)
    with pytest.raises(InstallBlocked, match=r"'nope'.*configured wikis: docs \(outline\), kb \(outline\)"):
        installer_for(manifest(), context, wiki_name="nope", token=None)
    with pytest.raises(InstallBlocked, match=r"'handbook' is a BookStack wiki.*manifests/bookstack.yaml"):
        installer_for(manifest(), context, wiki_name="handbook", token=None)
    assert installer_for(manifest(), context, wiki_name="kb", token=None).host_key == "outline kb"
    with pytest.raises(InstallBlocked, match=r'no \[\[wikis\]\] entry of kind "outline" in \S+: add one \(name, '
                                             r'kind = "outline", url and api_token; install writes its secret\)'):
        installer_for(manifest(), InstallContext(make_settings(), context.ledger, context.config),
                      wiki_name=None, token=None)


def test_a_private_public_url_gets_a_note_about_outlines_allowlist(outline: FakeOutline, tmp_path: Path) -> None:
    plan = run("install", tmp_path, chosen=settings(public_url="http://10.1.2.3:8080"))
    assert any("ALLOWED_PRIVATE_IP_ADDRESSES=10.1.2.3" in note for note in plan.notes)
    assert not any("ALLOWED_PRIVATE_IP_ADDRESSES" in note for note in run("install", tmp_path / "b").notes)


def checks(chosen: Settings, last_delivery: datetime | None = None) -> dict[str, tuple[str, str]]:
    return {c.check: (c.status, c.detail) for c in doctor_checks(chosen, chosen.wikis[0], last_delivery=last_delivery)}


def test_doctor_ok_after_install_and_fix_before(outline: FakeOutline, tmp_path: Path) -> None:
    admin = settings(api_token=ADMIN_KEY)
    before = checks(admin)
    assert before["reachable"][0] == "ok" and before["api token"][0] == "ok"
    assert before["webhook subscription"][0] == "fix" and "none delivers" in before["webhook subscription"][1]
    assert before["webhook deliveries"] == ("fix", ("no delivery received yet: save a document, or check the "
                                                    "subscription in Outline's Settings → Webhooks"))
    run("install", tmp_path)
    after = checks(admin, datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    assert {name: status for name, (status, _) in after.items()} == {
        "reachable": "ok", "api token": "ok", "webhook subscription": "ok", "webhook deliveries": "ok"}
    assert after["webhook deliveries"][1] == "last delivery 2026-11-02T09:00:00+00:00"
    outline.ours()[0]["enabled"] = False
    assert checks(admin)["webhook subscription"][0] == "fix"


def test_doctor_with_a_member_token_skips_the_subscription_and_names_a_bad_token(outline: FakeOutline) -> None:
    assert checks(settings(api_token=MEMBER_KEY))["webhook subscription"][0] == "skip"
    bad = checks(settings(api_token="ol_api_wrong"))
    assert bad["reachable"][0] == "ok" and bad["api token"][0] == "fix"
    unreachable = checks(settings(url="http://127.0.0.1:9"))
    assert list(unreachable) == ["reachable"] and unreachable["reachable"][0] == "fix"


def test_a_moved_public_url_updates_the_recorded_subscription(outline: FakeOutline, tmp_path: Path) -> None:
    run("install", tmp_path)
    [made] = outline.ours()
    moved = settings(public_url="https://learnloop-new.example.com")
    plan = run("install", tmp_path, chosen=moved)
    [step] = [s for s in plan.steps if s.action == "update"]
    assert f"its url is {EVENTS_URL}" in step.detail
    assert [s["url"] for s in outline.subscriptions] == ["https://learnloop-new.example.com/wiki/docs/events"]
    [resource] = ledger(tmp_path).resources(HOST)
    assert (resource.id, resource.created) == (made["id"], True)
    assert run("uninstall", tmp_path, chosen=moved).changes == 1 and outline.subscriptions == []


def test_a_wiki_without_a_secret_gets_a_generated_one_written_before_outline_hears_of_it(
        outline: FakeOutline, tmp_path: Path) -> None:
    import tomllib

    from learnloop.config import load_settings

    config_path = tmp_path / "learnloop.toml"
    config_path.write_text(f'public_url = "{PUBLIC_URL}"\n\n[[wikis]]\nname = "docs"  # the handbook\n'
                           f'kind = "outline"\nurl = "{OUTLINE_URL}"\napi_token = "{MEMBER_KEY}"\n')
    without_secret = load_settings(config_file=config_path)
    assert without_secret.wikis[0].secret is None

    dry = run("install", tmp_path, chosen=without_secret, dry_run=True)
    assert [s.what for s in dry.steps if s.action == "create"] == ["webhook secret", "webhook subscription 'learnloop'"]
    assert "secret" not in tomllib.loads(config_path.read_text())["wikis"][0] and outline.ours() == []

    plan = run("install", tmp_path, chosen=without_secret)

    written = tomllib.loads(config_path.read_text())["wikis"][0]["secret"]
    assert len(written) >= 32 and written not in plan.render()
    assert "# the handbook" in config_path.read_text()
    [subscription] = outline.ours()
    assert subscription["secret"] == written
    again = run("install", tmp_path, chosen=load_settings(config_file=config_path))
    assert again.changes == 0


def test_doctor_asks_for_install_when_the_wiki_has_no_secret(outline: FakeOutline) -> None:
    chosen = make_settings(public_url=PUBLIC_URL, wikis=[
        {"name": "docs", "kind": "outline", "url": OUTLINE_URL, "api_token": ADMIN_KEY}])
    rows = {c.check: (c.status, c.detail) for c in doctor_checks(chosen, chosen.wikis[0], last_delivery=None)}
    assert rows["webhook subscription"] == ("fix", ("the wiki has no secret yet: run learnloop install "
                                                    "manifests/outline.yaml"))


def test_the_mattermost_admin_token_in_the_environment_is_never_sent_to_outline(
        outline: FakeOutline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """LEARNLOOP_INSTALL_TOKEN holds the Mattermost system admin's token (the README sets it for mattermost.yaml):
    a wiki's install uses its own api_token, or a --token given on the command line."""
    config = tmp_path / "learnloop.toml"
    config.write_text(f'public_url = "{PUBLIC_URL}"\n[[wikis]]\nname = "docs"\nkind = "outline"\nurl = "{OUTLINE_URL}"\n'
                      f'secret = "{SECRET}"\napi_token = "{ADMIN_KEY}"\n')
    monkeypatch.setenv("LEARNLOOP_CONFIG_FILE", str(config))
    monkeypatch.setenv("LEARNLOOP_INSTALL_TOKEN", "mattermost-sysadmin-pat-abcdefghij")
    result = CliRunner().invoke(main, ["install", str(MANIFESTS / "outline.yaml")])
    assert result.exit_code == 0, result.output
    sent = {call.request.headers.get("Authorization") for call in outline.mocked.calls}
    assert sent == {f"Bearer {ADMIN_KEY}"}
