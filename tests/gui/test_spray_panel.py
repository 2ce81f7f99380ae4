"""The SpRAy panel: choose a run's method and class, analyse in the runner, show and select
clusters, open a member, cancel, save and re-open results."""

import json

import numpy as np
import pytest
from PIL import Image

METHOD = "lrp.epsilon_plus_flat"


def make_run(root, groups=(14, 8), side=24, seed=0):
    """A batch run in the shared format whose horse heatmaps form planted groups (blob top-left or bottom-right)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side]
    (root / "items").mkdir(parents=True)
    run = {"format": "xaidesk-batch/1", "source": str(root.parent / "pictures"), "modality": "image",
           "model": "demo:clever_hans", "methods": [{"name": METHOD, "params": {}}], "device": "cpu",
           "shard": None, "created": "2026-01-01T00:00:00", "finished": None}
    (root / "run.json").write_text(json.dumps(run))
    lines = ["file,true_class,predicted,predicted_label,score,target,target_label,method,relevance,thumbnail,seconds"]
    truth = []
    for group, count in enumerate(groups):
        cy, cx = (5, 5) if group == 0 else (18, 18)
        for _ in range(count):
            i = len(truth)
            heat = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 12.0) * rng.uniform(0.5, 2) \
                + rng.normal(0, 0.03, (side, side))
            rel, thumb = f"items/{METHOD}/horse/{i:03d}.npy", f"items/{METHOD}/horse/{i:03d}.png"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            np.save(root / rel, heat.astype(np.float32))
            Image.fromarray((np.clip(heat, 0, 1) * 255).astype(np.uint8)).convert("RGB").save(root / thumb)
            lines.append(f"horse/{i:03d}.png,horse,0,horse,2.0,0,horse,{METHOD},{rel},{thumb},0.01")
            truth.append(group)
    # A few heatmaps of the other class, which the panel offers as a second class.
    for j in range(3):
        rel = f"items/{METHOD}/other/{j:03d}.npy"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        np.save(root / rel, rng.normal(size=(side, side)).astype(np.float32))
        lines.append(f"other/{j:03d}.png,other,1,other,1.0,1,other,{METHOD},{rel},,0.01")
    (root / "index.csv").write_text("\n".join(lines) + "\n")
    return root, np.array(truth)


@pytest.fixture
def panel(qtbot, error_dialogs):
    from xaidesk.gui.runner import Runner
    from xaidesk.gui.settings import open_settings
    from xaidesk.gui.views.spray_views import SprayPanel

    runner = Runner()
    widget = SprayPanel(runner, open_settings())
    qtbot.addWidget(widget)
    widget.resize(1100, 760)
    widget.show()
    yield widget
    runner.shutdown()


def analyse(qtbot, panel):
    job = panel.analyse()
    assert job is not None
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=30_000)


def test_analyse_shows_spectrum_embedding_means_and_members(qtbot, panel, tmp_path):
    from sklearn.metrics import adjusted_rand_score

    run, truth = make_run(tmp_path / "run")
    panel.set_run(run)
    # the method is named by its registry title, and chosen by its name
    from xaidesk.core.registry import get_method

    assert [panel.method_combo.itemText(i) for i in range(panel.method_combo.count())] == [get_method(METHOD).title]
    assert panel.method_combo.currentData() == METHOD
    assert [panel.class_combo.itemText(i) for i in range(panel.class_combo.count())] == ["horse (22)", "other (3)"]
    assert panel.analyse_button.isEnabled() and not panel.save_button.isEnabled()
    panel.size_spin.setValue(12)
    panel.neighbors_spin.setValue(5)
    panel.clusters_spin.setValue(2)
    analyse(qtbot, panel)
    result = panel.result
    assert result is not None and result.n_clusters == 2 and result.params["n_neighbors"] == 5
    assert adjusted_rand_score(truth, result.labels) == 1.0
    assert f"eigengap suggests {result.eigengap_k} clusters" in panel.status_label.text()
    assert get_method(METHOD).title in panel.status_label.text() and METHOD not in panel.status_label.text()
    assert panel.status_label.wordWrap()  # the whole summary is shown, not cut off at the panel's edge
    # The spectrum, with the eigengap marked between eigenvalue number k and k + 1.
    np.testing.assert_allclose(panel.spectrum.eigenvalues, result.eigenvalues)
    assert panel.spectrum.gap_position == result.eigengap_k + 0.5
    assert result.eigenvalues[1] < 1e-9 < result.eigenvalues[2]  # two separate groups: two zero eigenvalues
    # Embedding: one scatter per cluster holding its members.
    assert [len(s.points()) for s in panel.embedding.scatters] == [14, 8]
    # Means: one image per cluster; the smallest cluster is selected and its members listed.
    assert len(panel.means.images) == 2
    np.testing.assert_allclose(panel.means.images[1].image, result.cluster_means[1], rtol=1e-6)
    assert panel.selected_cluster == 1 and panel.members.count() == 8
    assert not panel.members.item(0).icon().isNull()
    assert {int(panel.members.item(i).data(256)) for i in range(8)} == set(np.flatnonzero(result.labels == 1))
    # Clicking a mean selects that cluster.
    panel.means.cluster_clicked.emit(0)
    assert panel.selected_cluster == 0 and panel.members.count() == 14
    # Clicking a point selects its item, switches to its cluster and marks it.
    scatter = panel.embedding.scatters[1]
    point = scatter.points()[3]
    scatter.sigClicked.emit(scatter, [point], None)
    index = int(point.data())
    assert panel.selected_item == index and panel.selected_cluster == 1
    marked = panel.embedding.marker.getData()
    np.testing.assert_allclose([marked[0][0], marked[1][0]], result.embedding[index])
    selected = panel.members.selectedItems()
    assert len(selected) == 1 and int(selected[0].data(256)) == index
    # Double-clicking a member asks to open it in its tab.
    with qtbot.waitSignal(panel.open_item_requested) as signal:
        panel.members.itemDoubleClicked.emit(selected[0])
    assert signal.args == [str(tmp_path / "pictures" / f"horse/{index:03d}.png"), "image", "demo:clever_hans",
                           METHOD, 0]
    panel.grab().save(str(tmp_path / "panel.png"))


def test_fixed_number_of_clusters_and_remembered_settings(qtbot, panel, tmp_path):
    from xaidesk.gui.settings import open_settings

    run, _ = make_run(tmp_path / "run")
    panel.set_run(run)
    panel.clusters_spin.setValue(3)
    panel.size_spin.setValue(8)
    analyse(qtbot, panel)
    assert panel.result.n_clusters == 3
    assert len(panel.means.images) == 3 and len(panel.embedding.scatters) == 3
    assert panel.result.params["size"] == 8
    assert int(open_settings().value("spray/size")) == 8


def test_cancel_keeps_the_previous_state(qtbot, panel, tmp_path):
    run, _ = make_run(tmp_path / "run", groups=(150, 150), side=32)
    panel.set_run(run)
    with qtbot.waitSignal(panel.runner.cancelled, timeout=5_000):
        panel.analyse()
        assert panel.is_running() and panel.cancel_button.isEnabled()
        panel.cancel()
    assert not panel.is_running() and panel.result is None
    assert panel.status_label.text().startswith("Cancelled")
    assert panel.analyse_button.isEnabled()


def test_save_and_reopen_results(qtbot, panel, tmp_path):
    from xaidesk.gui.runner import Runner
    from xaidesk.gui.views.spray_views import SprayPanel

    run, _ = make_run(tmp_path / "run")
    panel.set_run(run)
    panel.size_spin.setValue(12)
    panel.clusters_spin.setValue(2)
    analyse(qtbot, panel)
    out = panel.save_results(tmp_path / "saved")
    assert (out / "clusters.csv").is_file() and (out / "cluster_means.png").is_file()
    runner = Runner()
    other = SprayPanel(runner)
    qtbot.addWidget(other)
    try:
        other.open_results(out)
        np.testing.assert_array_equal(other.result.labels, panel.result.labels)
        np.testing.assert_allclose(other.spectrum.eigenvalues, panel.result.eigenvalues)
        assert other.members.count() == 8 and not other.members.item(0).icon().isNull()
        assert "read from saved" in other.status_label.text()
        with qtbot.waitSignal(other.open_item_requested) as signal:
            other.open_item(0)
        assert signal.args[1:] == ["image", "demo:clever_hans", METHOD, 0]
    finally:
        runner.shutdown()


def test_bad_folders_and_failed_runs_are_reported(qtbot, panel, tmp_path, error_dialogs):
    panel.set_run(tmp_path)
    assert "not a batch run folder" in panel.status_label.text()
    assert not panel.analyse_button.isEnabled() and panel.method_combo.count() == 0
    panel.open_results(tmp_path)
    assert error_dialogs and "not a SpRAy result folder" in error_dialogs[-1][1]
    run, _ = make_run(tmp_path / "run")
    panel.set_run(run)
    for path in (run / "items" / METHOD / "horse").glob("*.npy"):
        path.unlink()
    analyse(qtbot, panel)
    assert error_dialogs[-1][0] == "SpRAy could not be run" and "could be read" in error_dialogs[-1][1]
    assert panel.result is None and panel.analyse_button.isEnabled()


def test_views_say_what_fills_them_and_clusters_read_automatic(qtbot, panel, tmp_path):
    assert panel.views.showing_message() and "press Analyse" in panel.views.message.text()
    assert not panel.spectrum.isVisible() and not panel.means.isVisible()
    assert panel.clusters_spin.value() == panel.clusters_spin.minimum()
    assert panel.clusters_spin.text() == "Automatic" and "'auto'" not in panel.clusters_spin.toolTip()
    run, _truth = make_run(tmp_path / "run")
    panel.set_run(run)
    assert panel.views.showing_message()
    analyse(qtbot, panel)
    assert not panel.views.showing_message() and panel.spectrum.isVisible()
