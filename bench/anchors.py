"""The anchors table: explanations per second of every image method beside the peer libraries, in one run.

Run with ``.venv/bin/python bench/anchors.py [--models resnet50 vgg16 efficientnet_b0 vit_b_16]
[--methods lrp ig smoothgrad saliency occlusion lime relax flipping] [--repeats N] [--batch 16]
[--device cpu|cuda] [--quick]``. The peers come with ``pip install -e .[bench]``.

Models: torchvision ResNet-50, VGG-16, EfficientNet-B0 and ViT-B/16 with random weights (no
download; the ViT's zero-initialised head gets small random weights so that its logits differ),
one generated 224×224 picture (smooth colour fields with noise), ImageNet normalisation.

Each row is one method at matched settings; xaidesk is called through the method registry (the
whole call a user waits for: checks, the method, the map), the peer as its documentation shows:

========== ================================================ =============================================
method     xaidesk                                          peer (anchor)
========== ================================================ =============================================
lrp        ``lrp.epsilon_plus_flat`` (CNNs)                 zennit ``Gradient`` + ``EpsilonPlusFlat`` and
                                                            its ResNet/VGG canonizer (EfficientNet: none)
lrp        ``lrp.attention`` (ViT)                          LXT (AttnLRP), in a subprocess (it patches torch)
ig         ``gradient.integrated``, 50 steps, trapezoid     Captum ``IntegratedGradients``, riemann_trapezoid,
                                                            50 steps, ``internal_batch_size`` equal
smoothgrad ``gradient.smoothgrad``, 25 samples              Captum ``NoiseTunnel(Saliency)``, 25 samples, same σ
saliency   ``gradient.sensitivity``                         Captum ``Saliency``
occlusion  ``occlusion``, 32 px window, stride 16           Captum ``Occlusion``, same window, stride, batch
lime       ``lime``, N samples (its SLIC segments)          ``lime`` ``LimeImageExplainer``, N samples (its
                                                            quickshift segments), same batch
relax      ``relax``, N masks                               relax-xai ``RELAX`` (the official code), N masks,
                                                            same batch and representation
flipping   pixel flipping, 16 steps, MoRF, black            Quantus ``PixelFlipping``, 16 steps, black
========== ================================================ =============================================

"batch 1" explains one picture per call; "batch mode" explains ``--batch`` copies in one call
where both sides have a batched path (LRP and the plain gradient; the other methods run per
picture in xaidesk's dataset mode, so their batch-mode figure equals batch 1 and is not
repeated). Printed per row: explanations per second of xaidesk and of the peer, and
``speed-up`` = peer seconds / xaidesk seconds (above 1: xaidesk is faster), medians of
``--repeats`` round-robin repeats (the order alternating) after one warm-up pass of the model. On a CPU the ratios are the result; absolute
rates are quoted only for a GPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xaidesk.core import CancelToken, get_method  # noqa: E402
from xaidesk.explain import load_builtin_methods  # noqa: E402
from xaidesk.models.base import LoadedModel  # noqa: E402
from xaidesk.models.preprocessing import IMAGENET  # noqa: E402

MODELS = ("resnet50", "vgg16", "efficientnet_b0", "vit_b_16")
METHODS = ("lrp", "ig", "smoothgrad", "saliency", "occlusion", "lime", "relax", "flipping")
IG_STEPS, SG_SAMPLES, SG_NOISE, CHUNK, FLIP_STEPS = 50, 25, 0.1, 8, 16
WINDOW, STRIDE = 32, 16
#: The picture and a saliency map of the model being measured, for the rows that need them (LIME, flipping).
CASE: dict = {}


def quiet(*_args, **_kwargs):
    return None


def build(arch: str, device) -> LoadedModel:
    torch.manual_seed(0)
    net = getattr(torchvision.models, arch)(weights=None).eval()
    if arch.startswith("vit"):
        torch.nn.init.normal_(net.heads.head.weight, std=0.02)
    net.to(device)
    return LoadedModel(spec=f"torchvision:{arch}", name=arch, module=net, preprocessing=IMAGENET,
                       class_names=[str(i) for i in range(1000)], architecture=arch)


def picture(seed: int = 0, size: int = 224) -> np.ndarray:
    """A smooth random colour field with noise, uint8 (H, W, 3)."""
    rng = np.random.default_rng(seed)
    coarse = torch.from_numpy(rng.uniform(0, 255, (1, 3, 6, 6)).astype(np.float32))
    field = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)[0]
    field = field.permute(1, 2, 0).numpy() + rng.normal(0, 12, (size, size, 3))
    return np.clip(field, 0, 255).astype(np.uint8)


def registry_call(name: str, **params):
    info = get_method(name)
    values = info.resolve_params(params)

    def call(model, x, target):
        return info.function(model, x, target, params=values, token=CancelToken(), progress=quiet)

    return call


def batched_call(name: str, **params):
    from xaidesk.runs import batched_function

    function, values = batched_function(name), get_method(name).resolve_params(params)

    def call(model, x, target):
        return function(model, x, [target] * len(x), params=values, token=CancelToken())

    return call


# ------------------------------------------------------------------ the peers
def zennit_lrp(model, x, target):
    from zennit.attribution import Gradient
    from zennit.composites import EpsilonPlusFlat
    from zennit.torchvision import ResNetCanonizer, VGGCanonizer

    canonizers = {"resnet": [ResNetCanonizer()], "vgg": [VGGCanonizer()]}
    kind = next((k for k in canonizers if model.name.startswith(k)), None)
    composite = EpsilonPlusFlat(canonizers=canonizers.get(kind, []))
    with Gradient(model=model.module, composite=composite) as attributor:
        out, relevance = attributor(x, torch.eye(1000, device=x.device)[[target] * len(x)])
    return relevance


def captum_ig(model, x, target):
    from captum.attr import IntegratedGradients

    return IntegratedGradients(model.module).attribute(x, target=target, n_steps=IG_STEPS, method="riemann_trapezoid",
                                                      internal_batch_size=CHUNK)


def captum_smoothgrad(model, x, target):
    from captum.attr import NoiseTunnel, Saliency

    sigma = SG_NOISE * float(x.max() - x.min())
    return NoiseTunnel(Saliency(model.module)).attribute(x, target=target, nt_type="smoothgrad", nt_samples=SG_SAMPLES,
                                                         nt_samples_batch_size=CHUNK, stdevs=sigma, abs=False)


def captum_saliency(model, x, target):
    from captum.attr import Saliency

    return Saliency(model.module).attribute(x, target=target, abs=False)


def captum_occlusion(model, x, target):
    from captum.attr import Occlusion

    return Occlusion(model.module).attribute(x, target=target, sliding_window_shapes=(3, WINDOW, WINDOW),
                                             strides=(3, STRIDE, STRIDE), baselines=0.0, perturbations_per_eval=CHUNK)


def lime_package(samples: int):
    from lime import lime_image

    def call(model, x, target):
        pixels = CASE["pixels"]

        def classify(batch: np.ndarray) -> np.ndarray:
            tensor = torch.stack([IMAGENET.to_tensor(image.astype(np.uint8))[0] for image in batch]).to(x.device)
            with torch.no_grad():
                return torch.softmax(model.module(tensor), 1).cpu().numpy()

        explainer = lime_image.LimeImageExplainer(random_state=0)
        return explainer.explain_instance(pixels, classify, labels=(target,), top_labels=None, num_samples=samples,
                                          batch_size=CHUNK * 4, random_seed=0)

    return call


def relax_package(masks: int):
    from relax_xai.relax import RELAX

    from xaidesk.explain.relax_layers import layer_encoder

    def call(model, x, target):
        with layer_encoder(model, "", x) as (encode, _, _), torch.no_grad():
            relax = RELAX(x, _Encoder(encode), batch_size=CHUNK * 4, num_batches=max(1, masks // (CHUNK * 4)))
            relax.forward()
        return relax.importance

    return call


class _Encoder(torch.nn.Module):
    def __init__(self, encode):
        super().__init__()
        self.encode = encode

    def forward(self, x):
        return self.encode(x).flatten(1)


def quantus_flipping(model, x, target):
    import quantus

    relevance = CASE["relevance"]
    metric = quantus.PixelFlipping(features_in_step=x.shape[-1] * x.shape[-2] // FLIP_STEPS, perturb_baseline="black",
                                   disable_warnings=True, display_progressbar=False)
    return metric(model=model.module, x_batch=x.cpu().numpy(), y_batch=np.array([target]),
                  a_batch=relevance[None, None], device=str(x.device), channel_first=True)


def xaidesk_flipping(model, x, target):
    from xaidesk.evaluate import FlipSettings, image_faithfulness

    return image_faithfulness(model, CASE["pixels"], CASE["relevance"], target,
                              FlipSettings(orders=("morf",), steps=FLIP_STEPS, fill="black"), token=CancelToken())


# ------------------------------------------------------------------ the rows
def rows_for(model: LoadedModel, methods, samples: int) -> list[tuple[str, str, object, object]]:
    """``(row, peer, xaidesk call, peer call)`` for each method this model can run."""
    vit = model.name.startswith("vit")
    rows = []
    if "lrp" in methods:
        rows.append(("lrp", "LXT", registry_call("lrp.attention"), "lxt") if vit else
                    ("lrp", "zennit", registry_call("lrp.epsilon_plus_flat"), zennit_lrp))
    table = {
        "ig": ("Captum", registry_call("gradient.integrated", steps=IG_STEPS, rule="trapezoid", batch_size=CHUNK),
               captum_ig),
        "smoothgrad": ("Captum", registry_call("gradient.smoothgrad", samples=SG_SAMPLES, noise_level=SG_NOISE,
                                               batch_size=CHUNK), captum_smoothgrad),
        "saliency": ("Captum", registry_call("gradient.sensitivity"), captum_saliency),
        "occlusion": ("Captum", registry_call("occlusion", patch_size=WINDOW, stride=STRIDE, fill="zero",
                                              batch_size=CHUNK), captum_occlusion),
        "lime": ("lime", registry_call("lime", num_samples=samples, batch_size=CHUNK * 4), lime_package(samples)),
        "relax": ("relax-xai", registry_call("relax", num_masks=samples, batch_size=CHUNK * 4), relax_package(samples)),
        "flipping": ("Quantus", xaidesk_flipping, quantus_flipping),
    }
    rows += [(name, *table[name]) for name in methods if name in table]
    return rows


def timed(call, *args) -> float:
    start = time.perf_counter()
    call(*args)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def lxt_seconds(model: LoadedModel, x: torch.Tensor, target: int, repeats: int, threads: int) -> float:
    """LXT's best time on the same weights and input, measured in its own process."""
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        torch.save(model.module.state_dict(), folder / "w.pt")
        torch.save(x.cpu(), folder / "x.pt")
        job = {"target": target, "mode": "attnlrp", "gamma_conv": 0.25, "gamma_linear": 0.05}
        subprocess.run([sys.executable, str(ROOT / "tests" / "lxt_reference.py"), "--state", str(folder / "w.pt"),
                        "--config", json.dumps({"arch": model.name}), "--input", str(folder / "x.pt"),
                        "--jobs", json.dumps([job]), "--repeat", str(repeats + 1), "--threads", str(threads),
                        "--out", str(folder / "r.pt")], check=True, capture_output=True)
        return float(torch.load(folder / "r.pt", weights_only=True)[0]["seconds"])


