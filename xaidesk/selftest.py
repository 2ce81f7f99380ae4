"""``xaidesk --self-test``: run every pipeline headless on the built-in demos.

It is the first thing to run on a fresh install or a packaged build: it fails
loudly (non-zero exit, one plain line per failure) when a compiled extension,
a resource file or a pipeline is missing from the bundle.
"""

from __future__ import annotations

import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Callable

Check = tuple[str, Callable[[], str]]


def _check_torchvision_ops() -> str:
    import torch
    import torchvision
    from torchvision.ops import nms

    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [50.0, 50.0, 60.0, 60.0]])
    kept = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5).tolist()
    if kept != [0, 2]:
        raise RuntimeError(f"torchvision.ops.nms returned {kept}, expected [0, 2]")
    return f"torch {torch.__version__}, torchvision {torchvision.__version__}, compiled ops load"


def _check_resources() -> str:
    from .models import list_builtin_models

    models = list_builtin_models()
    if len(models) < 2:
        raise RuntimeError(f"expected at least 2 built-in models, found {len(models)}")
    missing = [str(s) for m in models for s in m["samples"] if not Path(s).is_file()]
    if missing or not all(m["samples"] for m in models):
        raise RuntimeError(f"sample inputs missing: {missing or 'a model has none'}")
    return ", ".join(m["spec"] for m in models)


def _image_pipeline(spec: str, method: str, params: dict | None = None) -> Callable[[], str]:
    def run() -> str:
        import numpy as np

        from .data.images import load_image
        from .explain import explain_image, predict_image
        from .models import list_builtin_models, load_model

        entry = next(m for m in list_builtin_models() if m["spec"] == spec)
        model = load_model(spec)
        image = load_image(entry["samples"][0])
        prediction = predict_image(model, image.pixels)
        explanation = explain_image(model, image.pixels, method, params=params)
        relevance = explanation.relevance
        if relevance.shape != image.pixels.shape[:2] or not np.all(np.isfinite(relevance)):
            raise RuntimeError(f"relevance has shape {relevance.shape} or non-finite values")
        if not np.any(relevance != 0):
            raise RuntimeError("relevance is all zero")
        top = prediction.top(1)[0]
        return f"predicted '{top[1]}' ({top[2]:.0%}); relevance sum {relevance.sum():.3g}"

    return run


def _audio_pipeline(spec: str, method: str, params: dict | None = None) -> Callable[[], str]:
    def run() -> str:
        import numpy as np

        from .data.audio import load_audio
        from .explain import explain_audio, predict_audio
        from .models import list_builtin_models, load_model

        entry = next(m for m in list_builtin_models() if m["spec"] == spec)
        model = load_model(spec)
        audio = load_audio(entry["samples"][0])
        prediction = predict_audio(model, audio)
        explanation = explain_audio(model, audio, method, params=params)
        relevance = explanation.relevance
        frames = len(explanation.extras["frame_times"])
        if relevance.shape != (model.frontend.n_mels, frames) or not np.all(np.isfinite(relevance)):
            raise RuntimeError(f"relevance has shape {relevance.shape} or non-finite values")
        if not np.any(relevance != 0):
            raise RuntimeError("relevance is all zero")
        top = prediction.top(1)[0]
        return (f"predicted '{top[1]}' ({top[2]:.0%}) over {len(explanation.extras['windows'])} window(s); "
                f"relevance {relevance.shape[0]}x{relevance.shape[1]}")

    return run


def _check_table_pipeline() -> str:
    import numpy as np

    from .data.tables import load_table
    from .explain.table import explain_table
    from .resources import resource_path

    table = load_table(resource_path("samples", "wine.csv"))
    result = explain_table(table, "neon.knn", {"theta": "none", "standardize": True, "gamma": "auto"})
    conserved = np.allclose(result.relevance.sum(1) + result.absorbed, result.scores, rtol=1e-6, atol=1e-9)
    if not conserved:
        raise RuntimeError("NEON relevance does not add up to the outlier scores")
    top = result.top_rows(1)[0]
    return (f"wine.csv: {len(result.scores)} rows, gamma {result.gamma:.3g}, strongest outlier row "
            f"{top['row']} (mostly {top['top_feature']})")


