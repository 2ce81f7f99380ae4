"""The faithfulness window of the Images tab: compare two methods, see curves and areas, cancel, export."""

import time

import numpy as np
from PySide6.QtCore import Qt


def _open_panel(qtbot, window):
    tab = window.images_tab
    dialog = tab.open_faithfulness()
    qtbot.waitExposed(dialog)
    panel = dialog.panel
    panel.set_checked(["lrp.epsilon_plus_flat", "gradient.sensitivity"])
    panel.steps_spin.setValue(6)
    panel.patch_spin.setValue(4)
    panel.random_spin.setValue(2)
    return tab, dialog, panel


def test_compares_two_methods_with_curves_and_a_sortable_table(qtbot, make_window, tmp_path):
    window = make_window(demo=True)
    tab, dialog, panel = _open_panel(qtbot, window)
    assert panel.method_list.count() >= 8 and panel.evaluate_button.isEnabled()
    assert not panel.export_csv_button.isEnabled()
    with qtbot.waitSignal(panel.evaluated, timeout=60_000) as blocker:
        assert panel.evaluate() is not None
        assert panel.cancel_button.isEnabled() and not panel.evaluate_button.isEnabled()
    results = blocker.args[0]
    assert sorted(r.method for r in results) == ["gradient.sensitivity", "lrp.epsilon_plus_flat"]  # list order
    assert all(r.target == tab.target() for r in results)
    # two methods: MoRF and LeRF each, plus their random baselines (identical orders)
    assert {key for key in panel.plot.curves} == {(m, o) for m in ("lrp.epsilon_plus_flat", "gradient.sensitivity")
                                                 for o in ("morf", "lerf", "random")}
    lrp = next(r for r in results if r.method == "lrp.epsilon_plus_flat")
    x, y = panel.plot.curves[("lrp.epsilon_plus_flat", "morf")].getData()
    assert np.allclose(x, lrp.fractions) and np.allclose(y, lrp.curves["morf"])
    assert panel.plot.curves[("gradient.sensitivity", "lerf")].opts["pen"].style() == Qt.PenStyle.DashLine
    table = panel.table
    assert table.rowCount() == 2
    # sorted by AOPC MoRF - random, best first
    gaps = [r.areas()["aopc_morf_minus_random"] for r in results]
    from xaidesk.core.registry import get_method

    assert table.item(0, 0).text() == get_method(results[int(np.argmax(gaps))].method).title
    # the legend names methods by title and sits below the curves, not over them
    legend = panel.plot.legend
    labels = [label.text for _, label in legend.items]
    assert f"{get_method('gradient.sensitivity').title} MoRF" in labels and "random (baseline)" in labels
    view = panel.plot.getPlotItem().getViewBox()
    qtbot.waitUntil(lambda: legend.sceneBoundingRect().height() > 0
                    and legend.sceneBoundingRect().top() >= view.sceneBoundingRect().bottom(), timeout=2000)
    assert not legend.sceneBoundingRect().intersects(view.sceneBoundingRect())
    table.sortItems(3, Qt.SortOrder.AscendingOrder)
    values = [table.item(row, 3).value for row in range(2)]
    assert values == sorted(values)
    assert panel.export_csv_button.isEnabled() and not panel.cancel_button.isEnabled()
    csv = panel.export_csv(tmp_path / "areas.csv").read_text().splitlines()
    assert csv[0].startswith("method,target") and len(csv) == 3
    png = panel.export_png(tmp_path / "curves.png").read_bytes()
    assert png[:4] == b"\x89PNG"
    # the explain workflow was left alone
    assert not tab.is_running() and tab.run_button.isEnabled()
    dialog.grab().save(str(tmp_path / "dialog.png"))


