"""The plan of an install, uninstall or dry run: each step is handed to `Plan.echo` as it happens."""

from __future__ import annotations

from learnloop.install.plan import Plan


def test_a_step_is_echoed_before_it_is_performed() -> None:
    printed: list[str] = []
    plan = Plan(False, echo=printed.append)

    plan.change("create", "thing", "its detail", lambda: printed.append("(performed)"))
    plan.say("keep", "other thing")
    plan.status("checks done")

    assert printed == ["  create  thing: its detail", "(performed)", "  keep    other thing", "checks done"]
    assert plan.render() == "  create  thing: its detail\n  keep    other thing\n1 change made"


def test_a_dry_run_echoes_each_step_and_performs_none() -> None:
    printed: list[str] = []
    plan = Plan(True, echo=printed.append)

    assert plan.change("remove", "thing", "", lambda: printed.append("(performed)")) is None

    assert printed == ["  remove  thing"]


def test_the_summary_follows_the_steps_and_the_notes_follow_it() -> None:
    plan = Plan(False)
    plan.say("keep", "thing")
    plan.note("paste this")

    assert plan.summary() == "nothing to change: already installed\npaste this"
    assert plan.render() == "  keep    thing\nnothing to change: already installed\npaste this"
