"""The main window sends what is opened or dropped to its tab, and File ▸ Export acts on the shown tab."""

import csv
import shutil

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QFileDialog

from xaidesk.selftest import write_sample_molecules


@pytest.fixture
def asked(monkeypatch):
    """Answer open and save dialogs with queued paths; record every dialog's title."""
    answers = {"open": [], "save": []}
    titles = []

    def answer(kind):
        def dialog(parent, title, *args, **kwargs):
            titles.append(title)
            return (str(answers[kind].pop(0)) if answers[kind] else "", "")
        return staticmethod(dialog)

    monkeypatch.setattr(QFileDialog, "getOpenFileName", answer("open"))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", answer("save"))
    answers["titles"] = titles
    return answers


def _drop(window, path) -> None:
    mime = QMimeData()  # the event does not own it: it must outlive the event
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)


def _accepts_drag(window, path) -> bool:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDragEnterEvent(QPointF(10, 10).toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                            Qt.KeyboardModifier.NoModifier)
    event.setAccepted(False)
    window.dragEnterEvent(event)
    return event.isAccepted()


def _molecule_folder(tmp_path, count=12):
    """``tmp_path/qm/xyz/*.xyz`` with the energies beside the folder, at ``tmp_path/qm/energies.txt``."""
    folder = tmp_path / "qm" / "xyz"
    folder.mkdir(parents=True)
    energies = write_sample_molecules(folder, count=count)
    return folder, energies.replace(folder.parent / "energies.txt")


def _wait_loaded(qtbot, tab):
    qtbot.waitUntil(lambda: not tab.is_job_running("load") and not tab.is_job_running("predict"), timeout=10_000)


def test_dropping_a_folder_of_molecules_opens_it_with_the_energies_beside_it(qtbot, window, tmp_path, asked,
                                                                              error_dialogs):
    folder, energies = _molecule_folder(tmp_path)
    assert _accepts_drag(window, folder)
    _drop(window, folder)
    tab = window.molecules_tab
    assert window.tabs.currentWidget() is tab
    _wait_loaded(qtbot, tab)
    assert tab.mols is not None and len(tab.mols) == 12 and tab.mols.sources[0].parent == folder
    assert "energies.txt" in tab.data_label.text()
    assert asked["titles"] == [] and error_dialogs == []  # the energies file beside it was used, nothing asked


def test_a_folder_without_an_energies_file_asks_for_one(qtbot, window, tmp_path, asked, error_dialogs):
    folder, energies = _molecule_folder(tmp_path)
    chosen = energies.rename(tmp_path / "targets.dat")  # no longer beside the folder, no 'energ' in its name
    asked["open"].append(chosen)
    window.open_path(folder)
    tab = window.molecules_tab
    _wait_loaded(qtbot, tab)
    assert len(asked["titles"]) == 1 and "Energies" in asked["titles"][0]
    assert tab.mols is not None and len(tab.mols) == 12 and "targets.dat" in tab.data_label.text()
    # Declining the question opens nothing and keeps what was open.
    before = tab.mols
    window.open_path(folder)
    _wait_loaded(qtbot, tab)
    assert len(asked["titles"]) == 2 and tab.mols is before and error_dialogs == []


def test_two_energies_files_are_not_guessed_between(qtbot, window, tmp_path, asked):
    from xaidesk.gui.molecule_jobs import find_energies_file

    folder, energies = _molecule_folder(tmp_path)
    assert find_energies_file(folder) == energies
    shutil.copy(energies, folder / "energies_b3lyp.txt")
    assert find_energies_file(folder) == folder / "energies_b3lyp.txt"  # the folder's own file comes first
    shutil.copy(energies, folder / "energies_pbe.txt")
    assert find_energies_file(folder) is None
    window.open_path(folder)
    assert len(asked["titles"]) == 1  # asked rather than guessed


