"""The layering, checked on the source: what each package may import, and no imports hidden inside functions
(where they would only break a cycle the layering should not have)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "plugin" / "learnloop"
HOSTS = ("mattermost", "mediawiki", "outline", "bookstack")
WEB_LIBRARIES = ("flask", "werkzeug", "requests", "httpx", "urllib.request")


def modules() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if "migrations" not in path.parts)


def imported(path: Path) -> list[tuple[str, int, bool]]:
    """(module, line, inside a function) for every import of the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                found.extend((f"{child.module}.{alias.name}", child.lineno, in_function) for alias in child.names)
            visit(child, inside)

    visit(tree, False)
    return found


def part(path: Path) -> str:
    relative = path.relative_to(PACKAGE).parts
    return relative[0] if len(relative) > 1 else relative[0].removesuffix(".py")


def violations(rule: str) -> list[str]:
    found = []
    for path in modules():
        layer = part(path)
        for module, line, in_function in imported(path):
            where = f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}"
            if rule == "functions" and in_function:
                found.append(where)
            elif rule == "domain" and layer == "domain" and module.startswith("learnloop.") \
                    and not module.startswith("learnloop.domain"):
                found.append(where)
            elif rule == "services" and layer == "services" and (
                    module.startswith(WEB_LIBRARIES)
                    or module.startswith(tuple(f"learnloop.{name}" for name in (*HOSTS, "web", "jobs")))):
                found.append(where)
            elif rule == "hosts" and layer in HOSTS and any(
                    module.startswith(f"learnloop.{other}") for other in HOSTS if other != layer):
                found.append(where)
            elif rule == "web_and_mattermost" and (
                    (layer == "web" and module.startswith("learnloop.mattermost"))
                    or (layer == "mattermost" and module.startswith("learnloop.web"))):
                found.append(where)
    return found


@pytest.mark.parametrize("rule", ["domain", "services", "hosts", "web_and_mattermost", "functions"])
def test_the_layering_holds(rule: str) -> None:
    """domain: nothing of learnloop beyond itself; services: no Flask, no HTTP client, no host or page code;
    hosts: not each other; web and mattermost: not each other; nowhere: imports inside functions."""
    assert violations(rule) == []
