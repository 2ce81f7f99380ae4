"""The Dataset tab: run a folder, browse the thumbnails, filter and sort, cancel and resume, open items."""

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from xaidesk.runs import read_index
from xaidesk.resources import resource_path

SAMPLES = ["digits_0.png", "digits_2.png", "digits_3.png", "digits_5.png", "digits_7.png"]
LRP = "lrp.epsilon_plus_flat"
GRAD = "gradient.sensitivity"


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "digits"
    for name in SAMPLES:
        cls = "low" if int(name[7]) < 4 else "high"
        (root / cls).mkdir(parents=True, exist_ok=True)
        shutil.copy(resource_path("samples", name), root / cls / name)
    return root


@pytest.fixture
def make_tab(qtbot, catalog, error_dialogs):
    from xaidesk.gui.runner import Runner
    from xaidesk.gui.tabs.dataset_tab import DatasetTab

    made = []

    def make():
        runner = Runner()
        tab = DatasetTab(runner, None)
        tab.status_log = []
        tab.status_message.connect(tab.status_log.append)
        qtbot.addWidget(tab)
        tab.resize(1200, 800)
        tab.set_catalog(catalog)
        tab.show()
        made.append((tab, runner))
        return tab

    yield make
    for tab, runner in made:
        tab.shutdown()
        runner.shutdown()


def _prepare(tab, folder, out, methods):
    assert tab.set_folder(folder)
    tab.output_edit.setText(str(out))
    tab.set_checked_methods(methods)
    tab._update_enabled()


def _done_message(tab) -> str:
    """The last "Done: …" the tab sent to the status bar."""
    return [m for m in tab.status_log if m.startswith("Done")][-1]


def _wait_idle(qtbot, tab, timeout=30_000):
    qtbot.waitUntil(lambda: not tab.is_running() and not tab.is_stopping(), timeout=timeout)


def test_run_fills_the_browser_with_thumbnails(qtbot, make_tab, folder, tmp_path, error_dialogs):
    tab = make_tab()
    out = tmp_path / "run"
    _prepare(tab, folder, out, [LRP, GRAD])
    assert "5 images in 2 class folders" in tab.folder_box.folder_info.text()
    assert tab.model_spec() == "demo:digits" and tab.run_button.isEnabled()
    assert not tab.run_control.resume_button.isEnabled() and not tab.cancel_button.isEnabled()
    assert tab.start_run() is not None
    assert tab.cancel_button.isEnabled() and not tab.run_button.isEnabled()
    _wait_idle(qtbot, tab)
    assert not error_dialogs
    assert _done_message(tab).startswith("Done: 10 explanations of 5 files in ")
    assert tab.run_control.progress_label.text() == ""  # "Done" is said once, in the status bar
    assert len(read_index(out)) == 10
    model = tab.results.browse.model
    assert model.rowCount() == 10
    pixmap = model.data(model.index(0), Qt.ItemDataRole.DecorationRole)
    assert not pixmap.isNull() and max(pixmap.width(), pixmap.height()) == 128
    assert model.data(model.index(0), Qt.ItemDataRole.DisplayRole).startswith("high/digits_5.png\n")  # high/ sorts first
    assert "Double-click" in model.data(model.index(0), Qt.ItemDataRole.ToolTipRole)
    assert tab.results.browse.count_label.text() == "10 results"
    assert json.loads((out / "run.json").read_text())["finished"]
    # the SpRAy panel (when it is part of the build) gets the finished run
    if tab.results.spray_panel is not None:
        assert [tab.views.tabText(i) for i in range(tab.views.count())] == ["Browse", "SpRAy"]
        assert tab.results.spray_panel.run_dir == out.resolve()


def test_filters_and_sorting(qtbot, make_tab, folder, tmp_path):
    tab = make_tab()
    _prepare(tab, folder, tmp_path / "run", [LRP, GRAD])
    tab.start_run()
    _wait_idle(qtbot, tab)
    browse = tab.results.browse
    assert browse.set_method_filter(GRAD)
    assert {r.method for r in browse.model.shown_rows()} == {GRAD} and browse.model.rowCount() == 5
    assert browse.count_label.text() == "5 of 10 shown"
    assert browse.set_class_filter("true", "low")
    assert [r.file for r in browse.model.shown_rows()] == ["low/digits_0.png", "low/digits_2.png", "low/digits_3.png"]
    assert browse.set_class_filter("predicted", "7")
    assert [r.file for r in browse.model.shown_rows()] == ["high/digits_7.png"]
    assert browse.set_class_filter(None) and browse.set_method_filter(None)
    assert browse.model.rowCount() == 10
    assert browse.set_sort("score_desc")
    scores = [r.score for r in browse.model.shown_rows()]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) > 2
    assert browse.set_sort("method")
    assert [r.method for r in browse.model.shown_rows()] == [GRAD] * 5 + [LRP] * 5
    assert browse.set_sort("class")
    assert [r.true_class for r in browse.model.shown_rows()] == ["high"] * 4 + ["low"] * 6


