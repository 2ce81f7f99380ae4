"""Counts in words: one helper makes "1 file" and "10 files"."""

import pytest

from xaidesk.gui.wording import plural, plural_of


@pytest.mark.parametrize("n, noun, expected", [
    (0, "file", "0 files"), (1, "file", "1 file"), (10, "file", "10 files"),
    (1, "explanation", "1 explanation"), (2, "class", "2 classes"), (3, "entry", "3 entries"),
    (2, "day", "2 days"), (2, "analysis", "2 analyses"), (1, "other file", "1 other file"),
])
def test_plural_agrees_with_the_count(n, noun, expected):
    assert plural(n, noun) == expected


def test_an_irregular_plural_can_be_given():
    assert plural(2, "mouse", "mice") == "2 mice" and plural(1, "mouse", "mice") == "1 mouse"
    assert plural_of("box") == "boxes"
