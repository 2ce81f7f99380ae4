"""The Qt-free core really is Qt-free: importing it loads no Qt module."""

from __future__ import annotations

import json
import subprocess
import sys

QT_MODULES = ("PySide6", "shiboken6", "pyqtgraph", "PyQt5", "PyQt6")
CORE_PACKAGES = [
    "xaidesk.core",
    "xaidesk.core.render",
    "xaidesk.core.io",
    "xaidesk.data",
    "xaidesk.data.images",
    "xaidesk.data.tables",
    "xaidesk.data.transforms",
    "xaidesk.models",
    "xaidesk.explain",
    "xaidesk.explain.table",
    "xaidesk.evaluate",
    "xaidesk.selftest",
    "xaidesk.userdirs",
    "xaidesk.cli",
    "xaidesk.runs",
    "xaidesk.evaluate.spray",
    "xaidesk.evaluate.compare",
    "xaidesk.data.scenes",
    "xaidesk.models.probe",
    "xaidesk.commands.batch",
    "xaidesk.commands.evaluate",
    "xaidesk.commands.spray",
    "xaidesk.commands.probe",
]


def test_core_packages_import_no_qt():
    code = (
        "import importlib, json, sys\n"
        f"for name in {CORE_PACKAGES!r}:\n"
        "    importlib.import_module(name)\n"
        "import xaidesk.core.registry as r; r.list_methods()\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r})\n"
        "print(json.dumps(loaded))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == [], f"Qt modules loaded by the core: {loaded}"


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