def _check_readable_table() -> str:
    """The loan demo: an explainable boosting machine (interpret's native library), exact Shapley values (shap,
    compiled by numba on first use), TreeSHAP for a tree, its summary figure (matplotlib) and a verified
    counterfactual."""
    import numpy as np

    from .data.tables import load_table
    from .explain.table import explain_table
    from .resources import resource_path
    from .tabular.counterfactual import counterfactuals

    table = load_table(resource_path("samples", "loans.csv"))
    ebm = explain_table(table, "tabular.readable", {"model": "ebm", "ebm_outer_bags": 1, "ebm_max_rounds": 300,
                                                    "ebm_interactions": 2, "explained_rows": 8})
    tree = explain_table(table, "tabular.readable", {"model": "tree", "explained_rows": 50})
    for result in (ebm, tree):
        rows = result.extras["explained_positions"]
        if not np.allclose(result.relevance[rows].sum(1) + result.absorbed[rows], result.scores[rows], atol=1e-6):
            raise RuntimeError(f"{result.extras['model']['title']}: Shapley values do not add up to the output")
    from .export.tabular_files import beeswarm_png

    explained = tree.extras["explained_positions"]
    picture = beeswarm_png(tree.relevance[explained], tree.raw[explained], tree.feature_names)
    if not picture.startswith(b"\x89PNG"):
        raise RuntimeError("the Shapley summary figure is not a PNG")
    fitted = tree.extras["fitted"]
    declined = int(np.flatnonzero(fitted.predict_output(fitted.X) < 0.3)[0])
    found = counterfactuals(fitted, declined, frozen=["age"], count=2)
    if not all(cf.verified for cf in found.counterfactuals):
        raise RuntimeError("a counterfactual was not confirmed by the model")
    return (f"loans.csv: EBM ({ebm.extras['model']['shapley_method']} Shapley values, held-out AUC "
            f"{ebm.extras['metrics']['roc_auc']:.2f}), tree ({tree.extras['model']['shapley_method']} Shapley values), "
            f"a {len(picture) // 1024} kB summary figure, {len(found.counterfactuals)} counterfactuals "
            f"for declined row {int(tree.row_ids[declined])}")


def write_sample_molecules(folder: Path, count: int = 24, seed: int = 0) -> Path:
    """Write ``count`` jittered H2, H2O and CH4 molecules as .xyz files into ``folder`` and an energies file beside them.

    The energies come from a made-up Morse-like pair energy, so a pair model has
    something to learn. Returns the energies file (``folder/energies.txt``).
    """
    import numpy as np

    shapes = {
        "H2": (["H", "H"], [[0, 0, 0], [0.74, 0, 0]]),
        "H2O": (["O", "H", "H"], [[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]]),
        "CH4": (["C", "H", "H", "H", "H"], [[0, 0, 0], [0.63, 0.63, 0.63], [-0.63, -0.63, 0.63],
                                           [-0.63, 0.63, -0.63], [0.63, -0.63, -0.63]]),
    }
    bond = {"C": 0.77, "H": 0.37, "O": 0.66}  # covalent radii (Angstrom) set each pair's well
    rng = np.random.default_rng(seed)
    lines = []
    for k in range(count):
        name = list(shapes)[k % len(shapes)]
        symbols, base = shapes[name]
        positions = np.asarray(base, dtype=float) + rng.normal(0.0, 0.05, (len(symbols), 3))
        energy = 0.0
        for a in range(len(symbols)):
            for b in range(a + 1, len(symbols)):
                d0 = bond[symbols[a]] + bond[symbols[b]]
                d = float(np.linalg.norm(positions[a] - positions[b]))
                energy += 100.0 * ((1.0 - np.exp(-2.0 * (d - d0))) ** 2 - 1.0)
        filename = f"{k:03d}_{name}.xyz"
        atoms = [f"{s} {x:.6f} {y:.6f} {z:.6f}" for s, (x, y, z) in zip(symbols, positions)]
        (folder / filename).write_text("\n".join([str(len(symbols)), name] + atoms) + "\n", encoding="utf-8")
        lines.append(f"{filename} {energy:.6f}")
    energies = folder / "energies.txt"
    energies.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return energies


