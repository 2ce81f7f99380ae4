"""quickstart.py: a fresh Linux machine without Qt's system libraries gets the one line that fixes it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def quickstart():
    spec = importlib.util.spec_from_file_location("quickstart", ROOT / "quickstart.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("soname, package", [
    ("libxcb-cursor.so.0", "libxcb-cursor0"),
    ("libxcb-icccm.so.4", "libxcb-icccm4"),
    ("libxcb-keysyms.so.1", "libxcb-keysyms1"),
    ("libxcb-render-util.so.0", "libxcb-render-util0"),
    ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
    ("libX11-xcb.so.1", "libx11-xcb1"),
    ("libdbus-1.so.3", "libdbus-1-3"),
    ("libglib-2.0.so.0", "libglib2.0-0"),
    ("libEGL.so.1", "libegl1"),
    ("libpulse.so.0", "libpulse0"),
])
def test_debian_package_names(quickstart, soname, package):
    assert quickstart.debian_package(soname) == package


def _fake_machine(quickstart, monkeypatch, tmp_path, window, sound):
    monkeypatch.setattr(quickstart, "ensure_environment", lambda: tmp_path / "python")
    monkeypatch.setattr(quickstart, "missing_qt_libraries", lambda python: (window, sound))
    launched = []
    monkeypatch.setattr(quickstart.subprocess, "call", lambda *a, **k: launched.append(a) or 0)
    return launched


def test_app_refuses_to_launch_without_window_libraries(quickstart, monkeypatch, tmp_path, capsys):
    launched = _fake_machine(quickstart, monkeypatch, tmp_path,
                             ["libxcb-cursor.so.0", "libxcb-icccm.so.4"], ["libpulse.so.0"])
    assert quickstart.main(["app"]) == 1
    assert launched == []
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "apt-get install" in line]
    assert len(lines) == 1
    assert lines[0].split("apt-get install -y ")[1].split() == ["libpulse0", "libxcb-cursor0", "libxcb-icccm4"]


def test_app_launches_without_sound_libraries_and_says_so(quickstart, monkeypatch, tmp_path, capsys):
    launched = _fake_machine(quickstart, monkeypatch, tmp_path, [], ["libpulse.so.0"])
    assert quickstart.main(["app"]) == 0
    assert len(launched) == 1 and "--demo" in launched[0][0]
    err = capsys.readouterr().err
    assert "Sound playback will be switched off" in err and "apt-get install -y libpulse0" in err


def test_the_check_runs_on_this_machine(quickstart, monkeypatch):
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    window, sound = quickstart.missing_qt_libraries(Path(sys.executable))
    assert isinstance(window, list) and isinstance(sound, list)
    assert all(name.startswith("lib") and ".so" in name for name in window + sound)


def test_offscreen_platform_needs_no_system_libraries(quickstart, monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert quickstart.missing_qt_libraries(Path(sys.executable)) == ([], [])
