"""Each stage names the step an owner can have learnloop do, and the stage rules stay pure."""

from __future__ import annotations

import ast
from datetime import date
from pathlib import Path

import pytest

from learnloop.domain import learning_metrics
from learnloop.domain.disclosure import Figure, withheld
from learnloop.domain.learning_metrics import ACTIONS, STAGES, maturity

NAMES = ("ratings", "links_shared", "replies", "mentions", "reflections.community", "reflection_ratings")


@pytest.mark.parametrize(("shown", "stage", "action"), [
    ({}, "seeding", "starter_shelf"),
    ({"ratings": 20}, "consuming", "invite_sharing"),
    ({"ratings": 20, "links_shared": 6}, "contributing", "ask_question"),
    ({"ratings": 20, "links_shared": 6, "replies": 8}, "exchanging", "weekly_prompt"),
    ({"ratings": 20, "links_shared": 6, "replies": 8, "reflections.community": 5, "reflection_ratings": 3},
     "co-creating", "invite_publishing"),
])
def test_each_stage_names_its_step(shown: dict[str, int], stage: str, action: str) -> None:
    figures = {name: withheld(5) for name in NAMES}
    figures.update({name: Figure(value, 5, date(2026, 10, 5), date(2026, 10, 26)) for name, value in shown.items()})
    result = maturity(figures, weeks=4)
    assert (result.name, result.action) == (stage, action)
    assert ACTIONS[STAGES.index(stage)] == action, "one step per stage, in the stages' order"


def test_co_creating_does_not_promise_to_publish_other_peoples_reflections() -> None:
    everything = {name: Figure(10, 5, date(2026, 10, 5), date(2026, 10, 26)) for name in NAMES}
    assert "only an author can publish their own" in maturity(everything, weeks=4).next_step


def test_the_stage_rules_import_nothing_from_the_web_the_database_or_the_hosts() -> None:
    tree = ast.parse(Path(learning_metrics.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert all(name == "__future__" or name.split(".")[0] in {"collections", "dataclasses"}
               or name.startswith("learnloop.domain") for name in imported), imported
