"""Fixtures for the GUI tests: offscreen Qt, isolated settings, a ready main window."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path, monkeypatch):
    """Each test gets its own settings file."""
    folder = tmp_path / "settings"
    monkeypatch.setenv("XAIDESK_SETTINGS_DIR", str(folder))
    return folder


@pytest.fixture(scope="session")
def catalog():
    from xaidesk.gui.catalog import load_catalog

    return load_catalog()


@pytest.fixture
def error_dialogs(monkeypatch):
    """Capture error dialogs instead of showing them: a list of (title, message)."""
    from xaidesk.gui.widgets import error_dialog

    shown = []

    def record(parent, title, error):
        shown.append((title, error_dialog.error_text(error)[0]))

    monkeypatch.setattr(error_dialog, "show_error", record)
    return shown


@pytest.fixture
def make_window(qtbot, catalog, error_dialogs):
    """Create a main window, give it the catalogue, and wait until model and image are open."""
    from xaidesk.gui.main_window import MainWindow, StartupOptions

    windows = []

    def make(**options):
        window = MainWindow(StartupOptions(**options))
        qtbot.addWidget(window)
        window.show()
        window._catalog_ready(catalog)
        tab = window.images_tab
        qtbot.waitUntil(lambda: tab.model is not None and (tab.image is not None or not options.get("demo")), timeout=10_000)
        if options.get("demo"):
            qtbot.waitUntil(lambda: tab.prediction is not None, timeout=10_000)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.runner.shutdown()


@pytest.fixture
def window(qtbot, make_window):
    """A main window without the demo, closed and its runner stopped afterwards."""
    window = make_window()
    yield window
    window.runner.shutdown()
    window.close()
    window.deleteLater()
    qtbot.wait(10)
