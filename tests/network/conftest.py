from __future__ import annotations

import pytest

from learnloop.config import Settings
from tests.conftest import FakeClock
from tests.contract.mattermost_openapi import MattermostContract
from tests.network.standin import StandIn
from tests.network.world import OWNER, settings_for


@pytest.fixture
def settings() -> Settings:
    return settings_for(OWNER)


@pytest.fixture
def standin(mattermost_contract: MattermostContract, clock: FakeClock) -> StandIn:
    return StandIn(mattermost_contract, clock)
