"""ONNX models (``onnx:PATH``): onnxruntime for predictions and perturbation methods, onnx2torch for gradients.

Every result on the ONNX file is compared with the same method on the PyTorch network it was exported
from (same inputs, same masks and seeds).
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from xaidesk.core import CancelToken, MethodError, ModelError, get_method
from xaidesk.explain.image import explain_image, predict_image
from xaidesk.models import load_model
from xaidesk.models.base import LoadedModel
from xaidesk.models.onnx import OnnxRuntimeModule, load_onnx
from xaidesk.models.preprocessing import Preprocessing

SIZE = 32
PRE = Preprocessing(size=(SIZE, SIZE), mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3), name="test")


class TinyCNN(torch.nn.Module):
    """Convolutions, ReLU, max pooling and one dense layer: every layer has an LRP rule in both forms."""

    def __init__(self, with_features: bool = False) -> None:
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(6, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Flatten(),
        )
        self.fc = torch.nn.Linear(8 * 8 * 8, 5)
        self.with_features = with_features

    def forward(self, x):
        features = self.features(x)
        logits = self.fc(features)
        return (logits, features) if self.with_features else logits


def _network() -> TinyCNN:
    torch.manual_seed(3)
    net = TinyCNN().eval()
    for parameter in net.parameters():
        parameter.requires_grad_(False)
    return net


def _export(net: torch.nn.Module, path, *, dynamic: bool = True, outputs=("logits",), metadata=None) -> str:
    dynamic_axes = {name: {0: "batch"} for name in ("image", *outputs)} if dynamic else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(1, 3, SIZE, SIZE),), str(path), input_names=["image"],
                          output_names=list(outputs), dynamic_axes=dynamic_axes, dynamo=False)
    if metadata:
        import onnx

        proto = onnx.load(str(path))
        for key, value in metadata.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(proto, str(path))
    return str(path)


def _image(seed: int = 0, shape=(40, 48)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def _torch_model(net) -> LoadedModel:
    return LoadedModel(spec="test:tiny", name="tiny", module=net, preprocessing=PRE,
                       class_names=[f"class {i}" for i in range(5)])


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    net = _network()
    path = _export(net, folder / "tiny.onnx")
    (folder / "tiny.onnx.json").write_text(json.dumps({"preprocessing": PRE.to_dict()}))
    return net, path


@pytest.fixture(scope="module")
def onnx_model(exported):
    return load_model(f"onnx:{exported[1]}")


def test_loads_through_onnxruntime_with_a_checked_pytorch_conversion(onnx_model):
    assert onnx_model.runtime == "onnxruntime"
    assert isinstance(onnx_model.scoring_module, OnnxRuntimeModule)
    assert not isinstance(onnx_model.module, OnnxRuntimeModule)  # the onnx2torch network
    assert onnx_model.gradient_refusal is None
    assert onnx_model.preprocessing == PRE
    assert onnx_model.num_classes == 5
    assert any("Converted to PyTorch" in note for note in onnx_model.notes)


def test_predictions_equal_the_pytorch_model(exported, onnx_model):
    net, _ = exported
    image = _image()
    x = PRE.to_tensor(image)
    ours = predict_image(onnx_model, image).logits
    np.testing.assert_allclose(ours, net(x)[0].numpy(), rtol=1e-5, atol=1e-5)
    batch = torch.randn(7, 3, SIZE, SIZE)
    before = batch.clone()
    with torch.inference_mode():
        scores = onnx_model.scoring_module(batch)
    assert torch.equal(batch, before)  # the input is never modified
    torch.testing.assert_close(scores, net(batch), rtol=1e-5, atol=1e-5)


def _count_session_runs(monkeypatch) -> list:
    calls = []
    original = OnnxRuntimeModule.run

    def counting(self, x, outputs=None):
        calls.append(x.shape[0])
        return original(self, x, outputs)

    monkeypatch.setattr(OnnxRuntimeModule, "run", counting)
    return calls


@pytest.mark.parametrize("method, params, torch_params", [
    ("occlusion", {"patch_size": 8, "stride": 4, "scale_to_input": False}, None),
    ("lime", {"num_samples": 120, "seed": 4}, None),
    # RELAX on the model output: the PyTorch model's output is that of its last layer, 'fc'.
    ("relax", {"num_masks": 64, "seed": 5}, {"num_masks": 64, "seed": 5, "layer": "fc"}),
])
def test_perturbation_results_equal_the_pytorch_model(exported, onnx_model, monkeypatch, method, params,
                                                      torch_params):
    net, _ = exported
    image = _image(1)
    copy = image.copy()
    reference = explain_image(_torch_model(net), image, method, target=2, params=torch_params or params)
    calls = _count_session_runs(monkeypatch)
    ours = explain_image(onnx_model, image, method, target=2, params=params)
    assert sum(calls) > 10  # the masked copies went through onnxruntime
    assert np.array_equal(image, copy)
    np.testing.assert_allclose(ours.relevance, reference.relevance, rtol=1e-4, atol=1e-5)
    if method == "relax":
        np.testing.assert_allclose(ours.uncertainty, reference.uncertainty, rtol=1e-4, atol=1e-6)
        assert ours.extras["layer"] == "model output"


@pytest.mark.parametrize("method", ["gradient.sensitivity", "gradient.integrated", "lrp.epsilon_plus_flat",
                                    "lrp.epsilon_gamma_box"])
def test_gradients_and_lrp_equal_the_pytorch_originals(exported, onnx_model, method):
    net, _ = exported
    image = _image(2)
    reference = explain_image(_torch_model(net), image, method, target=1)
    ours = explain_image(onnx_model, image, method, target=1)
    scale = float(np.abs(reference.relevance).max())
    assert scale > 0
    np.testing.assert_allclose(ours.relevance, reference.relevance, rtol=1e-4, atol=1e-5 * scale)


def _unconvertible_graph(path, op: str = "GlobalMaxPool") -> str:
    """Conv -> Relu -> GlobalMaxPool -> Flatten -> Gemm: onnxruntime runs it, onnx2torch has no GlobalMaxPool."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.normal(0, 0.3, shape).astype(np.float32), name)
               for name, shape in (("w", (4, 3, 3, 3)), ("b", (4,)), ("fw", (3, 4)), ("fb", (3,)))]
    nodes = [
        helper.make_node("Conv", ["image", "w", "b"], ["conv"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["relu"], name="relu"),
        helper.make_node(op, ["relu"], ["pooled"], name="pool_xyz"),
        helper.make_node("Flatten", ["pooled"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "fw", "fb"], ["logits"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "unconvertible",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 16, 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])], initializer=weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return str(path)


def test_unconvertible_operator_is_refused_by_name_for_gradients_only(tmp_path):
    model = load_model(f"onnx:{_unconvertible_graph(tmp_path / 'maxpool.onnx')}")
    expected = ("LRP and gradient methods need the model in PyTorch; the ONNX operator 'GlobalMaxPool' "
                "(node 'pool_xyz') has no PyTorch conversion. Occlusion, LIME and RELAX work on this model.")
    assert model.gradient_refusal == expected
    image = _image(3, (16, 16))
    for method in ("gradient.sensitivity", "gradient.smoothgrad", "gradient.robust", "lrp.epsilon_plus_flat"):
        with pytest.raises(MethodError) as info:
            explain_image(model, image, method)
        assert str(info.value) == expected
    # Called directly, past the pipeline's check, the methods meet the same sentence.
    x = model.preprocessing.to_tensor(image)
    for method in ("gradient.sensitivity", "lrp.epsilon_plus_flat"):
        info_ = get_method(method)
        with pytest.raises(MethodError, match="'GlobalMaxPool'"):
            from xaidesk.core import CancelToken, no_progress

            info_.function(model, x, 0, params=info_.resolve_params({}), token=CancelToken(), progress=no_progress)
    result = explain_image(model, image, "occlusion", params={"patch_size": 4, "stride": 4, "scale_to_input": False})
    assert np.isfinite(result.relevance).all() and np.abs(result.relevance).max() > 0


def _with_features(exported_net, folder):
    net = TinyCNN(with_features=True).eval()
    net.load_state_dict(exported_net.state_dict())
    path = _export(net, folder / "features.onnx", outputs=("logits", "features"))
    (folder / "features.onnx.json").write_text(json.dumps({"preprocessing": PRE.to_dict()}))
    return path


def test_relax_on_a_named_intermediate_output(exported, tmp_path):
    from xaidesk.explain.relax_layers import list_layers

    net, _ = exported
    model = load_model(f"onnx:{_with_features(net, tmp_path)}")
    assert model.gradient_refusal is None
    assert [name for name, _ in list_layers(model)] == ["features"]
    assert "512" in list_layers(model)[0][1]
    image = _image(4)
    params = {"num_masks": 48, "seed": 9, "layer": "features"}
    ours = explain_image(model, image, "relax", params=params)
    reference = explain_image(_torch_model(net), image, "relax", params={**params, "layer": "features.6"})
    assert ours.extras["layer"] == "features"
    np.testing.assert_allclose(ours.relevance, reference.relevance, rtol=1e-4, atol=1e-5)
    # The scores are still the first output, and gradients use the converted scores-only network.
    np.testing.assert_allclose(predict_image(model, image).logits, net(PRE.to_tensor(image))[0].numpy(),
                               rtol=1e-5, atol=1e-5)
    gradient = explain_image(model, image, "gradient.sensitivity", target=0)
    assert np.isfinite(gradient.relevance).all()
    with pytest.raises(MethodError, match="features"):
        explain_image(model, image, "relax", params={"num_masks": 8, "layer": "no_such"})


def test_faithfulness_curves_equal_the_pytorch_model(exported, onnx_model):
    from xaidesk.evaluate.faithfulness import FlipSettings
    from xaidesk.evaluate.pixel_flipping import image_faithfulness

    net, _ = exported
    image = _image(5)
    relevance = np.random.default_rng(0).normal(size=image.shape[:2])
    settings = FlipSettings(steps=6, patch=8, random_orders=1)
    ours = image_faithfulness(onnx_model, image, relevance, 3, settings)
    reference = image_faithfulness(_torch_model(net), image, relevance, 3, settings)
    for order in reference.curves:
        np.testing.assert_allclose(ours.curves[order], reference.curves[order], rtol=1e-4, atol=1e-5)


def test_batch_run_on_onnx_records_labels_and_preprocessing(exported, tmp_path):
    from PIL import Image

    from xaidesk.runs import read_run, run_batch

    net, path = exported
    source = tmp_path / "images"
    for k, label in enumerate(("a", "b")):
        (source / label).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(_image(10 * k + i)).save(source / label / f"{i}.png")
    labels = tmp_path / "names.txt"
    labels.write_text("\n".join(["zero", "one", "two", "three", "four"]))
    by_hand = Preprocessing(size=(SIZE, SIZE), mean=(0.45, 0.45, 0.45), std=(0.25, 0.25, 0.25), name="by hand")
    out = tmp_path / "run"
    methods = [("occlusion", {"patch_size": 8, "stride": 8, "scale_to_input": False}), "gradient.sensitivity"]
    result = run_batch(source, out, f"onnx:{path}", methods, batch_size=3, labels=labels, preprocessing=by_hand)
    assert result.finished and result.computed == 8
    run = read_run(out)
    assert run.meta["labels"] == str(labels.resolve()) and run.meta["preprocessing"]["mean"] == [0.45, 0.45, 0.45]
    assert {row.predicted_label for row in run.rows} <= {"zero", "one", "two", "three", "four"}
    for row in run.rows:
        pixels = np.asarray(Image.open(source / row.file).convert("RGB"))
        expected = int(net(by_hand.to_tensor(pixels)).argmax())
        assert row.predicted == expected
    reloaded = run.load_model()
    assert reloaded.class_names[0] == "zero" and reloaded.preprocessing == by_hand
    with pytest.raises(Exception, match="label"):
        run_batch(source, out, f"onnx:{path}", methods, batch_size=3, preprocessing=by_hand)


def test_preprocessing_and_class_names_from_metadata(exported, tmp_path):
    net, _ = exported
    described = {"size": [SIZE, SIZE], "mean": [0.1, 0.2, 0.3], "std": [0.4, 0.5, 0.6], "resize": 36}
    path = _export(net, tmp_path / "meta.onnx", metadata={
        "preprocessing": json.dumps(described), "class_names": json.dumps(list("vwxyz"))})
    model = load_onnx(path)
    assert model.preprocessing.mean == (0.1, 0.2, 0.3) and model.preprocessing.std == (0.4, 0.5, 0.6)
    assert model.preprocessing.resize == 36 and model.class_names == list("vwxyz")
    assert "Preprocessing from the model's metadata." in model.notes

    single = _export(net, tmp_path / "keys.onnx", metadata={"mean": "0.5, 0.5, 0.5", "std": "[0.2, 0.2, 0.2]",
                                                            "labels": "a\nb\nc\nd\ne"})
    model = load_onnx(single)
    assert model.preprocessing.mean == (0.5, 0.5, 0.5) and model.preprocessing.size == (SIZE, SIZE)
    assert model.class_names == list("abcde")

    bare = load_onnx(_export(net, tmp_path / "bare.onnx"))
    assert bare.preprocessing.size == (SIZE, SIZE)
    assert any("mean and std were not given" in note for note in bare.notes)

    wrong = _export(net, tmp_path / "wrong.onnx", metadata={"size": "64"})
    with pytest.raises(ModelError, match="32x32"):
        load_onnx(wrong)


def test_batch_one_graph_runs_samples_one_by_one(exported, tmp_path):
    net, _ = exported
    path = _export(net, tmp_path / "single.onnx", dynamic=False)
    (tmp_path / "single.onnx.json").write_text(json.dumps({"preprocessing": PRE.to_dict()}))
    model = load_onnx(path)
    assert model.scoring_module.batch == 1
    assert any("one by one" in note for note in model.notes)
    batch = torch.randn(5, 3, SIZE, SIZE)
    with torch.inference_mode():
        torch.testing.assert_close(model.scoring_module(batch), net(batch), rtol=1e-5, atol=1e-5)
    image = _image(6)
    params = {"patch_size": 8, "stride": 4, "scale_to_input": False}
    ours = explain_image(model, image, "occlusion", target=0, params=params)
    reference = explain_image(_torch_model(net), image, "occlusion", target=0, params=params)
    np.testing.assert_allclose(ours.relevance, reference.relevance, rtol=1e-4, atol=1e-5)


def _graph(path, inputs, nodes, outputs, initializer=(), domain_imports=()):
    import onnx
    from onnx import helper

    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializer))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), *domain_imports])
    model.ir_version = 8
    onnx.save(model, str(path))
    return str(path)