def _check_molecules() -> str:
    import numpy as np

    from .core import CancelToken, get_method
    from .data.molecules import load_molecules

    with tempfile.TemporaryDirectory() as folder:
        energies = write_sample_molecules(Path(folder))
        mols = load_molecules(folder, energies, unit="angstrom")
    details = []
    for name in ("ridge.atoms", "ridge.pairs"):
        info = get_method(name)
        explanation = info.function(None, mols, None, params=info.resolve_params({}), token=CancelToken(),
                                    progress=lambda *a, **k: None)
        model = explanation.extras["model"]
        mae = model.metrics["test_mae"]
        if not np.all(np.isfinite(explanation.relevance)) or not np.isfinite(mae):
            raise RuntimeError(f"{name} gave non-finite weights or a non-finite test error")
        for index in model.split["test"]:
            parts = model.decompose(mols, int(index))
            predicted = float(model.predict(mols.subset([int(index)]))[0])
            if not np.isclose(parts.parts.sum() + parts.intercept, predicted, rtol=1e-9, atol=1e-6):
                raise RuntimeError(f"{name}: the contributions of {parts.name} do not add up to its prediction "
                                   f"({parts.parts.sum() + parts.intercept:.6g} against {predicted:.6g})")
        details.append(f"{name} test MAE {mae:.3g} {model.energy_unit}")
    return f"{len(mols)} generated molecules; " + ", ".join(details) + "; decompositions add up"


def _check_dataset_mode() -> str:
    import numpy as np

    from .runs import read_index, run_batch
    from .data.images import load_image
    from .data.scenes import write_mark_demo_folder
    from .evaluate import FlipSettings, image_faithfulness
    from .evaluate.spray import load_run_heatmaps, spray
    from .models import load_model

    method = "lrp.epsilon_plus_flat"
    with tempfile.TemporaryDirectory() as folder:
        pictures = write_mark_demo_folder(Path(folder) / "pictures", n=12, seed=0)
        model = load_model("demo:clever_hans")
        result = run_batch(pictures, Path(folder) / "run", model, [method], target=0, batch_size=6)
        rows = read_index(result.run_dir)
        if result.computed != 12 or len(rows) != 12:
            raise RuntimeError(f"the batch run explained {result.computed} pictures and indexed {len(rows)} of 12")
        heatmaps = load_run_heatmaps(result.run_dir, method=method, target_class=0)
        clusters = spray(heatmaps.maps, n_clusters=2, n_neighbors=5, embedding="spectral")
        if np.bincount(clusters.labels, minlength=2).min() == 0:
            raise RuntimeError("SpRAy put every heatmap into one cluster")
        image = load_image(pictures / rows[0].file).pixels
        relevance = np.load(result.run_dir / rows[0].relevance)
        curve = image_faithfulness(model, image, relevance, 0, FlipSettings(steps=4, random_orders=1))
    gap = curve.areas()["aopc_morf_minus_random"]
    if not np.isfinite(gap):
        raise RuntimeError("the faithfulness curve of a batch heatmap is not finite")
    return (f"batch run of 12 generated pictures, SpRAy clusters of {sorted(np.bincount(clusters.labels).tolist())}, "
            f"AOPC MoRF - random {gap:+.3g}")


def _check_concepts() -> str:
    import numpy as np

    from .concepts.files import write_references
    from .concepts.image import explain_concepts
    from .concepts.prototypes import prototypes_for_class
    from .concepts.references import compute_references
    from .data.images import load_image
    from .data.scenes import write_mark_demo_folder
    from .explain.lrp.concepts import concept_layers, default_layer
    from .models import load_model

    model = load_model("demo:clever_hans")
    layer = default_layer(concept_layers(model))
    with tempfile.TemporaryDirectory() as folder:
        pictures = write_mark_demo_folder(Path(folder) / "pictures", n=16, seed=0)
        references = compute_references(pictures, model, layer, out=Path(folder) / "run", batch_size=4)
        write_references(references, per_concept=4)
        sheets = len(list((references.run_dir / "references").glob("concept_*.png")))
        pixels = load_image(pictures / references.files[0]).pixels
        every = explain_concepts(model, pixels, layer, top=references.channels, graph=False)
    if len(references.files) != 16 or sheets != references.channels:
        raise RuntimeError(f"the reference run kept {len(references.files)} of 16 pictures and {sheets} sheets")
    common = int(np.argmax(np.bincount(references.predicted)))
    prototypes = prototypes_for_class(references, common, 2)
    if prototypes.count != 2 or not np.isfinite(prototypes.log_likelihood).all():
        raise RuntimeError("the prototypes of the demo's commonest class could not be fitted")
    from .explain.image import explain_image

    whole = explain_image(model, pixels, "lrp.epsilon_plus_flat", target=every.target).relevance
    seen = np.isfinite(whole)
    gap = float(np.abs(every.heatmaps.sum(0)[seen] - whole[seen]).max() / (np.abs(whole[seen]).max() or 1.0))
    if gap > 1e-3:
        raise RuntimeError(f"the {references.channels} concept heatmaps do not add up to the LRP heatmap (gap {gap:.2g})")
    return (f"layer {layer}: reference samples of {references.channels} concepts from 16 generated pictures, "
            f"2 prototypes of class {common}; all concept heatmaps add up to the LRP heatmap (gap {gap:.1e})")


