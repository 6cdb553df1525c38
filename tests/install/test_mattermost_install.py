"""`learnloop install manifests/mattermost.yaml` against a stateful Mattermost whose every request
and reply is validated against the official OpenAPI source."""
# ruff: noqa: F811  (the fixtures imported from mattermost_world are the tests' parameters)

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from learnloop.install.ledger import Ledger, ledger_path_for
from learnloop.install.manifest import MattermostManifest, load_manifest
from learnloop.install.mattermost_doctor import doctor_checks
from learnloop.install.plan import InstallBlocked, InstallFailed, Plan
from learnloop.install.reachability import allowed_untrusted, internal_addresses
from learnloop.mattermost.admin_client import MattermostAdminClient
from learnloop.mattermost.client import MattermostError, MattermostUnavailable
from tests.contract.fixtures import MATTERMOST_TEST_URL
from tests.install.fake_mattermost import ADMIN_TOKEN
from tests.install.mattermost_world import (  # noqa: F401
    MANIFEST,
    PUBLIC_URL,
    World,
    public_addresses,
    world,
)


def test_fresh_install_creates_the_bot_its_token_the_command_and_the_webhooks(world: World) -> None:
    plan = world.install(channels=("engineering/random",))

    fake = world.fake
    bot = fake.bot_named("learnloop")
    assert bot is not None and bot["display_name"] == "learnloop"
    [command] = fake.commands.values()
    assert command["url"] == f"{PUBLIC_URL}/mattermost/command"
    assert command["method"] == "P" and command["trigger"] == "learn" and command["team_id"] == world.team["id"]
    assert command["auto_complete"] is True
    assert command["auto_complete_hint"].startswith("[") and "rate" in command["auto_complete_hint"]
    for subcommand in ("rate", "share", "reflect", "journal", "prompts", "dashboard", "signin", "wiki", "help"):
        assert subcommand in command["auto_complete_hint"]
    hooks = {hook["channel_id"]: hook for hook in fake.hooks.values()}
    assert set(hooks) == {world.town["id"], world.random["id"]}
    for hook in hooks.values():
        assert hook["callback_urls"] == [f"{PUBLIC_URL}/mattermost/outgoing"]
        assert hook["trigger_words"] == [] and hook["content_type"] == "application/json"
    assert (world.team["id"], bot["user_id"]) in fake.active_team_members()
    assert {(world.town["id"], bot["user_id"]), (world.random["id"], bot["user_id"])} <= fake.channel_members

    settings = world.settings()
    bot_token = [t for t in fake.tokens.values() if t["user_id"] == bot["user_id"]]
    assert len(bot_token) == 1
    assert settings.mattermost_bot_token.get_secret_value() == bot_token[0]["token"]
    assert settings.mattermost_bot_user_id == bot["user_id"]
    assert settings.mattermost_url_text == MATTERMOST_TEST_URL
    assert settings.mattermost_command_tokens == [command["token"]]
    assert sorted(settings.mattermost_webhook_tokens) == sorted(h["token"] for h in hooks.values())
    text = world.config_path.read_text(encoding="utf-8")
    assert "# the admin's own notes stay" in text and "# our first community" in text

    printed = plan.render()
    assert "create  bot account @learnloop" in printed
    assert "create  slash command /learn in team engineering" in printed
    for secret in [bot_token[0]["token"], command["token"], *(h["token"] for h in hooks.values())]:
        assert secret not in printed
    ledger = json.loads(ledger_path_for(world.config_path).read_text(encoding="utf-8"))
    record = ledger["hosts"][f"mattermost {MATTERMOST_TEST_URL}"]
    assert record["status"] == "complete"
    assert all(secret not in json.dumps(ledger) for secret in [bot_token[0]["token"], command["token"]])


