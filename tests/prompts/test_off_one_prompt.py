"""A member who wants to stop one of the community's prompts."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from learnloop.bootstrap import Runtime
from learnloop.storage.tables import Member
from tests.prompts.world import Person, add_schedule, slash

ANN = Person("ann")


def enabled(runtime: Runtime) -> bool | None:
    with runtime.uow() as uow:
        member = uow.session.get(Member, ANN.id)
        return member.prompts_enabled if member else None


def test_off_with_a_prompt_number_does_not_silently_turn_off_every_prompt(
    client: FlaskClient, runtime: Runtime
) -> None:
    add_schedule(runtime)                                               # prompt 1: weekly, Friday
    second = add_schedule(runtime, repeat="daily", questions=["What slowed you down today?"])  # prompt 2
    reply = slash(client, ANN, f"prompts off {second}")["text"]
    assert enabled(runtime) in (True, None), f"Ann asked to stop prompt {second} only; she got: {reply!r}"
    assert reply == (
        "`/learn prompts off` takes no number: a prompt's number is for its owners, who stop or pause it for "
        "everyone. `/learn prompts off` turns off all your prompts, from every community, and `/learn prompts on` "
        "turns them back on. To stop one community's prompts, leave its channel: nobody who left is asked. "
        "Nothing changed.")


@pytest.mark.parametrize("text", ["prompts on 2", "prompts off for now", "prompts ON please"])
def test_on_or_off_with_words_after_it_changes_nothing_and_says_what_it_does(
    client: FlaskClient, runtime: Runtime, text: str
) -> None:
    assert slash(client, ANN, "prompts off")["text"].startswith("Prompts are off")
    reply = slash(client, ANN, text)["text"]
    assert "turns off all your prompts" in reply and reply.endswith("Nothing changed.")
    assert enabled(runtime) is False
