"""The MediaWiki installer and its doctor checks against the real MediaWiki fixture."""

from __future__ import annotations

import os
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import responses

from learnloop.config import Settings
from learnloop.install.config_file import ConfigFile, mask
from learnloop.install.doctor import run_doctor
from learnloop.install.ledger import Ledger
from learnloop.install.manifest import MediaWikiManifest, MediaWikiWidget, load_manifest
from learnloop.install.mediawiki import (
    BEGIN_MARKER,
    END_MARKER,
    doctor_checks,
    installer_for,
    widget_block,
    widget_pages,
    with_block,
    without_block,
)
from learnloop.install.plan import InstallBlocked, InstallContext, InstallFailed, Plan
from learnloop.mediawiki.client import MediaWikiClient, PageText
from learnloop.wikis import WikiError
from tests.conftest import make_settings
from tests.wikis.mediawiki_server import MediaWikiServer
from tests.wikis.mediawiki_support import (
    WIKI_SECRET,
    Editor,
    needs_mediawiki,
    wiki_config,
)

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"
COMMON_JS = "MediaWiki:Common.js"
ADMIN_SCRIPT = "// the admin's own site script\nwindow.siteGreeting = 'hello';\n"
PUBLIC_URL = "https://learnloop.example.com"
LIMITED_APPID = "limited"
LIMITED_PASSWORD = "limitedbot0123456789abcdefghijklm"


def manifest(**changes: Any) -> MediaWikiManifest:
    base = load_manifest(MANIFESTS / "mediawiki.yaml")
    assert isinstance(base, MediaWikiManifest)
    return base.model_copy(update=changes)


def settings_for(server: MediaWikiServer, **wiki_changes: Any) -> Settings:
    return make_settings(public_url=PUBLIC_URL, wikis=[wiki_config(server, **wiki_changes)])


def context(settings: Settings, tmp_path: Path, *, dry_run: bool = False, show_secrets: bool = False) -> InstallContext:
    return InstallContext(settings, Ledger(tmp_path / "learnloop.install.json"),
                          ConfigFile(tmp_path / "learnloop.toml"), dry_run, show_secrets)


def run(action: str, settings: Settings, tmp_path: Path, *, dry_run: bool = False,
        chosen: MediaWikiManifest | None = None, show_secrets: bool = False) -> Plan:
    plan = Plan(dry_run=dry_run)
    installer = installer_for(chosen or manifest(), context(settings, tmp_path, dry_run=dry_run,
                                                            show_secrets=show_secrets),
                              wiki_name=None, token=None)
    getattr(installer, action)(plan)
    return plan


@pytest.fixture
def editor(mediawiki: MediaWikiServer) -> Editor:
    """A person with their own session; Common.js starts each test holding only the admin's script."""
    person = Editor(mediawiki)
    person.save(COMMON_JS, ADMIN_SCRIPT, summary="admin script")
    return person


# ---------------------------------------------------------------------------- pure text handling

def test_block_is_appended_replaced_and_removed_leaving_the_rest() -> None:
    settings = make_settings(public_url=PUBLIC_URL)
    block = widget_block(settings)
    assert block.startswith(BEGIN_MARKER) and block.endswith(END_MARKER)
    assert 'mw.loader.load("https://learnloop.example.com/widget.js");' in block
    written = with_block(ADMIN_SCRIPT, block)
    assert written.startswith(ADMIN_SCRIPT.rstrip()) and written.count(BEGIN_MARKER) == 1
    newer = with_block(written, widget_block(make_settings(public_url="https://new.example.com")))
    assert newer.count(BEGIN_MARKER) == 1 and "new.example.com" in newer and "learnloop.example.com" not in newer
    assert without_block(newer) == ADMIN_SCRIPT
    middle = f"a();\n\n{block}\n\nb();\n"
    assert without_block(middle) == "a();\n\nb();\n"
    assert with_block("", block) == block + "\n"


# ---------------------------------------------------------------------------- the real wiki

