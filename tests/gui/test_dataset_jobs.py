"""The Dataset tab's Qt-free jobs, run headless on a tiny folder of generated images with the digits demo."""

import subprocess
import sys

import numpy as np

from xaidesk.core import CancelToken
from xaidesk.core.io import save_png_atomic
from xaidesk.gui import dataset_jobs
from xaidesk.runs import MethodRequest, read_run

METHOD = "gradient.sensitivity"


def _images(folder, count=3):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for k in range(count):
        save_png_atomic(folder / f"noise_{k}.png", rng.integers(0, 256, size=(28, 28, 3), dtype=np.uint8))
    return folder


def test_run_folder_explains_every_image_and_says_so(tmp_path):
    source = _images(tmp_path / "images")
    out = tmp_path / "run"
    seen = []
    result = dataset_jobs.run_folder(source, out, "demo:digits", [MethodRequest(METHOD, {})], batch_size=2,
                                     token=CancelToken(), progress=lambda fraction, *_: seen.append(fraction))
    assert (result.files, result.computed, result.already_done, result.skipped) == (3, 3, 0, [])
    info = read_run(out)
    assert info.finished and sorted(row.method for row in info.rows) == [METHOD] * 3
    assert seen and max(seen) <= 1.0
    assert dataset_jobs.finished_text(result).startswith("Done: 3 explanations of 3 files in ")
    assert dataset_jobs.existing_run(out).folder == info.folder
    assert dataset_jobs.unfinished_run(out) is None  # finished: nothing to resume

    again = dataset_jobs.run_folder(source, out, "demo:digits", [MethodRequest(METHOD, {})], batch_size=2,
                                    token=CancelToken(), progress=lambda *_: None)
    assert (again.computed, again.already_done) == (0, 3)
    assert "3 were already done" in dataset_jobs.finished_text(again)


def test_output_problem_names_what_is_wrong_with_the_output_folder(tmp_path):
    source = _images(tmp_path / "images")
    out = tmp_path / "run"
    assert dataset_jobs.default_output(source) == tmp_path / "images-explained"
    assert dataset_jobs.output_problem(out, source, [METHOD], None) is None  # new folder
    assert "input folder itself" in dataset_jobs.output_problem(source, source, [METHOD], None)
    (tmp_path / "file.txt").write_text("x")
    assert "is a file" in dataset_jobs.output_problem(tmp_path / "file.txt", source, [METHOD], None)
    dataset_jobs.run_folder(source, out, "demo:digits", [MethodRequest(METHOD, {})], batch_size=4,
                            token=CancelToken(), progress=lambda *_: None)
    assert dataset_jobs.output_problem(out, source, [METHOD], None) is None  # the same run: resumed
    assert "another class" in dataset_jobs.output_problem(out, source, [METHOD], 3)
    assert "other methods" in dataset_jobs.output_problem(out, source, ["gradient.input_x_gradient"], None)
    assert "not empty" in dataset_jobs.output_problem(tmp_path, source, [METHOD], None)
    assert dataset_jobs.stopped_text(1) == "Cancelled – 1 result is saved; press Resume to continue."


def test_dataset_jobs_import_neither_qt_nor_torch():
    code = ("import sys, xaidesk.gui.dataset_jobs; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph', 'torch')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_runs_of_the_shipped_samples_go_to_the_persons_data_folder(monkeypatch, tmp_path):
    from xaidesk.resources import resource_path

    monkeypatch.setenv("XAIDESK_HOME", str(tmp_path / "home"))
    offered = dataset_jobs.default_output(resource_path("samples"))
    assert offered == tmp_path / "home" / "data" / "runs" / "samples-explained"
