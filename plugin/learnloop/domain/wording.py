"""How messages read a count: '1 warning', '2 warnings'."""

from __future__ import annotations


def counted(count: int, one: str, many: str) -> str:
    """The count with the word in its number: counted(1, 'prompt', 'prompts') is '1 prompt'."""
    return f"{count} {one if count == 1 else many}"