def test_each_step_is_printed_as_it_happens(world: World) -> None:
    printed: list[tuple[str, list[str]]] = []
    installer = world.installer()
    plan = Plan(False, echo=lambda line: printed.append((line, world.changes_sent())))

    installer.install(plan)

    sent_when = {line.strip(): sent for line, sent in printed}
    assert sent_when["create  bot account @learnloop: learnloop"] == []
    command = f"create  slash command /learn in team engineering: calls {PUBLIC_URL}/mattermost/command"
    assert "POST /api/v4/bots" in sent_when[command] and "POST /api/v4/commands" not in sent_when[command]
    steps = [line for line, _ in printed if line.startswith("  ")]
    assert steps == plan.render().splitlines()[:len(plan.steps)]


def test_installing_twice_changes_nothing_the_second_time(world: World) -> None:
    world.install(channels=("engineering/random",))
    before = (dict(world.fake.bots), dict(world.fake.commands), dict(world.fake.hooks), dict(world.fake.tokens))
    config_before = world.config_path.read_text(encoding="utf-8")
    calls = len(world.contract.calls)

    plan = world.install(channels=("engineering/random",))

    assert plan.changes == 0
    assert world.changes_sent(calls) == []
    assert (world.fake.bots, world.fake.commands, world.fake.hooks, world.fake.tokens) == before
    assert world.config_path.read_text(encoding="utf-8") == config_before
    assert "nothing to change: already installed" in plan.render()
    assert "keep    slash command /learn in team engineering" in plan.render()


def test_dry_run_prints_the_plan_and_touches_nothing(world: World) -> None:
    config_before = world.config_path.read_text(encoding="utf-8")

    plan = world.install(dry_run=True, channels=("engineering/random",))

    assert world.changes_sent() == []
    assert world.fake.bots == {} and world.fake.commands == {} and world.fake.hooks == {}
    assert world.config_path.read_text(encoding="utf-8") == config_before
    assert not ledger_path_for(world.config_path).exists()
    printed = plan.render()
    assert "create  bot account @learnloop" in printed
    assert "create  bot access token" in printed
    assert "create  outgoing webhook in ~engineering/town-square" in printed
    assert "create  outgoing webhook in ~engineering/random" in printed
    assert "create  OAuth app 'learnloop'" in printed and world.fake.oauth_apps == {}
    assert printed.endswith("dry run: 10 changes planned, nothing was touched")


def test_dry_run_after_install_plans_nothing(world: World) -> None:
    world.install()
    calls = len(world.contract.calls)
    plan = world.install(dry_run=True)
    assert plan.changes == 0 and world.changes_sent(calls) == []


def test_changed_manifest_updates_the_command_in_place(world: World) -> None:
    world.install()
    [command] = world.fake.commands.values()
    manifest = load_manifest(MANIFEST)
    assert isinstance(manifest, MattermostManifest)
    changed = manifest.model_copy(update={"slash_command": manifest.slash_command.model_copy(
        update={"description": "Learn together"})})

    plan = world.install(manifest=changed)

    assert [s.what for s in plan.steps if s.action == "update"] == ["slash command /learn in team engineering"]
    [updated] = world.fake.commands.values()
    assert updated["id"] == command["id"] and updated["description"] == "Learn together"
    assert updated["token"] == command["token"]


def test_a_moved_service_repoints_the_command_and_webhooks(world: World) -> None:
    world.install()
    calls = len(world.contract.calls)
    plan = world.install(public_url="https://learn.example.org")
    assert {s.what for s in plan.steps if s.action == "update"} >= {
        "slash command /learn in team engineering", "outgoing webhook in ~engineering/town-square"}
    [command] = world.fake.commands.values()
    [hook] = world.fake.hooks.values()
    assert command["url"] == "https://learn.example.org/mattermost/command"
    assert hook["callback_urls"] == ["https://learn.example.org/mattermost/outgoing"]
    assert all(c.startswith("PUT ") for c in world.changes_sent(calls))


