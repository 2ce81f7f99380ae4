"""Benchmark: LRP for transformers (``lrp.attention``) on ViT-B/16 against a plain gradient and LXT.

Run with ``.venv/bin/python bench/bench_vit_lrp.py [--repeats N] [--threads T] [--mode attnlrp|cp]``.

For torchvision ``vit_b_16`` with random weights (no download), one 224×224 input, batch 1, on
the CPU, it times

- ``gradient``: one forward and one backward pass of the target logit to the input (plain
  ``torch.autograd.grad``; the baseline of the ratios);
- ``xaidesk``: ``lrp.attention`` called through the method registry (the scoped copy of the
  model, the forward and modified backward pass, the relevance map and extras included);
- ``lxt``: LXT used directly (its patches and zennit ``Gamma`` composite, as in its ViT example)
  in a subprocess on the same weights, saved to a temporary file; timed inside the subprocess,
  imports and model building excluded (``tests/lxt_reference.py``).

The median of ``--repeats`` runs is reported for the first two and the fastest of LXT's repeats
for LXT (its script reports the minimum), so the comparison favours LXT. Rules: γ = 0.25 on the
convolution, γ = 0.05 on dense layers; the attention rule of ``--mode``. The input relevance of
xaidesk and LXT is compared too (they differ only by the γ of the attention projections, which
LXT leaves at LRP-0 in torchvision's MultiheadAttention).
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

import torch
import torchvision

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xaidesk.core import CancelToken, get_method  # noqa: E402
from xaidesk.explain.lrp.attention import lrp_copy  # noqa: E402
from xaidesk.models.base import LoadedModel  # noqa: E402
from xaidesk.models.preprocessing import IMAGENET  # noqa: E402


def timed(function, repeats: int) -> list[float]:
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--mode", choices=("attnlrp", "cp"), default="attnlrp")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    net = torchvision.models.vit_b_16(weights=None).eval()
    torch.nn.init.normal_(net.heads.head.weight, std=0.02)  # torchvision initialises the head to zeros
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        target = int(net(x).argmax())
    model = LoadedModel(spec="bench", name="vit_b_16", module=net, preprocessing=IMAGENET,
                        class_names=[str(i) for i in range(1000)], architecture="vit_b_16")
    method = get_method("lrp.attention")
    params = method.resolve_params({"attention": args.mode})

    def gradient():
        inp = x.clone().requires_grad_(True)
        torch.autograd.grad(net(inp)[0, target], inp)

    def xaidesk():
        return method.function(model, x, target, params=params, token=CancelToken(), progress=lambda *a, **k: None)

    gradient(), xaidesk()  # warm-up
    seconds = {"gradient": [], "xaidesk": []}
    for _ in range(args.repeats):  # round-robin, so load changes hit both alike
        seconds["gradient"] += timed(gradient, 1)
        seconds["xaidesk"] += timed(xaidesk, 1)
    median = {k: statistics.median(v) for k, v in seconds.items()}

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        torch.save(net.state_dict(), folder / "w.pt")
        torch.save(x, folder / "x.pt")
        job = {"target": target, "mode": args.mode, "gamma_conv": 0.25, "gamma_linear": 0.05}
        subprocess.run(
            [sys.executable, str(ROOT / "tests" / "lxt_reference.py"), "--state", str(folder / "w.pt"),
             "--config", json.dumps({"arch": "vit_b_16"}), "--input", str(folder / "x.pt"),
             "--jobs", json.dumps([job]), "--repeat", str(args.repeats + 1), "--threads", str(args.threads),
             "--out", str(folder / "r.pt")],
            check=True,
        )
        lxt = torch.load(folder / "r.pt", weights_only=True)[0]

    duplicate, _ = lrp_copy(net, attention=args.mode)
    inp = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(duplicate(inp)[0, target], inp)
    ours = (inp * g).detach()
    same_projections, _ = lrp_copy(net, attention=args.mode, projection_gamma=0.0)
    inp = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(same_projections(inp)[0, target], inp)
    matched = (inp * g).detach()
    scale = float(lxt["relevance"].abs().max())

    print(f"vit_b_16, 224 px, batch 1, CPU, {args.threads} threads, {args.mode}, {args.repeats} repeats")
    print(f"  plain forward+backward : {median['gradient']:.3f} s")
    print(f"  xaidesk lrp.attention  : {median['xaidesk']:.3f} s  ({median['xaidesk'] / median['gradient']:.2f}x gradient)")
    print(f"  LXT (subprocess, best) : {lxt['seconds']:.3f} s  ({lxt['seconds'] / median['gradient']:.2f}x gradient)")
    print(f"  xaidesk / LXT          : {median['xaidesk'] / lxt['seconds']:.2f}")
    print(f"  max |R_xaidesk - R_LXT| / max |R_LXT|: default {float((ours - lxt['relevance']).abs().max()) / scale:.2e}, "
          f"projections at LRP-0 as LXT {float((matched - lxt['relevance']).abs().max()) / scale:.2e}")
    print(json.dumps({"seconds": seconds, "lxt_best": lxt["seconds"]}))


if __name__ == "__main__":
    main()
