"""The quick two-class classifier (probe): folder checks, fitting, ROC figures, the model it becomes, CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from xaidesk.core import CancelToken, Cancelled, InputError, ModelError
from xaidesk.models import load_model
from xaidesk.models.base import LoadedModel
from xaidesk.models.preprocessing import Preprocessing
from xaidesk.models.probe import (
    PROBE_FILE_NAME,
    build_probe_model,
    cut_backbone,
    default_probe_layer,
    fit_probe,
    list_probe_layers,
    save_probe,
    scan_labelled_folder,
    split_held_out,
)

LAYER = "3"  # a shallow layer of demo:digits, where the difference of means is imperfect (AUC < 1)


@pytest.fixture(scope="module")
def folder(tmp_path_factory, write_digits):
    return write_digits(tmp_path_factory.mktemp("digits"))


@pytest.fixture(scope="module")
def backbone():
    return load_model("demo:digits")


@pytest.fixture(scope="module")
def fitted(folder, backbone):
    return fit_probe(folder, backbone, LAYER, held_out=0.3, seed=0)


def hooked_features(model: LoadedModel, layer: str, files) -> np.ndarray:
    """Φ(x) computed independently: a forward hook on the full backbone, averaged over space in numpy."""
    from xaidesk.data.images import load_image

    captured = []
    module = dict(model.module.named_modules())[layer]
    handle = module.register_forward_hook(lambda m, i, o: captured.append(o.detach().clone()))
    try:
        with torch.no_grad():
            model.module(torch.cat([model.preprocessing.to_tensor(load_image(path).pixels) for path in files]))
    finally:
        handle.remove()
    return captured[0].numpy().astype(np.float64).mean(axis=(2, 3))


def split_files(folder: Path, result):
    data = scan_labelled_folder(folder)
    held = set(result.held_out_files)
    train = [(f, label) for f, label in zip(data.files, data.labels) if str(f) not in held]
    return [f for f, _ in train], np.array([label for _, label in train])


# --- the folder and the split --------------------------------------------------------------------


def test_scan_lists_two_classes_in_alphabetical_order(folder):
    data = scan_labelled_folder(folder)
    assert data.class_names == ["digit_3", "digit_8"]
    assert data.counts() == [20, 20]
    assert list(data.labels[:20]) == [0] * 20 and list(data.labels[20:]) == [1] * 20


def test_scan_counts_nested_images_and_ignores_hidden_files(tmp_path, write_digits):
    write_digits(tmp_path, per_class=4)
    nested = tmp_path / "digit_3" / "more"
    nested.mkdir()
    Image.new("RGB", (16, 16)).save(nested / "extra.png")
    Image.new("RGB", (16, 16)).save(tmp_path / "digit_3" / ".hidden.png")
    (tmp_path / "digit_8" / "notes.txt").write_text("not an image")
    (tmp_path / "empty").mkdir()
    assert scan_labelled_folder(tmp_path).counts() == [5, 4]


@pytest.mark.parametrize("layout, match", [
    ({"a": 5}, "exactly two subfolders"),
    ({"a": 5, "b": 5, "c": 5}, "found 3"),
    ({"a": 5, "b": 2}, "only 2 image"),
    ({}, "found 0"),
])
def test_bad_folders_say_what_is_wrong(tmp_path, layout, match):
    for name, count in layout.items():
        (tmp_path / name).mkdir()
        for i in range(count):
            Image.new("RGB", (16, 16)).save(tmp_path / name / f"{i}.png")
    with pytest.raises(InputError, match=match):
        scan_labelled_folder(tmp_path)


def test_missing_folder_and_file_instead_of_folder(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        scan_labelled_folder(tmp_path / "nope")
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(InputError, match="not a folder"):
        scan_labelled_folder(tmp_path / "file.png")


def test_split_is_stratified_seeded_and_disjoint():
    labels = np.array([0] * 20 + [1] * 10)
    train, test = split_held_out(labels, 0.3, seed=1)
    assert set(train).isdisjoint(test) and len(train) + len(test) == 30
    assert np.count_nonzero(labels[test] == 0) == 6 and np.count_nonzero(labels[test] == 1) == 3
    again = split_held_out(labels, 0.3, seed=1)
    other = split_held_out(labels, 0.3, seed=2)
    assert np.array_equal(again[1], test) and not np.array_equal(other[1], test)


@pytest.mark.parametrize("share", [0.0, 1.0, 0.95, -0.2])
def test_bad_held_out_shares_are_refused(share):
    with pytest.raises(InputError, match="held-out share"):
        split_held_out(np.array([0] * 5 + [1] * 5), share)


# --- layers and cutting --------------------------------------------------------------------------


def test_demo_layers_and_default(backbone):
    layers = list_probe_layers(backbone)
    names = [name for name, _ in layers]
    assert names == [str(i) for i in range(16)]
    assert layers[11][1] == "11 · MaxPool2d · 64×4×4"
    assert default_probe_layer(layers) == "11"


def _toy(module, size=32) -> LoadedModel:
    pre = Preprocessing(size=(size, size), mean=(0.5,) * 3, std=(0.5,) * 3)
    return LoadedModel(spec="toy", name="toy", module=module.eval(), preprocessing=pre, class_names=["a", "b"])


def test_resnet_layers_stop_at_skip_connections_and_the_reshape():
    import torchvision

    model = _toy(torchvision.models.resnet18(weights=None, num_classes=2), size=48)
    names = [name for name, _ in list_probe_layers(model)]
    assert "layer1.0" in names and "layer4" in names and "avgpool" in names
    assert "layer1.0.conv1" not in names  # inside a block with a skip connection
    assert "fc" not in names  # after a flatten that is not a module
    assert default_probe_layer(list_probe_layers(model)) == "layer4"
    x = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        expected = model.module.layer2(model.module.layer1(model.module.maxpool(
            model.module.relu(model.module.bn1(model.module.conv1(x))))))
        assert torch.allclose(cut_backbone(model, "layer2")(x), expected, atol=1e-5)
    with pytest.raises(ModelError, match="skip connection"):
        cut_backbone(model, "layer1.0.conv1")
    with pytest.raises(ModelError, match="cannot be cut"):
        cut_backbone(model, "fc")
    with pytest.raises(ModelError, match="no layer called"):
        cut_backbone(model, "layer9")


def test_a_forward_that_is_not_a_chain_is_refused():
    class Residual(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Conv2d(3, 3, 3, padding=1)
            self.b = torch.nn.Conv2d(3, 3, 3, padding=1)

        def forward(self, x):
            return self.b(x + self.a(x))

    model = _toy(Residual())
    assert [name for name, _ in list_probe_layers(model)] == ["a"]
    with pytest.raises(ModelError, match="cannot be cut"):
        cut_backbone(model, "b")


def test_torchscript_backbones_are_refused(backbone):
    scripted = torch.jit.trace(backbone.module, torch.zeros(1, 1, 32, 32))
    model = LoadedModel(spec="x", name="scripted", module=scripted, preprocessing=backbone.preprocessing,
                        class_names=backbone.class_names, is_torchscript=True)
    assert list_probe_layers(model) == []
    with pytest.raises(ModelError, match="TorchScript"):
        cut_backbone(model, "3")


# --- fitting against naive computations ----------------------------------------------------------


def test_counts_and_split(fitted):
    assert fitted.class_names == ["digit_3", "digit_8"]
    assert fitted.train_counts == [14, 14] and fitted.held_out_counts == [6, 6]
    assert fitted.layer_shape == (16, 16, 16) and fitted.feature_dim == 16
    assert set(fitted.heads) == {"mean-difference", "logistic"}
    assert fitted.skipped == []


def test_mean_difference_direction_matches_numpy(folder, backbone, fitted):
    train_files, train_labels = split_files(folder, fitted)
    features = hooked_features(backbone, LAYER, train_files)
    mu1 = features[train_labels == 0].sum(axis=0) / np.count_nonzero(train_labels == 0)
    mu2 = features[train_labels == 1].sum(axis=0) / np.count_nonzero(train_labels == 1)
    w = (mu2 - mu1) / np.sqrt(np.sum((mu2 - mu1) ** 2))
    np.testing.assert_allclose(fitted.heads["mean-difference"].weight, w, rtol=1e-4, atol=1e-6)
    assert fitted.heads["mean-difference"].bias == 0.0


def test_held_out_scores_auc_and_youden_threshold_by_brute_force(backbone, fitted):
    labels = fitted.held_out_labels
    features = hooked_features(backbone, LAYER, fitted.held_out_files)
    for head in fitted.heads.values():
        scores = features @ head.weight + head.bias
        np.testing.assert_allclose(head.scores, scores, rtol=1e-4, atol=1e-5)
        positives, negatives = head.scores[labels == 1], head.scores[labels == 0]
        pairs = [(p > n) + 0.5 * (p == n) for p in positives for n in negatives]
        assert head.auc == pytest.approx(np.mean(pairs), abs=1e-12)

        def youden(t):
            return np.mean(positives >= t) - np.mean(negatives >= t)

        best = max(youden(t) for t in head.scores)
        assert not np.any(np.isclose(head.scores, head.threshold, rtol=0, atol=1e-9))  # no image on the boundary
        assert head.youden_j == pytest.approx(best)
        assert youden(head.threshold) == pytest.approx(best)
        assert head.sensitivity == pytest.approx(np.mean(positives >= head.threshold))
        assert head.specificity == pytest.approx(np.mean(negatives < head.threshold))
    # The shallow layer gives an imperfect difference of means: the checks above are not trivial.
    assert 0.5 < fitted.heads["mean-difference"].auc < 1.0


def test_logistic_head_equals_scikit_learn_decision_function(folder, backbone, fitted):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train_files, train_labels = split_files(folder, fitted)
    features = hooked_features(backbone, LAYER, train_files)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=5000))
    pipeline.fit(features, train_labels)
    head = fitted.heads["logistic"]
    held_out = hooked_features(backbone, LAYER, fitted.held_out_files)
    np.testing.assert_allclose(held_out @ head.weight + head.bias, pipeline.decision_function(held_out),
                               rtol=1e-3, atol=1e-3)


def test_fit_is_reproducible_with_its_seed(folder, backbone, fitted):
    again = fit_probe(folder, backbone, LAYER, held_out=0.3, seed=0)
    other = fit_probe(folder, backbone, LAYER, held_out=0.3, seed=3)
    assert again.held_out_files == fitted.held_out_files
    np.testing.assert_array_equal(again.heads["mean-difference"].weight, fitted.heads["mean-difference"].weight)
    assert other.held_out_files != fitted.held_out_files


def test_unreadable_images_are_left_out_and_reported(tmp_path, backbone, write_digits):
    write_digits(tmp_path, per_class=8)
    (tmp_path / "digit_8" / "broken.png").write_bytes(b"not a png at all")
    result = fit_probe(tmp_path, backbone, LAYER, held_out=0.3)
    assert [Path(f).name for f, _ in result.skipped] == ["broken.png"]
    assert sum(result.train_counts) + sum(result.held_out_counts) == 16


def test_cancel_stops_the_fit(folder, backbone):
    token = CancelToken()
    seen = []

    def progress(fraction, message="", partial=None):
        seen.append(fraction)
        if 0 < fraction < 0.9:
            token.cancel()

    with pytest.raises(Cancelled):
        fit_probe(folder, backbone, LAYER, token=token, progress=progress)
    assert seen and max(seen) < 0.95


def test_identical_classes_have_no_direction(tmp_path, backbone):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for i in range(5):
            Image.new("RGB", (32, 32), (i * 40, i * 40, i * 40)).save(tmp_path / name / f"{i}.png")
    with pytest.raises(InputError, match="same mean features"):
        fit_probe(tmp_path, backbone, LAYER, held_out=0.4)


# --- the explainable classifier ------------------------------------------------------------------


@pytest.mark.parametrize("head", ["mean-difference", "logistic"])
def test_module_outputs_half_the_thresholded_score(backbone, fitted, head):
    from xaidesk.data.images import load_image

    model = build_probe_model(backbone, fitted, head)
    fit = fitted.heads[head]
    features = hooked_features(backbone, LAYER, fitted.held_out_files[:4])
    expected = features @ fit.weight + fit.bias - fit.threshold
    x = torch.cat([backbone.preprocessing.to_tensor(load_image(f).pixels) for f in fitted.held_out_files[:4]])
    with torch.no_grad():
        logits = model.module(x).double().numpy()
    np.testing.assert_allclose(logits[:, 1], expected / 2, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(logits[:, 0], -expected / 2, rtol=1e-4, atol=1e-5)
    assert model.class_names == ["digit_3", "digit_8"] and model.architecture == backbone.architecture
    modules = dict(model.module.named_modules())
    assert isinstance(modules["head"], torch.nn.Linear) and isinstance(modules["pool"], torch.nn.AdaptiveAvgPool2d)


def test_probe_file_round_trip(tmp_path, backbone, fitted):
    from xaidesk.data.images import load_image

    path = save_probe(fitted, tmp_path / PROBE_FILE_NAME, head="logistic")
    loaded = load_model(f"probe:{path}")
    from_folder = load_model(f"probe:{tmp_path}")
    built = build_probe_model(backbone, fitted, "logistic")
    x = backbone.preprocessing.to_tensor(load_image(fitted.held_out_files[0]).pixels)
    with torch.no_grad():
        expected = built.module(x)
        assert torch.allclose(loaded.module(x), expected, atol=1e-6)
        assert torch.allclose(from_folder.module(x), expected, atol=1e-6)
    assert loaded.spec == f"probe:{path}"
    assert loaded.class_names == fitted.class_names
    assert loaded.preprocessing == backbone.preprocessing
    document = json.loads(path.read_text())
    assert document["head"] == "logistic" and document["layer"] == LAYER
    assert document["heads"]["mean-difference"]["auc"] == pytest.approx(fitted.heads["mean-difference"].auc)


def test_damaged_probe_files_give_plain_errors(tmp_path, fitted):
    path = save_probe(fitted, tmp_path / "p.xdprobe")
    document = json.loads(path.read_text())
    cases = {
        "notjson.xdprobe": "{ not json",
        "other.xdprobe": json.dumps({"format": "something else"}),
        "short.xdprobe": json.dumps({**document, "heads": {**document["heads"], "mean-difference": {
            **document["heads"]["mean-difference"], "weight": [1.0, 2.0]}}}),
        "nohead.xdprobe": json.dumps({**document, "head": "forest"}),
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ModelError):
            load_model(f"probe:{tmp_path / name}")
    with pytest.raises(ModelError, match="does not exist"):
        load_model(f"probe:{tmp_path / 'missing.xdprobe'}")
    with pytest.raises(ModelError, match="needs a probe file"):
        load_model("probe:")


@pytest.mark.parametrize("method", ["lrp.epsilon_plus_flat", "lrp.epsilon_gamma_box", "gradient.sensitivity",
                                    "gradient.input_x_gradient", "occlusion"])
def test_every_kind_of_method_explains_the_probe(tmp_path, fitted, method):
    from xaidesk.data.images import load_image
    from xaidesk.explain import explain_image

    path = save_probe(fitted, tmp_path / PROBE_FILE_NAME)
    model = load_model(f"probe:{path}")
    image = load_image(fitted.held_out_files[-1]).pixels
    explanation = explain_image(model, image, method, target=1)
    assert explanation.relevance.shape == image.shape[:2]
    assert np.all(np.isfinite(explanation.relevance)) and np.abs(explanation.relevance).sum() > 0
    if method.startswith("lrp."):
        assert "head" in explanation.extras["rules"]  # coverage checked: the head has an LRP rule
    # The logits are ∓(g − t)/2: the other class shows the same evidence with opposite sign
    # (sensitivity squares the gradient, so its map is the same).
    opposite = explain_image(model, image, method, target=0)
    sign = 1.0 if method == "gradient.sensitivity" else -1.0
    np.testing.assert_allclose(opposite.relevance, sign * explanation.relevance, rtol=1e-3, atol=1e-6)


def test_lrp_conserves_the_bias_free_part_of_the_logit(backbone, fitted):
    """ε-rule head, z⁺ convolutions (biases ignored), flat first layer: Σ R = wᵀΦ(x)/2 exactly.

    The explained logit is (wᵀΦ(x) + b − t)/2; the head's bias −(b − t)/2 keeps its share.
    """
    from xaidesk.data.images import load_image
    from xaidesk.explain import explain_image

    for head in ("mean-difference", "logistic"):
        model = build_probe_model(backbone, fitted, head)
        weight = fitted.heads[head].weight
        files = fitted.held_out_files[:3]
        for path, features in zip(files, hooked_features(backbone, LAYER, files)):
            explanation = explain_image(model, load_image(path).pixels, "lrp.epsilon_plus_flat", target=1,
                                        params={"epsilon": 1e-9})
            assert float(explanation.relevance.sum()) == pytest.approx(features @ weight / 2, rel=1e-3, abs=1e-5)


# --- the command line ----------------------------------------------------------------------------


def test_cli_writes_the_probe_roc_and_summary(tmp_path, folder, capsys):
    from xaidesk.cli import main

    out = tmp_path / "out"
    assert main(["probe", str(folder), "--model", "demo:digits", "--layer", LAYER, "--head", "logistic",
                 "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["probe.xdprobe", "roc.csv", "roc.png", "summary.json"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["head_used"] == "logistic"
    assert summary["counts"]["held_out"] == {"digit_3": 6, "digit_8": 6}
    with open(out / "roc.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["head"] for r in rows} == {"mean-difference", "logistic"}
    for name, head in summary["heads"].items():
        fpr = np.array([float(r["fpr"]) for r in rows if r["head"] == name])
        tpr = np.array([float(r["tpr"]) for r in rows if r["head"] == name])
        assert np.trapezoid(tpr, fpr) == pytest.approx(head["auc"], abs=1e-9)
        assert rows[[r["head"] for r in rows].index(name)]["threshold"] == "inf"
    with Image.open(out / "roc.png") as image:
        assert image.size == (480, 480)
    assert "AUC" in capsys.readouterr().out
    image = next((folder / "digit_8").iterdir())
    assert main(["explain", "image", str(image), "--model", f"probe:{out / 'probe.xdprobe'}",
                 "--method", "lrp.epsilon_plus_flat", "--out", str(tmp_path / "explained")]) == 0
    explained = json.loads((tmp_path / "explained" / "summary.json").read_text())
    assert explained["target"]["label"] in ("digit_3", "digit_8")


def test_cli_lists_layers_and_refuses_bad_input(tmp_path, folder, capsys):
    from xaidesk.cli import main

    assert main(["probe", "--model", "demo:digits", "--list-layers"]) == 0
    listed = capsys.readouterr().out
    assert "11 · MaxPool2d · 64×4×4   (default)" in listed
    assert main(["probe", str(folder), "--model", "demo:digits", "--layer", "nope", "--out", str(tmp_path / "o")]) == 1
    assert "not a layer" in capsys.readouterr().err
    single = tmp_path / "single"
    (single / "only").mkdir(parents=True)
    Image.new("RGB", (16, 16)).save(single / "only" / "a.png")
    assert main(["probe", str(single), "--model", "demo:digits", "--out", str(tmp_path / "o")]) == 1
    assert "exactly two subfolders" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    assert main(["probe", str(folder), "--model", "demo:digits"]) == 2


def test_a_backbone_label_file_and_hand_set_preprocessing_are_kept_in_the_probe_file(tmp_path, folder):
    from dataclasses import replace

    labels = tmp_path / "digits.txt"
    labels.write_text("\n".join(f"digit {i}" for i in range(10)) + "\n", encoding="utf-8")
    plain = load_model("demo:digits")
    edited = replace(plain.preprocessing, mean=(0.25,), std=(0.5,))
    backbone = load_model("demo:digits", labels=labels, preprocessing=edited)
    result = fit_probe(folder, backbone, LAYER, held_out=0.3, seed=0)
    path = save_probe(result, tmp_path / PROBE_FILE_NAME)
    document = json.loads(path.read_text())
    assert document["backbone_label_file"] == str(labels)
    loaded = load_model(f"probe:{path}")
    assert loaded.preprocessing == edited != plain.preprocessing
    plain_result = fit_probe(folder, plain, LAYER, held_out=0.3, seed=0)
    plain_document = json.loads(save_probe(plain_result, tmp_path / "plain" / PROBE_FILE_NAME).read_text())
    assert "backbone_preprocessing" not in plain_document and "backbone_label_file" not in plain_document


def test_a_probe_whose_backbone_layer_changed_shape_is_refused(backbone, fitted):
    from xaidesk.core import ModelError
    from xaidesk.models.probe.file import fitted_probe_module, probe_document

    document = probe_document(fitted)
    module, head, _, layer = fitted_probe_module(document, backbone, "demo", "probe")
    assert head == document["head"] and layer == LAYER and isinstance(module, torch.nn.Module)
    document["layer_shape"] = [int(v) + 1 for v in document["layer_shape"]]  # the backbone's layer has changed
    with pytest.raises(ModelError, match="no longer matches this probe: its layer .* Fit the probe again"):
        fitted_probe_module(document, backbone, "demo", "probe")
