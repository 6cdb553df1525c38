"""Long lists in pieces: for a host's per-call limits and for short write transactions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")


def chunks(values: list[T], size: int) -> Iterator[list[T]]:
    """`values` in order, `size` at a time (the last piece shorter); nothing for an empty list."""
    for start in range(0, len(values), size):
        yield values[start:start + size]
