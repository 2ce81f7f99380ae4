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
    for dialog in (tab._reference_dialog,):
        if dialog is not None:
            dialog.stop()
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


def test_reference_run_fills_the_grids_with_relmax_and_actmax(qtbot, tab, folder, error_dialogs):
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
    # a finished run is found again by a new window for the same layer
    tab._reference_dialog.close()
    tab._reference_dialog = None
    again = _references(qtbot, tab, folder)
    qtbot.waitUntil(lambda: again.references is not None, timeout=10_000)
    assert again.references.run_dir == dialog.references.run_dir
    assert "finished" in again.earlier_combo.currentText()


def test_cancel_keeps_the_images_done_and_run_again_gives_the_same_records(qtbot, tab, folder, tmp_path,
                                                                           monkeypatch, error_dialogs):
    import time

    from xaidesk.gui.panels import reference_dialog

    def slowed(*args, progress=None, **kwargs):
        def report(fraction, message="", partial=None):
            progress(fraction, message, partial)
            time.sleep(0.1)
        return reference_dialog.run_references.__wrapped__(*args, progress=report, **kwargs)

    slowed.__wrapped__ = reference_dialog.run_references
    monkeypatch.setattr(reference_dialog, "run_references", slowed)
    tab.run_box.batch_spin.setValue(1)
    dialog = _references(qtbot, tab, folder)
    out = tmp_path / "mine"
    dialog.set_output(out)
    assert dialog.output_label.text() == str(out.resolve()) and dialog.cache_button.isVisible()
    dialog.start_run()
    qtbot.waitUntil(lambda: dialog.status.text().startswith(("3 of 12", "4 of 12")), timeout=20_000)
    dialog.cancel_run()
    qtbot.waitUntil(lambda: not dialog.is_running() and not dialog.is_stopping(), timeout=20_000)
    assert "press Run to continue" in dialog.status.text()
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
    order = [whole.files.index(f) for f in resumed.files]
    np.testing.assert_allclose(resumed.relevance, whole.relevance[order], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(resumed.activation_box, whole.activation_box[order])
