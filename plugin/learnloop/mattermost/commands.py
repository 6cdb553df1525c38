"""The /learn slash command, its buttons and its dialogs: a registry filled explicitly where the app is built
(learnloop.wiring), each view module adding its own with its `register` function."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from learnloop.mattermost.context import Chat
from learnloop.mattermost.messages import ephemeral
from learnloop.mattermost.payloads import ActionRequest, DialogSubmission, SlashCommand
from learnloop.services.communities import community_for_channel

Reply = dict[str, Any]


@dataclass(frozen=True)
class Invocation:
    chat: Chat
    request: SlashCommand
    args: str

    @property
    def trigger(self) -> str:
        return self.request.command or "/learn"

    def community_id(self) -> int:
        """The id of the community this channel counts towards, created on first sight."""
        request = self.request
        with self.chat.uow() as uow:
            community_id = community_for_channel(uow, self.chat.settings, channel_id=request.channel_id,
                                                 team_id=request.team_id or None,
                                                 channel_name=request.channel_name or None, now=self.chat.clock())
            uow.commit()
        return community_id


CommandHandler = Callable[[Invocation], Reply]
ActionHandler = Callable[[Chat, ActionRequest, dict[str, Any]], Reply]
"""Called with the button's verified context."""
DialogHandler = Callable[[Chat, DialogSubmission, dict[str, Any]], "Reply | None"]
"""Called with the dialog's verified state (made for this dialog and this person)."""


@dataclass(frozen=True)
class Subcommand:
    name: str
    usage: str
    example: str
    summary: str
    handler: CommandHandler


@dataclass
class CommandRegistry:
    subcommands: dict[str, Subcommand] = field(default_factory=dict)
    actions: dict[str, ActionHandler] = field(default_factory=dict)
    dialogs: dict[str, DialogHandler] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.subcommand("help", usage="help [command]", example="help prompts",
                        summary="Show this list, or how to use one command.",
                        handler=lambda invocation: ephemeral(self.help_for(invocation.args, invocation.trigger)))

    def subcommand(self, name: str, *, usage: str, example: str, summary: str, handler: CommandHandler) -> None:
        self.subcommands[name] = Subcommand(name, usage, example, summary, handler)

    def action(self, name: str, handler: ActionHandler) -> None:
        """The handler of a button whose signed context says `action: name`."""
        self.actions[name] = handler

    def dialog(self, callback_id: str, handler: DialogHandler) -> None:
        self.dialogs[callback_id] = handler

    def help_text(self, trigger: str) -> str:
        lines = ["**learnloop** helps your community learn from content and from each other.", ""]
        for sub in self.subcommands.values():
            lines.append(f"- `{trigger} {sub.usage}`: {sub.summary} Example: `{trigger} {sub.example}`")
        lines.append("")
        lines.append(f"What learnloop keeps about you, and who sees what: `{trigger} privacy`.")
        return "\n".join(lines)

    def help_for(self, topic: str, trigger: str) -> str:
        """`help` alone: every subcommand; `help <subcommand>`: that one's usage, summary and example."""
        if not topic:
            return self.help_text(trigger)
        name = topic.split()[0].lower()
        sub = self.subcommands.get(name)
        if sub is None:
            within = [n for n, other in self.subcommands.items()
                      if name in re.findall(r"[\[|]\s*([a-z]+)", other.usage)]  # the first word of each option
            inside = f" `{name[:40]}` belongs to `{trigger} help {within[0]}`." if within else ""
            return (f"learnloop has no `{trigger} {name[:40]}` command to explain.{inside} Its commands: "
                    f"{self._names()}; `{trigger} help` lists them with examples.")
        return "\n".join([f"`{trigger} {sub.usage}`", sub.summary, f"Example: `{trigger} {sub.example}`",
                          f"Every command: `{trigger} help`."])

    def _names(self) -> str:
        return ", ".join(f"`{n}`" for n in self.subcommands)

    def autocomplete_hint(self) -> str:
        """Custom slash commands take one hint line, so it names every subcommand: `[rate|share|...]`."""
        return "[" + "|".join(sorted(self.subcommands, key=lambda name: (name == "help", name))) + "]"

    def dispatch(self, chat: Chat, request: SlashCommand) -> Reply:
        trigger = request.command or "/learn"
        name, *rest = re.split(r"\s+", request.text.strip(), maxsplit=1)  # a line break too (Shift+Enter)
        name, args = name.lower(), rest[0] if rest else ""
        if not name or name in {"-h", "--help", "?"}:
            name = "help"
        sub = self.subcommands.get(name)
        if sub is None:
            return ephemeral(f"`{trigger} {name[:40]}` is not a learnloop command. Try one of {self._names()}, "
                             f"or `{trigger} help` for examples.")
        return sub.handler(Invocation(chat, request, args.strip()))
