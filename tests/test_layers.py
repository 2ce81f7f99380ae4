"""The layers of xaidesk hold: import-linter checks the contracts in pyproject.toml.

Each top-level part may import only its own layer and the layers below it (core < data < models
< explain < evaluate < export < runs < commands < cli < gui < selftest < __main__), and only
xaidesk.gui imports Qt. Imports inside functions count. See docs/architecture.md, "Layers".
"""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

import xaidesk

ROOT = Path(__file__).resolve().parents[1]
LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def lint_imports(config: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "PYTHONPATH": str(cwd)}
    return subprocess.run([sys.executable, "-c", LINT, "--no-cache", str(config)], cwd=cwd, env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=300)


def contracts() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    return {contract["id"]: contract for contract in config["contracts"]}


def test_imports_follow_the_layers_and_only_the_gui_imports_qt():
    result = lint_imports(ROOT / "pyproject.toml", ROOT)
    report = result.stdout[result.stdout.find("Contracts"):] or result.stdout
    if result.returncode != 0:
        pytest.fail("An import breaks the layers in pyproject.toml ([tool.importlinter]; docs/architecture.md, "
                    "'Layers'). Move the code to the layer it belongs to, or import from below.\n"
                    + report + result.stderr, pytrace=False)


def test_every_top_level_part_of_xaidesk_is_under_the_qt_rule_or_is_the_gui():
    parts = {f"xaidesk.{info.name}" for info in pkgutil.iter_modules(xaidesk.__path__)}
    checked = set(contracts()["qt"]["source_modules"])
    allowed_qt = {"xaidesk.gui", "xaidesk.__main__"}  # the window, and the entry point that opens it
    assert parts - checked - allowed_qt == set(), "add the new part of xaidesk to the 'qt' contract in pyproject.toml"
    assert checked <= parts, f"the 'qt' contract names parts that do not exist: {sorted(checked - parts)}"


def test_the_layer_check_can_fail(tmp_path):
    package = tmp_path / "toy"
    for name in ("core", "gui"):
        (package / name).mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "gui" / "__init__.py").write_text("import PySide6\n")
    (package / "core" / "__init__.py").write_text("def late():\n    from toy import gui\n")
    config = tmp_path / "layers.toml"
    config.write_text(textwrap.dedent("""\
        [tool.importlinter]
        root_package = "toy"
        include_external_packages = true

        [[tool.importlinter.contracts]]
        id = "layers"
        name = "toy layers"
        type = "layers"
        containers = ["toy"]
        layers = ["gui", "core"]

        [[tool.importlinter.contracts]]
        id = "qt"
        name = "only gui imports Qt"
        type = "forbidden"
        source_modules = ["toy.core"]
        forbidden_modules = ["PySide6"]
    """))
    result = lint_imports(config, tmp_path)
    assert result.returncode != 0
    assert "toy.core -> toy.gui (l.2)" in result.stdout  # an import inside a function counts
    assert "only gui imports Qt BROKEN" in result.stdout  # through toy.gui, indirectly