def _check_repair() -> str:
    import numpy as np

    from .data.scenes import MARK_BOX
    from .models import load_model
    from .repair.artefact import artefact_from_region, positive_share, relevance_maps
    from .repair.clarc import p_clarc
    from .repair.data import generated_clever_hans_set
    from .repair.prune import prune, reference_samples
    from .repair.result import write_repair_outputs

    model = load_model("demo:clever_hans")
    carrying = generated_clever_hans_set(model, 48, 7, marked="all").of_class(0)
    clean = generated_clever_hans_set(model, 48, 7, marked="none").of_class(0)
    artefact = artefact_from_region(carrying.inputs[0], MARK_BOX, description="the demo's tag")
    corrected = p_clarc(model, artefact, carrying, clean, target=0)
    shares = [float(np.nanmean(positive_share(relevance_maps(m, carrying.inputs, [0] * len(carrying)), artefact.mask)))
              for m in (model, corrected.model)]
    if not shares[1] < shares[0] / 2:
        raise RuntimeError(f"P-ClArC left {shares[1]:.0%} of the relevance on the tag (before: {shares[0]:.0%})")
    with tempfile.TemporaryDirectory() as folder:
        out = write_repair_outputs(corrected, Path(folder) / "corrected")
        reopened = load_model(f"file:{out / 'model.safetensors'}")
        import torch

        if not torch.allclose(reopened.module(carrying.inputs[:4]), corrected.model.module(carrying.inputs[:4]), atol=1e-5):
            raise RuntimeError("the saved corrected model scores differently after opening it again")
    data = generated_clever_hans_set(model, 60, 11)
    pruned = prune(model, reference_samples(data, per_class=10), data, criterion="relevance", share=0.2)
    parameters = pruned.comparison("parameters")
    if parameters is None or not parameters.after < parameters.before:
        raise RuntimeError("pruning 20 % of the filters did not make the model smaller")
    return (f"P-ClArC: relevance on the tag {shares[0]:.0%} -> {shares[1]:.0%}, saved and reopened; pruning 20 % by "
            f"relevance: {parameters.before:,.0f} -> {parameters.after:,.0f} parameters")


def _check_probe() -> str:
    import numpy as np

    from .data.scenes import make_clever_hans_set
    from .explain import explain_image
    from .models import load_model
    from .models.probe import build_probe_model, fit_probe
    from PIL import Image

    images, labels, _marked = make_clever_hans_set(24, seed=3)
    with tempfile.TemporaryDirectory() as folder:
        for i, (image, label) in enumerate(zip(images, labels)):
            sub = Path(folder) / ("horse" if label == 0 else "other")
            sub.mkdir(exist_ok=True)
            Image.fromarray(image).save(sub / f"{i:03d}.png")
        backbone = load_model("demo:clever_hans")
        result = fit_probe(folder, backbone, "15", held_out=0.4, seed=0)
    model = build_probe_model(backbone, result, "logistic")
    explanation = explain_image(model, images[0], "lrp.epsilon_plus_flat")
    if not np.all(np.isfinite(explanation.relevance)):
        raise RuntimeError("LRP on the quick classifier gave non-finite relevance")
    aucs = ", ".join(f"{name} AUC {head.auc:.2f}" for name, head in result.heads.items())
    return f"layer 15 of demo:clever_hans on 24 generated pictures: {aucs}; LRP explains it"


