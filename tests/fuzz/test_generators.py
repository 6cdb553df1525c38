"""The fuzz generators know every dialog and button the app registers: a new one without an entry would be
fuzzed with a state or context learnloop never makes, and its 500s would be the generator's."""

from __future__ import annotations

from learnloop.wiring import commands
from tests.fuzz import mattermost_cases


def test_every_registered_dialog_has_the_state_learnloop_gives_it() -> None:
    assert set(commands().dialogs) <= set(mattermost_cases.states("http://mattermost.fuzz"))


def test_every_registered_button_has_the_context_learnloop_gives_it() -> None:
    assert set(commands().actions) <= set(mattermost_cases.CONTEXT_VALUES)