@needs_mediawiki
def test_install_writes_one_block_a_second_run_changes_nothing_uninstall_removes_it(
        mediawiki: MediaWikiServer, editor: Editor, tmp_path: Path) -> None:
    settings = settings_for(mediawiki)
    plan = run("install", settings, tmp_path)
    assert plan.changes == 1, plan.render()
    text = editor.wikitext(COMMON_JS)
    assert text.startswith(ADMIN_SCRIPT.rstrip())
    assert text.count(BEGIN_MARKER) == 1 and widget_block(settings) in text
    site_scripts = requests.get(f"{mediawiki.url}/load.php", params={"modules": "site", "only": "scripts"},
                                timeout=30).text
    assert 'mw.loader.load("https://learnloop.example.com/widget.js")' in site_scripts
    ledger = Ledger(tmp_path / "learnloop.install.json")
    [resource] = ledger.resources("mediawiki handbook")
    assert (resource.type, resource.id, resource.created) == ("widget_block", COMMON_JS, True)
    assert ledger.status("mediawiki handbook") == "complete"
    assert any(step.action == "manual" for step in plan.steps)
    [note] = plan.notes
    assert mask(WIKI_SECRET) in note and "/wiki/handbook/events" in note and "--show-secrets" in note
    assert WIKI_SECRET not in plan.render() and mediawiki.bot_password not in plan.render()

    again = run("install", settings, tmp_path, show_secrets=True)
    assert again.changes == 0, again.render()
    assert "nothing to change" in again.render()
    assert editor.wikitext(COMMON_JS) == text
    [shown] = again.notes
    assert f"'secret' => '{WIKI_SECRET}'" in shown and "--show-secrets" not in shown

    editor.save(COMMON_JS, text + "\n// added by the admin after the install\n", summary="later edit")
    removed = run("uninstall", settings, tmp_path)
    assert [step.action for step in removed.steps if step.action == "remove"] == ["remove"]
    after = editor.wikitext(COMMON_JS)
    assert BEGIN_MARKER not in after and "mw.loader.load" not in after
    assert after.startswith(ADMIN_SCRIPT.rstrip()) and "// added by the admin after the install" in after
    assert Ledger(tmp_path / "learnloop.install.json").resources("mediawiki handbook") == []


@needs_mediawiki
def test_dry_run_lists_the_edit_and_makes_none(mediawiki: MediaWikiServer, editor: Editor, tmp_path: Path) -> None:
    plan = run("install", settings_for(mediawiki), tmp_path, dry_run=True)
    assert plan.changes == 1
    [step] = [step for step in plan.steps if step.action == "update"]
    assert step.what == f"rating widget in {COMMON_JS}" and "widget.js" in step.detail
    assert "dry run: 1 change planned" in plan.render()
    assert editor.wikitext(COMMON_JS) == ADMIN_SCRIPT.rstrip()
    assert not (tmp_path / "learnloop.install.json").exists()


@needs_mediawiki
def test_a_new_public_url_updates_the_block_in_place(mediawiki: MediaWikiServer, editor: Editor,
                                                     tmp_path: Path) -> None:
    run("install", settings_for(mediawiki), tmp_path)
    moved = settings_for(mediawiki).model_copy(update={"public_url": "https://moved.example.com"})
    plan = run("install", moved, tmp_path)
    assert [step.action for step in plan.steps if step.action in ("create", "update")] == ["update"]
    text = editor.wikitext(COMMON_JS)
    assert text.count(BEGIN_MARKER) == 1 and "https://moved.example.com/widget.js" in text
    run("uninstall", moved, tmp_path)
    assert editor.wikitext(COMMON_JS) == ADMIN_SCRIPT.rstrip()


@needs_mediawiki
def test_a_block_found_without_a_record_is_kept_and_left_by_uninstall(mediawiki: MediaWikiServer, editor: Editor,
                                                                      tmp_path: Path) -> None:
    settings = settings_for(mediawiki)
    editor.save(COMMON_JS, with_block(ADMIN_SCRIPT, widget_block(settings)), summary="pasted by hand")
    plan = run("install", settings, tmp_path)
    assert plan.changes == 0
    removed = run("uninstall", settings, tmp_path)
    assert removed.changes == 0 and any(step.action == "leave" for step in removed.steps)
    assert BEGIN_MARKER in editor.wikitext(COMMON_JS)


@needs_mediawiki
def test_a_wrong_bot_password_blocks_before_anything_changes(mediawiki: MediaWikiServer, editor: Editor,
                                                             tmp_path: Path) -> None:
    settings = settings_for(mediawiki, bot_password="wrongpassword0123456789abcdefghij")
    with pytest.raises(InstallBlocked) as caught:
        run("install", settings, tmp_path)
    message = str(caught.value)
    assert "nothing was changed" in message and "Special:BotPasswords" in message
    assert "Edit sitewide and user CSS/JS" in message
    assert "wrongpassword" not in message
    assert editor.wikitext(COMMON_JS) == ADMIN_SCRIPT.rstrip()