def _check_cli() -> str:
    from .cli import main as cli_main
    from .models import list_builtin_models

    sample = list_builtin_models()[0]["samples"][0]
    spec = list_builtin_models()[0]["spec"]
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out"
        code = cli_main(["explain", "image", str(sample), "--model", spec, "--method", "gradient.sensitivity", "--out", str(out)])
        files = sorted(p.name for p in out.iterdir()) if out.exists() else []
    if code != 0 or files != ["overlay.png", "relevance.npy", "summary.json"]:
        raise RuntimeError(f"CLI exited {code} and wrote {files}")
    return "explain image wrote overlay.png, relevance.npy, summary.json"


def _synthetic_picture(size: int = 96, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)


def _explained(model, method: str, params: dict | None = None) -> str:
    import numpy as np

    from .explain import explain_image, predict_image

    picture = _synthetic_picture()
    prediction = predict_image(model, picture)
    explanation = explain_image(model, picture, method, params=params)
    relevance = explanation.relevance
    seen = np.isfinite(relevance)
    if not seen.any() or not np.any(relevance[seen] != 0):
        raise RuntimeError(f"{method} gave an empty or non-finite map")
    conservation = explanation.extras.get("conservation")
    kept = f", relevance kept {conservation:.0%}" if isinstance(conservation, float) else ""
    return f"{len(prediction.probabilities)} classes, {method} explains it{kept}"


def _check_timm_vit() -> str:
    import timm
    import torch
    from safetensors.torch import save_file

    from .models import load_model

    with torch.random.fork_rng():
        torch.manual_seed(0)
        network = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=3, img_size=64)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "vit_tiny.safetensors"
        save_file({k: v.contiguous() for k, v in network.state_dict().items()}, str(path))
        model = load_model(f"timm:vit_tiny_patch16_224:{path}")
    return "timm vit_tiny_patch16_224 from a .safetensors file: " + _explained(model, "lrp.attention")


def _check_hugging_face() -> str:
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    from .models import load_model

    config = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=64, num_labels=2, id2label={0: "cat", 1: "dog"}, label2id={"cat": 0, "dog": 1})
    from transformers.utils import logging as hf_logging

    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        with tempfile.TemporaryDirectory() as folder, torch.random.fork_rng():
            torch.manual_seed(0)
            ViTForImageClassification(config).save_pretrained(folder)
            ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
            model = load_model(f"hf:{folder}")
    finally:
        if shown:
            hf_logging.enable_progress_bar()
    if model.class_names != ["cat", "dog"]:
        raise RuntimeError(f"class names {model.class_names} instead of cat, dog from id2label")
    return "transformers ViT folder, classes from id2label: " + _explained(model, "lrp.attention")


def write_tiny_onnx(path: Path, classes: int = 3, size: int = 32, pool: str = "GlobalAveragePool") -> Path:
    """Write a small convolutional classifier (conv, ReLU, global pooling, dense) as an ONNX file.

    ``pool="GlobalMaxPool"`` gives a graph onnxruntime runs but onnx2torch cannot convert.
    """
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = [
        numpy_helper.from_array(rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32), "conv_w"),
        numpy_helper.from_array(rng.normal(0, 0.1, (8,)).astype(np.float32), "conv_b"),
        numpy_helper.from_array(rng.normal(0, 0.5, (classes, 8)).astype(np.float32), "fc_w"),
        numpy_helper.from_array(np.zeros(classes, np.float32), "fc_b"),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "conv_w", "conv_b"], ["conv"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node(pool, ["relu"], ["pool"]),
        helper.make_node("Flatten", ["pool"], ["flat"]),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], transB=1),
    ]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])], initializer=weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _check_onnx() -> str:
    from .models import load_model

    with tempfile.TemporaryDirectory() as folder:
        path = write_tiny_onnx(Path(folder) / "tiny.onnx")
        model = load_model(f"onnx:{path}")
        occlusion = _explained(model, "occlusion")
        lrp = _explained(model, "lrp.epsilon_plus_flat")
    return f"onnxruntime: {occlusion}; converted to PyTorch: {lrp.split(', ', 1)[1]}"


