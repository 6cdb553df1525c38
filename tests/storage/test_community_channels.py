"""Which community a channel counts towards: its own, created on first sight, or a configured one (its
channel, or one of the `channels` the configuration lists for it); migration 0013 maps every existing
community's channel to it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from tests.conftest import FakeClock, make_settings
from tests.storage.test_migrations import fresh_engine  # noqa: F401

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.config import ConfigError, load_settings
from learnloop.services.communities import community_for_channel
from learnloop.storage.migrate import upgrade

HOME, EXTRA, LONE = "homechannel000000000000001", "extrachannel00000000000001", "lonechannel000000000000001"
TEAM = "rdc9bgriktyx9p4kowh3dmgqyc"


def seen(runtime: Runtime, channel: str, name: str) -> int:
    with runtime.uow() as uow:
        community_id = community_for_channel(uow, runtime.settings, channel_id=channel, team_id=TEAM,
                                             channel_name=name, now=runtime.clock())
        uow.commit()
    return community_id


@pytest.fixture
def configured(engine: Engine, clock: FakeClock) -> Runtime:
    return build_runtime(make_settings(communities=[
        {"name": "Data guild", "channel_id": HOME, "channels": [EXTRA]}]), clock=clock, engine=engine)


def test_a_channel_is_its_own_community_on_first_sight_and_keeps_its_name(runtime: Runtime) -> None:
    community_id = seen(runtime, LONE, "data-team")
    assert seen(runtime, LONE, "data-crew") == community_id
    with runtime.uow() as uow:
        assert uow.communities.by_channel(LONE).id == community_id
        assert uow.communities.get(community_id).name == "~data-crew", "a renamed channel renames its community"
        [channel] = uow.communities.channels(community_id)
    assert (channel.channel_id, channel.team_id, channel.name, channel.member_count) == (LONE, TEAM, "data-crew", None)


def test_a_request_without_the_channels_name_never_renames_its_community(runtime: Runtime) -> None:
    community_id = seen(runtime, LONE, "data-team")
    assert seen(runtime, LONE, "") == community_id
    with runtime.uow() as uow:
        assert uow.communities.ensure_home(LONE, None, None, runtime.clock()) == community_id
        assert uow.communities.get(community_id).name == "~data-team"
        [channel] = uow.communities.channels(community_id)
    assert channel.name == "data-team"


def test_a_channel_first_seen_without_its_name_is_called_by_its_id_until_the_name_comes(runtime: Runtime) -> None:
    community_id = seen(runtime, LONE, "")
    with runtime.uow() as uow:
        assert uow.communities.get(community_id).name == f"channel {LONE}"
    seen(runtime, LONE, "data-team")
    with runtime.uow() as uow:
        assert uow.communities.get(community_id).name == "~data-team"


def test_a_channel_the_configuration_lists_counts_towards_its_community(configured: Runtime) -> None:
    extra = seen(configured, EXTRA, "guild-extra")
    assert seen(configured, HOME, "data-guild") == extra
    with configured.uow() as uow:
        assert uow.communities.get(extra).name == "Data guild"
        assert [c.channel_id for c in uow.communities.channels(extra)] == [HOME, EXTRA], "its own channel first"


def test_a_channel_listed_later_counts_towards_the_configured_community_from_then_on(
    engine: Engine, clock: FakeClock, configured: Runtime
) -> None:
    before = build_runtime(make_settings(), clock=clock, engine=engine)
    own = seen(before, EXTRA, "guild-extra")
    configured_id = seen(configured, EXTRA, "guild-extra")
    assert configured_id != own
    with configured.uow() as uow:
        assert uow.communities.by_channel(EXTRA).id == configured_id
        assert uow.communities.get(own) is not None, "what it had stays with its own community"


def test_0013_maps_each_community_to_its_channel(fresh_engine: Engine) -> None:  # noqa: F811
    upgrade(fresh_engine, "0009")
    with fresh_engine.begin() as connection:
        for row, (channel, name) in enumerate(((HOME, "~data-guild"), (LONE, "Configured name")), start=1):
            connection.exec_driver_sql(
                "INSERT INTO communities (id, channel_id, team_id, name, ratings_count, stars_sum, created_at) "
                f"VALUES ({row}, '{channel}', '{TEAM}', '{name}', 0, 0, '2026-11-02 09:00:00')")
    upgrade(fresh_engine, "0013")
    upgrade(fresh_engine)  # what 0013 wrote, read by today's code (which knows the columns added since)
    runtime = build_runtime(make_settings(), clock=FakeClock(datetime(2026, 11, 3, tzinfo=UTC)),
                            engine=fresh_engine)
    with runtime.uow() as uow:
        assert [(c.channel_id, c.team_id, c.name) for c in uow.communities.channels(1)] == [(HOME, TEAM, "data-guild")]
        assert [(c.channel_id, c.name) for c in uow.communities.channels(2)] == [(LONE, None)]
        assert uow.communities.by_channel(LONE).id == 2
    assert seen(runtime, HOME, "data-guild") == 1


@pytest.mark.parametrize(("channels", "expected"), [
    ('["not-an-id"]', "communities → 0.channels: 'not-an-id' is not a channel id"),
    (f'["{HOME}"]', f"channel {HOME} is mapped to more than one community (or listed twice in 'Data guild')"),
    (f'["{LONE}"]', f"channel {LONE} is mapped to more than one community"),
])
def test_channels_in_the_configuration_are_checked(tmp_path, monkeypatch: pytest.MonkeyPatch, channels: str,
                                                   expected: str) -> None:
    path = tmp_path / "learnloop.toml"
    path.write_text(f'[[communities]]\nname = "Data guild"\nchannel_id = "{HOME}"\nchannels = {channels}\n\n'
                    f'[[communities]]\nname = "Lone"\nchannel_id = "{LONE}"\n')
    monkeypatch.setenv("LEARNLOOP_CONFIG_FILE", str(path))
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert expected in str(raised.value)