def _limited_bot_password(server: MediaWikiServer) -> str:
    """A second bot password of the admin, without the editsiteconfig grant (so no editsitejs)."""
    result = subprocess.run(
        ["php", "maintenance/createBotPassword.php", f"--appid={LIMITED_APPID}",
         "--grants=basic,editpage,createeditmovepage", server.admin_user, LIMITED_PASSWORD],
        cwd="/usr/share/mediawiki", env={**os.environ, "MW_CONFIG_FILE": str(server.dir / "LocalSettings.php")},
        capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0 and "already exists" not in result.stdout + result.stderr:
        raise AssertionError(result.stdout + result.stderr)
    return f"{server.admin_user}@{LIMITED_APPID}"


@needs_mediawiki
def test_missing_rights_are_named_with_the_grant_that_gives_them(mediawiki: MediaWikiServer, editor: Editor,
                                                                  tmp_path: Path) -> None:
    settings = settings_for(mediawiki, bot_user=_limited_bot_password(mediawiki), bot_password=LIMITED_PASSWORD)
    with pytest.raises(InstallBlocked) as caught:
        run("install", settings, tmp_path)
    [problem] = caught.value.problems
    assert "editsitejs" in problem and '"Edit sitewide and user CSS/JS"' in problem and "interface-admin" in problem
    assert "createpage" not in problem
    assert editor.wikitext(COMMON_JS) == ADMIN_SCRIPT.rstrip()
    checks = {check.check: check for check in doctor_checks(settings, settings.wikis[0], last_delivery=None)}
    assert checks["rights"].status == "fix" and "editsitejs" in checks["rights"].detail


@needs_mediawiki
def test_doctor_reports_ok_after_install_and_fix_after_uninstall(mediawiki: MediaWikiServer, editor: Editor,
                                                                 tmp_path: Path) -> None:
    settings = settings_for(mediawiki)
    wiki = settings.wikis[0]
    before = {check.check: check for check in doctor_checks(settings, wiki, last_delivery=None)}
    assert before["rating widget"].status == "fix"
    run("install", settings, tmp_path)
    pushed = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    checks = doctor_checks(settings, wiki, last_delivery=pushed)
    assert [(c.check, c.status) for c in checks] == [
        ("reachable", "ok"), ("bot password", "ok"), ("rights", "ok"), ("rating widget", "ok"), ("signed push", "ok")]
    assert "2026-11-02T09:00:00+00:00" in checks[-1].detail
    assert doctor_checks(settings, wiki, last_delivery=None)[-1].status == "skip"
    run("uninstall", settings, tmp_path)
    assert {c.check: c.status for c in doctor_checks(settings, wiki, last_delivery=None)}["rating widget"] == "fix"


@needs_mediawiki
def test_doctor_and_uninstall_follow_the_page_the_manifest_named(mediawiki: MediaWikiServer, editor: Editor,
                                                                  tmp_path: Path) -> None:
    settings, page = settings_for(mediawiki), f"MediaWiki:Learnloop-{uuid.uuid4().hex[:8]}.js"
    wiki, chosen = settings.wikis[0], manifest(widget=MediaWikiWidget(page=page))
    run("install", settings, tmp_path, chosen=chosen)
    assert widget_block(settings) in editor.wikitext(page) and BEGIN_MARKER not in editor.wikitext(COMMON_JS)
    pages = widget_pages(Ledger(tmp_path / "learnloop.install.json"), wiki)
    assert pages == [page]
    [widget] = [c for c in run_doctor(context(settings, tmp_path), None) if c.check == "rating widget"]
    assert (widget.status, widget.detail) == ("ok", f"{page} loads {PUBLIC_URL}/widget.js")
    plan = run("uninstall", settings, tmp_path, chosen=chosen)
    assert editor.wikitext(page).strip() == ""
    assert f"leave   {page}: learnloop install created it and it is empty now" in plan.render()
    assert widget_pages(Ledger(tmp_path / "learnloop.install.json"), wiki) == [COMMON_JS]


@needs_mediawiki
def test_doctor_names_a_refused_bot_password(mediawiki: MediaWikiServer) -> None:
    settings = settings_for(mediawiki, bot_password="wrongpassword0123456789abcdefghij")
    checks = doctor_checks(settings, settings.wikis[0], last_delivery=None)
    assert [(c.check, c.status) for c in checks][:2] == [("reachable", "ok"), ("bot password", "fix")]
    assert "Special:BotPasswords" in checks[1].detail


# ---------------------------------------------------------------------------- without a wiki

def test_an_unreachable_wiki_blocks_the_install(tmp_path: Path) -> None:
    settings = make_settings(wikis=[{"name": "handbook", "kind": "mediawiki", "url": "http://127.0.0.1:9",
                                     "secret": WIKI_SECRET, "bot_user": "Admin@learnloop",
                                     "bot_password": "learnloopbot0123456789abcdefghijk"}])
    with pytest.raises(InstallBlocked) as caught:
        run("install", settings, tmp_path)
    assert "cannot reach the MediaWiki API at http://127.0.0.1:9/api.php" in str(caught.value)
    [check] = doctor_checks(settings, settings.wikis[0], last_delivery=None)[:1]
    assert (check.check, check.status) == ("reachable", "fix")


def handbook() -> Settings:
    """A MediaWiki reached only through stand-ins (`responses`, or a patched client)."""
    return make_settings(wikis=[{"name": "handbook", "kind": "mediawiki", "url": "https://wiki.example.com/w",
                                 "secret": WIKI_SECRET, "bot_user": "Admin@learnloop",
                                 "bot_password": "learnloopbot0123456789abcdefghijk"}])


@responses.activate
def test_a_failed_edit_is_an_install_failure_and_leaves_no_record(tmp_path: Path) -> None:
    """MediaWiki refused the edit (an error code), so it saved nothing: no pending entry either."""
    api = "https://wiki.example.com/w/api.php"
    settings = handbook()

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        import json
        from urllib.parse import parse_qs, urlsplit

        params = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query or "").items()}
        if request.body:
            params.update({k: v[0] for k, v in parse_qs(request.body).items()})
        if params.get("meta") == "siteinfo":
            body: dict[str, Any] = {"query": {"general": {"generator": "MediaWiki 1.39.17"}}}
        elif params.get("type") == "login":
            body = {"query": {"tokens": {"logintoken": "abc+\\"}}}
        elif params.get("action") == "login":
            body = {"login": {"result": "Success", "lgusername": "Admin"}}
        elif params.get("meta") == "userinfo":
            body = {"query": {"userinfo": {"rights": ["read", "edit", "createpage", "editsitejs"]}}}
        elif params.get("meta") == "tokens":
            body = {"query": {"tokens": {"csrftoken": "csrf+\\"}}}
        elif params.get("prop") == "revisions":
            body = {"curtimestamp": "2026-11-02T09:00:00Z", "query": {"pages": [{"title": COMMON_JS, "revisions": [
                {"timestamp": "2026-11-01T09:00:00Z", "slots": {"main": {"content": ADMIN_SCRIPT}}}]}]}}
        else:
            body = {"error": {"code": "editconflict", "info": "Edit conflict."}}
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    responses.add_callback(responses.GET, api, callback=answer)
    responses.add_callback(responses.POST, api, callback=answer)
    with pytest.raises(InstallFailed) as caught:
        run("install", settings, tmp_path)
    assert "could not update rating widget in MediaWiki:Common.js" in str(caught.value)
    assert "editconflict" in str(caught.value)
    assert Ledger(tmp_path / "learnloop.install.json").resources("mediawiki handbook") == []
    assert "pending" not in (tmp_path / "learnloop.install.json").read_text()