def _check_vggish() -> str:
    import numpy as np
    import soundfile
    import torch

    from .data.audio import load_audio
    from .explain import explain_audio
    from .models import load_model
    from .models.audio import build_vggish
    from .models.vggish_convert import convert_vggish

    with torch.random.fork_rng():
        torch.manual_seed(0)
        published = {key: value.contiguous() for key, value in build_vggish().state_dict().items()}
    rate = 16000
    times = np.arange(rate * 2) / rate
    wave = (0.3 * np.sin(2 * np.pi * 1000 * times) * (times > 0.8)).astype(np.float32)
    with tempfile.TemporaryDirectory() as folder:
        source, converted = Path(folder) / "torchvggish.pth", Path(folder) / "vggish.pth"
        torch.save(published, source)
        convert_vggish(source, converted, layout="torchvggish")
        model = load_model(f"vggish:{converted}")
        clip = Path(folder) / "tone.wav"
        soundfile.write(clip, wave, rate)
        explanation = explain_audio(model, load_audio(clip), "relax", params={"num_masks": 50, "strategy": "time"})
    relevance = explanation.relevance
    if not np.all(np.isfinite(relevance)) or not np.any(relevance != 0):
        raise RuntimeError("RELAX on the converted VGGish gave an empty or non-finite map")
    return (f"random torchvggish weights converted (fc1 reordered for mel x time), {model.name}: RELAX "
            f"{relevance.shape[0]}x{relevance.shape[1]}")


def _check_window() -> str:
    from .gui.app import open_and_close_main_window

    return open_and_close_main_window()


def checks(with_window: bool = False) -> list[Check]:
    found: list[Check] = [
        ("torchvision compiled operators", _check_torchvision_ops),
        ("resources (demo models, samples)", _check_resources),
        ("image: demo:digits + LRP epsilon-plus-flat", _image_pipeline("demo:digits", "lrp.epsilon_plus_flat")),
        ("image: demo:clever_hans + LRP epsilon-gamma-box", _image_pipeline("demo:clever_hans", "lrp.epsilon_gamma_box")),
        ("image: demo:digits + integrated gradients", _image_pipeline("demo:digits", "gradient.integrated", {"steps": 8})),
        ("image: demo:clever_hans + occlusion", _image_pipeline("demo:clever_hans", "occlusion")),
        ("image: demo:clever_hans + RELAX (200 masks)", _image_pipeline("demo:clever_hans", "relax", {"num_masks": 200})),
        ("image: demo:digits + LIME (200 samples)", _image_pipeline("demo:digits", "lime", {"num_samples": 200})),
        ("audio: demo:sounds + RELAX time bands (100 masks)",
         _audio_pipeline("demo:sounds", "relax", {"num_masks": 100, "strategy": "time"})),
        ("table: wine.csv + NEON soft-min outliers", _check_table_pipeline),
        ("table: loans.csv + readable models, Shapley values and counterfactuals", _check_readable_table),
        ("molecules: generated .xyz + ridge on atom counts and pair potentials", _check_molecules),
        ("data set: batch run + SpRAy + faithfulness on generated pictures", _check_dataset_mode),
        ("concepts: reference samples, prototypes (PCX); concept heatmaps add up (CRP)", _check_concepts),
        ("quick classifier: backbone layer + linear head, explained by LRP", _check_probe),
        ("model repair: P-ClArC on the demo's tag, saved and reopened; one pruning step", _check_repair),
        ("command line: explain image", _check_cli),
        ("timm ViT from a weights file + LRP for transformers", _check_timm_vit),
        ("Hugging Face image classifier folder + LRP for transformers", _check_hugging_face),
        ("ONNX file: occlusion through onnxruntime, LRP through PyTorch", _check_onnx),
        ("VGGish from a converted torchvggish file + RELAX", _check_vggish),
    ]
    if with_window:
        found.append(("main window opens and closes", _check_window))
    return found


def run_self_test(with_window: bool = False, stream=sys.stdout) -> int:
    """Run all checks; print one line each; return 0 when all pass, 1 otherwise."""
    from .tabular import load_builtin_methods

    load_builtin_methods()
    failures = 0
    start = time.perf_counter()
    for name, check in checks(with_window):
        t0 = time.perf_counter()
        try:
            detail = check()
            print(f"ok    {name} ({time.perf_counter() - t0:.1f} s): {detail}", file=stream, flush=True)
        except Exception as error:  # a self-test reports every failure, whatever its type
            failures += 1
            message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
            print(f"FAIL  {name}: {message}", file=stream, flush=True)
            traceback.print_exc(file=sys.stderr)
    total = time.perf_counter() - start
    if failures:
        print(f"self-test FAILED: {failures} of {len(checks(with_window))} checks failed ({total:.1f} s).", file=stream)
        return 1
    print(f"self-test passed: {len(checks(with_window))} checks in {total:.1f} s.", file=stream)
    return 0