def test_a_dropped_xyz_file_opens_in_molecules_and_other_kinds_keep_their_tabs(qtbot, window, tmp_path, catalog,
                                                                                error_dialogs):
    folder, _ = _molecule_folder(tmp_path)
    single = folder / "003_H2.xyz"
    _drop(window, single)
    tab = window.molecules_tab
    assert window.tabs.currentWidget() is tab
    _wait_loaded(qtbot, tab)
    assert [m.names[0] for m in tab.extra] == ["003_H2.xyz"]
    assert "(opened)" in tab.molecule_combo.currentText()

    image = catalog.samples("image")[0]
    _drop(window, image)
    assert window.tabs.currentWidget() is window.images_tab
    qtbot.waitUntil(lambda: window.images_tab.image is not None and window.images_tab.image.path == image,
                    timeout=10_000)
    assert error_dialogs == []


def test_a_folder_without_molecules_is_refused(qtbot, window, tmp_path, error_dialogs):
    empty = tmp_path / "pictures"
    empty.mkdir()
    (empty / "notes.txt").write_text("hello\n")
    assert not _accepts_drag(window, empty)
    _drop(window, empty)
    assert error_dialogs == [] and window.tabs.currentWidget() is window.images_tab
    window.open_path(empty)
    assert len(error_dialogs) == 1 and "holds no .xyz files" in error_dialogs[0][1]


def test_file_open_offers_every_kind_and_routes_by_kind(qtbot, window, tmp_path, asked, error_dialogs):
    from xaidesk.gui.window_routing import open_file_filter

    first = open_file_filter().split(";;")[0]
    for pattern in ("*.png", "*.wav", "*.csv", "*.xlsx", "*.xyz"):
        assert pattern in first
    assert "Molecules (*.xyz)" in open_file_filter()
    folder, _ = _molecule_folder(tmp_path)
    asked["open"].append(folder / "004_H2O.xyz")
    window.open_action.trigger()
    tab = window.molecules_tab
    assert window.tabs.currentWidget() is tab
    _wait_loaded(qtbot, tab)
    assert [m.names[0] for m in tab.extra] == ["004_H2O.xyz"] and error_dialogs == []


def _run_wine(qtbot, tab):
    qtbot.waitUntil(lambda: bool(tab.methods), timeout=20_000)
    tab.open_example()
    qtbot.waitUntil(lambda: tab.table is not None and not tab.is_job_running("load"), timeout=10_000)
    assert tab.select_method("neon.knn")
    tab.param_form.set_value("gamma", "1")
    assert tab.run_analysis() is not None
    qtbot.waitUntil(lambda: not tab.is_running() and tab.result is not None, timeout=30_000)


