"""The GUI reads what it knows about methods from the registry: it names no method itself.

Adding a method must need no GUI edit, so no module under ``xaidesk/gui`` may hold a method's
registry name (``"lime"``, ``"lrp.custom"``, ``"neon.knn"`` ...) or a family key (``"lrp"``) as a
string literal; titles, tags, units, defaults and order come from
:mod:`xaidesk.core.registry`.
"""

from __future__ import annotations

import ast
from pathlib import Path

from xaidesk.core.registry import list_families, list_methods

GUI = Path(__file__).resolve().parents[1] / "xaidesk" / "gui"


def _string_literals(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


def test_gui_holds_no_method_or_family_names():
    names = {m.name for m in list_methods()} | {f.name for f in list_families()}
    names |= {f"{family}." for family in {m.family for m in list_methods()}}
    found = [
        f"{path.relative_to(GUI.parents[1])}:{line}: {value!r}"
        for path in sorted(GUI.rglob("*.py"))
        for line, value in _string_literals(path)
        if value in names
    ]
    assert not found, "method names hard-coded in the GUI (read them from the registry):\n" + "\n".join(found)


def test_the_check_sees_a_planted_name(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text('"""A docstring may say lime."""\nDEFAULT = "lime"\n', encoding="utf-8")
    assert [value for _, value in _string_literals(planted)] == ["lime"]
