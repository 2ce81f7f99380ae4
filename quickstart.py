"""Set up xaidesk in a local virtual environment and run it or its tests.

    python3.11 quickstart.py app     # open the app with a demo model and sample image
    python3.11 quickstart.py test    # run the whole test suite

Each command creates ``.venv`` and installs the project into it on first use
(and again whenever ``pyproject.toml`` changes). Extra arguments are passed on
to the app or to pytest.
"""

from __future__ import annotations

import ctypes.util
import hashlib
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".xaidesk-installed"


def _venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _requirements_hash() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def ensure_environment() -> Path:
    if sys.version_info < (3, 11):
        sys.exit(f"xaidesk needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    python = _venv_python()
    if not python.exists():
        print(f"Creating a virtual environment in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = _requirements_hash()
    if not STAMP.exists() or STAMP.read_text().strip() != wanted:
        print("Installing xaidesk and its dependencies (first run takes a few minutes) ...", flush=True)
        subprocess.run([str(python), "-m", "pip", "install", "--upgrade", "pip"], check=True, cwd=ROOT)
        subprocess.run([str(python), "-m", "pip", "install", "-e", ".[test]"], check=True, cwd=ROOT)
        STAMP.write_text(wanted)
    return python


#: Shared libraries Qt loads for a window on Linux (xcb) and for sound, with the Debian/Ubuntu
#: package that provides each. Qt opens libxcb-cursor at run time, so ``ldd`` cannot see it.
QT_SYSTEM_PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libOpenGL.so.0": "libopengl0",
}
#: The Qt libraries whose dependencies are checked: the X11 window plugin (needed) and sound (optional).
QT_WINDOW_LIBRARY = "plugins/platforms/libqxcb.so"
QT_SOUND_LIBRARY = "lib/libQt6Multimedia.so.6"


def debian_package(soname: str) -> str:
    """The Debian/Ubuntu package that ships ``soname``, by the distribution's naming rule.

    ``libxcb-icccm.so.4`` -> ``libxcb-icccm4``; ``libxkbcommon-x11.so.0`` -> ``libxkbcommon-x11-0``.
    """
    if soname in QT_SYSTEM_PACKAGES:
        return QT_SYSTEM_PACKAGES[soname]
    match = re.fullmatch(r"(.+?)\.so\.(\d+)(?:\..*)?", soname)
    if match is None:
        return soname
    name, version = match.group(1).lower(), match.group(2)
    return f"{name}-{version}" if name[-1].isdigit() else f"{name}{version}"


def _unresolved(library: Path) -> list[str]:
    if not library.exists():
        return []
    listing = subprocess.run(["ldd", str(library)], capture_output=True, text=True).stdout
    return re.findall(r"^\s*(\S+) => not found", listing, flags=re.MULTILINE)


def missing_qt_libraries(python: Path) -> tuple[list[str], list[str]]:
    """Shared libraries this Linux system lacks: (needed for the window, needed for sound)."""
    if not sys.platform.startswith("linux") or shutil.which("ldd") is None:
        return [], []
    if os.environ.get("QT_QPA_PLATFORM", "xcb").split(":")[0] not in ("xcb", ""):
        return [], []
    found = subprocess.run([str(python), "-c", "import PySide6, os; print(os.path.dirname(PySide6.__file__))"],
                           capture_output=True, text=True)
    if found.returncode != 0:
        return [], []
    qt = Path(found.stdout.strip()) / "Qt"
    window = _unresolved(qt / QT_WINDOW_LIBRARY)
    if ctypes.util.find_library("xcb-cursor") is None:
        window.append("libxcb-cursor.so.0")
    sound = [name for name in _unresolved(qt / QT_SOUND_LIBRARY) if name not in window]
    return sorted(set(window)), sorted(set(sound))


def qt_install_advice(window: list[str], sound: list[str]) -> str:
    """What to tell a person whose system lacks Qt's libraries: the one line that fixes it."""
    packages = " ".join(sorted({debian_package(name) for name in window + sound}))
    sudo = "" if hasattr(os, "geteuid") and os.geteuid() == 0 else "sudo "
    if window:
        lead = ("The app cannot open its window: the window toolkit (Qt) needs system libraries that this "
                f"machine lacks ({', '.join(window + sound)}).")
    else:
        lead = (f"Sound playback will be switched off: Qt needs {', '.join(sound)} to play audio. "
                "Everything else works.")
    return (f"{lead}\nOn Debian or Ubuntu, install them with this one command"
            f"{', then run this command again' if window else ''}:\n\n"
            f"  {sudo}apt-get install -y {packages}\n")


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("app", "test"):
        print(__doc__)
        return 2
    python = ensure_environment()
    command, rest = argv[0], argv[1:]
    env = dict(os.environ)
    if command == "app":
        window_missing, sound_missing = missing_qt_libraries(python)
        if window_missing or sound_missing:
            print(qt_install_advice(window_missing, sound_missing), file=sys.stderr)
        if window_missing:
            return 1
        return subprocess.call([str(python), "-m", "xaidesk", *(rest or ["--demo"])], cwd=ROOT, env=env)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    return subprocess.call([str(python), "-m", "pytest", *rest], cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