def test_a_private_community_channel_gets_the_bot_but_no_webhook(world: World) -> None:
    world.config_path.write_text(world.config_path.read_text() + (
        '\n[[communities]]\nname = "Leads"\n' f'channel_id = "{world.secret["id"]}"\n'), encoding="utf-8")
    plan = world.install()
    bot = world.fake.bot_named("learnloop")
    assert bot is not None
    assert (world.secret["id"], bot["user_id"]) in world.fake.channel_members
    assert all(hook["channel_id"] != world.secret["id"] for hook in world.fake.hooks.values())
    assert any(s.action == "leave" and "private channel" in s.detail for s in plan.steps)


def test_every_channel_that_counts_towards_a_community_gets_the_bot_and_a_webhook(world: World) -> None:
    world.config_path.write_text(world.config_path.read_text().replace(
        f'channel_id = "{world.town["id"]}"\n',
        f'channel_id = "{world.town["id"]}"\nchannels = ["{world.random["id"]}"]\n'), encoding="utf-8")
    world.install()
    bot = world.fake.bot_named("learnloop")
    assert bot is not None
    for channel in (world.town, world.random):
        assert (channel["id"], bot["user_id"]) in world.fake.channel_members
        assert any(hook["channel_id"] == channel["id"] for hook in world.fake.hooks.values()), channel["name"]


def test_an_existing_bot_is_adopted_not_recreated_and_left_alone_by_uninstall(world: World) -> None:
    owner = world.fake.admin["id"]
    user = world.fake.add_user("learnloop", is_bot=True)
    world.fake.bots[user["id"]] = {"user_id": user["id"], "username": "learnloop", "display_name": "learnloop",
                                   "description": "Sends reflection prompts and rating buttons; answers /learn.",
                                   "owner_id": owner, "create_at": 1, "update_at": 1, "delete_at": 0}
    plan = world.install()
    assert "keep    bot account @learnloop" in plan.render()
    assert len(world.fake.bots) == 1

    world.uninstall()
    assert world.fake.bots[user["id"]]["delete_at"] == 0
    assert [t for t in world.fake.tokens.values() if t["user_id"] == user["id"]] == []


def test_a_disabled_bot_is_enabled_again(world: World) -> None:
    world.install()
    bot = world.fake.bot_named("learnloop")
    assert bot is not None
    bot["delete_at"] = 99
    plan = world.install()
    assert bot["delete_at"] == 0
    assert any(s.action == "update" and "enable it again" in s.detail for s in plan.steps)


def test_a_token_that_no_longer_works_is_replaced_and_the_old_one_revoked(world: World) -> None:
    world.install()
    bot = world.fake.bot_named("learnloop")
    assert bot is not None
    [old] = [t for t in world.fake.tokens.values() if t["user_id"] == bot["user_id"]]
    old["is_active"] = False

    world.install()

    tokens = [t for t in world.fake.tokens.values() if t["user_id"] == bot["user_id"]]
    assert [t["id"] for t in tokens] != [old["id"]] and len(tokens) == 1
    assert world.settings().mattermost_bot_token.get_secret_value() == tokens[0]["token"]


