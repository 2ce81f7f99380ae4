"""The Tables tab's model pages: one page per question about a fitted readable model.

A result of "Target: readable model and Shapley values" (``tabular.readable``) carries its fitted
model (``extras["fitted"]``). The pages (the model read directly, what-if curves, Shapley values,
counterfactuals, trust) work on that model; they are shown only while such a result is, and
follow the row selected in the Ranking view.

Every page has the same small interface: ``TITLE``, ``show_result(result)``, ``clear()``,
``set_row(position)`` and ``plot_widget()``.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QTabWidget, QWidget

from ..widgets import error_dialog
from .table_counterfactual import TableCounterfactualView
from .table_readable import TableReadablePage
from .table_shapley import TableShapleyPage
from .table_trust import TableTrustPage
from .table_whatif import TableWhatIfPage

logger = logging.getLogger(__name__)

#: The pages in tab order.
PAGE_CLASSES = (TableReadablePage, TableWhatIfPage, TableShapleyPage, TableCounterfactualView, TableTrustPage)


def has_fitted_model(result) -> bool:
    """Whether ``result`` carries a fitted model the pages can work on."""
    return result is not None and result.extras.get("fitted") is not None


class ModelPages(QObject):
    """The model pages of one tab: added to its view tabs, shown with a fitted model, fed the selected row.

    Signals
    -------
    faithfulness_requested()
        The Trust page asks for the tab's deletion curves (the faithfulness panel).
    """

    faithfulness_requested = Signal()

    def __init__(self, runner, views: QTabWidget, parent: QObject | None = None) -> None:
        super().__init__(parent or views)
        self.views = views
        self.pages = [cls(runner) for cls in PAGE_CLASSES]
        self.page(TableTrustPage).faithfulness_requested.connect(self.faithfulness_requested)
        for page in self.pages:
            views.addTab(page, page.TITLE)
        self._set_visible(False)

    def _set_visible(self, visible: bool) -> None:
        for page in self.pages:
            self.views.setTabVisible(self.views.indexOf(page), visible)

    def show_result(self, result) -> None:
        """Show ``result`` on every page; a page that fails says so and the others still show it."""
        failed = []
        for page in self.pages:
            try:
                page.show_result(result)
            except Exception as error:  # noqa: BLE001 - one page must not hide the others' answers
                logger.exception("The page %s could not show the result", page.TITLE)
                failed.append(f"{page.TITLE}: {type(error).__name__}: {error}")
                page.clear()
        self._set_visible(has_fitted_model(result))
        if failed:
            error_dialog.show_error(self.views, "A page could not show this result",
                                    "The other pages show it. " + " ".join(failed))

    def clear(self) -> None:
        for page in self.pages:
            page.clear()
        self._set_visible(False)

    def set_row(self, position: int) -> None:
        for page in self.pages:
            page.set_row(position)

    def page(self, cls) -> QWidget:
        """The page of class ``cls``."""
        return next(p for p in self.pages if isinstance(p, cls))


__all__ = ["ModelPages", "PAGE_CLASSES", "has_fitted_model"]
