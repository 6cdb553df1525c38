"""The one zone a community's own times are read in, found from its channel."""

from __future__ import annotations

import pytest
from tests.conftest import make_settings
from tests.prompts.world import CHANNEL, add_schedule

from learnloop.bootstrap import Runtime
from learnloop.config import Settings
from learnloop.services.communities import community_zone


@pytest.fixture
def settings() -> Settings:
    return make_settings(communities=[{"name": "Data guild", "channel_id": CHANNEL, "timezone": "Europe/Berlin"}])


def test_a_channel_without_a_community_yet_reads_its_configured_zone(runtime: Runtime) -> None:
    with runtime.uow() as uow:
        assert community_zone(uow, runtime.settings, channel_id=CHANNEL) == "Europe/Berlin"
        assert community_zone(uow, runtime.settings, channel_id="x" * 26) == "UTC"


def test_a_channel_reads_the_zone_of_its_communitys_prompt(runtime: Runtime) -> None:
    add_schedule(runtime, timezone="America/New_York")
    with runtime.uow() as uow:
        assert community_zone(uow, runtime.settings, channel_id=CHANNEL) == "America/New_York"