def test_uninstall_removes_exactly_what_install_created(world: World) -> None:
    other_command = {"id": "c" * 26, "token": "t" * 26, "team_id": world.team["id"], "trigger": "standup",
                     "method": "P", "url": "https://raven.example.com/cmd", "creator_id": world.fake.admin["id"],
                     "delete_at": 0}
    other_hook = {"id": "h" * 26, "token": "k" * 26, "team_id": world.team["id"], "channel_id": world.town["id"],
                  "callback_urls": ["https://other.example.com/hook"], "trigger_words": [], "delete_at": 0}
    world.fake.commands[other_command["id"]] = other_command
    world.fake.hooks[other_hook["id"]] = other_hook
    world.install(channels=("engineering/random",))
    admin_tokens = {k for k, t in world.fake.tokens.items() if t["user_id"] == world.fake.admin["id"]}

    plan = world.uninstall()

    assert world.fake.commands == {other_command["id"]: other_command}
    assert world.fake.hooks == {other_hook["id"]: other_hook}
    bot = world.fake.bot_named("learnloop")
    assert bot is not None and bot["delete_at"] != 0
    assert set(world.fake.tokens) == admin_tokens
    assert not any(bot["user_id"] in pair for pair in world.fake.channel_members | world.fake.active_team_members())
    assert world.fake.team_members[(world.team["id"], bot["user_id"])]["delete_at"] > 0  # kept, soft-deleted
    assert (world.team["id"], world.fake.admin["id"]) in world.fake.active_team_members()
    settings = world.settings()
    assert settings.mattermost_bot_token is None and settings.mattermost_bot_user_id is None
    assert settings.mattermost_command_tokens == [] and settings.mattermost_webhook_tokens == []
    assert settings.communities[0].name == "Platform"
    assert "remove  slash command /learn in team engineering" in plan.render()
    assert json.loads(ledger_path_for(world.config_path).read_text())["hosts"] == {}

    again = world.uninstall()
    assert again.changes == 0


def test_uninstall_removes_the_tokens_it_wrote_even_when_their_integrations_are_gone(world: World) -> None:
    world.config_path.write_text(world.config_path.read_text().replace(
        "public_url", 'mattermost_command_tokens = ["hand-written-token"]\npublic_url'), encoding="utf-8")
    world.install(channels=("engineering/random",))
    world.fake.commands.clear()
    world.fake.hooks.clear()

    plan = world.uninstall()

    settings = world.settings()
    assert settings.mattermost_command_tokens == ["hand-written-token"]
    assert settings.mattermost_webhook_tokens == [] and settings.mattermost_bot_token is None
    assert "  remove  slash command /learn in team engineering: delete it; its token leaves learnloop.toml" in \
        plan.render().splitlines()


def test_a_command_made_again_replaces_the_dead_token_of_the_one_deleted_by_hand(world: World) -> None:
    world.install()
    [old] = world.fake.commands.values()
    world.fake.commands.clear()

    world.install()

    [new] = world.fake.commands.values()
    assert world.settings().mattermost_command_tokens == [new["token"]] != [old["token"]]
    ledger = ledger_path_for(world.config_path).read_text(encoding="utf-8")
    assert new["token"] not in ledger and old["token"] not in ledger


def test_uninstall_dry_run_touches_nothing(world: World) -> None:
    world.install()
    calls = len(world.contract.calls)
    plan = world.uninstall(dry_run=True)
    assert world.changes_sent(calls) == []
    assert len(world.fake.commands) == 1
    assert plan.changes == 7  # OAuth app, webhook, channel member, command, team member, token, bot


def test_reinstall_after_uninstall_works(world: World) -> None:
    world.install()
    world.uninstall()
    plan = world.install()
    bot = world.fake.bot_named("learnloop")
    assert bot is not None and bot["delete_at"] == 0
    assert len(world.fake.commands) == 1 and len(world.fake.hooks) == 1
    assert any(s.action == "update" and "enable it again" in s.detail for s in plan.steps)


def test_a_failure_half_way_leaves_a_record_and_a_rerun_finishes(world: World) -> None:
    world.fake.fail_next("POST", r"/api/v4/hooks/outgoing", 500)
    with pytest.raises(InstallFailed, match="could not create outgoing webhook in ~engineering/town-square"):
        world.install()

    ledger = Ledger(ledger_path_for(world.config_path))
    host = f"mattermost {MATTERMOST_TEST_URL}"
    assert ledger.status(host) == "incomplete"
    assert {r.type for r in ledger.resources(host)} == {"bot", "bot_token", "team_member", "command",
                                                        "channel_member"}
    assert world.settings().mattermost_bot_token is not None
    assert world.fake.hooks == {}

    plan = world.install()

    assert [s.what for s in plan.steps if s.action == "create"] == ["outgoing webhook in ~engineering/town-square",
                                                                     "OAuth app 'learnloop'"]
    assert len(world.fake.bots) == 1 and len(world.fake.commands) == 1 and len(world.fake.hooks) == 1
    assert Ledger(ledger_path_for(world.config_path)).status(host) == "complete"


