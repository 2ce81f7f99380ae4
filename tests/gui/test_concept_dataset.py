"""The Dataset tab's "Reference samples…" and "Prototypes…": runs, cancel and resume, the grids, the prototypes."""

import numpy as np
import pytest
from PIL import Image

from xaidesk.runs import read_index

LAYER = "8"  # demo:digits' last convolution (64 channels)


@pytest.fixture
def folder(tmp_path):
    """Twelve tiny generated pictures (16–24 px) in two class folders."""
    rng = np.random.default_rng(0)
    root = tmp_path / "pictures"
    for index in range(12):
        side = 16 + 4 * (index % 3)
        pixels = (rng.random((side, side, 3)) * 80).astype(np.uint8)
        top = int(rng.integers(0, side - 8))
        pixels[top:top + 6, 4:side - 4] = 255  # a bright bar at a random height
        cls = "bar" if index % 2 else "other"
        (root / cls).mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(root / cls / f"p{index:02d}.png")
    return root


@pytest.fixture
def tab(qtbot, catalog, error_dialogs, isolated_home):
    from xaidesk.gui.runner import Runner
    from xaidesk.gui.tabs.dataset_tab import DatasetTab

    runner = Runner()
    tab = DatasetTab(runner, None)
    qtbot.addWidget(tab)
    tab.set_catalog(catalog)
    tab.show()
    yield tab
    if tab._reference_dialog is not None:
        tab._reference_dialog.stop()
    if tab._prototypes_dialog is not None:
        tab._prototypes_dialog.close()
    tab.shutdown()
    runner.shutdown()


def _references(qtbot, tab, folder):
    assert tab.set_folder(folder)
    dialog = tab.open_reference_samples()
    qtbot.waitUntil(lambda: dialog.setup is not None, timeout=20_000)
    return dialog


def test_no_folder_is_refused_plainly(tab, error_dialogs):
    assert tab.open_reference_samples() is None
    assert error_dialogs and "Choose a folder of images first" in error_dialogs[-1][1]


