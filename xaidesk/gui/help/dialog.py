"""The Help ▸ Guide window: the guide's HTML in a QTextBrowser, with its bundled pictures."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from ...resources import resource_path
from ..wording import window_title
from .guide import guide_html


class GuideDialog(QDialog):
    """A non-modal window showing the guide; ``methods`` are the registry's ``MethodInfo`` records."""

    def __init__(self, methods, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(window_title("Guide"))
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(False)
        self.browser.setSearchPaths([str(resource_path("help"))])
        self.browser.document().setDefaultStyleSheet("h2 { margin-top: 18px; } li { margin-bottom: 4px; }")
        self.browser.setHtml(guide_html(methods))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser, 1)
        layout.addWidget(buttons)
        self.resize(780, 720)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)

    def show_section(self, key: str) -> None:
        """Scroll to a section by its anchor: ``"start"`` (getting started), ``"models"`` (opening your own
        model), ``"heatmap"``, ``"uncertainty"``, ``"methods"``, ``"faithfulness"`` (MoRF, LeRF and AOPC),
        ``"repair"`` (correcting, pruning and fine-tuning a model), ``"tables"`` (tables with a decision),
        ``"concepts"`` (concepts, reference samples and prototypes) or ``"scale"`` (GPUs and clusters)."""
        self.browser.scrollToAnchor(key)
