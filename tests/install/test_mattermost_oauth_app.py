"""The OAuth app behind "Sign in with Mattermost": registered by `learnloop install manifests/mattermost.yaml`
through Mattermost's API, kept as the manifest says, and deleted by `uninstall`, against the stateful
stand-in (tests/install/fake_mattermost_oauth.py) whose every request and reply is validated against the
official OpenAPI source."""
# ruff: noqa: F811  (the fixtures imported from mattermost_world are the tests' parameters)

from __future__ import annotations

import json

import pytest

from learnloop.install.ledger import ledger_path_for
from learnloop.install.manifest import MattermostManifest, load_manifest
from learnloop.install.mattermost_oauth import OAUTH_OFF
from learnloop.install.plan import InstallFailed
from learnloop.mattermost.admin_client import MattermostAdminClient
from learnloop.mattermost.client import JsonObject, MattermostUnavailable
from tests.install.mattermost_world import (  # noqa: F401
    MANIFEST,
    PUBLIC_URL,
    World,
    public_addresses,
    world,
)
from tests.install.test_mattermost_install import blocked, doctor

CALLBACK = f"{PUBLIC_URL}/oauth/callback"


def manifest(**oauth_app: object) -> MattermostManifest:
    loaded = load_manifest(MANIFEST)
    assert isinstance(loaded, MattermostManifest)
    return loaded.model_copy(update={"oauth_app": loaded.oauth_app.model_copy(update=oauth_app)})


def the_app(world: World) -> dict[str, object]:
    [app] = world.fake.oauth_apps.values()
    return app


def test_install_registers_a_trusted_app_and_writes_its_id_and_secret(world: World) -> None:
    plan = world.install()

    app = the_app(world)
    assert app["callback_urls"] == [CALLBACK] and app["homepage"] == PUBLIC_URL and app["is_trusted"] is True
    assert app["name"] == "learnloop" and app["creator_id"] == world.fake.admin["id"]
    settings = world.settings()
    assert settings.mattermost_oauth_client_id == app["id"]
    assert settings.mattermost_oauth_client_secret.get_secret_value() == app["client_secret"]
    assert settings.oauth_enabled
    assert "# the admin's own notes stay" in world.config_path.read_text(encoding="utf-8")
    printed = plan.render()
    assert "create  OAuth app 'learnloop': \"Sign in with Mattermost\", calling back " + CALLBACK in printed
    assert str(app["client_secret"]) not in printed and str(app["client_secret"])[:4] + "…" in printed
    assert str(app["client_secret"]) not in ledger_path_for(world.config_path).read_text(encoding="utf-8")

    again = world.install()
    assert again.changes == 0, again.render()
    assert "keep    OAuth app 'learnloop': calls back " + CALLBACK in again.render()
    assert len(world.fake.oauth_apps) == 1


def test_a_changed_app_or_a_lost_secret_is_put_right(world: World) -> None:
    world.install()
    app = the_app(world)
    app["callback_urls"] = ["https://elsewhere.example/callback"]
    text = world.config_path.read_text(encoding="utf-8")
    world.config_path.write_text("\n".join(line for line in text.splitlines()
                                           if not line.startswith("mattermost_oauth_client_secret")) + "\n",
                                 encoding="utf-8")

    plan = world.install()

    assert app["callback_urls"] == [CALLBACK]
    assert [(s.action, s.what) for s in plan.steps if s.action == "update"] == [
        ("update", "OAuth app 'learnloop'"),
        ("update", "learnloop.toml: mattermost_oauth_client_id, mattermost_oauth_client_secret")]
    assert world.settings().mattermost_oauth_client_secret.get_secret_value() == app["client_secret"]
    assert world.changes_sent().count(f"PUT /api/v4/oauth/apps/{app['id']}") == 1


def test_an_app_deleted_in_mattermost_is_made_again(world: World) -> None:
    world.install()
    old = the_app(world)
    world.fake.oauth_apps.clear()

    world.install()

    new = the_app(world)
    assert new["id"] != old["id"] and world.settings().mattermost_oauth_client_id == new["id"]
    assert str(old["client_secret"]) not in world.config_path.read_text(encoding="utf-8")


