"""The Tables tab's Trust page: how far the explanations of the fitted model can be trusted.

Five checks, each one question with its own settings and background job (:mod:`xaidesk.gui.trust_jobs`,
over :mod:`xaidesk.tabular.trust`): stability (does a close row get a similar explanation?),
consistency (would another model explain the rows alike?), certainty (how much does a sampled
explanation change from run to run?), fidelity (do the explanations reproduce the model?) and
LIME's stability measured against the ``lime`` package.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from .. import trust_jobs
from ..views.trust_views import (
    CertaintyResultView,
    ComparisonResultView,
    ConsistencyResultView,
    FidelityResultView,
    MethodChooser,
    StabilityResultView,
    sentence_label,
    spin,
)
from ..views.view_common import Placeholder
from ..widgets import error_dialog
from ..widgets.panel_jobs import PanelJobs, job_controls

PLACEHOLDER = ("This page checks how far a model's explanations can be trusted. Run “Target: readable model and "
               "Shapley values” on a table with a target column; the checks then work on its model.")


def method_chooser(keys: tuple[str, ...]) -> MethodChooser:
    """The explanation methods ``keys`` ticked, with their default samples; the lime package only if installed."""
    methods = {key: trust_jobs.EXPLAINERS[key] for key in keys}
    samples = {key: trust_jobs.DEFAULT_SAMPLES[key] for key in keys if key in trust_jobs.SAMPLED}
    chooser = MethodChooser(methods, samples, checked=keys)
    if "lime_package" in keys and not trust_jobs.lime_package_available():
        chooser.set_unavailable("lime_package", "not installed (pip install lime)")
    return chooser


class TrustCheck(QWidget):
    """One check: its question, its settings, Run/Cancel/progress, and its result (a sentence until run).

    A subclass sets ``name``, ``title``, ``question`` and ``run_text`` and provides
    ``build_settings(form)``, ``settings()``, ``job(context, row, settings)`` and ``make_view()``.
    """

    name = title = question = run_text = timing = ""

    def __init__(self, runner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = None
        self.row = 0
        self.row_name = lambda position: f"row {position}"
        self.jobs = PanelJobs(runner, f"table.trust.{self.name}", self)
        scroll = QScrollArea()  # on a small screen the check scrolls rather than squeezing its table and plot
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        QVBoxLayout(self).addWidget(scroll)
        self.layout().setContentsMargins(0, 0, 0, 0)
        inner = QWidget()
        scroll.setWidget(inner)
        layout = QVBoxLayout(inner)
        question = sentence_label(self.question)
        question.setStyleSheet("font-weight: 600;")
        layout.addWidget(question)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        self.build_settings(form)
        layout.addLayout(form)
        if self.timing:
            layout.addWidget(sentence_label(self.timing, grey=True))
        controls, self.run_button = job_controls(self.jobs, self.run_text, self.run)
        layout.addWidget(controls)
        self.view = self.make_view()
        self.result_area = Placeholder(self.view, "")
        layout.addWidget(self.result_area, 1)

    def set_context(self, context) -> None:
        """A new model to check (``None``: none); stops the running job, forgets the shown result and the row."""
        self.jobs.cancel()
        self.context = context
        self.row = 0  # the previous table's row may not exist in the new one
        self.run_button.setEnabled(context is not None)
        self._forget()

    def set_row(self, row: int) -> None:
        """Check row ``row`` from now on; stops a check of another row and forgets the result shown."""
        if int(row) != self.row:
            self.jobs.cancel()
        self.row = int(row)
        self._forget()

    def _forget(self) -> None:
        self.view.clear()
        self.result_area.show_message(f"Press “{self.run_text}” to check {self.row_name(self.row)}."
                                      if self.context is not None else "")

    def run(self) -> None:
        if self.context is None:
            return
        context, row, settings = self.context, self.row, self.settings()
        self.jobs.run("run", self.job(context, row, settings),
                      lambda outcome: self._show(outcome, context, row, settings), self._failed)

    def _show(self, outcome, context, row: int, settings: dict) -> None:
        if context is not self.context or row != self.row:
            return  # measured on a model or a row no longer shown
        self.view.show_outcome(outcome, self.row_name(row), context, settings)
        self.result_area.show_content()

    def _failed(self, failure) -> None:
        error_dialog.show_error(self, f"{self.title}: the check stopped", failure)

    def plot_widget(self) -> QWidget:
        return self if self.result_area.showing_message() else self.view.plot_widget()


class StabilityCheck(TrustCheck):
    name, title = "stability", "Stability"
    question = "Does a row close to this one get a similar explanation?"
    run_text = "Measure stability"
    timing = "With these settings: about 1 to 3 s on a table of 2,000 rows and 10 columns."

    def build_settings(self, form: QFormLayout) -> None:
        self.methods = method_chooser(("shapley", "lime_ours", "lime_package"))
        form.addRow("Methods", self.methods)
        self.mode = QComboBox()
        self.mode.addItem("copies of the row with small noise", "noise")
        self.mode.addItem("its nearest rows in the table", "neighbours")
        self.mode.setToolTip("Copies with small noise test the method itself; the nearest rows also differ in "
                             "their values, so even an exact method scores below 1 there.")
        self.count = spin(1, 200, trust_jobs.DEFAULT_NEIGHBOURS, " copies")
        self.count.setToolTip("How many rows (or noisy copies) the row's explanation is compared with.")
        self.noise = QDoubleSpinBox()
        self.noise.setRange(0.1, 50.0)
        self.noise.setDecimals(1)
        self.noise.setValue(100 * trust_jobs.DEFAULT_NOISE)
        self.noise.setSuffix(" % of each column's spread")
        self.noise.setToolTip("The noise added to each column: this share of the column's standard deviation.")
        self.mode.currentIndexChanged.connect(self._mode_changed)
        line = QHBoxLayout()
        for widget in (self.mode, self.count, QLabel("noise:"), self.noise):
            line.addWidget(widget)
        line.addStretch(1)
        form.addRow("Compare with", line)

    def _mode_changed(self, _index: int = 0) -> None:
        noise = self.mode.currentData() == "noise"
        self.noise.setEnabled(noise)
        self.count.setSuffix(" copies" if noise else " rows")

    def set_context(self, context) -> None:
        super().set_context(context)
        if context is not None:
            self.methods.set_note("shapley", f"as in the result ({context.shapley_method})")

    def settings(self) -> dict:
        noise = self.noise.value() / 100 if self.mode.currentData() == "noise" else None
        return {"choices": self.methods.choices(), "neighbours": self.count.value(), "noise": noise}

    def job(self, context, row, settings):
        return lambda token, progress: trust_jobs.run_stability(context, row, settings["choices"],
                                                                neighbours=settings["neighbours"],
                                                                noise=settings["noise"], token=token,
                                                                progress=progress)

    def make_view(self):
        return StabilityResultView()


class ConsistencyCheck(TrustCheck):
    name, title = "consistency", "Consistency"
    question = "Would another model, fitted on the same rows, explain them the same way?"
    run_text = "Fit and compare"
    timing = ("With these settings: about 2 to 3 s on a table of 2,000 rows and 10 columns with a linear model, a "
              "tree or the neural network as the second model; k-nearest neighbours take about half a minute.")

    def build_settings(self, form: QFormLayout) -> None:
        self.model = QComboBox()
        self.model.setToolTip("The second model: fitted on the same rows, with the same split and seed.")
        self.count = spin(2, 500, trust_jobs.DEFAULT_CONSISTENCY_ROWS, " rows")
        self.count.setToolTip("How many explained rows (the selected one first) both models explain.")
        form.addRow("Second model", self.model)
        form.addRow("Rows compared", self.count)

    def set_context(self, context) -> None:
        super().set_context(context)
        self.model.clear()
        if context is None:
            return
        for name, title in trust_jobs.second_models(context.fitted.task):
            same = " (the same kind, refitted)" if name == context.fitted.kind else ""
            self.model.addItem(title + same, name)
        others = [i for i in range(self.model.count()) if self.model.itemData(i) != context.fitted.kind]
        self.model.setCurrentIndex(others[0] if others else 0)

    def settings(self) -> dict:
        return {"model": self.model.currentData(), "rows": self.count.value()}

    def job(self, context, row, settings):
        return lambda token, progress: trust_jobs.run_consistency(context, settings["model"], row, settings["rows"],
                                                                  token=token, progress=progress)

    def make_view(self):
        return ConsistencyResultView()


class CertaintyCheck(TrustCheck):
    name, title = "certainty", "Certainty"
    question = "How much does a sampled explanation change from one run to the next?"
    run_text = "Measure the spread"
    timing = "With these settings: about 1 to 2 s on a table of 2,000 rows and 10 columns."

    def build_settings(self, form: QFormLayout) -> None:
        self.methods = method_chooser(("lime_ours", "lime_package", "kernel"))
        self.seeds = spin(2, 100, trust_jobs.DEFAULT_SEEDS, " runs")
        self.seeds.setToolTip("How many times each method explains the row, each time with another seed.")
        form.addRow("Sampled methods", self.methods)
        form.addRow("Runs (seeds)", self.seeds)

    def settings(self) -> dict:
        return {"choices": self.methods.choices(), "seeds": self.seeds.value()}

    def job(self, context, row, settings):
        return lambda token, progress: trust_jobs.run_certainty(context, row, settings["choices"], settings["seeds"],
                                                                token=token, progress=progress)

    def make_view(self):
        return CertaintyResultView()


class FidelityCheck(TrustCheck):
    name, title = "fidelity", "Fidelity"
    question = "Do the explanations reproduce what the model does?"
    run_text = "Measure fidelity"
    timing = "With these settings: under a second."

    def build_settings(self, form: QFormLayout) -> None:
        self.samples = spin(50, 100_000, trust_jobs.DEFAULT_FIDELITY_SAMPLES, " samples")
        self.samples.setSingleStep(100)
        self.samples.setToolTip("Perturbed copies of the row LIME fits its local straight line on.")
        form.addRow("LIME", self.samples)
        self.deletion = QPushButton("Deletion curve…")
        self.deletion.setToolTip("Open the faithfulness window.")
        line = QHBoxLayout()
        line.addWidget(self.deletion)
        note = QLabel("how fast the output falls when the features an explanation ranks highest are removed first")
        note.setStyleSheet("color: #555;")
        line.addWidget(note)
        form.addRow("Deletion", line)

    def settings(self) -> dict:
        return {"samples": self.samples.value()}

    def job(self, context, row, settings):
        return lambda token, progress: trust_jobs.run_fidelity(context, row, settings["samples"], token=token,
                                                               progress=progress)

    def make_view(self):
        return FidelityResultView()


class ComparisonCheck(TrustCheck):
    name, title = "lime_comparison", "LIME's stability, measured"
    question = ("Is LIME's random sampling stable? The lime package against xaidesk's LIME on the same rows, "
                "with Shapley values as the reference.")
    run_text = "Compare"
    timing = "With these settings: about 5 to 15 s on a table of 2,000 rows and 10 columns."

    def build_settings(self, form: QFormLayout) -> None:
        defaults = trust_jobs.DEFAULT_COMPARISON
        self.rows = spin(1, 50, defaults["rows"], " rows")
        self.rows.setToolTip("The selected row and the explained rows after it.")
        self.samples = spin(10, 100_000, defaults["samples"], " samples per row")
        self.samples.setSingleStep(100)
        self.seeds = spin(2, 50, defaults["seeds"], " seeds")
        self.neighbours = spin(1, 100, defaults["neighbours"], " neighbours")
        line = QHBoxLayout()
        for widget in (self.rows, self.samples, self.seeds, self.neighbours):
            line.addWidget(widget)
        line.addStretch(1)
        form.addRow("On", line)

    def set_context(self, context) -> None:
        super().set_context(context)
        if not trust_jobs.lime_package_available():
            self.run_button.setEnabled(False)
            self.run_button.setToolTip("The lime package is not installed (pip install lime).")

    def settings(self) -> dict:
        return {"rows": self.rows.value(), "samples": self.samples.value(), "seeds": self.seeds.value(),
                "neighbours": self.neighbours.value()}

    def job(self, context, row, settings):
        return lambda token, progress: trust_jobs.run_lime_comparison(context, row, token=token, progress=progress,
                                                                      **settings)

    def make_view(self):
        return ComparisonResultView()


class TableTrustPage(QWidget):
    """How far the explanations of the result's fitted model can be trusted, one check per tab.

    Signals
    -------
    faithfulness_requested()
        The person asked for the deletion curve; the Tables tab opens its faithfulness window.
    """

    TITLE = "Trust"
    faithfulness_requested = Signal()

    def __init__(self, runner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.result = None
        self.position = 0
        layout = QVBoxLayout(self)
        intro = QLabel("How far can these explanations be trusted? Each check below asks one question.")
        intro.setStyleSheet("font-weight: bold;")
        layout.addWidget(intro)
        content = QWidget()
        inner = QVBoxLayout(content)
        inner.setContentsMargins(0, 0, 0, 0)
        self.about = QLabel("")
        self.about.setWordWrap(True)
        self.about.setStyleSheet("color: #555;")
        inner.addWidget(self.about)
        self.checks_tabs = QTabWidget()
        self.checks = [cls(runner, self) for cls in (StabilityCheck, ConsistencyCheck, CertaintyCheck, FidelityCheck,
                                                     ComparisonCheck)]
        for check in self.checks:
            self.checks_tabs.addTab(check, check.title)
        inner.addWidget(self.checks_tabs, 1)
        self.check(FidelityCheck).deletion.clicked.connect(lambda _checked=False: self.faithfulness_requested.emit())
        self.placeholder = Placeholder(content, PLACEHOLDER)
        layout.addWidget(self.placeholder, 1)
        self.clear()

    def check(self, cls) -> TrustCheck:
        """The check of class ``cls``."""
        return next(c for c in self.checks if isinstance(c, cls))

    def show_result(self, result) -> None:
        context = trust_jobs.trust_context(result)
        if context is None:
            self.clear()
            return
        self.result = result
        self.position = 0
        for check in self.checks:
            check.row_name = self.row_name
            check.set_context(context)
            check.set_row(0)
        fitted = context.fitted
        self.about.setText(f"Model: {fitted.title}, explaining the {fitted.output_name}. Shapley values: "
                           f"{context.shapley_method}, against {context.background.description or 'its background'}.")
        self.placeholder.show_content()

    def clear(self) -> None:
        self.result = None
        for check in self.checks:
            check.set_context(None)
        self.about.setText("")
        self.placeholder.show_message(PLACEHOLDER)

    def set_row(self, position: int) -> None:
        if self.result is None:
            return
        self.position = int(position)
        for check in self.checks:
            check.set_row(self.position)

    def row_name(self, position: int) -> str:
        """``"row 17"``: the row's 0-based number in the file."""
        return f"row {int(self.result.row_ids[position])}" if self.result is not None else f"position {position}"

    def plot_widget(self) -> QWidget:
        if self.placeholder.showing_message():
            return self
        return self.checks_tabs.currentWidget().plot_widget()


__all__ = ["TableTrustPage", "TrustCheck", "PLACEHOLDER"]
