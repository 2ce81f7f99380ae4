"""``hf:FOLDER``: transformers image classifiers from a local folder (xaidesk/models/hf/).

Offline and fast: each architecture is built from a tiny config with random weights and saved with
``save_pretrained`` next to a matching image processor. The loaded model must give transformers'
own logits, and xaidesk's preprocessing must give the image processor's ``pixel_values``:
exactly (to float rounding) when no resize happens, and within one level of 255 when it does,
because transformers resizes uint8 images and rounds the result; within two levels for bicubic
resizing, which rounds between its two passes (and is compared on downscaled images only: upscaling
noise makes it overshoot, and the uint8 clamp between passes then differs more).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from transformers import (  # noqa: E402
    BertConfig,
    ConvNextConfig,
    ConvNextForImageClassification,
    ConvNextImageProcessor,
    DeiTConfig,
    DeiTForImageClassificationWithTeacher,
    DeiTImageProcessor,
    SwinConfig,
    SwinForImageClassification,
    ViTConfig,
    ViTForImageClassification,
    ViTImageProcessor,
    ViTModel,
)

from xaidesk.core import ModelError  # noqa: E402
from xaidesk.explain import explain_image  # noqa: E402
from xaidesk.models import UntrustedModelError, load_model  # noqa: E402
from xaidesk.models.hf import HFImageClassifier  # noqa: E402

LABELS = {0: "cat", 1: "dog", 2: "fox"}
VIT = dict(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
           intermediate_size=64, num_labels=3)


def _tiny(kind: str):
    """A tiny randomly initialised (model, image processor) pair of the given kind."""
    torch.manual_seed(0)
    if kind == "vit":
        model = ViTForImageClassification(ViTConfig(**VIT, id2label=LABELS, label2id={v: k for k, v in LABELS.items()}))
        return model, ViTImageProcessor(size={"height": 32, "width": 32})
    if kind == "deit":
        model = DeiTForImageClassificationWithTeacher(DeiTConfig(**VIT))
        return model, DeiTImageProcessor(size={"height": 40, "width": 40}, crop_size={"height": 32, "width": 32})
    if kind == "convnext":
        model = ConvNextForImageClassification(
            ConvNextConfig(num_stages=2, depths=[1, 1], hidden_sizes=[8, 16], image_size=32, num_labels=3)
        )
        return model, ConvNextImageProcessor(size={"shortest_edge": 32}, crop_pct=0.875)
    if kind == "swin":
        model = SwinForImageClassification(SwinConfig(
            image_size=32, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[1, 2], window_size=4, num_labels=3,
        ))
        return model, ViTImageProcessor(size={"height": 32, "width": 32}, image_mean=[0.485, 0.456, 0.406],
                                        image_std=[0.229, 0.224, 0.225])
    raise KeyError(kind)


def _save(folder: Path, model, processor=None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    if processor is not None:
        processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict:
    """kind -> (folder, transformers model in eval mode, image processor)."""
    root = tmp_path_factory.mktemp("hf")
    result = {}
    for kind in ("vit", "deit", "convnext", "swin"):
        model, processor = _tiny(kind)
        result[kind] = (_save(root / kind, model, processor), model.eval(), processor)
    return result


def _copy(folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(folder, tmp_path / folder.name))


def _noise(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def _levels(loaded, processor, image) -> float:
    """Largest difference between the two model inputs, in 1/255 of the pixel range."""
    theirs = processor(images=image, return_tensors="pt", input_data_format="channels_last")["pixel_values"]
    ours = loaded.preprocessing.to_tensor(image)
    assert tuple(theirs.shape) == tuple(ours.shape)
    std = torch.tensor(loaded.preprocessing.std).view(1, -1, 1, 1)
    return float(((theirs - ours).abs() * std).max()) * 255.0


# --------------------------------------------------------------------------- the four architectures


@pytest.mark.parametrize("kind", ["vit", "deit", "convnext", "swin"])
def test_logits_match_transformers(saved, kind):
    folder, model, _ = saved[kind]
    loaded = load_model(f"hf:{folder}")
    assert loaded.architecture == f"hf:{kind}"
    assert isinstance(loaded.module, HFImageClassifier) and loaded.module.model.__class__ is model.__class__
    assert not loaded.module.training
    assert all(not p.requires_grad and p.dtype == torch.float32 for p in loaded.module.parameters())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = model(pixel_values=x).logits
        got = loaded.module(x)
    assert got.shape == (2, 3)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_vit_attention_is_eager_and_names_are_the_labels(saved):
    folder, _, _ = saved["vit"]
    loaded = load_model(f"hf:{folder}")
    assert loaded.module.model.config._attn_implementation == "eager"
    assert loaded.class_names == ["cat", "dog", "fox"]
    assert loaded.name == "vit" and loaded.spec == f"hf:{folder}"
    assert not any("LABEL" in note for note in loaded.notes)
    names = dict(loaded.module.named_modules())
    assert any(name.startswith("model.") for name in names)  # layers are visible for hooks and LRP rules


def test_default_labels_become_class_i(saved):
    loaded = load_model(f"hf:{saved['swin'][0]}")
    assert loaded.class_names == ["class 0", "class 1", "class 2"]
    assert any("LABEL_i" in note for note in loaded.notes)


@pytest.mark.parametrize("kind", ["vit", "swin"])
def test_preprocessing_matches_the_image_processor(saved, kind):
    folder, _, processor = saved[kind]
    loaded = load_model(f"hf:{folder}")
    assert loaded.preprocessing.resize is None and loaded.preprocessing.size == (32, 32)
    assert loaded.preprocessing.interpolation == "bilinear"
    assert _levels(loaded, processor, _noise((32, 32))) < 1e-3  # no resize: the same numbers
    for shape in [(48, 40), (37, 61), (80, 120)]:  # bilinear resize, up and down
        assert _levels(loaded, processor, _noise(shape)) <= 1.0 + 1e-3


def test_convnext_crop_pct(saved):
    folder, _, processor = saved["convnext"]
    loaded = load_model(f"hf:{folder}")
    prep = loaded.preprocessing
    assert (prep.size, prep.resize, prep.interpolation) == ((32, 32), 36, "bicubic")  # int(32 / 0.875)
    for shape in [(80, 120), (120, 80), (72, 72)]:  # crop offsets land on whole pixels in both
        assert _levels(loaded, processor, _noise(shape)) <= 2.0
    assert not any("differs" in note for note in loaded.notes)  # the load-time check on a test image agrees


def test_deit_stretch_then_crop_is_stated(saved):
    folder, _, processor = saved["deit"]
    loaded = load_model(f"hf:{folder}")
    prep = loaded.preprocessing
    assert (prep.size, prep.resize, prep.interpolation) == ((32, 32), 40, "bicubic")
    assert _levels(loaded, processor, _noise((80, 80))) <= 2.0  # square: the same geometry
    assert any("stretches images to 40×40" in note for note in loaded.notes)
    assert any("differs from that of the model's own image processor" in note for note in loaded.notes)


def test_rescale_and_normalisation_are_folded_exactly(tmp_path):
    model, _ = _tiny("vit")
    processor = ViTImageProcessor(size={"height": 32, "width": 32}, do_resize=False, do_normalize=False,
                                  rescale_factor=1 / 127.5)
    folder = _save(tmp_path / "scaled", model, processor)
    loaded = load_model(f"hf:{folder}")
    image = _noise((32, 32), seed=3)
    theirs = processor(images=image, return_tensors="pt", input_data_format="channels_last")["pixel_values"]
    torch.testing.assert_close(loaded.preprocessing.to_tensor(image), theirs, rtol=1e-5, atol=1e-5)
    assert float(theirs.max()) > 1.5  # the factor really is 2/255
    assert any("does not resize" in note for note in loaded.notes)


def test_nearest_resampling(tmp_path):
    model, _ = _tiny("vit")
    processor = ViTImageProcessor(size={"height": 32, "width": 32}, resample=0)
    loaded = load_model(f"hf:{_save(tmp_path / 'nearest', model, processor)}")
    assert loaded.preprocessing.interpolation == "nearest"
    assert _levels(loaded, processor, _noise((48, 80))) < 1e-3


def test_missing_processor_uses_the_standard_one_and_says_so(tmp_path):
    model, _ = _tiny("vit")
    loaded = load_model(f"hf:{_save(tmp_path / 'bare', model)}")
    assert loaded.preprocessing.size == (32, 32)  # config.json's image_size, not ViTImageProcessor's 224
    assert loaded.preprocessing.mean == (0.5, 0.5, 0.5) and loaded.preprocessing.resize is None
    assert any("no preprocessor_config.json" in note for note in loaded.notes)
    assert any("the input size config.json names" in note for note in loaded.notes)


def test_gradient_explanation_end_to_end(saved):
    folder, model, processor = saved["vit"]
    loaded = load_model(f"hf:{folder}")
    image = _noise((32, 32), seed=1)
    result = explain_image(loaded, image, "gradient.input_x_gradient", target=1)
    assert result.relevance.shape == (32, 32) and np.isfinite(result.relevance).all()
    # independently: input x gradient of transformers' logit on the image processor's input
    x = processor(images=image, return_tensors="pt", input_data_format="channels_last")["pixel_values"]
    x = x.clone().requires_grad_(True)
    logit = model(pixel_values=x).logits[0, 1]
    (grad,) = torch.autograd.grad(logit, x)
    expected = (x * grad).sum(1)[0].detach().numpy()
    np.testing.assert_allclose(result.relevance, expected, rtol=1e-3, atol=1e-5 * np.abs(expected).max())
    assert result.score == pytest.approx(float(logit.detach()), rel=1e-4)


# --------------------------------------------------------------------------- offline and trust


def test_loading_never_touches_the_network(saved, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access while loading")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    environment = dict(os.environ)
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    loaded = load_model(f"hf:{saved['convnext'][0]}")
    assert loaded.num_classes == 3
    assert dict(os.environ) == environment
    assert hf_logging.get_verbosity() == verbosity and hf_logging.is_progress_bar_enabled()


def test_hub_name_is_refused_plainly(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelError, match="not a folder on this computer.*never downloads"):
        load_model("hf:google/vit-base-patch16-224")


def test_custom_code_needs_trust(saved, tmp_path):
    folder = _copy(saved["vit"][0], tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForImageClassification": "modeling_evil.EvilForImageClassification"}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(UntrustedModelError, match="its own Python code.*modeling_evil"):
        load_model(f"hf:{folder}")


def test_processor_custom_code_needs_trust(saved, tmp_path):
    folder = _copy(saved["vit"][0], tmp_path)
    processor = json.loads((folder / "preprocessor_config.json").read_text())
    processor["auto_map"] = {"AutoImageProcessor": "processing_evil.EvilProcessor"}
    (folder / "preprocessor_config.json").write_text(json.dumps(processor))
    with pytest.raises(UntrustedModelError, match="processing_evil"):
        load_model(f"hf:{folder}")


def _bin_only(folder: Path, model, extra=None) -> None:
    (folder / "model.safetensors").unlink()
    state = dict(model.state_dict())
    if extra is not None:
        state["payload"] = extra
    torch.save(state, folder / "pytorch_model.bin")


def test_plain_bin_weights_load_without_trust(saved, tmp_path):
    folder, model, _ = saved["vit"]
    folder = _copy(folder, tmp_path)
    _bin_only(folder, model)
    loaded = load_model(f"hf:{folder}")
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded.module(x), model(pixel_values=x).logits)


def test_bin_with_pickled_code_needs_trust(saved, tmp_path):
    folder, model, _ = saved["vit"]
    folder = _copy(folder, tmp_path)
    _bin_only(folder, model, extra=argparse.Namespace(learning_rate=0.1))  # a pickled object, as old checkpoints hold
    with pytest.raises(UntrustedModelError, match="pytorch_model.bin.*program code"):
        load_model(f"hf:{folder}")
    loaded = load_model(f"hf:{folder}", trust=True)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded.module(x), model(pixel_values=x).logits)
    assert loaded.module.model.config._attn_implementation == "eager"


# --------------------------------------------------------------------------- folders that do not fit


def test_missing_folder_and_file(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        load_model(f"hf:{tmp_path / 'nowhere'}")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelError, match="is a file.*hf:"):
        load_model(f"hf:{tmp_path / 'config.json'}")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelError, match="no config.json"):
        load_model(f"hf:{empty}")


def test_text_model_is_refused(tmp_path):
    folder = tmp_path / "bert"
    BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32).save_pretrained(folder)
    with pytest.raises(ModelError, match="'bert' model, which is not an image classifier"):
        load_model(f"hf:{folder}")


def test_model_without_head_is_refused(tmp_path):
    torch.manual_seed(0)
    folder = _save(tmp_path / "base", ViTModel(ViTConfig(**VIT)), ViTImageProcessor(size={"height": 32, "width": 32}))
    with pytest.raises(ModelError, match="saved as ViTModel, which has no classification head"):
        load_model(f"hf:{folder}")


def test_missing_weights(saved, tmp_path):
    folder = _copy(saved["vit"][0], tmp_path)
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelError, match="holds no weights"):
        load_model(f"hf:{folder}")


@pytest.mark.parametrize("change, wording", [
    ({"num_hidden_layers": 3}, r"'vit\.layers\.2\..*' is missing from model.safetensors"),
    ({"num_hidden_layers": 1}, r"'vit\.layers\.1\..*' is in model.safetensors but not in the model"),
    ({"intermediate_size": 48}, r"'vit\.layers\.0\.mlp\.fc1\..*' has a different shape"),
    ({"num_labels": 4, "id2label": {str(i): f"c{i}" for i in range(4)}}, r"'classifier\..*' has a different shape"),
])
def test_weights_that_do_not_match_the_config(saved, tmp_path, change, wording):
    folder = _copy(saved["vit"][0], tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config.update(change)
    if "num_labels" in change:
        config["label2id"] = {v: int(k) for k, v in change["id2label"].items()}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="do not match config.json.*" + wording):
        load_model(f"hf:{folder}")


def test_processor_size_the_model_cannot_take(saved, tmp_path):
    folder = _copy(saved["vit"][0], tmp_path)
    ViTImageProcessor(size={"height": 48, "width": 48}).save_pretrained(folder)
    with pytest.raises(ModelError, match="does not accept a 48×48 image"):
        load_model(f"hf:{folder}")


def test_broken_config_json(saved, tmp_path):
    folder = _copy(saved["vit"][0], tmp_path)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ModelError, match="could not be read as JSON"):
        load_model(f"hf:{folder}")


def test_cache_folder_reads_its_snapshot(saved, tmp_path):
    cache = tmp_path / "models--org--tiny-vit"
    shutil.copytree(saved["vit"][0], cache / "snapshots" / "abc123")
    (cache / "refs").mkdir()
    (cache / "refs" / "main").write_text("abc123")
    loaded = load_model(f"hf:{cache}")
    assert loaded.name == "models--org--tiny-vit" and loaded.class_names == ["cat", "dog", "fox"]
    assert any("snapshot abc123" in note for note in loaded.notes)


def test_overlapping_loads_restore_transformers_settings_when_the_last_ends():
    import contextlib
    import threading

    from transformers.utils import logging as hf_logging

    from xaidesk.models.hf import quiet_transformers

    hf_logging.set_verbosity_warning()
    hf_logging.enable_progress_bar()
    try:
        first, second = contextlib.ExitStack(), contextlib.ExitStack()
        first.enter_context(quiet_transformers())
        second.enter_context(quiet_transformers())
        first.close()  # the first load ends while the second still runs: still quiet
        assert hf_logging.get_verbosity() == hf_logging.ERROR and not hf_logging.is_progress_bar_enabled()
        second.close()
        assert hf_logging.get_verbosity() == hf_logging.WARNING and hf_logging.is_progress_bar_enabled()

        inside, release = threading.Barrier(4), threading.Event()

        def load():
            with quiet_transformers():
                inside.wait(timeout=10)
                release.wait(timeout=10)

        threads = [threading.Thread(target=load) for _ in range(3)]
        for thread in threads:
            thread.start()
        inside.wait(timeout=10)
        assert hf_logging.get_verbosity() == hf_logging.ERROR
        release.set()
        for thread in threads:
            thread.join(timeout=10)
        assert hf_logging.get_verbosity() == hf_logging.WARNING and hf_logging.is_progress_bar_enabled()
    finally:
        hf_logging.set_verbosity_warning()


def test_old_transformers_is_refused_by_name(saved, monkeypatch):
    import sys

    from xaidesk.models.hf import MIN_TRANSFORMERS

    # the module now imported under that name (saving a model may have replaced the one imported above)
    monkeypatch.setattr(sys.modules["transformers"], "__version__", "4.40.2")
    with pytest.raises(ModelError, match=f"transformers {MIN_TRANSFORMERS} or newer; this installation has 4.40.2"):
        load_model(f"hf:{saved['vit'][0]}")


def test_standard_processor_names_of_transformers_4_and_5():
    from xaidesk.models.hf import standard_processor_name

    assert standard_processor_name({"torchvision": "ViTImageProcessorFast", "pil": "ViTImageProcessor"}) \
        == "ViTImageProcessorFast"
    assert standard_processor_name({"pil": "ViTImageProcessor"}) == "ViTImageProcessor"
    assert standard_processor_name(("ViTImageProcessor", "ViTImageProcessorFast")) == "ViTImageProcessorFast"
    assert standard_processor_name(("ViTImageProcessor", None)) == "ViTImageProcessor"
    assert standard_processor_name(None) is None


def test_label_file_replaces_the_note_that_config_names_no_classes(saved, tmp_path):
    folder = saved["swin"][0]  # saved without id2label: transformers' LABEL_i names
    names = tmp_path / "names.txt"
    names.write_text("cat\ndog\nfox\n")
    plain = load_model(f"hf:{folder}")
    loaded = load_model(f"hf:{folder}", labels=names)
    assert loaded.class_names == ["cat", "dog", "fox"]
    assert loaded.notes[-1] == "Class names from names.txt."
    assert loaded.notes[:-1] == [note for note in plain.notes if "LABEL_i" not in note]  # the others are kept