def test_cancel_stops_the_evaluation_and_keeps_the_tab_usable(qtbot, make_window, slow_copy):
    window = make_window(demo=True)
    tab = window.images_tab
    tab.set_model(slow_copy(tab.model, seconds_per_forward=0.05))
    qtbot.waitUntil(lambda: tab.prediction is not None, timeout=10_000)
    tab, dialog, panel = _open_panel(qtbot, window)
    panel.patch_spin.setValue(1)
    panel.steps_spin.setValue(200)
    panel.evaluate()
    qtbot.waitUntil(lambda: panel.progress_bar.value() > 0, timeout=20_000)
    started = time.monotonic()
    panel.cancel()
    assert not panel.is_running()
    # the worker really stops: the next job on the runner's one thread runs soon after
    with qtbot.waitSignal(tab.runner.finished, timeout=20_000):
        tab.runner.submit(lambda token, progress: "next", "probe-after-cancel")
    assert time.monotonic() - started < 20  # generous: a loaded CI machine; a run that went on would take minutes
    assert "Cancelled" in panel.status_label.text()
    assert panel.results == [] and panel.table.rowCount() == 0
    assert panel.evaluate_button.isEnabled() and not panel.cancel_button.isEnabled()
    assert tab.run_button.isEnabled()


def test_no_method_ticked_means_no_run(qtbot, make_window):
    window = make_window(demo=True)
    dialog = window.images_tab.open_faithfulness()
    panel = dialog.panel
    panel.set_checked([])
    assert not panel.evaluate_button.isEnabled() and panel.evaluate() is None


def test_audio_tab_compares_methods_on_the_spectrogram(qtbot, open_window, isolated_home, error_dialogs):
    from xaidesk.models import list_builtin_models

    window = open_window()
    tab = window.audio_tab
    window.tabs.setCurrentWidget(tab)  # loads the demo sound model
    sample = next(m for m in list_builtin_models() if m["spec"] == "demo:sounds")["samples"][1]
    tab.open_audio(sample)
    qtbot.waitUntil(lambda: tab.model is not None and tab.clip is not None and tab.prediction is not None,
                    timeout=30_000)
    panel = tab.open_faithfulness().panel
    panel.set_checked(["gradient.sensitivity", "gradient.input_x_gradient"])
    panel.steps_spin.setValue(4)
    panel.patch_spin.setValue(16)
    panel.random_spin.setValue(1)
    with qtbot.waitSignal(panel.evaluated, timeout=60_000) as blocker:
        panel.evaluate()
    results = blocker.args[0]
    assert len(results) == 2 and panel.table.rowCount() == 2
    assert "bands x 16 frames" in results[0].units and results[0].target == tab.target()
    assert len(panel.plot.curves) == 6
    assert not error_dialogs


def test_the_panel_opens_an_evaluate_output_folder_again(qtbot, make_window, tmp_path, error_dialogs):
    from xaidesk.cli import main
    from xaidesk.models import list_builtin_models

    sample = next(m for m in list_builtin_models() if m["spec"] == "demo:digits")["samples"][0]
    out = tmp_path / "faith"
    assert main(["evaluate", "image", str(sample), "--model", "demo:digits", "--methods",
                 "gradient.sensitivity,occlusion", "--steps", "4", "--patch", "8", "--random-orders", "1",
                 "--out", str(out)]) == 0
    window = make_window(demo=True)
    panel = window.images_tab.open_faithfulness().panel
    results = panel.open_results(out)
    assert [r.method for r in results] == ["gradient.sensitivity", "occlusion"]
    assert panel.table.rowCount() == 2 and len(panel.plot.curves) == 6
    areas = (out / "areas.csv").read_text().splitlines()
    # the areas recomputed from the curves read back equal the ones the command wrote
    assert panel.export_csv(tmp_path / "again.csv").read_text().splitlines()[1:] == areas[1:]
    (tmp_path / "empty").mkdir()
    from xaidesk.core import InputError
    import pytest

    with pytest.raises(InputError, match="summary.json"):
        panel.open_results(tmp_path / "empty")
    assert panel.table.rowCount() == 2  # what was shown stays
