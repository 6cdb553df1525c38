"""The install record: what each install created in each host, so that a re-run finishes the job
and `learnloop uninstall` removes exactly that, nothing else.

It lives beside the configuration file (`learnloop.install.json` for `learnloop.toml`) and is
rewritten after every change, so an install that fails half-way leaves a true record. It holds
ids, and of each token install wrote to the configuration its SHA-256 fingerprint (so uninstall
removes the token even when its integration is gone), never secrets.

Before each create call install writes a pending entry: the key it finds the resource by on a re-run
(a username, a URL, a marked block). A host may make the resource and its reply be lost; the re-run
that finds it by that key then knows learnloop made it, so uninstall removes it. A host that answers
no (a 4xx) made nothing: the entry goes, and what an admin makes later by that key stays theirs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from learnloop.errors import HostError
from learnloop.files import WriteFailed, cannot_write, write_atomically

LEDGER_VERSION = 1
T = TypeVar("T")


@dataclass(frozen=True)
class Resource:
    """Something in a host: `created` says whether learnloop made it (and so may remove it)."""

    type: str
    id: str
    label: str
    created: bool
    data: dict[str, Any] = field(default_factory=dict)


def ledger_path_for(config_file: Path) -> Path:
    return config_file.with_name(f"{config_file.stem}.install.json")


class Ledger:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._hosts: dict[str, dict[str, Any]] = {}
        if path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ValueError(f"{path}: the install record cannot be read ({exc}); move it aside and re-run "
                                 "install, which finds what exists") from None
            if not isinstance(data, dict) or data.get("version") != LEDGER_VERSION:
                raise ValueError(f"{path}: not a learnloop install record of version {LEDGER_VERSION}")
            self._hosts = data.get("hosts", {})

    def resources(self, host: str) -> list[Resource]:
        return [Resource(**entry) for entry in self._hosts.get(host, {}).get("resources", [])]

    def find(self, host: str, type_: str, label: str | None = None) -> Resource | None:
        return next((r for r in self.resources(host) if r.type == type_ and (label is None or r.label == label)),
                    None)

    def status(self, host: str) -> str | None:
        return self._hosts.get(host, {}).get("status")

    def record(self, host: str, resource: Resource) -> None:
        """Add or replace (same type and label) a resource, and save at once; its pending entry goes."""
        entry = self._entry(host)
        entry["resources"] = [*_without(entry["resources"], resource.type, resource.label), asdict(resource)]
        self._drop_pending(entry, resource.type, resource.label)
        self._save()

    def forget(self, host: str, resource: Resource) -> None:
        entry = self._entry(host)
        entry["resources"] = _without(entry["resources"], resource.type, resource.label)
        self._drop_if_empty(host)
        self._save()

    def creating(self, host: str, type_: str, label: str, key: str, create: Callable[[], T]) -> T:
        """`create()`, with a pending entry saved before: `key` is what a re-run finds the resource by if the
        reply is lost. A refusal made nothing, so its entry goes; any other failure leaves it."""
        entry = self._entry(host)
        entry["pending"] = [*_without(entry.get("pending", []), type_, label),
                            {"type": type_, "label": label, "key": key}]
        self._save()
        try:
            return create()
        except HostError as exc:
            if exc.refused:
                self._drop_pending(self._entry(host), type_, label)
                self._drop_if_empty(host)
                self._save()
            raise

    def made(self, host: str, type_: str, label: str | None, key: str | None, id_: str | None = None) -> bool:
        """Whether learnloop made a resource install found: recorded as created (with `id_`, when given), or
        found by `key` (None when found otherwise) after a create call by that key went unanswered."""
        recorded = self.find(host, type_, label)
        if recorded is not None and recorded.created and id_ in (None, recorded.id):
            return True
        pending = self._hosts.get(host, {}).get("pending", [])
        return key is not None and any((p["type"], p["key"]) == (type_, key) and label in (None, p["label"])
                                       for p in pending)

    def set_status(self, host: str, status: str) -> None:
        self._entry(host)["status"] = status
        self._save()

    @staticmethod
    def _drop_pending(entry: dict[str, Any], type_: str, label: str) -> None:
        if "pending" in entry:
            entry["pending"] = _without(entry["pending"], type_, label)
            if not entry["pending"]:
                del entry["pending"]

    def _drop_if_empty(self, host: str) -> None:
        entry = self._hosts[host]
        if not entry["resources"] and not entry.get("pending"):
            del self._hosts[host]

    def _entry(self, host: str) -> dict[str, Any]:
        return self._hosts.setdefault(host, {"status": "incomplete", "resources": []})

    def _save(self) -> None:
        for entry in self._hosts.values():
            entry["updated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        text = json.dumps({"version": LEDGER_VERSION, "hosts": self._hosts}, indent=2) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self.path, lambda stream: stream.write(text))
        except OSError as exc:
            raise WriteFailed(cannot_write(self.path, exc)) from None


def _without(entries: list[dict[str, Any]], type_: str, label: str) -> list[dict[str, Any]]:
    return [e for e in entries if (e["type"], e["label"]) != (type_, label)]