def test_bad_files_are_plain_model_errors(tmp_path):
    from onnx import TensorProto, helper, numpy_helper

    damaged = tmp_path / "damaged.onnx"
    damaged.write_bytes(np.random.default_rng(0).bytes(3000))
    text = tmp_path / "text.onnx"
    text.write_text("this is not a model\n" * 20)
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 8, 8])
    scores = helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 3])
    flat = [helper.make_node("GlobalAveragePool", ["image"], ["p"]), helper.make_node("Flatten", ["p"], ["scores"])]
    custom = _graph(tmp_path / "custom.onnx", [image],
                    [helper.make_node("MagicPool", ["image"], ["p"], domain="com.example", name="magic"),
                     helper.make_node("Flatten", ["p"], ["scores"])],
                    [scores], domain_imports=[helper.make_opsetid("com.example", 1)])
    two = _graph(tmp_path / "two.onnx", [image, helper.make_tensor_value_info("other", TensorProto.FLOAT, [1])],
                 [*flat[:1], helper.make_node("Flatten", ["p"], ["f"]), helper.make_node("Mul", ["f", "other"], ["scores"])],
                 [scores])
    tokens = _graph(tmp_path / "tokens.onnx", [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", 7])],
                    [helper.make_node("Cast", ["ids"], ["scores"], to=TensorProto.FLOAT)],
                    [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 7])])
    nan_weight = _graph(tmp_path / "nan.onnx", [image],
                        [*flat[:1], helper.make_node("Flatten", ["p"], ["f"]), helper.make_node("Mul", ["f", "k"], ["scores"])],
                        [scores], initializer=[numpy_helper.from_array(np.array([1, np.nan, 1], np.float32), "k")])
    zero_over_zero = _graph(tmp_path / "div.onnx", [image],
                            [*flat, ][:1] + [helper.make_node("Flatten", ["p"], ["f"]),
                                             helper.make_node("Div", ["f", "f"], ["scores"])], [scores])
    cases = {
        str(damaged): "could not be read as an ONNX model",
        str(text): "could not be read as an ONNX model",
        custom: "'MagicPool' \\(node 'magic'\\) from the custom domain 'com.example'",
        two: "has 2 inputs",
        tokens: "int64",
        nan_weight: "invalid weight",
        zero_over_zero: "NaN or infinity",
        str(tmp_path / "missing.onnx"): "does not exist",
    }
    for path, words in cases.items():
        with pytest.raises(ModelError, match=words) as info:
            load_model(f"onnx:{path}")
        assert "Traceback" not in str(info.value)


