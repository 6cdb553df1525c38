"""The /learn slash command: a registry of subcommands, each with its usage and an example."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from learnloop.bootstrap import Runtime
from learnloop.mattermost.payloads import ActionRequest, DialogSubmission, SlashCommand
from learnloop.mattermost.messages import ephemeral

Reply = dict[str, Any]


@dataclass(frozen=True)
class Invocation:
    runtime: Runtime
    request: SlashCommand
    args: str


@dataclass(frozen=True)
class Subcommand:
    name: str
    usage: str
    example: str
    summary: str
    handler: Callable[[Invocation], Reply]


REGISTRY: dict[str, Subcommand] = {}
ActionHandler = Callable[[Runtime, ActionRequest, dict[str, Any]], dict[str, Any]]
DialogHandler = Callable[[Runtime, DialogSubmission], "dict[str, Any] | None"]
ACTIONS: dict[str, ActionHandler] = {}
DIALOGS: dict[str, DialogHandler] = {}


def action(name: str) -> Callable[[ActionHandler], ActionHandler]:
    """Register the handler of a button whose signed context says `action: name`."""
    def register(handler: ActionHandler) -> ActionHandler:
        ACTIONS[name] = handler
        return handler

    return register


def dialog(callback_id: str) -> Callable[[DialogHandler], DialogHandler]:
    def register(handler: DialogHandler) -> DialogHandler:
        DIALOGS[callback_id] = handler
        return handler

    return register


def subcommand(name: str, *, usage: str, example: str, summary: str) -> Callable[[Callable[[Invocation], Reply]], Callable[[Invocation], Reply]]:
    def register(handler: Callable[[Invocation], Reply]) -> Callable[[Invocation], Reply]:
        REGISTRY[name] = Subcommand(name, usage, example, summary, handler)
        return handler

    return register


def help_text(trigger: str) -> str:
    lines = ["**learnloop** helps your community learn from content and from each other.", ""]
    for sub in REGISTRY.values():
        lines.append(f"- `{trigger} {sub.usage}`: {sub.summary} Example: `{trigger} {sub.example}`")
    return "\n".join(lines)


def dispatch(runtime: Runtime, request: SlashCommand) -> Reply:
    trigger = request.command or "/learn"
    text = request.text.strip()
    name, _, args = text.partition(" ")
    name = name.lower()
    if not name or name in {"help", "-h", "--help", "?"}:
        return ephemeral(help_text(trigger))
    sub = REGISTRY.get(name)
    if sub is None:
        known = ", ".join(f"`{n}`" for n in REGISTRY)
        return ephemeral(
            f"`{trigger} {name[:40]}` is not a learnloop command. Try one of {known}, "
            f"or `{trigger} help` for examples."
        )
    return sub.handler(Invocation(runtime, request, args.strip()))


@subcommand("help", usage="help", example="help", summary="Show this list.")
def _help(invocation: Invocation) -> Reply:
    return ephemeral(help_text(invocation.request.command or "/learn"))


def autocomplete_hint() -> str:
    """Custom slash commands take one hint line, so it names every subcommand: `[rate|share|...]`."""
    from learnloop.mattermost import prompt_views, rating_views, wiki_views  # noqa: F401  (they register)

    return "[" + "|".join(sorted(REGISTRY, key=lambda name: (name == "help", name))) + "]"
