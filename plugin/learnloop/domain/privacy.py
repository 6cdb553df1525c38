"""The minimum group size: a figure about people is shown only when it covers at least k of them."""

from __future__ import annotations

from dataclasses import dataclass

MIN_GROUP_FLOOR = 3
DEFAULT_MIN_GROUP = 5


class InvalidGroupSize(ValueError):
    """k below the floor."""


def check_min_group(k: int) -> int:
    if k < MIN_GROUP_FLOOR:
        raise InvalidGroupSize(f"the minimum group size cannot go below {MIN_GROUP_FLOOR} (got {k})")
    return k


@dataclass(frozen=True)
class Figure:
    """A count that is either shown or suppressed; suppressed figures never carry their value."""

    value: float | None
    people: int | None
    k: int

    @property
    def suppressed(self) -> bool:
        return self.value is None

    def text(self, fmt: str = "{:,.0f}") -> str:
        return f"fewer than {self.k}" if self.value is None else fmt.format(self.value)

    def export(self) -> float | str:
        return f"fewer than {self.k}" if self.value is None else self.value


def guarded(value: float, people: int, k: int) -> Figure:
    """Shown when `people` distinct people stand behind it and that is at least k; otherwise suppressed."""
    check_min_group(k)
    if people < k:
        return Figure(None, None, k)
    return Figure(value, people, k)
