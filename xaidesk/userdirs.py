"""The person's own directories for settings, logs and caches.

xaidesk never writes next to its own files (which may be a read-only,
packaged bundle). Set ``XAIDESK_HOME`` to redirect everything into one folder
(tests and self-tests do).
"""

from __future__ import annotations

import logging
import os
from logging.handlers import RotatingFileHandler
from pathlib import Path

import platformdirs

APP_NAME = "xaidesk"


def _base(kind: str) -> Path:
    home = os.environ.get("XAIDESK_HOME")
    if home:
        return Path(home) / kind
    getter = {
        "config": platformdirs.user_config_dir,
        "cache": platformdirs.user_cache_dir,
        "logs": platformdirs.user_log_dir,
        "data": platformdirs.user_data_dir,
    }[kind]
    return Path(getter(APP_NAME, appauthor=False))


def config_dir() -> Path:
    return _base("config")


def data_dir() -> Path:
    """Files the person made with the app and may want again (e.g. saved classifiers)."""
    return _base("data")


def cache_dir() -> Path:
    return _base("cache")


def log_dir() -> Path:
    return _base("logs")


def setup_logging(level: int = logging.INFO) -> Path | None:
    """Log to a rotating file in the person's log folder; returns its path (None if not writable)."""
    root = logging.getLogger(APP_NAME)
    for handler in root.handlers:
        if isinstance(handler, RotatingFileHandler):
            return Path(handler.baseFilename)
    try:
        folder = log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(folder / "xaidesk.log", maxBytes=1_000_000, backupCount=3, encoding="utf-8")
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    return Path(handler.baseFilename)
