"""The Tables tab's Model view: the fitted model of the target column, its metrics and its loss per epoch."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ...core.registry import TAG_BASE_VALUE, TAG_LOCAL_SURROGATE, TAG_SUPERVISED
from ..table_jobs import method_has
from .table_model_pages import PAGE_CLASSES
from ..views.table_items import table_number
from ..views.table_views import CurvePlot, bold_font
from ..views.view_common import Placeholder

MODEL_PLACEHOLDER = ("Nothing to show yet. Mark a column as target in the Data view and run a 'Target: …' method: "
                     "this view then shows the model's fit and its loss per training epoch.")


class TableModelView(QWidget):
    """What a supervised analysis fitted: the target, the intercept, the metrics and the training curve."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        layout.addWidget(self.note)
        self.intercept_label = QLabel("")
        self.intercept_label.setFont(bold_font())
        self.intercept_label.setWordWrap(True)
        layout.addWidget(self.intercept_label)
        self.metrics_label = QLabel("")
        self.metrics_label.setWordWrap(True)
        layout.addWidget(self.metrics_label)
        self.history_plot = CurvePlot("Training: loss per epoch")
        self.placeholder = Placeholder(self.history_plot, MODEL_PLACEHOLDER)
        layout.addWidget(self.placeholder, 1)

    def plot_widget(self) -> QWidget:
        """The plot a 'Save plot' saves while this view is shown."""
        return self.history_plot

    def clear(self) -> None:
        self.intercept_label.setText("")
        self.metrics_label.setText("")
        self.note.setText("")
        self.placeholder.show_message(MODEL_PLACEHOLDER)

    def show_result(self, result) -> None:
        self.history_plot.reset("Training: loss per epoch", x_label="epoch", y_label="loss")
        if not method_has(result.method, TAG_SUPERVISED):
            self.clear()
            return
        target = result.extras.get("target_column", "the target")
        self.note.setText(f"Model of <b>{target}</b>: {result.score_label}.")
        if "intercept" in result.extras:
            self.intercept_label.setText(
                f"Intercept: {table_number(float(result.extras['intercept']))} — the prediction for a row at the "
                "reference point; it is not part of any feature's contribution and is shown apart. "
                "Each prediction = intercept + Σ w_i x_i.")
        elif method_has(result.method, TAG_BASE_VALUE):
            model = result.extras.get("model", {})
            self.intercept_label.setText(
                f"{model.get('title', 'The model')}, explained by Shapley values ({model.get('shapley_method', '')}): "
                "each explained row's prediction = base value (the average prediction over the background rows) + "
                "the sum of its bars. The pages " + ", ".join(f"'{cls.TITLE}'" for cls in PAGE_CLASSES) +
                " work on this model.")
        elif method_has(result.method, TAG_LOCAL_SURROGATE):
            self.intercept_label.setText("LIME: each explained row has its own surrogate intercept (not in the bars).")
        else:
            self.intercept_label.setText("The network's biases take up part of the output; it is not in the bars.")
        metrics = result.extras.get("metrics") or {}
        self.metrics_label.setText("Metrics: " + ", ".join(f"{k.replace('_', ' ')} {table_number(v)}" for k, v in metrics.items())
                                   if metrics else "")
        history = result.extras.get("history") or []
        if not history and method_has(result.method, TAG_BASE_VALUE):
            self.placeholder.show_message("This model is not trained over epochs (or keeps no loss per epoch): "
                                          "its held-out metrics above say how well it fits.")
        elif not history:
            self.placeholder.show_message("This model is fitted in one step, not over training epochs: there is no "
                                          "loss per epoch to show.")
        else:
            self.placeholder.show_content()
            epochs = [h["epoch"] for h in history]
            self.history_plot.add_curve("training loss", epochs, [h["train_loss"] for h in history], symbol=None)
            val = [(h["epoch"], h["validation_loss"]) for h in history if "validation_loss" in h]
            if val:
                self.history_plot.add_curve("validation loss", [v[0] for v in val], [v[1] for v in val],
                                            color=(200, 100, 30))
