"""The Dataset tab's Methods box: the methods to tick and the settings of the one clicked."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGroupBox, QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from ...runs import MethodRequest
from ..widgets.param_form import ParamForm


class DatasetMethodsBox(QGroupBox):
    """Tick the methods a run uses; each keeps its own settings while another one is shown.

    Signals
    -------
    changed()
        The ticked methods changed (the tab checks whether it can run).
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Methods", parent)
        self._infos: dict[str, object] = {}
        self._params: dict[str, dict] = {}
        self._form_method: str | None = None
        layout = QVBoxLayout(self)
        hint = QLabel("Tick the methods to run; click one to change its settings below.")
        hint.setWordWrap(True)
        hint.setObjectName("notes")
        self.method_list = QListWidget()
        self.method_list.setMinimumHeight(150)
        self.method_list.currentItemChanged.connect(self._on_method_selected)
        self.method_list.itemChanged.connect(self._on_method_ticked)
        self.settings_box = QGroupBox("Settings")
        settings_layout = QVBoxLayout(self.settings_box)
        self.param_title = QLabel("")
        self.param_title.setWordWrap(True)
        self.param_title.setObjectName("notes")
        self.param_form = ParamForm()
        settings_layout.addWidget(self.param_title)
        settings_layout.addWidget(self.param_form)
        layout.addWidget(hint)
        layout.addWidget(self.method_list, 1)
        layout.addWidget(self.settings_box)

    def fill(self, infos, checked) -> None:
        """List ``infos`` (registry records) with the names in ``checked`` ticked; the first ticked one is shown."""
        self.store_form()
        self._infos = {info.name: info for info in infos}
        self._form_method = None
        self.method_list.blockSignals(True)
        self.method_list.clear()
        for info in infos:
            item = QListWidgetItem(info.title)
            item.setData(Qt.ItemDataRole.UserRole, info.name)
            item.setToolTip(f"{info.family_title}: {info.help}")
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if info.name in checked else Qt.CheckState.Unchecked)
            self.method_list.addItem(item)
        self.method_list.blockSignals(False)
        self.param_form.set_params(())
        self._show_settings_state(None)
        if self.method_list.count():
            ticked = [i for i in range(self.method_list.count())
                      if self.method_list.item(i).checkState() == Qt.CheckState.Checked]
            self.method_list.setCurrentRow(ticked[0] if ticked else 0)

    def use_run_settings(self, requests) -> None:
        """Take the settings of a run's methods (:class:`~xaidesk.runs.MethodRequest`) in place of the forms'."""
        self.store_form()
        self._form_method = None  # the run's settings replace what the form shows now
        for request in requests:
            self._params[request.name] = dict(request.params)

    def checked_methods(self) -> list[str]:
        return [
            self.method_list.item(i).data(Qt.ItemDataRole.UserRole)
            for i in range(self.method_list.count())
            if self.method_list.item(i).checkState() == Qt.CheckState.Checked
        ]

    def set_checked_methods(self, names) -> None:
        names = set(names)
        self.method_list.blockSignals(True)
        for i in range(self.method_list.count()):
            item = self.method_list.item(i)
            item.setCheckState(Qt.CheckState.Checked if item.data(Qt.ItemDataRole.UserRole) in names
                               else Qt.CheckState.Unchecked)
        self.method_list.blockSignals(False)
        current = self.method_list.currentItem()
        ticked = [self.method_list.item(i) for i in range(self.method_list.count())
                  if self.method_list.item(i).checkState() == Qt.CheckState.Checked]
        if ticked and (current is None or current.checkState() != Qt.CheckState.Checked):
            self.method_list.setCurrentItem(ticked[0])
        else:
            self._show_settings_state(self._infos.get(self._form_method) if self._form_method else None)
        self.changed.emit()

    def method_requests(self) -> list[MethodRequest]:
        """The ticked methods with the settings of their forms."""
        self.store_form()
        return [MethodRequest(name, dict(self._params.get(name, {}))) for name in self.checked_methods()]

    def store_form(self) -> None:
        if self._form_method is not None:
            self._params[self._form_method] = self.param_form.values()

    def _on_method_selected(self, current, _previous=None) -> None:
        self.store_form()
        name = current.data(Qt.ItemDataRole.UserRole) if current is not None else None
        info = self._infos.get(name) if name else None
        self._form_method = info.name if info else None
        if info is None:
            self.param_form.set_params(())
            self._show_settings_state(None)
            return
        self.param_form.set_params(info.params, self._params.get(info.name))
        self._show_settings_state(info)

    def _on_method_ticked(self, item: QListWidgetItem) -> None:
        """A method just ticked becomes the one whose settings are shown."""
        if item.checkState() == Qt.CheckState.Checked and item is not self.method_list.currentItem():
            self.method_list.setCurrentItem(item)
        else:
            self._show_settings_state(self._infos.get(self._form_method) if self._form_method else None)
        self.changed.emit()

    def _show_settings_state(self, info) -> None:
        """Name the method being configured in the settings box title, and say if it will not run."""
        if info is None:
            self.settings_box.setTitle("Settings")
            self.param_title.setText("Click a method in the list to see its settings.")
            self.param_title.setVisible(True)
            return
        self.settings_box.setTitle(f"Settings of {info.title}")
        notes = [] if info.params else [f"{info.title} has no settings."]
        if info.name not in self.checked_methods():
            notes.append(f"{info.title} is not ticked, so it will not run.")
        self.param_title.setText(" ".join(notes))
        self.param_title.setVisible(bool(notes))


__all__ = ["DatasetMethodsBox"]
