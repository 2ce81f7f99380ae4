"""The Qt-free core really is Qt-free: importing it loads no Qt module."""

from __future__ import annotations

import json
import subprocess
import sys

QT_MODULES = ("PySide6", "shiboken6", "pyqtgraph", "PyQt5", "PyQt6")


def test_every_module_outside_the_gui_imports_no_qt():
    """Import every module of xaidesk except the GUI and the entry point that opens it, then list Qt modules.

    The static check of the same rule (imports inside functions included) is the 'qt' contract run by
    tests/test_layers.py; this one catches what a static check cannot see (importlib, plugins).
    """
    code = (
        "import importlib, json, pkgutil, sys\n"
        "import xaidesk\n"
        "names = [m.name for m in pkgutil.walk_packages(xaidesk.__path__, 'xaidesk.')\n"
        "         if m.name.split('.')[1] not in ('gui', '__main__')]\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "from xaidesk.explain import load_builtin_methods; load_builtin_methods()\n"
        "import xaidesk.core.registry as r; r.list_methods()\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r})\n"
        "print(json.dumps([len(names), loaded]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    count, loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert count > 50  # the walk found the modules (core, data, models, explain, runs, commands, ...)
    assert loaded == [], f"Qt modules loaded outside xaidesk.gui: {loaded}"


def test_cli_listing_commands_import_no_qt():
    code = (
        "import sys, json\n"
        "from xaidesk.__main__ import main\n"
        "main(['methods'])\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r})))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