#: Short calls that build what a method keeps between calls (the merged batch-norm copy of the
#: gradient methods), so that the timed calls are those of a user explaining many pictures.
PRIMERS = {"ig": ("gradient.integrated", {"steps": 2, "batch_size": 2}),
           "smoothgrad": ("gradient.smoothgrad", {"samples": 2, "batch_size": 2}),
           "occlusion": ("occlusion", {"patch_size": 112, "stride": 112})}
#: Rows cheap enough to warm up with one untimed call of each side.
CHEAP = ("lrp", "saliency")


def measure(model, x, target, ours, peer, repeats: int, threads: int) -> tuple[float, float]:
    """Median seconds of xaidesk and of the peer, round-robin, the order alternating."""
    if peer == "lxt":
        times = [timed(ours, model, x, target) for _ in range(repeats)]
        return statistics.median(times), lxt_seconds(model, x, target, repeats, threads)
    mine, theirs = [], []
    for k in range(repeats):
        pair = [(mine, ours), (theirs, peer)]
        for bucket, call in (pair if k % 2 == 0 else pair[::-1]):
            bucket.append(timed(call, model, x, target))
    return statistics.median(mine), statistics.median(theirs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--batch", type=int, default=16, help="pictures per call in the batch-mode rows")
    parser.add_argument("--samples", type=int, default=400, help="LIME samples and RELAX masks")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="1 repeat, 100 samples, batch 4: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.samples, args.batch = 1, 100, 4
    torch.set_num_threads(args.threads)
    load_builtin_methods()
    device = torch.device(args.device)
    where = torch.cuda.get_device_name(0) if device.type == "cuda" else f"CPU, {args.threads} threads"
    print(f"# anchors: 224 px, random weights, {where}, median of {args.repeats}, LIME/RELAX at {args.samples}")
    print("| model | method | peer | calls | xaidesk expl/s | peer expl/s | speed-up |")
    print("|---|---|---|---|---|---|---|")
    pixels = picture()
    results = []
    for arch in args.models:
        model = build(arch, device)
        x = IMAGENET.to_tensor(pixels).to(device)
        with torch.no_grad():
            target = int(model.module(x).argmax())
        CASE.update(pixels=pixels, relevance=registry_call("gradient.sensitivity")(model, x, target).relevance)
        for name, peer_name, ours, peer in rows_for(model, args.methods, args.samples):
            if name in PRIMERS:
                registry_call(PRIMERS[name][0], **PRIMERS[name][1])(model, x, target)
            if name in CHEAP:
                ours(model, x, target)
                if callable(peer):
                    peer(model, x, target)
            ours_s, peer_s = measure(model, x, target, ours, peer, args.repeats, args.threads)
            results.append(report(arch, name, peer_name, "batch 1", 1, ours_s, peer_s))
            if name in ("lrp", "saliency") and args.batch > 1 and peer != "lxt":
                batch = x.expand(args.batch, -1, -1, -1).contiguous()
                ours_b = batched_call("lrp.epsilon_plus_flat" if name == "lrp" else "gradient.sensitivity")
                ours_b(model, batch, target)
                peer(model, batch, target)
                ours_s, peer_s = measure(model, batch, target, ours_b, peer, args.repeats, args.threads)
                results.append(report(arch, name, peer_name, f"batch {args.batch}", args.batch, ours_s, peer_s))
        del model
    print(json.dumps({"device": where, "rows": results}))


def report(arch, name, peer_name, calls, count, ours_s, peer_s) -> dict:
    print(f"| {arch} | {name} | {peer_name} | {calls} | {count / ours_s:.3g} | {count / peer_s:.3g} | "
          f"{peer_s / ours_s:.2f}× |", flush=True)
    return {"model": arch, "method": name, "peer": peer_name, "calls": calls, "xaidesk_s": ours_s, "peer_s": peer_s}


if __name__ == "__main__":
    main()
