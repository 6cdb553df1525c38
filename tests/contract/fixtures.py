"""Pytest fixtures for the Mattermost contract harness (imported by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.contract.mattermost_openapi import MattermostContract

MATTERMOST_TEST_URL = "http://mattermost.test"


@pytest.fixture
def mattermost_contract() -> Iterator[MattermostContract]:
    with MattermostContract(base_url=MATTERMOST_TEST_URL) as contract:
        yield contract
    contract.assert_no_violations()
