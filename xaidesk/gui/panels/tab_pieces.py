"""Small pieces every tab of the window places: its side column, a run's progress bar, the Faithfulness box."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGroupBox, QProgressBar, QPushButton, QScrollArea, QVBoxLayout, QWidget


def side_column(panel: QWidget, bottom: QWidget, min_width: int = 330, max_width: int = 420) -> QWidget:
    """The left column of a tab: ``panel`` in a vertical scroll area, ``bottom`` (the run area) under it."""
    scroll = QScrollArea()
    scroll.setWidget(panel)
    scroll.setWidgetResizable(True)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setFrameShape(QScrollArea.Shape.NoFrame)
    side = QWidget()
    side.setMinimumWidth(min_width)
    side.setMaximumWidth(max_width)
    side_layout = QVBoxLayout(side)
    side_layout.setContentsMargins(0, 0, 0, 0)
    side_layout.addWidget(scroll, 1)
    side_layout.addWidget(bottom)
    return side


def make_progress_bar() -> QProgressBar:
    """A run's progress bar: 0 to 1000 (tenths of a percent), no text."""
    bar = QProgressBar()
    bar.setRange(0, 1000)
    bar.setTextVisible(False)
    return bar


def faithfulness_box(owner, tooltip: str) -> QGroupBox:
    """The "Faithfulness" box of a tab: one button, ``owner.faithfulness_button``, that calls
    ``owner.open_faithfulness``."""
    box = QGroupBox("Faithfulness")
    layout = QVBoxLayout(box)
    owner.faithfulness_button = QPushButton("Evaluate faithfulness…")
    owner.faithfulness_button.setToolTip(tooltip)
    owner.faithfulness_button.clicked.connect(owner.open_faithfulness)
    layout.addWidget(owner.faithfulness_button)
    return box


def show_faithfulness_dialog(owner, methods: list[tuple[str, str]], make_job, title: str,
                             current: str | None = None, **panel_options):
    """Show ``owner``'s faithfulness window, made on first use (kept in ``owner._faithfulness_dialog``).

    ``methods`` are (name, title) pairs offered for comparison, ``make_job`` builds the runner job
    (see :class:`~xaidesk.gui.views.faithfulness_views.FaithfulnessPanel`), ``current`` is ticked.
    """
    from ..views.faithfulness_views import FaithfulnessDialog, FaithfulnessPanel  # imports torch: on first use

    dialog = getattr(owner, "_faithfulness_dialog", None)
    if dialog is None:
        panel = FaithfulnessPanel(owner.runner, methods, make_job, **panel_options)
        panel.set_checked([current] if current else [])
        dialog = owner._faithfulness_dialog = FaithfulnessDialog(panel, title, owner)
    dialog.show()
    dialog.raise_()
    return dialog