def test_a_model_lrp_cannot_explain_is_refused_plainly(qtbot, tab, folder, tmp_path, error_dialogs):
    import json
    import warnings

    import torch

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 14 * 14, 2))
    path = tmp_path / "scripted.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.trace(net, torch.zeros(1, 3, 16, 16)).save(str(path))
    (tmp_path / "scripted.pt.json").write_text(json.dumps({"class_names": ["a", "b"], "preprocessing": {
        "size": [16, 16], "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "resize": None}}))
    assert tab.set_folder(folder)
    tab.set_model_spec(f"file:{path}")
    dialog = tab.open_reference_samples()
    qtbot.waitUntil(lambda: bool(error_dialogs), timeout=20_000)
    assert error_dialogs[-1][0] == "Reference samples cannot be made with this model"
    assert "Reference samples need LRP" in error_dialogs[-1][1] and "TorchScript" in error_dialogs[-1][1]
    assert dialog.status.text() == error_dialogs[-1][1] and not dialog.run_button.isEnabled()


def test_reference_run_fills_the_grids_with_relmax_and_actmax(qtbot, tab, folder, monkeypatch, error_dialogs):
    from xaidesk.concepts.references import open_references

    dialog = _references(qtbot, tab, folder)
    assert dialog.layer() == LAYER and "cache" in dialog.output_label.text()
    assert dialog.concept_table.rowCount() == 0 and dialog.run_button.isEnabled()
    dialog.start_run()
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=30_000)
    assert not error_dialogs, error_dialogs
    assert dialog.references is not None and len(dialog.references.files) == 12
    assert "Done: 12 images" in dialog.status.text()
    shown = dialog.concepts_shown()
    assert sorted(shown) == list(range(64))
    totals = dialog.references.relevance.sum(0)
    assert list(totals[shown]) == sorted(totals, reverse=True)
    references = open_references(dialog.references.run_dir)
    channel = shown[2]
    assert dialog.select_concept(channel)
    qtbot.waitUntil(lambda: bool(dialog.relmax_grid.tiles) and f"Concept {channel}" in dialog.relmax_grid.title.text(),
                    timeout=10_000)
    assert dialog.relmax_grid.files() == [s.file for s in references.relmax(channel, 8)]
    assert dialog.actmax_grid.files() == [s.file for s in references.actmax(channel, 8)]
    assert len(dialog.relmax_grid.tiles) == 8
    # crops still being cut when another layer is chosen do not land in its (empty) browser
    import time

    from xaidesk.gui.panels import reference_dialog

    def slow_tiles(*args, **kwargs):
        time.sleep(0.3)  # no token check: the crops come back unless they are dropped
        return cut(*args, **{**kwargs, "token": None})

    cut = reference_dialog.reference_tiles
    monkeypatch.setattr(reference_dialog, "reference_tiles", slow_tiles)
    dialog.select_concept(shown[3])
    assert dialog.set_layer("4")
    qtbot.wait(600)
    assert dialog.references is None and not dialog.relmax_grid.tiles and dialog.concept_table.rowCount() == 0
    assert dialog.set_layer(LAYER)
    qtbot.waitUntil(lambda: dialog.references is not None, timeout=10_000)
    # the run opens in the tab's own results
    dialog.open_run_button.click()
    assert tab.run is not None and tab.run.folder == dialog.references.run_dir.resolve() and len(tab.run.rows) == 12
    # a finished run is found again by a new window for the same layer
    tab._reference_dialog.close()
    tab._reference_dialog = None
    again = _references(qtbot, tab, folder)
    qtbot.waitUntil(lambda: again.references is not None, timeout=10_000)
    assert again.references.run_dir == dialog.references.run_dir
    assert "finished" in again.earlier_combo.currentText()


def test_cancel_keeps_the_images_done_and_run_again_gives_the_same_records(qtbot, tab, folder, tmp_path,
                                                                           monkeypatch, error_dialogs):
    import threading
    import time

    from xaidesk.gui.panels import reference_dialog
    from xaidesk.runs import BatchStatus

    reached = threading.Event()  # three images are done; the run then waits for the cancel

    def held(*args, progress=None, token=None, **kwargs):
        def report(fraction, message="", partial=None):
            progress(fraction, message, partial)
            if isinstance(partial, BatchStatus) and partial.count >= 3 and not reached.is_set():
                reached.set()
                deadline = time.monotonic() + 20
                while not token.cancelled and time.monotonic() < deadline:
                    time.sleep(0.01)
        return reference_dialog.run_references.__wrapped__(*args, progress=report, token=token, **kwargs)

    held.__wrapped__ = reference_dialog.run_references
    monkeypatch.setattr(reference_dialog, "run_references", held)
    tab.run_box.batch_spin.setValue(1)
    dialog = _references(qtbot, tab, folder)
    out = tmp_path / "mine"
    dialog.set_output(out)
    assert dialog.output_label.text() == str(out.resolve()) and dialog.cache_button.isVisible()
    dialog.start_run()
    qtbot.waitUntil(reached.is_set, timeout=20_000)
    dialog.cancel_run()
    # another layer chosen while the run stops: the stopped run (layer 8, in "mine") is not shown as that layer's
    assert dialog.layer_combo.isEnabled() and dialog.set_layer("4")
    qtbot.waitUntil(lambda: not dialog.is_running() and not dialog.is_stopping(), timeout=20_000)
    assert "press Run to continue" in dialog.status.text()
    qtbot.waitUntil(lambda: "holds a reference run of layer 8" in dialog.browse_label.text(), timeout=10_000)
    assert dialog.references is None
    assert dialog.set_layer(LAYER)
    done = len(read_index(out))
    assert 3 <= done < 12
    qtbot.waitUntil(lambda: dialog.references is not None, timeout=10_000)
    assert "unfinished" in dialog.browse_label.text() and len(dialog.references.files) == done
    dialog.start_run()
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=30_000)
    assert not error_dialogs, error_dialogs
    resumed = dialog.references
    assert resumed.finished and len(resumed.files) == 12 and len(read_index(out)) == 12
    # the same run without a cancel, in another folder
    dialog.set_output(tmp_path / "whole")
    dialog.start_run()
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=30_000)
    whole = dialog.references
    assert sorted(resumed.files) == sorted(whole.files)
    order = [whole.files.index(f) for f in resumed.files]
    np.testing.assert_allclose(resumed.relevance, whole.relevance[order], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(resumed.activation, whole.activation[order], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(resumed.relevance_box, whole.relevance_box[order])
    np.testing.assert_array_equal(resumed.activation_box, whole.activation_box[order])
    assert list(resumed.predicted) == list(whole.predicted[order])


@pytest.fixture
def reference_run(folder, isolated_home):
    """A finished reference run of ``folder`` in the cache (the folder doubled to 24 pictures)."""
    from xaidesk.concepts.references import compute_references

    for path in sorted(folder.rglob("*.png")):
        Image.fromarray(np.asarray(Image.open(path))[::-1].copy()).save(path.with_name("flipped_" + path.name))
    return compute_references(folder, "demo:digits", LAYER)


def _prototypes(qtbot, tab, folder):
    assert tab.set_folder(folder)
    dialog = tab.open_prototypes()
    qtbot.waitUntil(lambda: dialog.references is not None
                    and dialog.count_note.text().startswith(("Suggested", "Only")), timeout=20_000)
    return dialog


def test_prototypes_of_the_largest_class_and_samples_atypical_first(qtbot, tab, folder, reference_run, tmp_path,
                                                                    error_dialogs):
    from xaidesk.concepts.prototypes import prototypes_for_class

    dialog = _prototypes(qtbot, tab, folder)
    assert "layer 8" in dialog.run_combo.currentText() and "24 images, finished" in dialog.run_combo.currentText()
    class_index = dialog.class_combo.currentData()
    rows = reference_run.rows_of_class(class_index)
    assert len(rows) == max(np.bincount(reference_run.predicted)) and len(rows) >= 6
    assert f"({len(rows)} images)" in dialog.class_combo.currentText()
    dialog.count_spin.setValue(2)
    dialog.start_fit()
    qtbot.waitUntil(lambda: dialog.fit is not None, timeout=20_000)
    assert not error_dialogs, error_dialogs
    assert dialog.prototypes_shown() == 2
    expected = prototypes_for_class(reference_run, class_index, 2, seed=0)
    shown = dialog.samples_shown()
    assert sorted(f for f, _, _ in shown) == sorted(expected.files)
    nearest = {f: int(k) + 1 for f, k in zip(expected.files, expected.assignments)}
    assert all(prototype == nearest[f] for f, prototype, _ in shown)
    percent = [float(text.rstrip(" %")) for _, _, text in shown]
    assert percent == sorted(percent)  # the least typical first
    assert dialog.closest_grid.files() == expected.closest_files[0]
    assert "concept" in dialog.concepts_label.text() and dialog.save_button.isEnabled()
    # Save… writes the prototype files, which read back to the same fit
    from xaidesk.concepts.prototype_files import read_prototypes

    out = tmp_path / "prototypes"
    dialog.save(out)
    qtbot.waitUntil(lambda: dialog.state.text().startswith("Saved in"), timeout=10_000)
    saved = read_prototypes(out)
    assert saved.files == expected.files and list(saved.assignments) == list(expected.assignments)
    # Open saved… shows them again like a fitted one
    fitted_rows, fitted_closest = dialog.samples_shown(), dialog.closest_grid.files()
    dialog.fit = None
    dialog.open_saved(out)
    qtbot.waitUntil(lambda: dialog.fit is not None, timeout=10_000)
    assert not error_dialogs, error_dialogs
    assert dialog.fit.saved == out.resolve() and f"saved in {out.resolve()}" in dialog.state.text()
    assert dialog.prototypes_shown() == 2 and dialog.samples_shown() == fitted_rows
    assert dialog.closest_grid.files() == fitted_closest and dialog.fit.class_name == fitted_class_name(dialog)
    assert all(sample.differences for sample in dialog.fit.samples)
    # without the images: the list without thumbnails, and a sentence saying so
    folder.rename(folder.with_name("moved"))
    dialog.open_saved(out)
    qtbot.waitUntil(lambda: "could not be found" in dialog.state.text(), timeout=10_000)
    assert dialog.prototypes_shown() == 2 and dialog.samples_shown() == fitted_rows
    assert not dialog.closest_grid.tiles and "could not be found" in dialog.closest_grid.message.text()
    # a folder that holds no prototypes is refused plainly
    dialog.open_saved(tmp_path)
    qtbot.waitUntil(lambda: bool(error_dialogs), timeout=10_000)
    assert error_dialogs[-1][0] == "Could not open the saved prototypes"
    assert "holds no prototypes" in error_dialogs[-1][1]


def fitted_class_name(dialog) -> str:
    return dialog.class_combo.currentText().rsplit(" (", 1)[0]


def test_a_window_is_reused_only_for_the_same_model_labels_and_preprocessing(tmp_path):
    from xaidesk.gui.concept_dataset_jobs import ConceptInputs
    from xaidesk.models.preprocessing import Preprocessing

    base = ConceptInputs(tmp_path, "image", "demo:digits")
    assert base.same_as(ConceptInputs(tmp_path, "image", "demo:digits ", device="cuda", batch_size=4))
    assert not base.same_as(ConceptInputs(tmp_path, "image", "demo:digits", labels=tmp_path / "labels.txt"))
    assert not base.same_as(ConceptInputs(tmp_path / "other", "image", "demo:digits"))
    def given(size):
        return ConceptInputs(tmp_path, "image", "demo:digits", preprocessing=Preprocessing(size, (0.5,), (0.5,)))

    one = given((28, 28))
    assert one.same_as(given((28, 28))) and not one.same_as(given((32, 32)))
    assert not one.same_as(base)


def test_too_few_images_for_the_prototypes_are_refused_plainly(qtbot, tab, folder, reference_run, error_dialogs):
    dialog = _prototypes(qtbot, tab, folder)
    rows = reference_run.rows_of_class(dialog.class_combo.currentData())
    dialog.count_spin.setValue(len(rows) // 3 + 1)
    dialog.start_fit()
    qtbot.waitUntil(lambda: bool(error_dialogs), timeout=20_000)
    assert error_dialogs[-1][0] == "The prototypes could not be fitted"
    assert "need at least" in error_dialogs[-1][1] and dialog.fit is None


def test_prototypes_without_a_reference_run_say_what_to_do(qtbot, tab, folder):
    assert tab.set_folder(folder)
    dialog = tab.open_prototypes()  # no model is loaded: the window is ready at once
    assert "press Reference samples… and run it first" in dialog.state.text()
    assert not dialog.fit_button.isEnabled()
    # its Reference samples… opens that window; the finished run then appears here, chosen
    dialog._make_references()
    references = tab._reference_dialog
    qtbot.waitUntil(lambda: references.setup is not None, timeout=20_000)
    references.start_run()
    qtbot.waitUntil(lambda: dialog.references is not None, timeout=30_000)
    assert dialog.run_combo.currentData() == str(references.references.run_dir)
    assert dialog.class_combo.count() >= 1 and dialog.fit_button.isEnabled()