def test_newer_operator_set_and_shared_weights_still_convert(tmp_path):
    """Opset 20: Identity's converter exists only for older versions of the same operator, and the bias
    comes through an Identity node (as exporters share equal weights); both convert, checked against torch."""
    from onnx import TensorProto, helper, numpy_helper

    torch.manual_seed(1)
    twin = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                               torch.nn.Flatten(), torch.nn.Linear(4, 3)).eval()
    arrays = {"w": twin[0].weight, "b": twin[0].bias, "fw": twin[4].weight, "fb": twin[4].bias}
    weights = [numpy_helper.from_array(v.detach().numpy(), k) for k, v in arrays.items()]
    nodes = [helper.make_node("Identity", ["b"], ["shared_b"], name="share"),
             helper.make_node("Conv", ["image", "w", "shared_b"], ["conv"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["conv"], ["relu"]),
             helper.make_node("GlobalAveragePool", ["relu"], ["pooled"]),
             helper.make_node("Flatten", ["pooled"], ["flat"]),
             helper.make_node("Gemm", ["flat", "fw", "fb"], ["logits"], transB=1)]
    graph = helper.make_graph(nodes, "opset20", [helper.make_tensor_value_info("image", TensorProto.FLOAT,
                                                                               ["n", 3, 16, 16])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 3])],
                              initializer=weights)
    import onnx

    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    proto.ir_version = 9
    onnx.save(proto, str(tmp_path / "opset20.onnx"))
    model = load_onnx(tmp_path / "opset20.onnx")
    assert model.gradient_refusal is None
    image = _image(7, (16, 16))
    pre = model.preprocessing
    reference = LoadedModel(spec="twin", name="twin", module=twin, preprocessing=pre,
                            class_names=list(model.class_names))
    ours = explain_image(model, image, "gradient.sensitivity", target=2)
    expected = explain_image(reference, image, "gradient.sensitivity", target=2)
    np.testing.assert_allclose(ours.relevance, expected.relevance, rtol=1e-4, atol=1e-7)


