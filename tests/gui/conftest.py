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
def isolated_home(tmp_path, monkeypatch):
    """``XAIDESK_HOME`` in the test's own folder: caches and saved classifiers stay out of the person's."""
    home = tmp_path / "home"
    monkeypatch.setenv("XAIDESK_HOME", str(home))
    return home


@pytest.fixture
def open_window(qtbot, catalog, error_dialogs):
    """``open_window(**options)``: a shown main window that has the catalogue, without waiting for anything.

    After the test, pytest-qt closes each window and has Qt delete it; this fixture then stops each
    window's runner and lets Qt carry out the deletions.
    """
    from xaidesk.gui.main_window import MainWindow, StartupOptions

    windows = []

    def open_(**options):
        window = MainWindow(StartupOptions(**options))
        qtbot.addWidget(window)
        window.show()
        window._catalog_ready(catalog)
        windows.append(window)
        return window

    yield open_
    for window in windows:
        window.runner.shutdown()
    if windows:
        qtbot.wait(10)


@pytest.fixture
def make_window(qtbot, open_window):
    """``make_window(**options)``: a main window from ``open_window`` once its Images tab has a model open
    (with ``demo=True`` also its sample image and prediction)."""

    def make(**options):
        window = open_window(**options)
        tab = window.images_tab
        qtbot.waitUntil(lambda: tab.model is not None and (tab.image is not None or not options.get("demo")), timeout=10_000)
        if options.get("demo"):
            qtbot.waitUntil(lambda: tab.prediction is not None, timeout=10_000)
        return window

    return make


@pytest.fixture
def window(make_window):
    """A main window without the demo, from ``make_window``."""
    return make_window()


@pytest.fixture
def dialog(qtbot):
    """``dialog(**options)`` builds and shows an Open model dialog; its runner stops after the test."""
    from xaidesk.gui.widgets.open_model_dialog import OpenModelDialog

    made = []

    def make(**options):
        box = OpenModelDialog(**options)
        qtbot.addWidget(box)
        box.show()
        made.append(box)
        return box

    yield make
    for box in made:
        box.runner.shutdown()


@pytest.fixture
def tables_window(qtbot, make_window):
    """A main window on its Tables tab, once the table methods are listed."""
    window = make_window()
    tab = window.tables_tab
    qtbot.waitUntil(lambda: bool(tab.methods), timeout=20_000)
    window.tabs.setCurrentWidget(tab)
    return window, tab  # make_window closes the window and stops its runner
