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


def broken(rule: str, layer: str, module: str, in_function: bool) -> bool:
    if rule == "functions":
        return in_function
    if rule == "domain":
        return layer == "domain" and module.startswith("learnloop.") and not module.startswith("learnloop.domain")
    if rule == "services":
        forbidden = tuple(f"learnloop.{name}" for name in (*HOSTS, "web", "jobs"))
        return layer == "services" and module.startswith((*WEB_LIBRARIES, *forbidden))
    if rule == "hosts":
        return layer in HOSTS and module.startswith(tuple(f"learnloop.{other}" for other in HOSTS if other != layer))
    return (layer == "web" and module.startswith("learnloop.mattermost")) or (
        layer == "mattermost" and module.startswith("learnloop.web"))


def violations(rule: str) -> list[str]:
    return [f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}"
            for path in modules() for module, line, in_function in imported(path)
            if broken(rule, part(path), module, in_function)]


@pytest.mark.slow
@pytest.mark.parametrize("rule", ["domain", "services", "hosts", "web_and_mattermost", "functions"])
def test_the_layering_holds(rule: str) -> None:
    """domain: nothing of learnloop beyond itself; services: no Flask, no HTTP client, no host or page code;
    hosts: not each other; web and mattermost: not each other; nowhere: imports inside functions."""
    assert violations(rule) == []
