"""The Model workflow's dialog: built from the repair registry, the artefact section follows the method, a drawn
region gives its box in model-input pixels, a P-ClArC run on the demo fills the comparison table, Cancel says how
to resume, errors keep the choices, "Open the corrected model" loads it, and the SpRAy view's cluster presets it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QLabel

from xaidesk.gui import repair_jobs as rj
from xaidesk.gui import repair_wording as rw
from xaidesk.gui.repair_dialog import RepairDialog
from xaidesk.repair.methods import list_repairs

from helpers import make_run, planted_maps


@pytest.fixture(scope="module")
def demo():
    from xaidesk.models import load_model

    return load_model("demo:clever_hans")


@pytest.fixture
def make_dialog(qtbot, isolated_home, error_dialogs):
    made = []

    def make(**options):
        dialog = RepairDialog(**options)
        qtbot.addWidget(dialog)
        dialog.show()
        made.append(dialog)
        if options.get("model") is not None or options.get("spec"):
            qtbot.waitUntil(lambda: dialog.model is not None, timeout=20_000)
        return dialog

    yield make
    for dialog in made:
        dialog.runner.shutdown()


def write_scenes(model, folder: Path, n: int = 16) -> tuple[list[Path], list[Path]]:
    """Generated demo scenes as PNG files in class subfolders: ``(tagged horses, untagged images)``."""
    from xaidesk.data.scenes import make_clever_hans_set, with_marks

    images, labels, _ = make_clever_hans_set(n, 5)
    tagged = np.asarray(labels) == 0
    carrying, clean = [], []
    for i, picture in enumerate(with_marks(images, tagged)):
        path = folder / model.class_names[int(labels[i])] / f"{i:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.asarray(picture, dtype=np.uint8)).save(path)
        (carrying if tagged[i] else clean).append(path)
    return carrying, clean


def choose(dialog, name: str, **params) -> None:
    assert dialog.method.select(name)
    for key, value in params.items():
        dialog.method.form.set_value(key, value)


def test_the_dialog_is_built_from_the_registry(make_dialog, demo):
    dialog = make_dialog(model=demo)
    methods = list_repairs()
    combo = dialog.method.combo
    assert [combo.itemText(i) for i in range(combo.count())] == [m.title for m in methods]
    for method in methods:
        choose(dialog, method.name)
        assert dialog.method.help_label.text() == method.help
        assert set(dialog.method.params()) == {p.name for p in method.params}
        assert dialog.artefact.pages.isEnabled() == rj.measures_artefact(method.name)
        assert ("needs no artefact" in dialog.artefact.note.text()) != rj.measures_artefact(method.name)
        assert dialog.data.none_radio.isVisibleTo(dialog) != rj.needs_data(method.name)
    layered = next((m for m in methods if any(p.choices_from == "model_layers" for p in m.params)), None)
    if layered is not None:
        choose(dialog, layered.name)
        layer = next(p.name for p in layered.params if p.choices_from == "model_layers")
        assert dialog.method.form.editor(layer).count() > 5  # Automatic and the demo's layers
    assert dialog.data.generated_radio.isChecked()  # the demo needs no folder
    assert dialog.data.output().parent == isolated_home_data(dialog) / "corrected models"


def isolated_home_data(dialog) -> Path:
    from xaidesk import userdirs

    return userdirs.data_dir()


def test_a_drawn_region_gives_its_box_in_model_input_pixels(qtbot, make_dialog, demo, tmp_path):
    dialog = make_dialog(model=demo)
    choose(dialog, next(m.name for m in list_repairs() if rj.needs_artefact(m.name)))
    picture = np.full((128, 128, 3), 90, np.uint8)
    Image.fromarray(picture).save(tmp_path / "scene.png")
    assert dialog.artefact.open_region_image(tmp_path / "scene.png")
    picker = dialog.artefact.picker
    assert picker.picture_size() == tuple(demo.preprocessing.size)
    picker.resize(256, 256)  # the 64x64 input is drawn 4x
    rect = picker.picture_rect()
    scale = rect.width() / demo.preprocessing.size[1]

    def at(row, column):
        return QPoint(int(rect.left() + (column + 0.5) * scale), int(rect.top() + (row + 0.5) * scale))

    QTest.mousePress(picker, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(61, 18))
    QTest.mouseMove(picker, at(56, 10))
    QTest.mouseRelease(picker, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(52, 2))
    assert picker.box() == (52, 2, 10, 17)
    choice = dialog.artefact.choice()
    assert isinstance(choice, rj.DrawnRegion) and choice.box == (52, 2, 10, 17)
    assert "17 wide × 10 high (pixels) at column 2, row 52" in dialog.artefact.region_label.text()


def test_a_p_clarc_run_on_the_demo_fills_the_comparison_table(qtbot, make_dialog, demo, tmp_path):
    carrying, clean = write_scenes(demo, tmp_path / "scenes")
    dialog = make_dialog(model=demo)
    name = next(m.name for m in list_repairs() if rj.needs_artefact(m.name) and not rj.needs_data(m.name))
    choose(dialog, name)
    assert not dialog.run_button.isEnabled() and "Choose what to remove" in dialog.missing_label.text()
    dialog.artefact.pages.setCurrentIndex(dialog.artefact.TICKED)
    assert "heatmaps" in dialog.artefact.ticked_info.text() and "tab in front" in dialog.artefact.note.text()
    dialog.artefact.carrying_list.add_paths(carrying[:5])
    dialog.artefact.clean_list.add_paths(clean[:5])
    dialog.artefact.set_target(0)
    dialog.data.generated_spin.setValue(24)
    assert dialog.run_button.isEnabled(), dialog.missing_label.text()
    dialog.run()
    qtbot.waitUntil(lambda: dialog.outcome is not None, timeout=60_000)
    result = dialog.outcome.result
    table = dialog.compare.table
    assert table.rowCount() == len(result.comparisons) > 0
    assert [table.item(r, 0).text() for r in range(table.rowCount())] == [c.label for c in result.comparisons]
    assert (dialog.outcome.out / "model.safetensors").is_file()
    assert dialog.compare.open_button.isEnabled() and "Done" in dialog.status_label.text()
    assert dialog.compare.summary.text().startswith(dialog.method.method().title)
    assert dialog.data.output() == dialog.outcome.out.with_name(dialog.outcome.out.name + "-2")  # kept, not reused
    accuracy = next(r for r, c in enumerate(result.comparisons) if c.name == "accuracy")
    assert table.item(accuracy, 1).text() == f"{100 * result.comparisons[accuracy].before:.1f}%"
    titles = [w.text() for w in dialog.compare.pictures.findChildren(QLabel) if w.objectName() == "viewTitle"]
    assert titles == [rw.picture_title(name) for name in sorted(result.images)]
    first = dialog.outcome
    dialog.run()  # a second run: the first result's buttons wait until it is over
    assert dialog.is_running() and not dialog.compare.open_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.outcome is not first, timeout=60_000)
    assert dialog.compare.open_button.isEnabled() and dialog.compare.files_button.isEnabled()


def test_pruning_shows_the_pruning_curve(qtbot, make_dialog, demo):
    dialog = make_dialog(model=demo)
    choose(dialog, "prune", per_class=2)
    dialog.data.generated_spin.setValue(20)
    assert not dialog.compare.tabs.isTabVisible(1) and dialog.compare.tabs.tabBar().isHidden()  # nothing yet
    dialog.run()
    qtbot.waitUntil(lambda: dialog.outcome is not None, timeout=60_000)
    assert "pruning_curve.png" in dialog.outcome.result.images
    shown = [w for w in dialog.compare.pictures.findChildren(QLabel) if w.pixmap() and not w.pixmap().isNull()]
    tabs = dialog.compare.tabs
    assert shown and tabs.isTabVisible(1) and not tabs.tabBar().isHidden()
    assert tabs.tabText(1) == "Pictures (1) and notes"
    dialog.resize(1100, 750)
    dialog.compare.tabs.setCurrentIndex(1)
    qtbot.wait(50)
    view = dialog.compare.extras.viewport()
    picture = shown[0].pixmap()
    assert picture.height() <= max(view.height(), 100) and picture.width() <= view.width()  # whole, not cut off
    assert picture.height() > 0.5 * min(view.height(), 400) or view.height() < 120  # and not needlessly small
    parameters = next(r for r, c in enumerate(dialog.outcome.result.comparisons) if c.name == "parameters")
    assert "," in dialog.compare.table.item(parameters, 1).text()


def test_cancel_of_training_says_it_resumes_from_the_checkpoint(qtbot, make_dialog, demo):
    dialog = make_dialog(model=demo)
    name = next(m.name for m in list_repairs() if rj.trains(m.name) and not rj.needs_artefact(m.name))
    choose(dialog, name, epochs=20, batch_size=8)
    dialog.data.generated_spin.setValue(32)
    dialog.run()
    assert dialog.is_running() and dialog.cancel_button.isEnabled() and not dialog.run_button.isEnabled()
    qtbot.waitUntil(lambda: "Training" in dialog.status_label.text(), timeout=30_000)
    assert "of 20" in dialog.status_label.text() and "%" in dialog.status_label.text()  # epoch count and share done
    dialog.cancel()
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=10_000)
    assert "resume from the checkpoint" in dialog.status_label.text()
    assert dialog.method.name() == name and dialog.method.params()["epochs"] == 20  # the choices are kept
    assert dialog.run_button.isEnabled() and dialog.outcome is None


def test_an_output_file_disables_run_and_says_why(qtbot, make_dialog, demo, tmp_path):
    (tmp_path / "taken").write_text("a file, not a folder")
    dialog = make_dialog(model=demo)
    name = next(m.name for m in list_repairs() if rj.trains(m.name) and not rj.needs_artefact(m.name))
    choose(dialog, name, epochs=1)
    dialog.data.set_output(tmp_path / "taken")
    assert not dialog.run_button.isEnabled() and dialog.run() is None
    assert "is a file" in dialog.missing_label.text() and "is a file" in dialog.run_button.toolTip()
    dialog.data.set_output(tmp_path / "new")
    assert dialog.run_button.isEnabled() and "Run is not available" not in dialog.run_button.toolTip()


def test_an_error_is_said_in_plain_words_and_the_choices_stay(qtbot, make_dialog, demo, error_dialogs, tmp_path):
    for wrong in ("cats", "dogs"):
        (tmp_path / "labelled" / wrong).mkdir(parents=True)
        Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(tmp_path / "labelled" / wrong / "a.png")
    dialog = make_dialog(model=demo)
    name = next(m.name for m in list_repairs() if rj.trains(m.name) and not rj.needs_artefact(m.name))
    choose(dialog, name, epochs=1)
    dialog.data.folder_edit.setText(str(tmp_path / "labelled"))
    dialog.data.set_output(tmp_path / "out")
    dialog.run()
    qtbot.waitUntil(lambda: bool(error_dialogs), timeout=20_000)
    title, message = error_dialogs[-1]
    assert title == "Could not correct the model" and "'cats'" in message and "horse" in message
    assert dialog.data.choice().folder == tmp_path / "labelled" and dialog.method.name() == name
    assert dialog.run_button.isEnabled() and not (tmp_path / "out").exists()


def test_the_held_out_share_reads_as_a_percentage(make_dialog, demo):
    dialog = make_dialog(model=demo)
    assert dialog.data.held_out_spin.text() == "20 %" and dialog.data.choice().held_out == pytest.approx(0.2)
    dialog.data.held_out_spin.setValue(35)
    assert dialog.data.choice().held_out == pytest.approx(0.35)


def test_open_the_corrected_model_loads_it_in_the_images_tab(qtbot, make_window, isolated_home):
    window = make_window()
    window.images_tab.load_model(rj.DEMO_SPEC)
    qtbot.waitUntil(lambda: getattr(window.images_tab.model, "spec", None) == rj.DEMO_SPEC, timeout=20_000)
    dialog = window.open_repair_dialog()
    try:
        qtbot.waitUntil(lambda: dialog.model is not None, timeout=20_000)
        assert dialog.model is not window.images_tab.model  # its own copy: the worker never shares the tab's network
        assert dialog.model.module is not window.images_tab.model.module and dialog.model.spec == window.images_tab.model.spec
        name = next(m.name for m in list_repairs() if rj.trains(m.name) and not rj.needs_artefact(m.name))
        choose(dialog, name, epochs=1, batch_size=16)
        dialog.data.generated_spin.setValue(16)
        dialog.run()
        qtbot.waitUntil(lambda: dialog.outcome is not None, timeout=60_000)
        spec = dialog.compare.request_open()
        qtbot.waitUntil(lambda: window.images_tab.model is not None and window.images_tab.model.spec == spec,
                        timeout=20_000)
        assert window.tabs.currentWidget() is window.images_tab
        assert any(a.text() == "Co&rrect, prune or fine-tune…" for a in window.model_menu.actions())
    finally:
        dialog.runner.shutdown()


def test_the_spray_clusters_button_presets_the_dialog(qtbot, error_dialogs, isolated_home, tmp_path):
    from xaidesk.gui.runner import Runner
    from xaidesk.gui.views.spray_views import SprayPanel

    maps, truth = planted_maps(np.random.default_rng(0), sizes=(10, 6), side=24)
    run = make_run(tmp_path / "run", maps)
    runner = Runner()
    panel = SprayPanel(runner)
    qtbot.addWidget(panel)
    panel.show()
    panel.set_run(run)
    assert not panel.correct_button.isEnabled()
    panel.analyse()
    qtbot.waitUntil(lambda: panel.result is not None and not panel.is_running(), timeout=20_000)
    cluster = panel.selected_cluster
    assert cluster is not None and panel.correct_button.isEnabled()
    asked = []
    panel.correct_requested.connect(lambda spec, preset: asked.append((spec, preset)))
    assert panel.correct_cluster() is None and asked[0][0] == "demo:clever_hans"
    dialog = RepairDialog(spec=asked[0][0], preset=asked[0][1])
    qtbot.addWidget(dialog)
    try:
        members = {panel.heatmaps.source_path(i) for i in panel.result.members(cluster)}
        assert set(dialog.artefact.carrying_list.paths()) == members
        assert len(dialog.artefact.clean_list.paths()) == len(maps) - len(members)
        assert dialog.artefact.pages.currentIndex() == dialog.artefact.TICKED
        qtbot.waitUntil(lambda: dialog.model is not None, timeout=20_000)
        assert dialog.artefact.class_combo.currentData() == panel.heatmaps.target
        assert f"cluster {cluster}" in dialog.artefact.preset_label.text()
    finally:
        dialog.runner.shutdown()
        dialog.close()
        runner.shutdown()


def test_from_the_dataset_tab_the_corrected_model_becomes_its_model(qtbot, open_window, isolated_home, demo):
    from xaidesk.core import CancelToken

    window = open_window()
    window.tabs.setCurrentWidget(window.dataset_tab)
    window.dataset_tab.set_model_spec(rj.DEMO_SPEC)
    dialog = window.open_repair_dialog()
    try:
        qtbot.waitUntil(lambda: dialog.model is not None, timeout=20_000)
        assert dialog.model.spec == rj.DEMO_SPEC
        plan = rj.RepairPlan("sun", {"epochs": 1, "batch_size": 16}, demo, isolated_home / "sun",
                             data=rj.DataChoice(generated=16))
        dialog.outcome = rj.repair_job(plan)(CancelToken(), lambda *a, **k: None)
        dialog.compare.show_outcome(dialog.outcome)
        spec = dialog.compare.request_open()
        assert window.dataset_tab.model_spec() == spec == f"file:{isolated_home / 'sun' / 'model.safetensors'}"
        assert window.tabs.currentWidget() is window.dataset_tab
        assert window.dataset_tab.model_combo.currentText() == dialog.corrected_model_name()
    finally:
        dialog.runner.shutdown()


def test_a_saved_spray_folder_offers_its_clusters_and_corrects_from_one(qtbot, make_dialog, demo, tmp_path):
    from xaidesk.core import CancelToken
    from xaidesk.data.scenes import write_mark_demo_folder
    from xaidesk.evaluate.spray import load_run_heatmaps, spray, write_spray_results
    from xaidesk.runs import run_batch

    pictures = write_mark_demo_folder(tmp_path / "horses", n=16, seed=0)
    run_batch(pictures, tmp_path / "run", demo, [("lrp.epsilon_plus_flat", {})], target=0)
    heatmaps = load_run_heatmaps(tmp_path / "run", method="lrp.epsilon_plus_flat", target_class="horse")
    result = spray(heatmaps.maps, size=16, n_neighbors=5, n_clusters=2)
    write_spray_results(tmp_path / "spray", result, heatmaps)

    dialog = make_dialog(model=demo)
    choose(dialog, next(m.name for m in list_repairs() if rj.needs_artefact(m.name) and not rj.needs_data(m.name)))
    dialog.artefact.set_target(1)
    assert dialog.artefact.set_spray_folder(tmp_path / "spray")
    combo = dialog.artefact.cluster_combo
    assert [combo.itemData(i) for i in range(combo.count())] == [0, 1]
    assert combo.currentData() == int(np.argmin(result.cluster_sizes))  # the smallest first
    assert dialog.artefact.target() == 0  # the class SpRAy explained
    choice = dialog.artefact.choice()
    assert isinstance(choice, rj.SprayCluster) and choice.cluster == combo.currentData()
    plan = dialog.plan()
    plan.data = rj.DataChoice()
    outcome = rj.repair_job(plan)(CancelToken(), lambda *a, **k: None)
    assert (outcome.out / "model.safetensors").is_file()
    origin = outcome.result.provenance["artefact"]["origin"]
    assert origin["source"] == "spray" and origin["cluster"] == choice.cluster
    assert origin["spray_folder"] == str((tmp_path / "spray").resolve())
    assert not dialog.artefact.set_spray_folder(tmp_path / "run")  # a run folder is no SpRAy result
    assert "not a SpRAy result folder" in dialog.artefact.spray_info.text() and dialog.artefact.choice() is None


def test_the_guide_explains_the_model_workflow_with_every_registered_repair(qtbot, make_window, isolated_home):
    from xaidesk.gui.help.guide import guide_html

    html = guide_html([])
    assert '<a name="repair"></a>' in html and "Correct, prune or fine-tune" in html
    for method in list_repairs():
        assert method.title.replace("&", "&amp;") in html
    assert "Extra repair" in guide_html([], [type("R", (), {"title": "Extra repair", "help": "Does X."})()])
    window = make_window()
    guide = window.show_guide("repair")
    text = guide.browser.toPlainText()
    assert "Correcting, pruning and fine-tuning a model" in text and "held-out share" in text
    guide.close()
