"""Plain wording shown to a person: counts ("1 file", "10 files") and window titles; Qt-free."""

from __future__ import annotations

#: The application's name as people see it (Qt's display name, the end of every window title).
DISPLAY_NAME = "xaidesk"


def window_title(title: str) -> str:
    """``title`` followed by the application's display name, ``"Guide — xaidesk"``.

    Qt adds the display name to every window title that does not already end with it; ending
    with it here names the application once, in Qt's own place.
    """
    return title if title.endswith(DISPLAY_NAME) else f"{title} — {DISPLAY_NAME}"


#: Plurals that do not just add "s".
IRREGULAR = {"child": "children", "person": "people", "analysis": "analyses", "index": "indices"}


def plural_of(noun: str) -> str:
    """The plural of an English ``noun`` ("file" → "files", "class" → "classes", "entry" → "entries")."""
    if noun in IRREGULAR:
        return IRREGULAR[noun]
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in ("a", "e", "i", "o", "u"):
        return noun[:-1] + "ies"
    return noun + "s"


def plural(n: int, noun: str, many: str | None = None) -> str:
    """``n`` and ``noun``, made plural unless ``n`` is 1: ``plural(10, "file")`` is "10 files".

    ``many`` gives the plural where it is not regular.
    """
    return f"{n} {noun if n == 1 else (many or plural_of(noun))}"


__all__ = ["plural", "plural_of"]
