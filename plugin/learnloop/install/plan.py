"""What an install, uninstall or doctor run does, step by step, in words an admin can act on.

Installers walk the same code with and without `--dry-run`: every change goes through
`Plan.change`, which performs it only when the run is real. So the printed plan is exactly what
a real run would do. Each step is passed to `Plan.echo` as soon as it is decided, before it is
performed, so an admin watching a slow run sees where it is; the summary and the notes follow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

from learnloop.config import Settings
from learnloop.domain.wording import counted
from learnloop.files import WriteFailed, check_writable
from learnloop.install.config_file import ConfigFile
from learnloop.install.ledger import Ledger

Action = Literal["create", "update", "remove", "keep", "leave", "manual"]
CHANGES: frozenset[str] = frozenset({"create", "update", "remove"})
T = TypeVar("T")


class InstallBlocked(Exception):
    """Checks failed before anything was touched; each problem says what to fix."""

    def __init__(self, host: str, problems: list[str]) -> None:
        self.host = host
        self.problems = problems
        super().__init__(f"{host}: nothing was changed; fix first:\n" + "\n".join(f"  - {p}" for p in problems))


class InstallFailed(Exception):
    """A step failed half-way; what was done so far is in the plan and the install record."""


@dataclass(frozen=True)
class Step:
    action: Action
    what: str
    detail: str = ""


@dataclass
class InstallContext:
    settings: Settings
    ledger: Ledger
    config: ConfigFile
    dry_run: bool = False
    show_secrets: bool = False
    """Print secrets the admin must paste somewhere (a wiki's push secret) in full, not masked."""

    def check_writable(self) -> None:
        """Before a real run changes a host: the configuration and the install record it writes can be written."""
        problems = []
        for path in (self.config.path, self.ledger.path):
            try:
                check_writable(path)
            except WriteFailed as exc:
                problems.append(f"{exc}: make its folder writable by this user, or set LEARNLOOP_CONFIG_FILE to "
                                "a file in one that is")
        if problems:
            raise InstallBlocked("learnloop", problems)


def render_step(step: Step) -> str:
    return f"  {step.action.ljust(6)}  {step.what}" + (f": {step.detail}" if step.detail else "")


def _silent(line: str) -> None:
    """The default `Plan.echo`: tests read the plan afterwards."""


@dataclass
class Plan:
    dry_run: bool
    echo: Callable[[str], None] = _silent
    """Receives each step's line as the step happens (the CLI prints it)."""
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unchanged: str = "nothing to change: already installed"
    """What a real run that changed nothing says (uninstall says it differently)."""

    def change(self, action: Action, what: str, detail: str, perform: Callable[[], T]) -> T | None:
        """Record a step and, unless this is a dry run, perform it. A failure names the step."""
        self._add(Step(action, what, detail))
        if self.dry_run:
            return None
        try:
            return perform()
        except WriteFailed:
            raise
        except Exception as exc:
            raise InstallFailed(f"could not {action} {what}: {exc}") from exc

    def say(self, action: Action, what: str, detail: str = "") -> None:
        self._add(Step(action, what, detail))

    def status(self, text: str) -> None:
        """Progress that is not a step (checks under way); printed at once, not kept in the plan."""
        self.echo(text)

    def note(self, text: str) -> None:
        """Something for the admin to read or paste; printed after the steps."""
        self.notes.append(text)

    @property
    def changes(self) -> int:
        return sum(step.action in CHANGES for step in self.steps)

    def summary(self) -> str:
        """What follows the steps: the count of changes, then the notes."""
        if self.dry_run:
            total = f"dry run: {counted(self.changes, 'change', 'changes')} planned, nothing was touched"
        else:
            total = f"{counted(self.changes, 'change', 'changes')} made" if self.changes else self.unchanged
        return "\n".join([total, *self.notes])

    def render(self) -> str:
        return "\n".join([*(render_step(step) for step in self.steps), self.summary()])

    def _add(self, step: Step) -> None:
        self.steps.append(step)
        self.echo(render_step(step))


Status = Literal["ok", "warn", "fix", "skip"]
"""`warn`: worth knowing, nothing to fix (doctor still exits 0)."""


@dataclass(frozen=True)
class Check:
    """One row of `learnloop doctor`."""

    host: str
    check: str
    status: Status
    detail: str = ""


def render_checks(checks: list[Check]) -> str:
    host_width = max((len(c.host) for c in checks), default=4)
    check_width = max((len(c.check) for c in checks), default=5)
    header = f"{'host'.ljust(host_width)}  {'check'.ljust(check_width)}  status  detail"
    rows = [f"{c.host.ljust(host_width)}  {c.check.ljust(check_width)}  {c.status.ljust(6)}  {c.detail}"
            for c in checks]
    fixes = sum(c.status == "fix" for c in checks)
    warnings = sum(c.status == "warn" for c in checks)
    summary = (f"{counted(fixes, 'thing', 'things')} to fix" if fixes else
               f"nothing to fix; read the {counted(warnings, 'warning', 'warnings')} above" if warnings else
               "everything checked is fine")
    return "\n".join([header, *rows, summary])


def config_path(settings: Settings) -> Path:
    return Path(settings.config_file)
