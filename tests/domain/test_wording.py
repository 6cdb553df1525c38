"""How messages read a count."""

from __future__ import annotations

from learnloop.domain.wording import counted


def test_a_count_reads_in_its_number() -> None:
    assert [counted(n, "warning", "warnings") for n in (0, 1, 2)] == ["0 warnings", "1 warning", "2 warnings"]
    assert counted(1, "page or space you own", "pages and spaces you own") == "1 page or space you own"