def test_a_conversion_that_does_not_reproduce_onnxruntime_is_refused(exported, monkeypatch):
    import xaidesk.models.onnx.conversion as onnx_models

    monkeypatch.setattr(onnx_models, "CONVERSION_TOLERANCE", -1.0)  # no difference is small enough
    model = load_onnx(exported[1])
    assert isinstance(model.module, OnnxRuntimeModule)
    assert "differ from onnxruntime's" in model.gradient_refusal
    with pytest.raises(MethodError, match="differ from onnxruntime's"):
        explain_image(model, _image(), "lrp.epsilon_plus_flat")
    assert np.isfinite(predict_image(model, _image()).logits).all()


def test_cancel_during_a_prefetched_run_keeps_the_partial_result(onnx_model):
    import threading

    from xaidesk.core import Cancelled, CancelToken

    token = CancelToken()
    seen = []

    def progress(fraction, message="", partial=None):
        seen.append(fraction)
        if fraction > 0:
            token.cancel()

    before = threading.active_count()
    with pytest.raises(Cancelled) as info:
        explain_image(onnx_model, _image(8), "relax", params={"num_masks": 400, "batch_size": 16}, token=token,
                      progress=progress)
    assert info.value.partial is not None and info.value.partial.extras["n_done"] < 400
    assert threading.active_count() == before  # the helper thread that built the next batch is gone


