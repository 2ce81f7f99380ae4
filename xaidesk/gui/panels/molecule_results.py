"""The Molecules tab's result views: element energies, pair potentials and one molecule's decomposition."""

from __future__ import annotations

from PySide6.QtWidgets import QTabWidget, QWidget

from ..molecule_jobs import MODEL_NAMES, kind_title
from ..views.molecule_views import ElementBars
from ..views.view_common import Placeholder
from .molecule_decomposition import MoleculeDecompositionPage
from .molecule_global import PairPotentialsPage

#: The view each model opens on (pages of :class:`MoleculeResults`).
ELEMENTS_PAGE, POTENTIALS_PAGE, MOLECULE_PAGE = 0, 1, 2


class MoleculeResults(QTabWidget):
    """The global view of the trained model (the page of its kind; the other is greyed out) and the decomposition."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.element_bars = ElementBars()
        self.elements_view = Placeholder(self.element_bars, "")
        self.addTab(self.elements_view, "Element energies")
        self.potentials = PairPotentialsPage()
        self.potentials_view = Placeholder(self.potentials, "")
        self.addTab(self.potentials_view, "Pair potentials")
        self.molecule = MoleculeDecompositionPage()
        self.addTab(self.molecule, "Molecule")

    def clear(self) -> None:
        self.element_bars.reset()
        self.potentials.clear()
        self.molecule.clear()

    def show_model(self, model) -> None:
        """Draw a trained model's global view and turn to it."""
        if model.kind == "atoms":
            self.element_bars.set_energies(model.element_energies(), model.energy_unit)
        else:
            self.potentials.show_model(model)
        self.show_model_page(model.kind)

    def show_model_page(self, kind: str) -> None:
        """Show the global view of ``kind`` (element energies or pair potentials) and grey out the other."""
        page, other = (ELEMENTS_PAGE, POTENTIALS_PAGE) if kind == "atoms" else (POTENTIALS_PAGE, ELEMENTS_PAGE)
        self.setTabEnabled(page, True)
        self.setTabEnabled(other, False)
        other_kind = "pairs" if kind == "atoms" else "atoms"
        self.setTabToolTip(page, "")
        self.setTabToolTip(other, f"{MODEL_NAMES[other_kind][1].capitalize()} comes from the "
                                  f"'{kind_title(other_kind)}' model: choose it under Model and press Train.")
        self.setCurrentIndex(page)

    def update_placeholders(self, mols, model) -> None:
        """Say what fills each result view until a trained model does."""
        if mols is None:
            start = "Open a folder of molecules with their energies (Open folder… on the left), then press Train"
        else:
            start = f"Press Train to learn from the {len(mols)} molecules"
        for view, kind in ((self.elements_view, "atoms"), (self.potentials_view, "pairs")):
            if model is not None and model.kind == kind:
                view.show_content()
            else:
                view.show_message(f"Nothing to show yet. {start} with the '{kind_title(kind)}' model: this view then "
                                  f"shows {MODEL_NAMES[kind][1]}.")
        if model is not None:
            self.molecule.molecule_parts_view.show_content()
        else:
            self.molecule.molecule_parts_view.show_message(
                f"Nothing to show yet. {start}: this view then splits a test molecule's predicted energy into "
                "the parts of its atom pairs (or atoms).")

    def plot_widget(self) -> QWidget:
        """The plot of the page shown (what 'Save plot' saves)."""
        page = self.currentIndex()
        return (self.element_bars, self.potentials.potential_plot, self.molecule.molecule_view)[page] \
            if page >= 0 else self


__all__ = ["ELEMENTS_PAGE", "MOLECULE_PAGE", "POTENTIALS_PAGE", "MoleculeResults"]