def pending(world: World) -> list[dict[str, str]]:
    """The create calls the install record still waits to hear about."""
    hosts = json.loads(ledger_path_for(world.config_path).read_text(encoding="utf-8"))["hosts"]
    return [p for entry in hosts.values() for p in entry.get("pending", [])]


@pytest.mark.parametrize("lost", [MattermostUnavailable("ReadTimeout", call="POST"),
                                  MattermostError("bad gateway", status_code=502, call="POST")],
                         ids=["timeout", "502"])
@pytest.mark.parametrize("call", ["create_outgoing_webhook", "add_channel_member"])
def test_what_mattermost_made_when_its_reply_was_lost_is_adopted_as_learnloops(
        world: World, monkeypatch: pytest.MonkeyPatch, call: str, lost: MattermostError) -> None:
    real = getattr(MattermostAdminClient, call)

    def made_then_lost(self: MattermostAdminClient, *args: Any) -> None:
        real(self, *args)
        raise lost

    monkeypatch.setattr(MattermostAdminClient, call, made_then_lost)
    with pytest.raises(InstallFailed):
        world.install()
    assert len(pending(world)) == 1, "Mattermost may have made it: the re-run must know"
    monkeypatch.setattr(MattermostAdminClient, call, real)
    world.install()

    plan = world.uninstall()
    assert "leave" not in {s.action for s in plan.steps}, plan.render()
    bot = world.fake.bot_named("learnloop")
    assert bot is not None and world.fake.hooks == {}
    assert not any(member == bot["user_id"] for _, member in world.fake.channel_members)
    assert json.loads(ledger_path_for(world.config_path).read_text())["hosts"] == {}


@pytest.mark.parametrize("status", [400, 403, 409])
def test_a_webhook_made_by_hand_after_mattermost_refused_learnloops_stays_the_admins(world: World,
                                                                                    status: int) -> None:
    """Mattermost said no, so it made nothing: the webhook an admin then makes to the same URL is theirs, to
    keep when learnloop is uninstalled."""
    world.fake.fail_next("POST", r"/api/v4/hooks/outgoing", status)
    with pytest.raises(InstallFailed, match=f"HTTP {status}"):
        world.install()
    assert pending(world) == []
    mine = MattermostAdminClient(MATTERMOST_TEST_URL, ADMIN_TOKEN).create_outgoing_webhook({
        "team_id": world.team["id"], "channel_id": world.town["id"], "display_name": "the admin's",
        "trigger_words": [], "trigger_when": 0, "callback_urls": [f"{PUBLIC_URL}/mattermost/outgoing"],
        "content_type": "application/json"})

    plan = world.install()

    assert not [s for s in plan.steps if s.action == "create" and "outgoing webhook" in s.what], plan.render()
    hook = Ledger(ledger_path_for(world.config_path)).find(f"mattermost {MATTERMOST_TEST_URL}", "outgoing_webhook")
    assert hook is not None and (hook.id, hook.created) == (mine["id"], False)
    plan = world.uninstall()
    assert list(world.fake.hooks) == [mine["id"]], plan.render()
    assert "leave   outgoing webhook in ~engineering/town-square" in plan.render()


# ----------------------------------------------------------------------- checks first

def blocked(world: World, **options: Any) -> list[str]:
    with pytest.raises(InstallBlocked) as caught:
        world.install(**options)
    assert world.changes_sent() == [], "nothing may be touched when a check fails"
    assert not ledger_path_for(world.config_path).exists()
    return caught.value.problems


def test_unreachable_server(world: World) -> None:
    [problem] = blocked(world, url="http://chat.unreachable.test")
    assert problem.startswith("cannot reach Mattermost at http://chat.unreachable.test")
    assert "check --url" in problem


