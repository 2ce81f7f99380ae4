"""The "Method" box of an explaining tab: the method picker, its help and the generated settings form.

:class:`MethodPanelMixin` fills the picker from the registry (grouped by family), greys out the
methods the loaded model cannot run (with the reason), moves to one that works when a model
is opened, keeps each method's settings while another is shown, and knows which methods the
faithfulness comparison offers.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QPalette, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QComboBox, QGroupBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout

from ....core.registry import TAG_CUSTOM_RULES, TAG_TRANSFORMERS, default_method
from ...widgets.device_picker import DevicePicker
from ...widgets.param_form import ParamForm


class MethodPanelMixin:
    """``method_combo``, ``method_help``, ``param_form`` and what they do."""

    def _build_method_box(self) -> QGroupBox:
        """The "Method" group: ``method_combo``, ``method_help``, the generated ``param_form`` and
        a "Default settings" button."""
        method_box = QGroupBox("Method")
        method_layout = QVBoxLayout(method_box)
        self.method_combo = QComboBox()
        self.method_combo.setModel(QStandardItemModel(self.method_combo))
        self.method_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.method_combo.setMinimumContentsLength(16)
        self.method_combo.currentIndexChanged.connect(self._on_method_changed)
        self.method_help = QLabel("")
        self.method_help.setWordWrap(True)
        self.method_help.setObjectName("notes")
        self.param_form = ParamForm()
        reset = QPushButton("Default settings")
        reset.setFlat(True)
        reset.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        reset.clicked.connect(self.reset_params)
        method_layout.addWidget(self.method_combo)
        method_layout.addWidget(self.method_help)
        method_layout.addWidget(self.param_form)
        device_row = QHBoxLayout()
        self.device_picker = DevicePicker()
        device_row.addWidget(QLabel("Runs on"))
        device_row.addWidget(self.device_picker, 1)
        device_row.addWidget(reset)
        method_layout.addLayout(device_row)
        return method_box

    # ------------------------------------------------------------ registry
    def _catalog_methods(self) -> list:
        """The methods this tab offers, in the picker's order."""
        if not self.catalog:
            return []
        return self.catalog.audio_methods if self.DATA_KIND == "audio" else self.catalog.methods

    def _catalog_method(self, name: str):
        return next((info for info in self._catalog_methods() if info.name == name), None)

    def _default_method(self) -> str:
        """The method chosen first for this tab's inputs (the registry's default for ``DATA_KIND``)."""
        return default_method(self.DATA_KIND)

    def _form_defaults(self, name: str) -> dict | None:
        """Parameter values a method's form starts with before the user changed any (the registry's
        defaults for this tab's inputs)."""
        info = self._catalog_method(name)
        return info.defaults(self.DATA_KIND) if info is not None else None

    def faithfulness_methods(self) -> list[tuple[str, str]]:
        """``(name, title)`` of the methods the faithfulness comparison offers (not those with custom rules,
        which are edited in their own dialog)."""
        from xaidesk.core import list_methods

        return [(m.name, m.title) for m in list_methods(self.DATA_KIND) if not m.has(TAG_CUSTOM_RULES)]

    # ------------------------------------------------------------ picker
    def _fill_method_combo(self) -> None:
        model: QStandardItemModel = self.method_combo.model()
        previous = self.method_name()
        self.method_combo.blockSignals(True)
        model.clear()
        family = None
        for info in self._catalog_methods():
            if info.family != family:
                family = info.family
                header = QStandardItem(info.family_title)
                header.setFlags(Qt.ItemFlag.NoItemFlags)
                bold = QFont()
                bold.setBold(True)
                header.setFont(bold)
                model.appendRow(header)
            item = QStandardItem("    " + info.title)
            item.setData(info.name, Qt.ItemDataRole.UserRole)
            item.setToolTip(info.help)
            model.appendRow(item)
        self._mark_unavailable_methods()
        self.method_combo.blockSignals(False)
        self.select_method(previous or self._default_method())

    def _mark_unavailable_methods(self) -> dict[str, str]:
        """Grey the methods the current model cannot run in the picker, the reason in their tooltip.

        Returns method name -> reason for those methods (nothing without a model: the reasons need
        torch, which is imported only once a model exists).
        """
        picker: QStandardItemModel = self.method_combo.model()
        grey = self.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
        reasons: dict[str, str] = {}
        for row in range(picker.rowCount()):
            item = picker.item(row)
            name = item.data(Qt.ItemDataRole.UserRole)
            info = self._catalog_method(name) if (name and self.catalog) else None
            if info is None:
                continue
            reason = self._unavailable_reason(info)
            if reason:
                reasons[name] = reason
                item.setForeground(grey)
                item.setToolTip(f"{info.help}\n\nNot available for this model: {reason}")
            else:
                item.setData(None, Qt.ItemDataRole.ForegroundRole)
                item.setToolTip(info.help)
        return reasons

    def _unavailable_reason(self, info) -> str | None:
        """Why the chosen method cannot explain the current model (None when it can)."""
        if self.model is None:
            return None
        from xaidesk.explain.common import unavailable_reason

        return unavailable_reason(info, self.model)

    def _available_method(self, current: str, unavailable: dict[str, str]) -> str | None:
        """The method to choose instead of ``current``, which the model cannot run: the method for
        transformers where it can run, else one it can run of ``current``'s family (the tab's default
        first), else the first it can run in the list."""
        offered = [info for info in self._catalog_methods() if info.name not in unavailable]
        transformer = next((info for info in offered if info.has(TAG_TRANSFORMERS)), None)
        if transformer is not None:
            return transformer.name
        family = getattr(self._catalog_method(current), "family", None)
        default = self._default_method()
        same_family = sorted((info for info in offered if info.family == family),
                             key=lambda info: info.name != default)  # the tab's default first
        chosen = (same_family or offered or [None])[0]
        return chosen.name if chosen is not None else None

    def _check_methods_for_model(self) -> bool:
        """Once per model: mark the methods it cannot run and, when the chosen one is among them,
        choose one it can run (:meth:`_available_method`), noted in ``_method_switch_note``.

        Returns True when another method was chosen (its form is then already shown).
        """
        if self.model is getattr(self, "_methods_checked_for", None):
            return False
        self._methods_checked_for = self.model
        self._method_switch_note = ""
        unavailable = self._mark_unavailable_methods()
        current = self.method_name()
        if self.model is None or current not in unavailable:
            return False
        replacement = self._available_method(current, unavailable)
        if replacement is None or not self.select_method(replacement):
            return False
        self._method_switch_note = (f"{self._catalog_method(replacement).title} chosen: the previous method "
                                    "cannot explain this model.")
        return True

    def _model_ready_text(self, model, verb: str = "ready") -> str:
        """``"Model X ready."``, and which method was chosen instead of one the model cannot run."""
        note, self._method_switch_note = getattr(self, "_method_switch_note", ""), ""
        return f"Model {model.name} {verb}." + (f" {note}" if note else "")

    def device(self) -> str:
        """Where the explanation runs (``"cpu"`` or ``"cuda"``)."""
        return self.device_picker.device()

    def method_name(self) -> str | None:
        return self.method_combo.currentData(Qt.ItemDataRole.UserRole)

    def method_info(self):
        name = self.method_name()
        return self._catalog_method(name) if (self.catalog and name) else None

    def select_method(self, name: str) -> bool:
        """Choose a method by registry name; returns False if it is not offered (the first offered one
        is chosen then)."""
        rows = [r for r in range(self.method_combo.count()) if self.method_combo.itemData(r, Qt.ItemDataRole.UserRole)]
        match = [r for r in rows if self.method_combo.itemData(r, Qt.ItemDataRole.UserRole) == name]
        row = match[0] if match else (rows[0] if rows else -1)
        if row >= 0:
            self.method_combo.setCurrentIndex(row)
            self._on_method_changed()
        return bool(match)

    def reset_params(self) -> None:
        """Put the method's settings back to their defaults for this tab's inputs."""
        self.param_form.reset()
        info = self.method_info()
        for key, value in (info.modality_defaults.get(self.DATA_KIND, {}) if info is not None else {}).items():
            self.param_form.set_value(key, value)

    def _on_method_changed(self, *_args) -> None:
        if self._check_methods_for_model():
            return  # another method was chosen, and shown, for a new model
        if getattr(self, "_failure_shown", False):
            self._failure_shown = False
            self.status_message.emit("")  # "The explanation failed." was about the previous method
        info = self.method_info()
        if self._form_method is not None:
            self._params_by_method[self._form_method] = self.param_form.values()
        self._form_method = info.name if info else None
        if info is None:
            self.method_help.setText("")
            self.param_form.set_params(())
            self._show_class_choice()
            return
        help_text = info.help
        reason = self._unavailable_reason(info)
        if reason:
            help_text += f"\n\nNot available for this model: {reason}"
        self.method_help.setText(help_text)
        stored = self._params_by_method.get(info.name)
        self.param_form.set_params(info.params, stored if stored is not None else self._form_defaults(info.name))
        self._update_enabled()
        self._show_class_choice()
