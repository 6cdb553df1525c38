"""Long lists in pieces, one way for every caller."""

from __future__ import annotations

from learnloop.chunks import chunks


def test_a_list_comes_in_pieces_of_the_size_in_order() -> None:
    assert list(chunks([1, 2, 3, 4, 5], 2)) == [[1, 2], [3, 4], [5]]
    assert list(chunks(["a", "b"], 200)) == [["a", "b"]]


def test_an_empty_list_gives_no_pieces() -> None:
    assert list(chunks([], 3)) == []