def test_file_exports_act_on_the_tables_tab(qtbot, window, tmp_path, asked, monkeypatch, error_dialogs):
    images = window.images_tab
    written_by_images = []
    for name in ("export_overlay", "export_relevance", "export_settings"):
        monkeypatch.setattr(images, name, lambda path, n=name: written_by_images.append(n))
    tab = window.tables_tab
    window.tabs.setCurrentWidget(tab)
    # Before a result: nothing to export, and the menu says why.
    assert not window.export_relevance_action.isEnabled()
    assert "Nothing to export yet" in window.export_relevance_action.toolTip()
    _run_wine(qtbot, tab)
    assert window.export_relevance_action.isEnabled()
    assert window.export_relevance_action.text() == tab.RESULTS_EXPORT_TEXT
    assert "plot" in window.export_overlay_action.text().lower()
    assert not window.export_settings_action.isEnabled()
    assert "summary.json" in window.export_settings_action.toolTip()

    out = tmp_path / "wine_results"
    asked["save"].append(out)
    window.export_relevance_action.trigger()
    assert sorted(p.name for p in out.iterdir()) == ["relevance.csv", "scores.csv", "summary.json"]
    with open(out / "scores.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 178
    tab.views.setCurrentIndex(2)
    asked["save"].append(tmp_path / "ranking")  # the suffix is added
    window.export_overlay_action.trigger()
    assert (tmp_path / "ranking.png").stat().st_size > 1000
    window.export_settings()  # disabled in the menu; called anyway it writes nothing
    assert written_by_images == [] and error_dialogs == []

    # Back on Images the actions are the overlay exports again.
    window.tabs.setCurrentWidget(images)
    assert window.export_overlay_action.text() == "Export overlay &PNG…"
    assert window.export_settings_action.text() == "Export settings &JSON…"


def test_file_exports_act_on_the_molecules_tab(qtbot, window, tmp_path, asked, monkeypatch, error_dialogs):
    images = window.images_tab
    written_by_images = []
    for name in ("export_overlay", "export_relevance", "export_settings", "copy_overlay"):
        monkeypatch.setattr(images, name, lambda *a, n=name: written_by_images.append(n))
    folder, _ = _molecule_folder(tmp_path, count=15)
    window.open_path(folder)
    tab = window.molecules_tab
    _wait_loaded(qtbot, tab)
    for action in (window.export_overlay_action, window.export_relevance_action, window.export_settings_action,
                   window.copy_action):
        assert not action.isEnabled() and action.toolTip()
    window.export_overlay()
    window.export_relevance()
    window.copy_result()
    assert asked["titles"] == []  # nothing to export: no dialog

    tab.set_kind("pairs")
    tab.bins_spin.setValue(8)
    assert tab.train() is not None
    qtbot.waitUntil(lambda: not tab.is_running() and tab.model is not None, timeout=30_000)
    assert window.export_relevance_action.isEnabled() and window.export_overlay_action.isEnabled()
    assert not window.export_settings_action.isEnabled() and "Molecules" in window.export_settings_action.toolTip()

    asked["save"].append(tmp_path / "potentials.csv")
    window.export_relevance_action.trigger()
    with open(tmp_path / "potentials.csv") as handle:
        header = next(csv.reader(handle))
    assert header[:2] == ["distance_bohr", "distance_angstrom"] and set(header[2:]) == set(tab.model.basis.pair_labels)
    asked["save"].append(tmp_path / "potentials.png")
    window.export_overlay_action.trigger()
    assert (tmp_path / "potentials.png").stat().st_size > 1000

    from PySide6.QtGui import QGuiApplication

    QGuiApplication.clipboard().clear()
    window.copy_action.trigger()
    copied = QGuiApplication.clipboard().image()
    assert not copied.isNull() and copied.width() == tab.potential_plot.width()
    assert written_by_images == [] and error_dialogs == []


def test_a_tab_without_file_exports_disables_them(qtbot, window, monkeypatch, asked):
    from PySide6.QtWidgets import QWidget

    written_by_images = []
    monkeypatch.setattr(window.images_tab, "export_overlay", lambda path: written_by_images.append(path))
    other = QWidget()
    window.tabs.addTab(other, "Other")
    window.tabs.setCurrentWidget(other)
    assert not window.export_overlay_action.isEnabled() and "Other tab" in window.export_overlay_action.toolTip()
    window.export_overlay()
    window.copy_result()
    assert written_by_images == [] and asked["titles"] == []


def _minimum_width(window, app) -> int:
    app.processEvents()
    window.layout().activate()
    return window.layout().totalMinimumSize().width()


def test_long_status_and_statistics_texts_never_widen_the_window(qtbot, window, qapp):
    width = window.width()
    long_text = "A very long status text " * 84  # over 2,000 characters
    assert len(long_text) > 2000
    window.images_tab.status_message.emit(long_text)
    window.show_status(long_text)
    window.hover_label.setText(long_text)
    window.images_tab.stats_label.setText(long_text)
    assert _minimum_width(window, qapp) < width
    assert window.width() == width
    assert window.status_text() == long_text  # the whole text is kept (tooltip), only its display is elided
    assert window.status_label.toolTip() == long_text


def test_a_tabs_status_stays_with_its_tab(qtbot, window):
    window.images_tab.status_message.emit("Explained digits_0.png with LRP.")
    assert window.status_text() == "Explained digits_0.png with LRP."
    window.tables_tab.status_message.emit("Opened wine.csv.")  # a background tab: not shown over Images
    assert window.status_text() == "Explained digits_0.png with LRP."
    window.tabs.setCurrentWidget(window.audio_tab)
    assert "LRP" not in window.status_text()
    window.tabs.setCurrentWidget(window.tables_tab)
    assert window.status_text() == "Opened wine.csv."
    window.tabs.setCurrentWidget(window.images_tab)
    assert window.status_text() == "Explained digits_0.png with LRP."
