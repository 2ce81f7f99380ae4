"""Persistent settings (QSettings), isolated in tests by ``XAIDESK_SETTINGS_DIR``."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings

ORGANIZATION = "xaidesk"
APPLICATION = "xaidesk"
MAX_RECENT_FILES = 10
SETTINGS_DIR_ENV = "XAIDESK_SETTINGS_DIR"


def open_settings() -> QSettings:
    """The application's settings store.

    If the environment variable ``XAIDESK_SETTINGS_DIR`` (or ``XAIDESK_HOME``,
    see :mod:`xaidesk.userdirs`) is set, settings live in an INI file in that
    folder (used by tests, self-tests and portable installs); otherwise in the
    platform's usual place for the person's settings.
    """
    folder = os.environ.get(SETTINGS_DIR_ENV)
    if not folder and os.environ.get("XAIDESK_HOME"):
        from ..userdirs import config_dir

        folder = str(config_dir())
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        return QSettings(str(Path(folder) / "xaidesk.ini"), QSettings.Format.IniFormat)
    return QSettings(ORGANIZATION, APPLICATION)


def _as_list(value) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def recent_files(settings: QSettings) -> list[Path]:
    """Recently opened files that still exist, newest first."""
    paths = [Path(p) for p in _as_list(settings.value("recent_files", []))]
    return [p for p in paths if p.is_file()][:MAX_RECENT_FILES]


def add_recent_file(settings: QSettings, path: Path) -> list[Path]:
    """Put ``path`` first in the recent files (dropping duplicates and missing files)."""
    path = Path(path).resolve()
    paths = [path] + [p for p in recent_files(settings) if p.resolve() != path]
    paths = paths[:MAX_RECENT_FILES]
    settings.setValue("recent_files", [str(p) for p in paths])
    return paths
