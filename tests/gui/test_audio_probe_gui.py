"""The Audio tab's "Train a quick classifier…": fit on labelled clips, ROC, cancel, load and explain in the tab."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

sf = pytest.importorskip("soundfile")

from xaidesk.gui.audio_probe_dialog import AudioProbeDialog  # noqa: E402

RATE = 16000
LAYER = "11"  # demo:sounds' last feature map


def write_tones(root: Path, per_class: int = 8, seed: int = 0) -> Path:
    """``high/`` (3 kHz bursts) and ``low/`` (1 kHz bursts) clips of 1 s at 16 kHz, with noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(RATE) / RATE
    for name, hz in (("high", 3000.0), ("low", 1000.0)):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            onset = rng.uniform(0.05, 0.4)
            burst = ((t >= onset) & (t < onset + 0.4)) * np.sin(2 * np.pi * hz * t) * rng.uniform(0.3, 0.6)
            sf.write(str(root / name / f"{i:02d}.wav"), (burst + 0.05 * rng.standard_normal(RATE)).astype(np.float32),
                     RATE)
    return root


@pytest.fixture
def dialog(qtbot, catalog, isolated_home, error_dialogs):
    widget = AudioProbeDialog(catalog)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitUntil(lambda: widget.backbone is not None, timeout=20_000)
    yield widget
    widget.runner.shutdown()


def test_fit_on_clips_shows_roc_and_emits_a_file_spec(qtbot, dialog, tmp_path):
    from xaidesk.models import load_model

    assert dialog.backbone.spec == "demo:sounds" and dialog.layer() == LAYER
    entries = [dialog.model_combo.itemText(i) for i in range(dialog.model_combo.count())]
    assert "VGGish weights file…" in entries and "Audio model file…" in entries
    dialog.set_folder(write_tones(tmp_path / "tones"))
    qtbot.waitUntil(lambda: dialog.folder is not None, timeout=10_000)
    assert "8 clips" in dialog.classes_label.text() and "high" in dialog.classes_label.text()
    dialog.held_out_spin.setValue(0.5)
    dialog.fit()
    qtbot.waitUntil(lambda: dialog.result is not None, timeout=60_000)
    result = dialog.result
    assert result.class_names == ["high", "low"] and dialog.progress_bar.value() == 1000
    for name, head in result.heads.items():
        assert head.auc > 0.9
        x, y = dialog.curves[name].getData()
        np.testing.assert_allclose(x, head.fpr)
        np.testing.assert_allclose(y, head.tpr)
    assert dialog.summary_table.item(0, 1).text() == f"{result.heads['mean-difference'].auc:.3f}"
    assert "held-out clips" in dialog.counts_label.text() and "mean of its 2 windows" in dialog.counts_label.text()
    assert "clips" in dialog.warning_label.text() and "images" not in dialog.warning_label.text()
    assert "Audio tab" in dialog.save_label.text()
    with qtbot.waitSignal(dialog.use_model_requested, timeout=5_000) as signal:
        dialog.explain_button.click()
    spec = signal.args[0]
    assert spec.startswith("file:") and spec.endswith(".xdprobe")
    assert Path(spec.removeprefix("file:")).parent == tmp_path / "home" / "data" / "probes"
    model = load_model(spec)
    assert model.modality == "audio" and model.class_names == ["high", "low"]


def test_cancel_and_a_folder_of_images_are_handled(qtbot, dialog, tmp_path):
    (tmp_path / "pictures" / "a").mkdir(parents=True)
    (tmp_path / "pictures" / "b").mkdir(parents=True)
    dialog.set_folder(tmp_path / "pictures")
    qtbot.waitUntil(lambda: "sound clips" in dialog.classes_label.text() and "found 0" in dialog.classes_label.text(),
                    timeout=10_000)
    assert not dialog.fit_button.isEnabled()
    dialog.set_folder(write_tones(tmp_path / "tones", per_class=6))
    qtbot.waitUntil(lambda: dialog.folder is not None, timeout=10_000)
    dialog.fit()
    assert dialog.is_fitting() and dialog.cancel_button.isEnabled()
    dialog.cancel()
    assert dialog.status_label.text() == "Cancelled." and dialog.result is None and dialog.fit_button.isEnabled()


def test_the_audio_tab_opens_the_dialog_loads_the_classifier_and_explains_it(qtbot, open_window, isolated_home,
                                                                                tmp_path, error_dialogs):
    window = open_window()
    tab = window.audio_tab
    window.tabs.setCurrentWidget(tab)
    qtbot.waitUntil(lambda: tab.model is not None and tab.model.spec == "demo:sounds", timeout=20_000)
    folder = write_tones(tmp_path / "tones")
    assert tab.probe_button.isVisible()
    tab.probe_button.click()
    dialog = tab.findChild(AudioProbeDialog)
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.backbone is not None, timeout=20_000)
    dialog.set_folder(folder)
    qtbot.waitUntil(lambda: dialog.folder is not None, timeout=10_000)
    dialog.held_out_spin.setValue(0.5)
    dialog.fit()
    qtbot.waitUntil(lambda: dialog.result is not None, timeout=60_000)
    dialog.explain_button.click()
    qtbot.waitUntil(lambda: tab.model is not None and tab.model.spec.endswith(".xdprobe"), timeout=20_000)
    assert tab.model.class_names == ["high", "low"] and tab.target_combo.count() == 2
    held_out = Path(dialog.result.held_out_files[0])
    tab.open_audio(held_out)
    qtbot.waitUntil(lambda: tab.clip is not None and tab.prediction is not None and tab.path == held_out,
                    timeout=20_000)
    assert tab.select_method("relax")
    tab.param_form.set_value("num_masks", 24)
    tab.param_form.set_value("batch_size", 12)
    tab.run_explanation()
    qtbot.waitUntil(lambda: bool(tab.history) and not tab.is_running(), timeout=60_000)
    assert tab.history[0].explanation.method == "relax"
    assert tab.select_method("gradient.sensitivity")
    tab.run_explanation()
    qtbot.waitUntil(lambda: len(tab.history) == 2 and not tab.is_running(), timeout=60_000)
    explanation = tab.history[-1].explanation if tab.history[-1].explanation.method != "relax" \
        else tab.history[0].explanation
    assert explanation.method == "gradient.sensitivity"
    assert explanation.relevance.shape == tab.spectrogram.log_mel.shape
    assert np.all(np.isfinite(explanation.relevance)) and not error_dialogs
    dialog.close()