def pages_in_memory(monkeypatch: pytest.MonkeyPatch, first_edit: str) -> dict[str, str]:
    """The handbook's pages, in a dict behind a patched client: the first edit's reply is "lost" (saved, then a
    timeout) or "refused" (an edit conflict, as the client reads MediaWiki's error code: nothing saved)."""
    saved = {COMMON_JS: ADMIN_SCRIPT}
    replies = [first_edit]

    def replace_text(self: MediaWikiClient, before: PageText, text: str, **_: Any) -> int:
        reply = replies.pop() if replies else "saved"
        if reply == "refused":
            MediaWikiClient._raise_for_api_error({"error": {"code": "editconflict", "info": "Edit conflict."}},
                                                 "edit")
        saved[before.title] = text
        if reply == "lost":
            raise WikiError("ReadTimeout")
        return 1

    monkeypatch.setattr(MediaWikiClient, "general", lambda self: {})
    monkeypatch.setattr(MediaWikiClient, "login", lambda self: "Admin")
    monkeypatch.setattr(MediaWikiClient, "rights", lambda self: manifest().required_rights)
    monkeypatch.setattr(MediaWikiClient, "page_text",
                        lambda self, title: PageText(title, True, saved[title], "2026-11-01T09:00:00Z", None))
    monkeypatch.setattr(MediaWikiClient, "replace_text", replace_text)
    return saved


