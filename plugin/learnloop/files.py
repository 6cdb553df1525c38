"""Files learnloop writes (its configuration, the install record, exports): whole or not at all."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TextIO, TypeVar

T = TypeVar("T")


class WriteFailed(Exception):
    """A file learnloop keeps (its configuration, the install record) could not be written; says which, and why."""


def cannot_write(path: Path, exc: OSError) -> str:
    return f"cannot write {path}: {exc.strerror or exc}"


def check_writable(path: Path) -> None:
    """Raise WriteFailed unless `write_atomically` can write `path`: no such file or a regular one, in a folder
    (or the nearest existing one, where it would be made) this process can create a file in."""
    try:
        resolved = path.resolve()
        if resolved.exists() and not resolved.is_file():
            raise OSError(errno.EEXIST, "it exists and is not a regular file", str(resolved))
        folder = resolved.parent
        while not folder.exists():
            folder = folder.parent
        handle, probe = tempfile.mkstemp(dir=folder, prefix=f".{resolved.name}.")
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise WriteFailed(cannot_write(path, exc)) from None


def write_atomically(path: Path, write: Callable[[TextIO], T], *, keep_mode: bool = False) -> T:
    """Write through a temporary file in the same folder, so a failure never leaves half a file. A symbolic link
    is followed (the file it names is written); anything else that is not a regular file is refused. The file
    is readable by its owner only (it holds tokens, or people's data), or, with `keep_mode`, keeps the mode it
    had (a configuration a service reads through its group)."""
    path = path.resolve()
    if path.exists() and not path.is_file():
        raise OSError(errno.EEXIST, "it exists and is not a regular file", str(path))
    mode = path.stat().st_mode & 0o777 if keep_mode and path.exists() else 0o600
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            result = write(stream)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return result