def test_lrp_on_a_converted_resnet_equals_lrp_on_the_original(tmp_path):
    """Residual additions and global pooling of the converted graph get the rules the original's
    blocks get (explicit sums, a pooling layer), so the relevance is the same."""
    import torchvision

    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=3).eval()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    preprocessing = Preprocessing(size=(32, 32), mean=(0.5,) * 3, std=(0.25,) * 3)
    path = tmp_path / "resnet18.onnx"
    torch.onnx.export(net, torch.randn(1, 3, 32, 32), str(path), dynamo=False, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    converted = load_model(f"onnx:{path}", preprocessing=preprocessing)
    assert converted.gradient_refusal is None
    assert converted.notes[-1] == "Preprocessing set by hand."
    assert not any("mean and std were not given" in note for note in converted.notes)
    original = LoadedModel(spec="resnet18", name="resnet18", module=net, preprocessing=preprocessing,
                           class_names=list("abc"), architecture="resnet18")
    info = get_method("lrp.epsilon_plus_flat")
    params = info.resolve_params({})
    x = torch.randn(1, 3, 32, 32)
    ours = [info.function(m, x, 1, params=params, token=CancelToken(), progress=lambda *a, **k: None)
            for m in (original, converted)]
    scale = np.abs(ours[0].relevance).max()
    np.testing.assert_allclose(ours[1].relevance, ours[0].relevance, atol=1e-4 * scale)
    assert ours[1].extras["conservation"] == pytest.approx(ours[0].extras["conservation"], rel=1e-4)


def test_custom_domain_inside_a_local_function_is_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 8, 8])
    scores = helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 3])

    def saved(file, inner_domain):
        body = helper.make_function(
            "local.fns", "Pool", ["x"], ["y"],
            [helper.make_node("MagicPool" if inner_domain else "GlobalAveragePool", ["x"], ["y"],
                              domain=inner_domain, name="inside")],
            opset_imports=[helper.make_opsetid("", 17)]
            + ([helper.make_opsetid(inner_domain, 1)] if inner_domain else []),
        )
        graph = helper.make_graph([helper.make_node("Pool", ["image"], ["p"], domain="local.fns", name="call"),
                                   helper.make_node("Flatten", ["p"], ["scores"])], "g", [image], [scores])
        imports = [helper.make_opsetid("", 17), helper.make_opsetid("local.fns", 1)]
        if inner_domain:
            imports.append(helper.make_opsetid(inner_domain, 1))
        model = helper.make_model(graph, opset_imports=imports, functions=[body])
        model.ir_version = 8
        onnx.save(model, str(tmp_path / file))
        return str(tmp_path / file)

    plain = saved("plain.onnx", "")  # a local function of standard operators is not a custom operator
    model = load_onnx(plain)
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model.scoring_module(x), x.mean(dim=(2, 3)), rtol=1e-5, atol=1e-5)
    with pytest.raises(ModelError, match="'MagicPool' \\(node 'inside' in the function 'Pool'\\) from the custom "
                                         "domain 'com.example'"):
        load_onnx(saved("custom.onnx", "com.example"))
