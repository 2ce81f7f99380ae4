"""The self-test's data-set and quick-classifier checks pass on the demos and fail loudly when broken."""

import pytest

from xaidesk import selftest


def test_dataset_mode_check_runs_batch_spray_and_faithfulness():
    assert "12 generated pictures" in selftest._check_dataset_mode()


def test_dataset_mode_check_fails_when_spray_puts_everything_in_one_cluster(monkeypatch):
    import numpy as np

    import xaidesk.evaluate.spray as spray_module

    real = spray_module.spray

    def one_cluster(*args, **kwargs):
        result = real(*args, **kwargs)
        result.labels = np.zeros_like(result.labels)
        return result

    monkeypatch.setattr(spray_module, "spray", one_cluster)
    with pytest.raises(RuntimeError, match="one cluster"):
        selftest._check_dataset_mode()


def test_probe_check_fits_and_explains():
    assert "LRP explains it" in selftest._check_probe()


def test_onnx_check_runs_through_onnxruntime_and_the_conversion():
    detail = selftest._check_onnx()
    assert "occlusion explains it" in detail and "lrp.epsilon_plus_flat explains it" in detail


def test_hugging_face_check_reads_class_names_and_explains():
    assert "lrp.attention explains it" in selftest._check_hugging_face()


def test_tiny_onnx_file_is_a_valid_graph(tmp_path):
    import onnx

    path = selftest.write_tiny_onnx(tmp_path / "tiny.onnx", classes=4, size=16)
    graph = onnx.load(str(path)).graph
    assert [node.op_type for node in graph.node] == ["Conv", "Relu", "GlobalAveragePool", "Flatten", "Gemm"]


def test_repair_check_corrects_saves_and_prunes():
    text = selftest._check_repair()
    assert "P-ClArC: relevance on the tag" in text and "saved and reopened" in text and "parameters" in text


def test_repair_check_fails_when_the_projection_does_nothing(monkeypatch):
    import xaidesk.repair.clarc as clarc

    real = clarc.p_clarc

    def unchanged(model, *args, **kwargs):
        result = real(model, *args, **kwargs)
        result.model = model
        return result

    monkeypatch.setattr(clarc, "p_clarc", unchanged)
    with pytest.raises(RuntimeError, match="left .* of the relevance on the tag"):
        selftest._check_repair()


def test_readable_table_check_fits_explains_and_finds_counterfactuals():
    from xaidesk.tabular import load_builtin_methods

    load_builtin_methods()
    detail = selftest._check_readable_table()
    assert "exact Shapley values" in detail and "2 counterfactuals" in detail


def test_the_concepts_check_runs_reference_samples_and_finds_the_heatmaps_add_up():
    assert "add up to the LRP heatmap" in selftest._check_concepts()
