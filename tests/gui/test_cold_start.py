"""Cold start: the main window is built and shown before torch (or scikit-learn, scipy.stats, shap) is imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, sys, threading

first_import = {}

class RecordTorchImport:
    # Remembers which thread imported torch first; finds nothing itself.
    def find_spec(self, name, path=None, target=None):
        if name == "torch" and not first_import:
            first_import["thread"] = threading.current_thread().name
        return None

sys.meta_path.insert(0, RecordTorchImport())

from PySide6.QtCore import QTimer
from xaidesk.gui.app import create_application, create_window, parse_arguments

app = create_application()
window = create_window(parse_arguments([]))
report = {"after_build": "torch" in sys.modules, "threads": [t.name for t in threading.enumerate()],
          "heavy_after_build": [m for m in ("sklearn", "scipy.stats", "shap", "interpret") if m in sys.modules]}

def shown():
    report["visible"] = window.isVisible()
    report["when_shown"] = "torch" in sys.modules
    report["importer"] = first_import.get("thread")
    print("REPORT " + json.dumps(report), flush=True)
    window.runner.shutdown()
    window.close()
    app.quit()

QTimer.singleShot(0, shown)
app.exec()
"""


def test_window_shows_before_torch_is_imported(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XAIDESK_SETTINGS_DIR=str(tmp_path / "settings"))
    root = Path(__file__).resolve().parents[2]
    env["PYTHONPATH"] = str(root) + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, cwd=root,
                            timeout=300)
    line = next((l for l in result.stdout.splitlines() if l.startswith("REPORT ")), None)
    assert line is not None, result.stdout + result.stderr
    report = json.loads(line[len("REPORT "):])
    assert report["visible"]
    assert "qt.multimedia" not in result.stderr, "Qt's codec search leaks into the terminal"
    assert not report["after_build"], "building the main window imported torch"
    # The Tables tab's model pages import their numerical libraries when a job runs, not while the window opens.
    assert report["heavy_after_build"] == [], f"building the main window imported {report['heavy_after_build']}"
    # The catalogue may start importing torch on the worker as soon as the event loop runs;
    # the GUI thread itself must never be the one that imports it.
    assert report["importer"] != "MainThread", "the GUI thread imported torch before the window was shown"
