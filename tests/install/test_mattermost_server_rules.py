"""The installer against Mattermost as its server code behaves (see fake_mattermost.py for the Go
functions each rule follows): listing a team's slash commands answers 403 to a token without the
permission and 501 while custom commands are off; a team member Mattermost removed is kept,
soft-deleted, and adding them to a channel then fails until they rejoin the team; since 11.2 the
integration permissions are manage_own_* and manage_others_*."""
# ruff: noqa: F811  (the fixtures imported from mattermost_world are the tests' parameters)

from __future__ import annotations

import pytest

from learnloop.install.mattermost_checks import COMMANDS_OFF, HOOKS_OFF
from learnloop.install.plan import InstallBlocked, Plan
from learnloop.mattermost.admin_client import MattermostAdminClient
from learnloop.mattermost.client import MattermostError
from tests.contract.fixtures import MATTERMOST_TEST_URL
from tests.install.fake_mattermost import ADMIN_TOKEN
from tests.install.fake_mattermost_roles import SYSCONSOLE_READS, default_roles
from tests.install.mattermost_world import PUBLIC_URL, World, public_addresses, world  # noqa: F401
from tests.install.test_mattermost_install import blocked

INSTALLER_ROLE = "learnloop_installer"
BOTS_AND_TOKENS = ["create_bot", "read_bots", "manage_bots", "create_user_access_token", "read_user_access_token",
                   "revoke_user_access_token", "manage_oauth"]


def refusal(call: object) -> tuple[int, str]:
    with pytest.raises(MattermostError) as caught:
        call()  # type: ignore[operator]
    return caught.value.status_code, caught.value.message


def lead_of_engineering(world: World, *, reads_config: bool = True) -> str:
    """A person who is no system admin: a custom system role for the bot and its tokens, team admin of
    engineering and in its channels (where channel_user lets them add members). Returns their token."""
    world.fake.roles[INSTALLER_ROLE] = BOTS_AND_TOKENS + (SYSCONSOLE_READS if reads_config else [])
    lead = world.fake.add_user("lead", roles=f"system_user {INSTALLER_ROLE}")
    world.fake.join_team(world.team["id"], lead["id"], admin=True)
    world.fake.channel_members |= {(world.town["id"], lead["id"]), (world.random["id"], lead["id"])}
    return world.fake.add_token(lead["id"])


def member_of_engineering(world: World) -> str:
    member = world.fake.add_user("member")
    world.fake.join_team(world.team["id"], member["id"])
    return world.fake.add_token(member["id"])


def before_11_2(world: World) -> None:
    world.fake.legacy = True
    world.fake.roles.update(default_roles(legacy=True))


# ------------------------------------------------------------------ the stand-in's rules

def test_listing_commands_is_refused_to_a_plain_member_and_to_a_bot(world: World) -> None:
    team = world.team["id"]
    assert refusal(lambda: MattermostAdminClient(MATTERMOST_TEST_URL, member_of_engineering(world)).list_commands(
        team))[0] == 403
    bot = world.fake.add_user("ci", is_bot=True)
    world.fake.join_team(team, bot["id"])
    assert refusal(lambda: MattermostAdminClient(MATTERMOST_TEST_URL, world.fake.add_token(bot["id"])).list_commands(
        team))[0] == 403


def test_listing_commands_answers_501_while_commands_are_off(world: World) -> None:
    world.fake.service_settings["EnableCommands"] = False
    admin = MattermostAdminClient(MATTERMOST_TEST_URL, ADMIN_TOKEN)
    assert refusal(lambda: admin.list_commands(world.team["id"])) == (
        501, "Commands have been disabled by the system admin.")


def test_a_removed_team_member_is_kept_soft_deleted_and_cannot_join_a_channel(world: World) -> None:
    admin = MattermostAdminClient(MATTERMOST_TEST_URL, ADMIN_TOKEN)
    user = world.fake.add_user("someone")
    admin.add_team_member(world.team["id"], user["id"])
    admin.add_channel_member(world.town["id"], user["id"])

    admin.remove_team_member(world.team["id"], user["id"])

    member = admin.find_team_member(world.team["id"], user["id"])
    assert member is not None and member["delete_at"] > 0 and member["roles"] == ""
    assert admin.find_channel_member(world.town["id"], user["id"]) is None
    status, message = refusal(lambda: admin.add_channel_member(world.town["id"], user["id"]))
    assert status == 400 and "removed from the team" in message
    admin.add_team_member(world.team["id"], user["id"])
    assert admin.add_channel_member(world.town["id"], user["id"])["user_id"] == user["id"]


# ------------------------------------------------------------------ tokens that are not an admin's

def test_a_bot_token_is_refused_by_name_before_anything_else_is_asked(world: World) -> None:
    bot = world.fake.add_user("ci", is_bot=True)
    problems = blocked(world, token=world.fake.add_token(bot["id"]))
    assert problems == [("--token belongs to a bot (@ci); the installer needs a system admin's personal access token "
                         "(Profile → Security → Personal Access Tokens)")]
    assert [call.path for call in world.contract.calls] == ["/api/v4/system/ping", "/api/v4/users/me"]


