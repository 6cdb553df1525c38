from __future__ import annotations

import pytest

from learnloop.config import Settings
from tests.conftest import FakeClock
from tests.contract.mattermost_openapi import MattermostContract
from tests.network.chat import Chat, settings_for, uid

OWNER = uid("owner")


@pytest.fixture
def settings() -> Settings:
    return settings_for(OWNER)


@pytest.fixture
def chat(mattermost_contract: MattermostContract, clock: FakeClock) -> Chat:
    return Chat(mattermost_contract, clock)
