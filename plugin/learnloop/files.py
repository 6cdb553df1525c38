"""Files learnloop writes (its configuration, the install record, exports): whole or not at all."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TextIO, TypeVar

T = TypeVar("T")


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