def test_uninstall_with_the_bots_own_token_is_refused_and_touches_nothing(world: World) -> None:
    world.install()
    calls = len(world.contract.calls)
    installer = world.installer(token=world.settings().mattermost_bot_token.get_secret_value())
    with pytest.raises(InstallBlocked) as caught:
        installer.uninstall(Plan(False))
    assert caught.value.problems[0].startswith("--token belongs to a bot (@learnloop)")
    assert world.changes_sent(calls) == [] and len(world.fake.commands) == 1


def test_a_plain_members_token_is_told_which_permissions_are_missing(world: World) -> None:
    problems = blocked(world, token=member_of_engineering(world))
    assert any(p.startswith("@member lacks the permission(s) manage_own_slash_commands (or manage_slash_commands "
                            "before Mattermost 11.2)") and p.endswith("in team engineering: make them a team admin "
                                                                      "there, or grant them in the team's permission "
                                                                      "scheme") for p in problems)
    assert "GET /api/v4/commands" in [f"{c.method} {c.path}" for c in world.contract.calls]


def test_a_403_on_listing_commands_that_no_missing_permission_explains_is_named(world: World) -> None:
    world.fake.fail_next("GET", r"/api/v4/commands\?", 403)
    problems = blocked(world)
    assert problems == [("Mattermost refused to list the slash commands of team engineering (HTTP 403: injected "
                         "failure): it asks for view_team and manage_own_slash_commands (or manage_slash_commands "
                         "before Mattermost 11.2) there; use a system admin's personal access token (Profile → "
                         "Security → Personal Access Tokens)")]


@pytest.mark.parametrize(("setting", "expected"), [("EnableCommands", COMMANDS_OFF),
                                                   ("EnableOutgoingWebhooks", HOOKS_OFF)])
def test_a_501_names_the_setting_once_whether_or_not_the_token_may_read_the_settings(
        world: World, setting: str, expected: str) -> None:
    world.fake.service_settings[setting] = False
    assert blocked(world) == [expected]
    problems = blocked(world, token=lead_of_engineering(world, reads_config=False))
    assert expected in problems
    assert any(p.startswith("cannot read the server configuration (HTTP 403") for p in problems)


# ------------------------------------------------------------------ install after uninstall

def test_install_after_uninstall_brings_the_soft_deleted_bot_back_into_the_team_and_channels(world: World) -> None:
    world.install(channels=("engineering/random",))
    world.uninstall()
    bot = world.fake.bot_named("learnloop")
    assert bot is not None
    assert world.fake.team_members[(world.team["id"], bot["user_id"])]["delete_at"] > 0

    dry = world.install(dry_run=True, channels=("engineering/random",))
    assert "  create  @learnloop in team engineering: so the bot can post there; it was removed before" in \
        dry.render().splitlines()

    world.install(channels=("engineering/random",))

    assert (world.team["id"], bot["user_id"]) in world.fake.active_team_members()
    assert {(world.town["id"], bot["user_id"]), (world.random["id"], bot["user_id"])} <= world.fake.channel_members
    calls = len(world.contract.calls)
    assert world.install(channels=("engineering/random",)).changes == 0
    assert world.changes_sent(calls) == []


# ------------------------------------------------------------------ a team admin's token

@pytest.mark.parametrize("server", ["11.2 and later", "before 11.2"])
def test_a_team_admin_with_bot_rights_installs_on_either_side_of_the_rename(world: World, server: str) -> None:
    if server == "before 11.2":
        before_11_2(world)
    token = lead_of_engineering(world)

    plan = world.install(token=token, channels=("engineering/random",))

    lead = next(u for u in world.fake.users.values() if u["username"] == "lead")
    [command] = world.fake.commands.values()
    assert command["creator_id"] == lead["id"] and command["url"] == f"{PUBLIC_URL}/mattermost/command"
    assert len(world.fake.hooks) == 2
    assert "create  slash command /learn in team engineering" in plan.render()
    [app] = world.fake.oauth_apps.values()
    assert app["creator_id"] == lead["id"] and app["is_trusted"] is False, "no manage_system: Mattermost asks consent"
    assert any("asks each person once to allow it" in note for note in plan.notes)


def test_a_team_admin_without_a_channel_membership_is_told_about_that_channel(world: World) -> None:
    token = lead_of_engineering(world)
    world.fake.channel_members.discard((world.random["id"], next(
        u["id"] for u in world.fake.users.values() if u["username"] == "lead")))
    problems = blocked(world, token=token, channels=("engineering/random",))
    assert problems == [("@lead lacks the permission manage_public_channel_members in ~engineering/random, needed to "
                         "add the bot there: use a team admin's or a system admin's token")]