def test_uninstall_deletes_the_app_and_takes_its_keys_out_of_the_file(world: World) -> None:
    world.install()
    app_id = the_app(world)["id"]

    plan = world.uninstall()

    assert world.fake.oauth_apps == {}
    assert f"DELETE /api/v4/oauth/apps/{app_id}" in world.changes_sent()
    assert "remove  OAuth app 'learnloop': delete it; its client id and secret leave learnloop.toml" in plan.render()
    settings = world.settings()
    assert settings.mattermost_oauth_client_id is None and settings.mattermost_oauth_client_secret is None
    assert not settings.oauth_enabled


def test_an_app_that_was_there_before_is_adopted_and_left_by_uninstall(world: World) -> None:
    made = world.fake.add_oauth_app(world.fake.admin, name="learnloop", callback=CALLBACK)

    plan = world.install()

    assert not [s for s in plan.steps if s.action == "create" and "OAuth" in s.what]
    assert world.settings().mattermost_oauth_client_id == made["id"]
    plan = world.uninstall()
    assert made["id"] in world.fake.oauth_apps
    assert "leave   OAuth app 'learnloop': it was there before learnloop was installed" in plan.render()


def test_an_app_whose_reply_was_lost_is_deleted_by_uninstall(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    real = MattermostAdminClient.create_oauth_app

    def made_then_timed_out(self: MattermostAdminClient, app: JsonObject) -> None:
        real(self, app)
        raise MattermostUnavailable("ReadTimeout", call="POST /api/v4/oauth/apps")

    monkeypatch.setattr(MattermostAdminClient, "create_oauth_app", made_then_timed_out)
    with pytest.raises(InstallFailed):
        world.install()
    monkeypatch.setattr(MattermostAdminClient, "create_oauth_app", real)
    world.install()

    plan = world.uninstall()
    assert world.fake.oauth_apps == {}, plan.render()


def test_with_the_provider_off_nothing_is_touched(world: World) -> None:
    world.fake.service_settings["EnableOAuthServiceProvider"] = False
    assert OAUTH_OFF in blocked(world)


def test_an_app_turned_off_in_the_manifest_is_neither_made_nor_needed(world: World) -> None:
    world.fake.service_settings["EnableOAuthServiceProvider"] = False

    plan = world.install(manifest=manifest(enabled=False))

    assert world.fake.oauth_apps == {} and not world.settings().oauth_enabled
    assert "leave   OAuth app 'learnloop': oauth_app.enabled is false" in plan.render()


def test_the_callback_follows_the_public_url(world: World) -> None:
    world.install()
    moved = "https://learn.example.com"

    world.install(public_url=moved)

    app = the_app(world)
    assert app["callback_urls"] == [f"{moved}/oauth/callback"] and app["homepage"] == moved
    ledger = json.loads(ledger_path_for(world.config_path).read_text(encoding="utf-8"))
    assert [r["type"] for r in next(iter(ledger["hosts"].values()))["resources"]].count("oauth_app") == 1


def test_doctor_checks_the_app_with_the_bots_session(world: World) -> None:
    world.install()
    assert doctor(world, admin=False)["sign in with Mattermost"] == (
        "ok", f"OAuth app 'learnloop' calls back {CALLBACK}")
    the_app(world)["callback_urls"] = ["https://elsewhere.example/cb"]
    assert doctor(world, admin=False)["sign in with Mattermost"][0] == "fix"
    world.fake.oauth_apps.clear()
    assert doctor(world, admin=False)["sign in with Mattermost"] == (
        "fix", "the configured OAuth app is gone: run learnloop install")


def test_doctor_notices_an_oauth_secret_that_no_longer_matches(world: World) -> None:
    """The app's secret was regenerated in Mattermost (Integrations → OAuth 2.0 Applications → Regenerate Secret):
    "Sign in with Mattermost" now fails at the token exchange, and doctor with an admin token says so."""
    world.install()
    assert doctor(world)["sign in with Mattermost"][0] == "ok"
    the_app(world)["client_secret"] = "regeneratedsecret0123456789"
    assert doctor(world)["sign in with Mattermost"] == (
        "fix", "its client secret is not the one in mattermost_oauth_client_secret (regenerated in Mattermost?): "
        "run learnloop install")
    assert doctor(world, admin=False)["sign in with Mattermost"][0] == "ok", "the bot may not read the secret"
