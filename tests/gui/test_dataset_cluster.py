"""The Dataset tab hands a run to a Dask cluster, refuses a malformed address and shows the command lines."""

import shlex
import shutil

import pytest

from xaidesk.gui.dataset_jobs import cluster_address_problem, cluster_commands
from xaidesk.resources import resource_path
from xaidesk.runs import MethodRequest, read_index

SAMPLES = ["digits_0.png", "digits_2.png", "digits_3.png", "digits_5.png", "digits_7.png"]
LRP = "lrp.epsilon_plus_flat"


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "digits"
    root.mkdir()
    for name in SAMPLES:
        shutil.copy(resource_path("samples", name), root / name)
    return root


@pytest.fixture
def make_tab(qtbot, catalog, error_dialogs):
    from xaidesk.gui.runner import Runner
    from xaidesk.gui.tabs.dataset_tab import DatasetTab

    runner = Runner()
    tab = DatasetTab(runner, None)
    tab.status_log = []
    tab.status_message.connect(tab.status_log.append)
    qtbot.addWidget(tab)
    tab.set_catalog(catalog)
    yield tab
    tab.shutdown()
    runner.shutdown()


def _prepare(tab, folder, out):
    assert tab.set_folder(folder)
    tab.output_edit.setText(str(out))
    tab.set_checked_methods([LRP])
    tab._update_enabled()


@pytest.mark.parametrize("text", ["tcp://10.0.0.5:8786", "10.0.0.5:8786", "tls://head:8786", ""])
def test_scheduler_addresses_are_accepted(text):
    assert cluster_address_problem(text) is None


@pytest.mark.parametrize("text", ["head", "tcp://head", "http://head:8786", "tcp://head:port"])
def test_other_text_is_refused_with_the_form_to_use(text):
    assert "tcp://HOST:PORT" in cluster_address_problem(text)


def test_a_malformed_address_blocks_the_run_and_says_why(make_tab, folder, tmp_path):
    tab = make_tab
    _prepare(tab, folder, tmp_path / "run")
    assert tab.run_button.isEnabled()
    tab.run_box.cluster_edit.setText("headnode")
    assert not tab.run_button.isEnabled()
    assert "not a cluster address" in tab.run_box.run_problem.text()
    tab.run_box.cluster_edit.setText("")
    assert tab.run_button.isEnabled()


def test_the_commands_run_the_same_settings(tmp_path):
    out = tmp_path / "my run"
    dask, slurm = cluster_commands(tmp_path / "in", out, "demo:digits", [MethodRequest(LRP, {"epsilon": 1e-6})],
                                   address="tcp://head:8786", device="cuda", batch_size=8, target=3)
    words = shlex.split(dask)
    assert words[words.index("--executor") + 1] == "dask" and words[words.index("--address") + 1] == "tcp://head:8786"
    assert words[words.index("--out") + 1] == str(out) and words[words.index("--device") + 1] == "cuda"
    assert f"{LRP}:epsilon=1e-06" in words and words[words.index("--target") + 1] == "3"
    task, merge = slurm.splitlines()
    assert "--executor" not in task and "--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT" in task
    assert "--batch-size 8" in task and merge.startswith("xaidesk batch --merge")


def test_the_commands_window_shows_both_ways(make_tab, folder, tmp_path):
    tab = make_tab
    _prepare(tab, folder, tmp_path / "run")
    dialog = tab.show_cluster_commands()
    assert "--executor dask" in dialog.dask_edit.toPlainText()
    assert "SLURM_ARRAY_TASK_ID" in dialog.slurm_edit.toPlainText()
    dialog.close()


def test_a_run_handed_to_a_cluster_opens_like_a_local_run(qtbot, make_tab, folder, tmp_path):
    distributed = pytest.importorskip("distributed")
    tab = make_tab
    out = tmp_path / "run"
    _prepare(tab, folder, out)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        tab.run_box.cluster_edit.setText(cluster.scheduler_address)
        assert tab.start_run() is not None
        qtbot.waitUntil(lambda: not tab.is_running(), timeout=120_000)
    rows = read_index(out)
    assert sorted(r.file for r in rows) == sorted(SAMPLES)
    assert tab.run is not None and len(tab.run.rows) == len(SAMPLES)
    assert any(m.startswith("Done") for m in tab.status_log)


def test_the_commands_window_says_when_hand_set_preprocessing_cannot_travel(qtbot):
    from PySide6.QtWidgets import QLabel

    from xaidesk.gui.panels.cluster_commands_dialog import ClusterCommandsDialog

    texts = {}
    for hand_set in (False, True):
        dialog = ClusterCommandsDialog("xaidesk batch a", "xaidesk batch b", hand_set=hand_set)
        qtbot.addWidget(dialog)
        texts[hand_set] = " ".join(label.text() for label in dialog.findChildren(QLabel))
    assert "preprocessing set by hand" in texts[True] and "preprocessing set by hand" not in texts[False]