def test_a_server_that_is_not_mattermost(world: World) -> None:
    world.fake.fail_next("GET", r"/system/ping", 404)
    [problem] = blocked(world)
    assert "is not answering like a Mattermost server (HTTP 404" in problem


def test_refused_admin_token(world: World) -> None:
    [problem] = blocked(world, token="not-a-valid-token-000000000")
    assert problem.startswith("Mattermost refused the admin token (HTTP 401")
    assert "personal access token" in problem


def test_token_without_the_permissions_names_what_is_missing(world: World) -> None:
    lead = world.fake.add_user("lead")
    world.fake.join_team(world.team["id"], lead["id"])
    token = world.fake.add_token(lead["id"])
    problems = blocked(world, token=token)
    assert any(p.startswith("@lead lacks the permission(s) create_bot, read_bots, manage_bots, create_user_access_token, "
                            "read_user_access_token, revoke_user_access_token, manage_oauth, "
                            "sysconsole_read_integrations_bot_accounts, "
                            "sysconsole_read_integrations_integration_management, "
                            "sysconsole_read_environment_web_server: ") for p in problems)
    assert ("@lead lacks the permission(s) manage_own_slash_commands (or manage_slash_commands before Mattermost 11.2), "
            "manage_others_slash_commands, manage_own_outgoing_webhooks (or manage_outgoing_webhooks before "
            "Mattermost 11.2), manage_others_outgoing_webhooks in team engineering: make them a team admin there, or "
            "grant them in the team's permission scheme") in problems
    assert any(p.startswith("@lead lacks the permission manage_public_channel_members in ~engineering/town-square")
               for p in problems)
    assert any("cannot read the server configuration (HTTP 403" in p for p in problems)


def test_a_bot_token_is_not_an_admin_token(world: World) -> None:
    world.install()
    bot_token = world.settings().mattermost_bot_token.get_secret_value()
    calls = len(world.contract.calls)
    with pytest.raises(InstallBlocked) as caught:
        world.install(token=bot_token)
    assert "--token belongs to a bot" in caught.value.problems[0]
    assert world.changes_sent(calls) == []


@pytest.mark.parametrize(("setting", "expected"), [
    ("EnableBotAccountCreation", "bot accounts are off: System Console → Integrations → Bot Accounts"),
    ("EnableCommands", "custom slash commands are off"),
    ("EnableOutgoingWebhooks", "outgoing webhooks are off"),
])
def test_server_settings_that_would_refuse_the_install(world: World, setting: str, expected: str) -> None:
    world.fake.service_settings[setting] = False
    problems = blocked(world)
    assert any(p.startswith(expected) and f"(ServiceSettings.{setting})" in p for p in problems)


def test_a_private_public_url_needs_allowed_untrusted_internal_connections(world: World) -> None:
    problems = blocked(world, public_url="http://learnloop.internal:8080")
    assert any("Mattermost will refuse to call http://learnloop.internal:8080 (learnloop.internal is the internal "
               "address 10.1.2.3)" in p and "AllowedUntrustedInternalConnections" in p for p in problems)

    world.fake.service_settings["AllowedUntrustedInternalConnections"] = "10.0.0.0/8"
    world.install(public_url="http://learnloop.internal:8080")
    [command] = world.fake.commands.values()
    assert command["url"] == "http://learnloop.internal:8080/mattermost/command"


def test_someone_elses_learn_command_is_not_taken_over(world: World) -> None:
    world.fake.commands["d" * 26] = {"id": "d" * 26, "token": "x" * 26, "team_id": world.team["id"],
                                     "trigger": "learn", "method": "P", "url": "https://lms.example.com/learn",
                                     "delete_at": 0}
    problems = blocked(world)
    assert any("team engineering already has a /learn command calling https://lms.example.com/learn" in p
               for p in problems)