def test_double_click_shows_the_saved_heatmap_and_can_open_the_item(qtbot, make_tab, folder, tmp_path):
    from PySide6.QtWidgets import QPushButton

    from xaidesk.runs import image_thumbnail, read_run
    from xaidesk.data.images import load_image

    out = tmp_path / "run"
    tab = make_tab()
    _prepare(tab, folder, out, [GRAD])
    tab.start_run()
    _wait_idle(qtbot, tab)
    grid = tab.results.browse.grid
    index = tab.results.browse.model.index(2)
    row = tab.results.browse.model.row_at(2)
    emitted = []
    tab.open_item_requested.connect(lambda *args: emitted.append(args))
    centre = grid.visualRect(index).center()
    qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    assert tab.results.viewer is None  # a single click only selects
    qtbot.mouseDClick(grid.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    viewer = tab.results.viewer
    assert viewer is not None and viewer.isVisible() and viewer.row == row and emitted == []
    # the heatmap shown is the saved relevance over the input, large, beside the plain input
    saved = np.load(read_run(out).path(row.relevance))
    expected = image_thumbnail(load_image(folder / row.file).pixels, saved, 420)
    shown = viewer.heatmap_label.pixmap().toImage()
    assert (shown.width(), shown.height()) == expected.shape[1::-1]
    colour = shown.pixelColor(expected.shape[1] // 2, expected.shape[0] // 2)
    assert (colour.red(), colour.green(), colour.blue()) == tuple(expected[expected.shape[0] // 2, expected.shape[1] // 2])
    assert viewer.input_label.pixmap().size() == shown.size()
    assert "more important" in viewer.meaning_label.text()  # sensitivity says how much, not for or against
    open_button = next(b for b in viewer.findChildren(QPushButton) if b.text().startswith("Open in the Images"))
    open_button.click()
    assert len(emitted) == 1
    path, modality, spec, method, target = emitted[0]
    assert path == str(folder.resolve() / row.file)
    assert (modality, spec, method, target) == ("image", "demo:digits", GRAD, row.target)


def _slow_models(monkeypatch, seconds=0.15, hold=None):
    """Every model loaded by a run sleeps in each forward pass (to cancel midway); with
    ``hold=(index_csv, event)`` a forward pass also waits, once the run's index holds a row,
    until the event is set -- so a cancel always lands before the run can finish."""
    import torch

    import xaidesk.models as models

    real = models.load_model

    class Slow(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            time.sleep(seconds)
            if hold is not None:
                index, event = hold
                if index.is_file() and len(index.read_text().splitlines()) > 1:
                    event.wait(20)
            return self.inner(x)

    def slow_load(spec, trust=False, **options):
        from dataclasses import replace

        model = real(spec, trust=trust, **options)
        return replace(model, module=Slow(model.module).eval())

    monkeypatch.setattr(models, "load_model", slow_load)


def test_cancel_keeps_the_finished_files_and_resume_completes(qtbot, make_tab, folder, tmp_path, monkeypatch):
    import threading

    out = tmp_path / "run"
    release = threading.Event()
    _slow_models(monkeypatch, seconds=0.02, hold=(out / "index.csv", release))
    tab = make_tab()
    _prepare(tab, folder, out, [GRAD])
    tab.run_box.batch_spin.setValue(1)
    tab.start_run()
    index = out / "index.csv"
    qtbot.waitUntil(lambda: index.is_file() and len(index.read_text().splitlines()) > 1, timeout=20_000)
    tab.cancel_run()
    release.set()
    assert not tab.is_running()
    _wait_idle(qtbot, tab)
    saved = read_index(out)
    assert 1 <= len(saved) < 5
    assert "press Resume" in tab.run_control.progress_label.text()
    assert tab.run_control.resume_button.isEnabled()
    assert tab.results.browse.model.rowCount() == len(saved)
    assert tab.resume_run() is not None
    _wait_idle(qtbot, tab)
    rows = read_index(out)
    assert len(rows) == len({r.key for r in rows}) == 5
    assert f"{len(saved)} were already done" in _done_message(tab)
    assert not tab.run_control.resume_button.isEnabled()
    assert tab.results.browse.model.rowCount() == 5


def test_open_run_shows_a_cli_run_and_its_settings(qtbot, make_tab, folder, tmp_path):
    from xaidesk.runs import run_batch

    out = tmp_path / "cli-run"
    run_batch(folder, out, "demo:digits", [GRAD, ("lrp.epsilon_plus_flat", {"epsilon": 0.5})])
    tab = make_tab()
    with qtbot.waitSignal(tab.run_opened, timeout=3000):
        assert tab.open_run(out)
    assert tab.results.browse.model.rowCount() == 10
    assert tab.model_spec() == "demo:digits"
    assert sorted(tab.checked_methods()) == sorted([GRAD, LRP])
    assert tab.method_requests()[[m.name for m in tab.method_requests()].index(LRP)].params["epsilon"] == 0.5
    assert tab.output_folder() == out.resolve()
    assert tab.folder_box.folder_edit.text() == str(folder.resolve())
    assert not tab.run_control.resume_button.isEnabled()  # the run is finished


def test_bad_folders_say_what_is_wrong(make_tab, tmp_path, error_dialogs):
    tab = make_tab()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not tab.set_folder(empty)
    assert "is empty" in tab.folder_box.folder_info.text()
    assert not tab.run_button.isEnabled()
    (empty / "a.txt").write_text("x")
    assert not tab.set_folder(empty)
    assert "no image files" in tab.folder_box.folder_info.text()
    assert not tab.open_run(tmp_path)
    assert error_dialogs and "not a batch run folder" in error_dialogs[0][1]


def test_audio_folders_offer_audio_models_and_methods(make_tab, tmp_path):
    root = tmp_path / "sounds"
    root.mkdir()
    shutil.copy(resource_path("samples", "sounds_beeps.wav"), root)
    tab = make_tab()
    assert tab.set_folder(root)
    assert tab.modality == "audio"
    assert "1 sound clip." in tab.folder_box.folder_info.text()
    specs = [tab.model_combo.itemData(i) for i in range(tab.model_combo.count())]
    assert "demo:sounds" in specs and "demo:digits" not in specs
    assert tab.checked_methods() == [LRP]
    assert np.all([tab.method_list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(tab.method_list.count())])


def test_an_item_opens_in_the_images_tab_with_the_runs_model_method_and_class(qtbot, make_window, folder, tmp_path):
    window = make_window(demo=True)
    images = window.images_tab
    qtbot.waitUntil(lambda: window.catalog is not None and images.model is not None, timeout=20_000)
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())][-1] == "Dataset"
    path = folder / "low" / "digits_3.png"
    # a class other than the top one, as a run with a fixed target would have explained
    window.open_dataset_item(str(path), "image", "demo:digits", GRAD, 8)
    assert window.tabs.currentWidget() is images
    qtbot.waitUntil(lambda: images.prediction is not None and images.image is not None
                    and images.image.path == path, timeout=20_000)
    assert images.model.spec == "demo:digits" and images.method_name() == GRAD
    assert images.prediction.top_class == 3 and images.target() == 8
    # the next prediction is the person's again: the top class
    images.open_image(folder / "high" / "digits_7.png")
    qtbot.waitUntil(lambda: images.image.path.name == "digits_7.png" and images.prediction is not None
                    and images.target() == 7, timeout=20_000)


def test_one_class_for_every_input_is_recorded_and_kept_on_resume(qtbot, make_tab, folder, tmp_path):
    tab = make_tab()
    out = tmp_path / "run"
    _prepare(tab, folder, out, [GRAD])
    labels = [tab.class_combo.itemText(i) for i in range(tab.class_combo.count())]
    assert labels[0] == "Each input's predicted class" and labels[1:] == [f"Class {i}: {i}" for i in range(10)]
    assert tab.explained_class() is None
    assert tab.set_explained_class(8)
    tab.start_run()
    _wait_idle(qtbot, tab)
    rows = read_index(out)
    assert len(rows) == 5 and {r.target for r in rows} == {8} and {r.predicted for r in rows} != {8}
    assert json.loads((out / "run.json").read_text())["target"] == 8
    # reopening the run shows its class; asking for another class in the same folder is refused plainly
    tab.set_explained_class(None)
    assert tab.open_run(out) and tab.explained_class() == 8
    from xaidesk.runs import run_batch
    from xaidesk.core import InputError

    with pytest.raises(InputError, match="explained class"):
        run_batch(folder, out, "demo:digits", [GRAD], target=None)


def test_the_output_folder_follows_the_input_folder(qtbot, make_tab, folder, tmp_path, error_dialogs):
    from xaidesk.runs import run_batch

    other = tmp_path / "more-digits"
    shutil.copytree(folder, other)
    run_batch(folder, tmp_path / "digits-explained", "demo:digits", [GRAD])
    tab = make_tab()
    assert tab.set_folder(folder)
    assert tab.output_folder() == tmp_path / "digits-explained"
    # a new input gets its own output folder, and Run is possible at once
    assert tab.set_folder(other)
    assert tab.output_folder() == tmp_path / "more-digits-explained"
    assert tab.run_button.isEnabled() and not tab.run_box.run_problem.isVisible()
    # a folder chosen by hand stays for its input, and a new input replaces it
    tab.set_output(tmp_path / "mine")
    assert tab.set_folder(other) and tab.output_folder() == tmp_path / "mine"
    assert tab.set_folder(folder) and tab.output_folder() == tmp_path / "digits-explained"


def test_an_output_folder_of_another_run_is_refused_before_anything_starts(qtbot, make_tab, folder, tmp_path,
                                                                          error_dialogs):
    from xaidesk.runs import run_batch

    other = tmp_path / "more-digits"
    shutil.copytree(folder, other)
    old = tmp_path / "digits-explained"
    run_batch(folder, old, "demo:digits", [GRAD])
    before = (old / "run.json").read_text()
    tab = make_tab()
    _prepare(tab, other, old, [GRAD])
    tab.set_output(old)
    assert not tab.run_button.isEnabled()
    assert tab.run_box.run_problem.isVisible() and "run of another input folder" in tab.run_box.run_problem.text()
    assert "more-digits-explained" in tab.run_box.run_problem.text()
    assert tab.start_run() is None and not tab.is_running()
    assert "another input folder" in tab.run_control.progress_label.text() and "error" not in tab.run_control.progress_label.text()
    assert not error_dialogs and (old / "run.json").read_text() == before
    # a non-empty folder that holds no run, and a file, are refused with their own reasons
    tab.set_output(other / "low")
    assert "not empty and holds no batch run" in tab.run_box.run_problem.text()
    tab.set_output(other / "low" / "digits_0.png")
    assert "is a file" in tab.run_box.run_problem.text()


def test_the_output_dialog_takes_a_new_folder_name(qtbot, tmp_path):
    from PySide6.QtWidgets import QLineEdit

    from xaidesk.gui.panels.dataset_output import OutputFolderDialog

    dialog = OutputFolderDialog(None, tmp_path / "digits-explained")
    qtbot.addWidget(dialog)
    name_edit = dialog.findChild(QLineEdit, "fileNameEdit")
    assert name_edit.text() == "digits-explained"
    name_edit.setText("a-new-run")
    dialog.accept()
    assert dialog.result() == 1 and dialog.chosen == str(tmp_path / "a-new-run")
    assert not (tmp_path / "a-new-run").exists()
    # an existing folder is taken as it is
    (tmp_path / "old").mkdir()
    dialog = OutputFolderDialog(None, tmp_path / "old")
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.accept_button().text() == "Use this folder")  # not "Open": it is not entered
    dialog.accept()
    assert dialog.chosen == str(tmp_path / "old")


def test_the_input_folder_field_reads_as_a_label_and_the_output_field_is_typed(make_tab, folder, tmp_path):
    tab = make_tab()
    assert tab.folder_box.folder_edit.isReadOnly() and not tab.folder_box.folder_edit.hasFrame()
    assert not tab.output_edit.isReadOnly() and tab.output_edit.hasFrame()
    assert tab.set_folder(folder)
    qtbot_typed = tmp_path / "typed"
    tab.output_edit.setText(str(qtbot_typed))
    tab.output_edit.textEdited.emit(str(qtbot_typed))
    assert tab.set_folder(folder) and tab.output_folder() == qtbot_typed


def test_captions_fit_their_cells_and_name_methods_by_title(qtbot, make_tab, folder, tmp_path):
    from xaidesk.core.registry import get_method

    long_name = folder / "low" / ("a_rather_long_file_name_for_one_handwritten_digit_" * 2 + "0.png")
    shutil.copy(folder / "low" / "digits_0.png", long_name)
    tab = make_tab()
    _prepare(tab, folder, tmp_path / "run", [GRAD])
    tab.start_run()
    _wait_idle(qtbot, tab)
    grid, model = tab.results.browse.grid, tab.results.browse.model
    metrics = grid.fontMetrics()
    cell = grid.gridSize()
    assert cell.height() >= 128 + 4 * metrics.lineSpacing()
    title = get_method(GRAD).title
    for k in range(model.rowCount()):
        lines = grid.caption(model.index(k)).split("\n")
        assert len(lines) == 4 and all(metrics.horizontalAdvance(line) <= grid.visualRect(model.index(k)).width() - 6 for line in lines)
        row = model.row_at(k)
        assert lines[1].startswith(title[:8]) and lines[3].startswith("score ")
        assert lines[2] == f"predicted {row.predicted_label or row.predicted}"
        assert f"Method: {title}" in model.data(model.index(k), Qt.ItemDataRole.ToolTipRole)
    long_row = next(k for k in range(model.rowCount()) if model.row_at(k).file.startswith("low/a_rather"))
    assert "…" in grid.caption(model.index(long_row))
    assert long_name.name in model.data(model.index(long_row), Qt.ItemDataRole.ToolTipRole)
    combo = tab.results.browse.method_combo
    assert [combo.itemText(i) for i in range(combo.count())] == ["All methods", title]


def test_the_viewer_says_when_the_input_is_gone_and_shows_the_saved_preview(qtbot, folder, tmp_path):
    from xaidesk.runs import read_run, run_batch
    from xaidesk.gui.views.dataset_views import ItemViewer

    out = tmp_path / "run"
    run_batch(folder, out, "demo:digits", [GRAD])
    run = read_run(out)
    row = run.rows[0]
    run.input_path(row).unlink()
    viewer = ItemViewer(run, row)
    qtbot.addWidget(viewer)
    note = viewer.note_label.text()
    assert note.startswith("The saved preview is shown") and Path(row.file).name in note
    assert viewer.heatmap_label.pixmap().width() == 420 and viewer.input_label.pixmap().isNull()


def test_a_failed_run_says_what_went_wrong(qtbot, make_tab, folder, tmp_path, monkeypatch, error_dialogs):
    import xaidesk.runs
    from xaidesk.core import InputError

    def refuse(*_args, **_kwargs):
        raise InputError("The model file is damaged; choose another one.")

    monkeypatch.setattr(xaidesk.runs, "run_batch", refuse)
    tab = make_tab()
    _prepare(tab, folder, tmp_path / "run", [GRAD])
    assert tab.start_run() is not None
    _wait_idle(qtbot, tab)
    assert tab.run_control.progress_label.text() == "The run stopped: The model file is damaged; choose another one."
    assert error_dialogs and "damaged" in error_dialogs[0][1]


def test_the_settings_box_names_the_method_it_configures_and_follows_the_ticked_one(make_tab, catalog):
    from xaidesk.core.registry import get_method

    tab = make_tab()
    names = [tab.method_list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(tab.method_list.count())]
    titles = [tab.method_list.item(i).text() for i in range(tab.method_list.count())]
    assert titles == [get_method(name).title for name in names]  # "SmoothGrad", not "SmoothGrad (Gradient)"
    assert "SmoothGrad" in titles
    ticked = tab.checked_methods()
    assert ticked and tab.method_list.currentItem().data(Qt.ItemDataRole.UserRole) == ticked[0]
    assert tab.methods.settings_box.title() == f"Settings of {get_method(ticked[0]).title}"
    tab.set_checked_methods([])
    smooth = names.index("gradient.smoothgrad")
    tab.method_list.item(smooth).setCheckState(Qt.CheckState.Checked)
    assert tab.method_list.currentRow() == smooth and tab.methods.settings_box.title() == "Settings of SmoothGrad"
    assert "not ticked" not in tab.methods.param_title.text()
    other = next(i for i in range(len(names)) if i != smooth and get_method(names[i]).params)
    tab.method_list.setCurrentRow(other)
    assert tab.methods.settings_box.title() == f"Settings of {titles[other]}"
    assert tab.methods.param_title.text() == f"{titles[other]} is not ticked, so it will not run."


def test_one_result_is_counted_in_the_singular(qtbot, make_tab, folder, tmp_path):
    for extra in list((folder / "high").iterdir()) + list((folder / "low").iterdir())[1:]:
        extra.unlink()
    tab = make_tab()
    _prepare(tab, folder, tmp_path / "run", [GRAD])
    tab.start_run()
    _wait_idle(qtbot, tab)
    assert _done_message(tab).startswith("Done: 1 explanation of 1 file in ")
    assert tab.results.browse.count_label.text() == "1 result"
