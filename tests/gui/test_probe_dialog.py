"""The "Train a quick classifier…" dialog: folder check, fit in the background, ROC plot, save, signal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from xaidesk.gui.probe_dialog import ProbeDialog


@pytest.fixture
def dialog(qtbot, catalog, isolated_home, error_dialogs):
    widget = ProbeDialog(catalog)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitUntil(lambda: widget.backbone is not None, timeout=20_000)
    yield widget
    widget.runner.shutdown()


def ready(qtbot, dialog, folder) -> None:
    dialog.set_folder(folder)
    qtbot.waitUntil(lambda: dialog.folder is not None, timeout=10_000)
    assert dialog.set_layer("3")


def test_fit_shows_roc_curves_youden_points_and_summary(qtbot, dialog, tmp_path, write_digits):
    assert dialog.backbone.spec == "demo:digits"
    assert dialog.layer_combo.count() == 16 and dialog.layer() == "11"  # the default: last feature map
    folder = write_digits(tmp_path / "digits", per_class=12)
    ready(qtbot, dialog, folder)
    assert "digit_3" in dialog.classes_label.text() and "12 images" in dialog.classes_label.text()
    assert not dialog.save_button.isEnabled() and dialog.fit_button.isEnabled()
    dialog.fit()
    qtbot.waitUntil(lambda: dialog.result is not None, timeout=30_000)
    result = dialog.result
    assert result.layer == "3" and result.class_names == ["digit_3", "digit_8"]
    for name, head in result.heads.items():
        x, y = dialog.curves[name].getData()
        assert len(x) == len(head.fpr) >= 3
        np.testing.assert_allclose(x, head.fpr)
        np.testing.assert_allclose(y, head.tpr)
        px, py = dialog.youden_points[name].getData()
        assert px[0] == pytest.approx(1 - head.specificity) and py[0] == pytest.approx(head.sensitivity)
    assert dialog.summary_table.rowCount() == 2
    assert dialog.summary_table.item(0, 1).text() == f"{result.heads['mean-difference'].auc:.3f}"
    assert dialog.summary_table.item(1, 0).text() == "Logistic regression"
    assert dialog.save_button.isEnabled() and dialog.explain_button.isEnabled()
    assert dialog.progress_bar.value() == 1000
    dialog.grab().save(str(tmp_path / "dialog.png"))


def test_explain_saves_to_the_data_folder_and_emits_the_spec(qtbot, dialog, tmp_path, write_digits):
    from xaidesk.models import load_model

    ready(qtbot, dialog, write_digits(tmp_path / "digits", per_class=8))
    dialog.head_combo.setCurrentIndex(dialog.head_combo.findData("logistic"))
    dialog.fit()
    qtbot.waitUntil(lambda: dialog.result is not None, timeout=30_000)
    with qtbot.waitSignal(dialog.use_model_requested, timeout=5_000) as signal:
        dialog.explain_button.click()
    spec = signal.args[0]
    path = Path(spec.removeprefix("probe:"))
    assert spec.startswith("probe:") and path.is_file()
    assert path.parent == tmp_path / "home" / "data" / "probes"
    model = load_model(spec)
    assert model.class_names == ["digit_3", "digit_8"]
    assert "logistic regression" in model.notes[0]
    # Asked again with the same head, the saved file is reused; a chosen file is used after Save.
    with qtbot.waitSignal(dialog.use_model_requested, timeout=5_000) as again:
        dialog.request_explain()
    assert again.args[0] == spec
    chosen = dialog.save(tmp_path / "mine.xdprobe")
    assert chosen.is_file() and dialog.request_explain() == f"probe:{chosen}"


def test_cancel_leaves_the_dialog_usable(qtbot, dialog, tmp_path, write_digits):
    ready(qtbot, dialog, write_digits(tmp_path / "digits", per_class=8))
    dialog.fit()
    assert dialog.is_fitting() and dialog.cancel_button.isEnabled() and not dialog.fit_button.isEnabled()
    dialog.cancel()
    assert dialog.status_label.text() == "Cancelled."
    assert dialog.result is None and not dialog.is_fitting()
    assert dialog.fit_button.isEnabled() and not dialog.save_button.isEnabled()


def test_a_folder_without_two_classes_is_explained(qtbot, dialog, tmp_path):
    single = tmp_path / "single" / "only"
    single.mkdir(parents=True)
    for i in range(5):
        Image.new("RGB", (16, 16)).save(single / f"{i}.png")
    dialog.set_folder(single.parent)
    qtbot.waitUntil(lambda: "exactly two subfolders" in dialog.classes_label.text(), timeout=10_000)
    assert dialog.folder is None and not dialog.fit_button.isEnabled()
    assert dialog.fit() is None


def test_a_backbone_that_fails_to_load_is_reported(qtbot, dialog, error_dialogs):
    dialog.load_backbone("torchvision:resnet18:/no/such/weights.pth")
    qtbot.waitUntil(lambda: bool(error_dialogs), timeout=20_000)
    assert error_dialogs[0][0] == "Could not load the backbone"
    assert dialog.backbone is None and not dialog.fit_button.isEnabled()


def test_closing_stops_the_worker(qtbot, dialog):
    dialog.reject()
    assert not dialog.runner.thread.isRunning()


def test_the_model_menu_opens_the_dialog_and_explains_in_the_images_tab(qtbot, make_window, isolated_home, tmp_path,
                                                                        write_digits):
    window = make_window(demo=True)
    tab = window.images_tab
    qtbot.waitUntil(lambda: tab.model is not None and window.catalog is not None, timeout=20_000)
    titles = [a.text() for a in window.model_menu.actions()]
    assert any("quick" in t and "classifier" in t for t in titles)
    dialog = window.open_probe_dialog()
    qtbot.waitUntil(lambda: dialog.backbone is not None, timeout=20_000)
    ready(qtbot, dialog, write_digits(tmp_path / "digits", per_class=8))
    dialog.fit()
    qtbot.waitUntil(lambda: dialog.result is not None, timeout=30_000)
    dialog.explain_button.click()
    qtbot.waitUntil(lambda: tab.model is not None and tab.model.spec.startswith("probe:"), timeout=20_000)
    assert window.tabs.currentWidget() is tab
    assert tab.model.class_names == ["digit_3", "digit_8"]
    dialog.close()


def test_few_held_out_images_are_flagged_and_the_save_place_is_shown(qtbot, dialog, tmp_path, write_digits):
    from xaidesk.gui.probe_jobs import MIN_HELD_OUT, probes_folder

    ready(qtbot, dialog, write_digits(tmp_path / "digits", per_class=8))
    dialog.fit()
    qtbot.waitUntil(lambda: dialog.result is not None, timeout=30_000)
    n1, n2 = dialog.result.held_out_counts
    assert max(n1, n2) < MIN_HELD_OUT
    warning = dialog.warning_label.text()
    assert dialog.warning_label.isVisible() and f"Only {n1} 'digit_3' + {n2} 'digit_8'" in warning
    assert f"{1 / (n1 * n2):.3g}" in warning and f"at least {MIN_HELD_OUT}" in warning
    # before saving: where Save… suggests and where Explain keeps a copy; after: the file's full path
    before = dialog.save_label.text()
    assert "Not saved yet" in before and str(dialog.default_save_path()) in before
    assert str(probes_folder()) in before
    written = dialog.save(tmp_path / "kept" / "mine.xdprobe")
    assert str(written) in dialog.save_label.text() and "Not saved" not in dialog.save_label.text()
    # another head is not the saved file
    dialog.head_combo.setCurrentIndex(1 - dialog.head_combo.currentIndex())
    assert "Not saved yet" in dialog.save_label.text()


def test_enough_held_out_images_give_no_warning():
    from xaidesk.gui.probe_jobs import MIN_HELD_OUT, held_out_warning

    assert held_out_warning([MIN_HELD_OUT, MIN_HELD_OUT + 5], ["a", "b"]) is None
    assert "Only 3 'a' + 2 'b'" in held_out_warning([3, 2], ["a", "b"])
