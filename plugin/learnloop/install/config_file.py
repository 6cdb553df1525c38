"""Writes what an install produced (tokens, ids) into learnloop's TOML configuration file,
keeping the admin's comments and layout."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import tomlkit
from tomlkit.items import Array

from learnloop.files import WriteFailed, cannot_write, write_atomically

_MASKED_HINT = ("The secret above is masked: run the same command with --show-secrets to print it in full, "
                "when you are ready to paste it.")


def mask(secret: str) -> str:
    """Enough of a secret to recognise it, never enough to use it."""
    return f"{secret[:4]}… ({len(secret)} characters)" if len(secret) > 8 else "…"


def masked(text: str, secret: str) -> str:
    """`text` with `secret` masked wherever it appears: as is, URL-encoded, or in a PHP string."""
    if not secret:
        return text
    for spelling in {secret, quote_plus(secret), secret.replace("\\", "\\\\").replace("'", "\\'")}:
        text = text.replace(spelling, mask(secret))
    return text


def fingerprint(secret: str) -> str:
    """What the install record keeps of a token it wrote: enough to find it again, useless to anyone else."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def shown(text: str, secret: str, *, show: bool) -> str:
    """`text` as is when the admin asked for secrets (--show-secrets); else masked, with how to see it."""
    return text if show else f"{masked(text, secret).rstrip()}\n{_MASKED_HINT}"


class ConfigFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        if path.exists():
            try:
                self._document = tomlkit.parse(path.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, tomlkit.exceptions.TOMLKitError) as exc:
                raise ValueError(f"{path}: not valid TOML, so the installer will not write to it: {exc}") from None
        else:
            self._document = tomlkit.document()
            self._document.add(tomlkit.comment(
                "learnloop configuration; `learnloop install` wrote the Mattermost keys."))
        self.changed = False
        self.written = False
        """Whether this run wrote the file: a running learnloop reads it only at start."""

    def get(self, key: str) -> Any:
        value: Any = self._document.get(key)
        return value.unwrap() if hasattr(value, "unwrap") else value

    def set(self, key: str, value: str) -> None:
        if self.get(key) != value:
            self._document[key] = value
            self.changed = True

    def add_to_list(self, key: str, value: str) -> None:
        current = self.get(key) or []
        if isinstance(current, str):
            current = [part.strip() for part in current.split(",") if part.strip()]
        if value not in current:
            self._set_list(key, [*current, value])

    def remove_from_list(self, key: str, value: str) -> None:
        current = self.get(key) or []
        if isinstance(current, list) and value in current:
            self._set_list(key, [item for item in current if item != value])

    def remove_fingerprinted(self, key: str, digest: str) -> None:
        """Remove the secret whose `fingerprint` is `digest`, from a list or as the key's single value."""
        current = self.get(key)
        if isinstance(current, list) and any(fingerprint(str(item)) == digest for item in current):
            self._set_list(key, [item for item in current if fingerprint(str(item)) != digest])
        elif isinstance(current, str) and fingerprint(current) == digest:
            self.remove(key)

    def set_in_entry(self, array: str, name: str, key: str, value: str) -> None:
        """Set `key` in the `[[array]]` entry whose `name` is `name` (e.g. a wiki's generated secret)."""
        entry = next((e for e in self._document.get(array) or [] if e.get("name") == name), None)
        if entry is None:
            raise ValueError(f"{self.path} has no [[{array}]] entry named '{name}' to write {key} into")
        if entry.get(key) != value:
            entry[key] = value
            self.changed = True

    def remove(self, key: str) -> None:
        if key in self._document:
            del self._document[key]
            self.changed = True

    def save(self) -> None:
        if self.changed:
            text = tomlkit.dumps(self._document)
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                write_atomically(self.path, lambda stream: stream.write(text), keep_mode=True)
            except OSError as exc:
                raise WriteFailed(cannot_write(self.path, exc)) from None
            self.changed = False
            self.written = True

    def _set_list(self, key: str, values: list[str]) -> None:
        array: Array = tomlkit.array()
        array.extend(values)
        self._document[key] = array
        self.changed = True
