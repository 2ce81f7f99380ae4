"""The quick classifier's jobs and wording, run headless on the digits demo (no Qt)."""

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from xaidesk.core import CancelToken
from xaidesk.gui import probe_jobs


def _no_progress(*_args, **_kwargs):
    pass


def test_the_jobs_module_imports_neither_qt_nor_torch():
    code = ("import sys, xaidesk.gui.probe_jobs; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'PySide6', 'shiboken6', 'pyqtgraph', 'torch'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_load_scan_fit_and_write_a_digit_probe(tmp_path, write_digits, monkeypatch):
    monkeypatch.setenv("XAIDESK_HOME", str(tmp_path / "home"))
    spec, model, layers, default = probe_jobs.backbone_job("demo:digits")(CancelToken(), _no_progress)
    assert spec == "demo:digits" and default in [name for name, _ in layers]
    folder = write_digits(tmp_path / "digits", per_class=8)
    path, counts = probe_jobs.folder_job(folder)(CancelToken(), _no_progress)
    assert path == folder and counts == {"digit_3": 8, "digit_8": 8}
    assert "Class 1: <b>digit_3</b> (8 images)<br>Class 2: <b>digit_8</b> (8 images)" in \
        probe_jobs.classes_html(counts, "images")

    result = probe_jobs.fit_job(folder, model, default, held_out=0.5, seed=0)(CancelToken(), _no_progress)
    assert set(result.heads) == set(probe_jobs.HEAD_ORDER)
    head = result.heads["logistic"]
    cells = probe_jobs.summary_cells(head)
    assert len(cells) == len(probe_jobs.SUMMARY_COLUMNS) and cells[1] == f"{head.auc:.3f}"
    text = probe_jobs.counts_text(result)
    assert f"Layer {default} of" in text and "held-out images" in text
    assert probe_jobs.fitted_text(result).startswith("Fitted in ")

    kept = probe_jobs.kept_copy_path(result, "logistic", now=0)
    assert kept.parent == probe_jobs.probes_folder() and kept.name.startswith("digit_3_vs_digit_8_")
    assert kept.suffix == ".xdprobe" and "_logistic_" in kept.name
    assert probe_jobs.save_file_name(result.class_names) == "digit_3_vs_digit_8.xdprobe"
    written = probe_jobs.write_probe(result, tmp_path / "mine.xdprobe", "logistic")
    assert Path(written).is_file()


def test_save_place_warning_and_sound_wording():
    saved = probe_jobs.save_place_text(saved_path=Path("/p/a.xdprobe"), suggested=None, tab="Audio", prefix="file")
    assert saved == "The classifier is saved in /p/a.xdprobe (open it later in the Audio tab as the model " \
                    "file:/p/a.xdprobe)."
    before = probe_jobs.save_place_text(saved_path=None, suggested=Path("/p/b.xdprobe"), tab="Images",
                                        prefix="probe")
    assert "suggested: /p/b.xdprobe" in before and str(probe_jobs.probes_folder()) in before
    assert probe_jobs.save_place_text(saved_path=None, suggested=None, tab="Images", prefix="probe") == ""
    assert probe_jobs.clips("an image, two images") == "an clip, two clips"
    assert probe_jobs.slug("a b/c") == "a_b_c" and probe_jobs.slug("///") == "probe"
    result = SimpleNamespace(class_names=("hum", "hiss"), layer="features.3", backbone_name="demo", feature_dim=16,
                             windows_per_clip=[2, 3], train_counts=(5, 6), held_out_counts=(2, 3))
    text = probe_jobs.audio_counts_text(result)
    assert "the mean of its windows (2 to 3)" in text and "5 'hum' + 6 'hiss' clips" in text
    one = SimpleNamespace(**{**vars(result), "windows_per_clip": [1, 1]})
    assert "the mean of its 1 window of" in probe_jobs.audio_counts_text(one)
    assert not probe_jobs.offers_current_backbone(SimpleNamespace(spec="demo:sounds", modality="audio",
                                                                  frontend=object()))
    assert probe_jobs.offers_current_backbone(SimpleNamespace(spec="vggish:/w.pt", modality="audio",
                                                              frontend=object()))
