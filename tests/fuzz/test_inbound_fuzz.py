"""Every inbound route under hostile input, in process: no 5xx, forged and replayed requests refused, and
nothing written by a request that was refused.

A bounded number of cases per route (LEARNLOOP_FUZZ_EXAMPLES, default 100), the same ones on every run;
scripts/fuzz_inbound.py runs the same strategies against `learnloop serve` at full size."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.conftest import MATTERMOST_URL
from tests.fuzz.oracle import describe, problems
from tests.fuzz.routes import ROUTES
from tests.fuzz.send import Sender

EXAMPLES = int(os.environ.get("LEARNLOOP_FUZZ_EXAMPLES", "100"))


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_hostile_requests_get_no_5xx_and_refusals_change_nothing(fuzz_sender: Sender, route: str) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def check(data: st.DataObject) -> None:
        sent = fuzz_sender.send(data.draw(ROUTES[route](MATTERMOST_URL), label="case"))
        found = problems(sent)
        assert not found, f"{'; '.join(found)}: {describe(sent)}"

    check()