def test_a_person_with_the_bot_username(world: World) -> None:
    world.fake.add_user("learnloop")
    problems = blocked(world)
    assert any("@learnloop is a person's account, not a bot" in p for p in problems)


@pytest.mark.parametrize(("channel", "expected"), [
    ("engineering/leads", "channel 'engineering/leads' is private"),
    ("engineering/nope", "channel 'engineering/nope' not found"),
    ("sales/town-square", "channel 'sales/town-square' not found"),
])
def test_bad_channels(world: World, channel: str, expected: str) -> None:
    problems = blocked(world, channels=(channel,))
    assert any(p.startswith(expected) for p in problems)


def test_unknown_team_and_unknown_community_channel(world: World) -> None:
    world.config_path.write_text(world.config_path.read_text() + (
        '\n[[communities]]\nname = "Gone"\nchannel_id = "' + "z" * 26 + '"\n'), encoding="utf-8")
    problems = blocked(world, teams=("marketing",))
    assert any(p.startswith("team 'marketing' does not exist") for p in problems)
    assert any(p.startswith("community 'Gone' names channel " + "z" * 26) for p in problems)


def test_nothing_to_install_into(world: World) -> None:
    world.config_path.write_text(f'public_url = "{PUBLIC_URL}"\n', encoding="utf-8")
    problems = blocked(world)
    assert any(p.startswith("no team to install into") for p in problems)


@pytest.mark.parametrize(("setting", "host", "addresses", "allowed"), [
    ("", "learnloop.internal", ["10.1.2.3"], False),
    ("learnloop.internal", "learnloop.internal", ["10.1.2.3"], True),
    ("LearnLoop.Internal", "learnloop.internal", ["10.1.2.3"], True),
    ("10.0.0.0/8", "learnloop.internal", ["10.1.2.3"], True),
    ("192.168.0.0/16 10.1.2.3", "learnloop.internal", ["10.1.2.3"], True),
    ("192.168.0.0/16,172.16.0.0/12", "learnloop.internal", ["10.1.2.3"], False),
    ("10.0.0.0/8", "both.internal", ["10.1.2.3", "127.0.0.1"], False),
    ("127.0.0.1", "127.0.0.1", ["127.0.0.1"], True),
])
def test_allowed_untrusted_internal_connections_rule(setting: str, host: str, addresses: list[str],
                                                     allowed: bool) -> None:
    import ipaddress

    assert allowed_untrusted(setting, host, [ipaddress.ip_address(a) for a in addresses]) is allowed


def test_internal_addresses() -> None:
    assert [str(a) for a in internal_addresses("http://127.0.0.1:8080")] == ["127.0.0.1"]
    assert internal_addresses("https://learnloop.example.com") == []
    assert [str(a) for a in internal_addresses("http://[::1]:8080/")] == ["::1"]


# ----------------------------------------------------------------------------- doctor

def doctor(world: World, *, admin: bool = True) -> dict[str, tuple[str, str]]:
    context = world.context()
    client = MattermostAdminClient(MATTERMOST_TEST_URL, ADMIN_TOKEN) if admin else None
    return {c.check: (c.status, c.detail) for c in doctor_checks(context, client)}


def test_doctor_after_install_finds_everything_fine(world: World) -> None:
    world.install()
    rows = doctor(world)
    assert rows["reachable"][0] == "ok"
    assert rows["bot token"] == ("ok", "signs in as @learnloop")
    assert rows["/learn in team engineering"] == ("ok", f"calls {PUBLIC_URL}/mattermost/command")
    assert rows["webhook ~engineering/town-square"] == ("ok", "alive")
    assert rows["may call learnloop"][0] == "ok"
    assert all(status == "ok" for status, _ in rows.values())


