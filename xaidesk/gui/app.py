"""Start the desktop application: ``python -m xaidesk.gui.app [--demo] [--model SPEC] [IMAGE]``.

The window is shown before torch is imported: the model and method packages
are loaded in the runner right after the first paint, so a cold start costs
about the time of importing Qt and pyqtgraph.
"""

from __future__ import annotations

import argparse
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from ..userdirs import setup_logging
from .main_window import MainWindow, StartupOptions
from .settings import APPLICATION, ORGANIZATION
from .wording import DISPLAY_NAME

STYLE_SHEET = """
QLabel#notes { color: palette(placeholder-text); }
QLabel#viewTitle { font-weight: 600; padding: 2px 4px; }
QLabel#statsLabel { padding: 2px 6px; }
"""


def parse_arguments(argv: list[str] | None) -> StartupOptions:
    parser = argparse.ArgumentParser(prog="xaidesk", description="Explain image classifiers point-and-click.")
    parser.add_argument("image", nargs="?", help="an image or audio file to open (audio opens in the Audio tab)")
    parser.add_argument("--demo", action="store_true", help="open the first demo model and its first sample image")
    parser.add_argument("--model", metavar="SPEC", help="model to load, e.g. demo:digits or torchvision:vgg16:weights.pth")
    parser.add_argument("--time-to-window", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    return StartupOptions(demo=args.demo, image=args.image, model=args.model, time_to_window=args.time_to_window)


def create_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication (created once), with the names QSettings uses."""
    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0] if sys.argv else "xaidesk"])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName(DISPLAY_NAME)
    app.setStyleSheet(STYLE_SHEET)
    return app


def create_window(options: StartupOptions) -> MainWindow:
    """Create and show the main window, and start loading models in the background."""
    window = MainWindow(options)
    window.show()
    QTimer.singleShot(0, window.start_background_loading)
    return window


def main(argv: list[str] | None = None) -> int:
    """Run the application; returns the exit code."""
    options = parse_arguments(sys.argv[1:] if argv is None else argv)
    setup_logging()
    app = create_application()
    window = create_window(options)
    if options.time_to_window:
        # Packaging measurements: report once the window is on screen, then quit.
        def report_and_quit() -> None:
            print(f"window shown: {window.isVisible()}", flush=True)
            window.close()
            app.quit()

        QTimer.singleShot(0, report_and_quit)
    app.aboutToQuit.connect(window.runner.shutdown)
    try:
        return app.exec()
    finally:
        window.runner.shutdown()


def open_and_close_main_window(timeout: float = 60.0) -> str:
    """Open the window with the demo model and sample, wait for the prediction, close it.

    Used by ``python -m xaidesk --self-test --window`` (e.g. in a frozen build).
    Returns a one-line description; raises ``RuntimeError`` if it does not get there.
    """
    import time

    from PySide6.QtCore import QEventLoop

    from .widgets import error_dialog

    errors: list[str] = []
    original_show_error = error_dialog.show_error

    def record_error(parent, title, error) -> None:  # never block a headless check on a modal dialog
        message, details = error_dialog.error_text(error)
        errors.append(f"{title}: {message}" + (f"\n{details}" if details else ""))

    error_dialog.show_error = record_error
    app = create_application()
    window = create_window(StartupOptions(demo=True))
    tab = window.images_tab
    deadline = time.monotonic() + timeout
    loop = QEventLoop()
    try:
        while tab.prediction is None and not errors and time.monotonic() < deadline:
            QTimer.singleShot(20, loop.quit)
            loop.exec()
        if errors:
            raise RuntimeError(errors[0])
        if tab.prediction is None:
            raise RuntimeError(f"the window did not show a prediction within {timeout:.0f} s")
        index, label, probability = tab.prediction.top(1)[0]
        return (f"window shown; {tab.model.spec} on {tab.image.path.name} predicts "
                f"{label} ({100 * probability:.0f} %)")
    finally:
        window.close()
        window.runner.shutdown()
        app.processEvents()
        error_dialog.show_error = original_show_error


if __name__ == "__main__":
    sys.exit(main())