def test_a_block_whose_edit_reply_was_lost_is_removed_by_uninstall(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The wiki saved the block but its reply was lost: the re-run finds the block and knows learnloop wrote it."""
    settings = handbook()
    saved = pages_in_memory(monkeypatch, "lost")
    with pytest.raises(InstallFailed):
        run("install", settings, tmp_path)
    assert "pending" in (tmp_path / "learnloop.install.json").read_text()
    assert run("install", settings, tmp_path).changes == 0

    run("uninstall", settings, tmp_path)
    assert BEGIN_MARKER not in saved[COMMON_JS]


def test_a_block_pasted_by_hand_after_the_wiki_refused_learnloops_stays(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    settings = handbook()
    saved = pages_in_memory(monkeypatch, "refused")
    with pytest.raises(InstallFailed, match="editconflict"):
        run("install", settings, tmp_path)
    assert saved[COMMON_JS] == ADMIN_SCRIPT
    pasted = with_block(ADMIN_SCRIPT, widget_block(settings))
    saved[COMMON_JS] = pasted

    assert run("install", settings, tmp_path).changes == 0
    [resource] = Ledger(tmp_path / "learnloop.install.json").resources("mediawiki handbook")
    assert resource.created is False
    run("uninstall", settings, tmp_path)
    assert saved[COMMON_JS] == pasted


@needs_mediawiki
def test_dry_run_uninstall_lists_the_removal_and_keeps_the_block(mediawiki: MediaWikiServer, editor: Editor,
                                                                 tmp_path: Path) -> None:
    settings = settings_for(mediawiki)
    run("install", settings, tmp_path)
    plan = run("uninstall", settings, tmp_path, dry_run=True)
    assert [(s.action, s.what) for s in plan.steps if s.action == "remove"] == [
        ("remove", f"rating widget in {COMMON_JS}")]
    assert BEGIN_MARKER in editor.wikitext(COMMON_JS)
    assert len(Ledger(tmp_path / "learnloop.install.json").resources("mediawiki handbook")) == 1
    run("uninstall", settings, tmp_path)
    assert editor.wikitext(COMMON_JS) == ADMIN_SCRIPT.rstrip()


@needs_mediawiki
def test_disabling_the_widget_in_the_manifest_removes_the_block_install_wrote(mediawiki: MediaWikiServer,
                                                                               editor: Editor, tmp_path: Path) -> None:
    settings = settings_for(mediawiki)
    run("install", settings, tmp_path)
    disabled = manifest(widget=manifest().widget.model_copy(update={"enabled": False}), print_push_snippet=False)
    plan = run("install", settings, tmp_path, chosen=disabled)
    assert [s.action for s in plan.steps] == ["keep", "remove"] and plan.notes == []
    assert editor.wikitext(COMMON_JS) == ADMIN_SCRIPT.rstrip()
    again = run("install", settings, tmp_path, chosen=disabled)
    assert [s.action for s in again.steps] == ["keep", "leave"]


def test_the_wiki_named_by_the_manifest_or_wiki_option_is_used(tmp_path: Path) -> None:
    settings = make_settings(public_url=PUBLIC_URL, wikis=[
        {"name": name, "kind": "mediawiki", "url": "https://wiki.example.com/w", "secret": WIKI_SECRET,
         "bot_user": "Admin@learnloop", "bot_password": "learnloopbot0123456789abcdefghijk"}
        for name in ("handbook", "intranet")])
    ctx = context(settings, tmp_path)
    assert installer_for(manifest(wiki="intranet"), ctx, wiki_name=None, token=None).host_key == "mediawiki intranet"
    assert installer_for(manifest(wiki="intranet"), ctx, wiki_name="handbook", token=None).host_key == \
        "mediawiki handbook"
    with pytest.raises(InstallBlocked, match=r"2 MediaWiki wikis are configured \(handbook, intranet\)"):
        installer_for(manifest(), ctx, wiki_name=None, token=None)


def test_the_push_snippet_carries_the_secret_in_full_only_on_request(tmp_path: Path) -> None:
    settings = make_settings(public_url=PUBLIC_URL, wikis=[
        {"name": "handbook", "kind": "mediawiki", "url": "https://wiki.example.com/w", "secret": WIKI_SECRET,
         "bot_user": "Admin@learnloop", "bot_password": "learnloopbot0123456789abcdefghijk"}])

    def note(show_secrets: bool) -> str:
        ctx = context(settings, tmp_path, show_secrets=show_secrets)
        return installer_for(manifest(), ctx, wiki_name=None, token=None).push_note()

    hidden = note(False)
    assert WIKI_SECRET not in hidden
    assert f"'secret' => '{mask(WIKI_SECRET)}'" in hidden and "run the same command with --show-secrets" in hidden
    shown = note(True)
    assert f"'secret' => '{WIKI_SECRET}'" in shown and "--show-secrets" not in shown