def test_doctor_finds_a_private_community_channel_without_a_webhook_fine(world: World) -> None:
    """Install leaves a private channel without an outgoing webhook (Mattermost sends none from one)."""
    world.config_path.write_text(world.config_path.read_text() + (
        '\n[[communities]]\nname = "Leads"\n' f'channel_id = "{world.secret["id"]}"\n'), encoding="utf-8")
    world.install()
    rows = doctor(world)
    status, detail = rows["community Leads"]
    assert status == "ok" and f"channel {world.secret['id']} is private: chat posts there are not counted" in detail
    assert all(status == "ok" for status, _ in rows.values())


def test_doctor_names_what_to_fix(world: World) -> None:
    world.install()
    world.fake.hooks.clear()
    bot = world.fake.bot_named("learnloop")
    assert bot is not None
    for token in world.fake.tokens.values():
        if token["user_id"] == bot["user_id"]:
            token["is_active"] = False
    [command] = world.fake.commands.values()
    command["url"] = "https://old.example.com/mattermost/command"

    rows = doctor(world)

    assert rows["bot token"][0] == "fix" and "run learnloop install again" in rows["bot token"][1]
    assert rows["webhook ~engineering/town-square"] == ("fix", "gone from Mattermost: run learnloop install")
    assert rows["/learn in team engineering"][0] == "fix"
    assert "calls https://old.example.com/mattermost/command" in rows["/learn in team engineering"][1]


def test_doctor_notices_the_bot_removed_from_a_community_channel(world: World) -> None:
    """Install adds the bot to each community channel so it can post there; a channel admin later removes it
    (/kick @learnloop): doctor --token names the channel to fix, as it does for a deleted webhook."""
    world.install()
    bot = world.fake.bot_named("learnloop")
    assert bot is not None
    world.fake.channel_members.discard((world.town["id"], bot["user_id"]))
    rows = doctor(world)
    assert rows["@learnloop in ~engineering/town-square"] == (
        "fix", "not a member any more, so the bot cannot post there: run learnloop install")
    assert [status for status, _ in rows.values()].count("fix") == 1


def test_doctor_without_an_admin_token_checks_what_the_bot_can(world: World) -> None:
    world.install()
    rows = doctor(world, admin=False)
    assert rows["bot token"][0] == "ok"
    assert rows["command and webhooks"] == ("skip", "pass --token <admin token> to check them")


def test_doctor_before_anything_is_configured_says_what_to_run(world: World) -> None:
    """Not a skip: learnloop without Mattermost reaches nobody, and doctor must not call that fine."""
    rows = doctor(world)
    assert list(rows) == ["configured"] and rows["configured"][0] == "fix"
    assert "run learnloop install manifests/mattermost.yaml --url" in rows["configured"][1]


def test_doctor_when_mattermost_is_down(world: World, tmp_path: Path) -> None:
    world.config_path.write_text(world.config_path.read_text().replace(
        "public_url", 'mattermost_url = "http://chat.unreachable.test"\npublic_url'), encoding="utf-8")
    rows = doctor(world, admin=False)
    assert rows["reachable"][0] == "fix" and "no answer" in rows["reachable"][1]


def test_an_environment_variable_that_would_shadow_the_file_is_pointed_out(world: World,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEARNLOOP_MATTERMOST_BOT_TOKEN", "x" * 26)
    plan = world.install()
    assert ("note: LEARNLOOP_MATTERMOST_BOT_TOKEN is set in the environment and wins over learnloop.toml; remove it "
            "so the installed value is used") in plan.render()
    assert "x" * 26 not in plan.render()


def test_doctor_names_a_community_added_after_the_install(world: World) -> None:
    """Added to learnloop.toml later, its channel has no outgoing webhook (and no bot) until install runs again."""
    world.install()
    assert not any(check.startswith("community") for check in doctor(world))
    with world.config_path.open("a") as config:
        config.write(f'\n[[communities]]\nname = "Leads"\nchannel_id = "{world.random["id"]}"\n')
    rows = doctor(world)
    assert rows["community Leads"][0] == "fix" and "run learnloop install manifests/mattermost.yaml" in \
        rows["community Leads"][1]
    world.install()
    assert "community Leads" not in doctor(world)
