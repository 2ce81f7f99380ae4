"""AttnLRP of a torchvision ViT computed with LXT itself, in a process of its own.

LXT (Achtibat et al.) computes AttnLRP by replacing the ``forward`` of library classes
(``torch.nn.LayerNorm``, ``torch.nn.GELU``, ``torch.nn.MultiheadAttention``) and zennit's
``BasicHook`` process-wide. That must never happen inside xaidesk, so the tests and the
benchmark run this script in a subprocess and compare its relevance with
:mod:`xaidesk.explain.lrp.attention`.

LXT 2.1's package ``__init__`` imports its BERT patches, which fail with transformers 5 (they
import a function transformers removed). The script therefore loads LXT's own modules
(``rules``, ``patches``, ``zennit_patches``, ``models/vit_torch``) without running the package
``__init__`` files; the code that computes the relevance is LXT's.

Rules, as in LXT's ViT example: zennit ``Gamma(gamma_conv)`` on ``Conv2d`` and
``Gamma(gamma_linear)`` on ``Linear`` modules (after LXT's zennit patch), identity rule on GELU,
LXT's layer norm. A job's ``"mode": "cp"`` is LXT's ``vit_torch.cp_LRP`` map (CP-LRP in attention);
``"mode": "attnlrp"`` wraps ``MultiheadAttention.forward`` with LXT's ``divide_gradient`` on query
and key (1/4) and value (1/2), as LXT's ``wrap_attention_forward`` does for Hugging Face models.

Usage::

    python tests/lxt_reference.py --state W.pt --config '{"image_size": 32, ...}' --input X.pt --out R.pt \
        --jobs '[{"target": 1, "mode": "attnlrp", "gamma_conv": 0.25, "gamma_linear": 0.0}]' [--repeat N]

``--config`` holds ``VisionTransformer`` keyword arguments, or ``{"arch": "vit_b_16"}``. The
output file holds one dict per job: ``relevance`` (1, C, H, W), ``logits`` and ``seconds`` (the
fastest of ``--repeat`` runs, imports and model building excluded).
"""

from __future__ import annotations

from functools import partial

import argparse
import json
import os
import sys
import time
import types


def _load_lxt_modules():
    import lxt

    root = os.path.dirname(lxt.__file__)
    for package, folder in (("lxt.efficient", "efficient"), ("lxt.efficient.models", os.path.join("efficient", "models"))):
        stub = types.ModuleType(package)
        stub.__path__ = [os.path.join(root, folder)]
        sys.modules[package] = stub
    import lxt.efficient.models.vit_torch as vit_torch
    import lxt.efficient.patches as patches
    import lxt.efficient.rules as rules
    import lxt.efficient.zennit_patches as zennit_patches

    return vit_torch, patches, rules, zennit_patches


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--jobs", required=True,
                        help='JSON list of {"target": int, "mode": "attnlrp"|"cp", "gamma_conv": float, '
                             '"gamma_linear": float}')
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import torch
    import zennit.rules as z_rules
    from torchvision.models import vision_transformer
    from zennit.composites import LayerMapComposite

    if args.threads:
        torch.set_num_threads(args.threads)
    vit_torch, patches, rules, zennit_patches = _load_lxt_modules()

    # LXT's cp_LRP map, with MultiheadAttention's patch switchable to AttnLRP per job.
    mode = {"value": "attnlrp"}

    def mha_forward(self, query, key, value, *rest, **kwargs):
        if mode["value"] == "cp":
            return patches.cp_multi_head_attention_forward(self, query, key, value, *rest, **kwargs)
        query = rules.divide_gradient(query, 4)
        key = rules.divide_gradient(key, 4)
        value = rules.divide_gradient(value, 2)
        return self.original_forward(query, key, value, *rest, **kwargs)

    patch_map = dict(vit_torch.cp_LRP)
    patch_map[vision_transformer.nn.MultiheadAttention] = partial(patches.patch_method, mha_forward, keep_original=True)
    for target_class, patch in patch_map.items():
        if not patch(target_class):
            raise SystemExit(f"LXT could not patch {target_class.__name__}")
    zennit_patches.monkey_patch_zennit()

    config = json.loads(args.config)
    if "arch" in config:
        model = getattr(vision_transformer, config.pop("arch"))(**config)
    else:
        model = vision_transformer.VisionTransformer(**config)
    model.load_state_dict(torch.load(args.state, weights_only=True))
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad = False
    x = torch.load(args.input, weights_only=True)

    results = []
    for job in json.loads(args.jobs):
        mode["value"] = job["mode"]
        best = float("inf")
        for _ in range(max(1, args.repeat)):
            start = time.perf_counter()
            composite = LayerMapComposite([
                (torch.nn.Conv2d, z_rules.Gamma(job["gamma_conv"])),
                (torch.nn.Linear, z_rules.Gamma(job["gamma_linear"])),
            ])
            composite.register(model)
            try:
                inp = x.clone().requires_grad_(True)
                logits = model(inp)
                logits[0, job["target"]].backward()
                relevance = (inp * inp.grad).detach()
            finally:
                composite.remove()
            best = min(best, time.perf_counter() - start)
        results.append({"relevance": relevance, "logits": logits.detach(), "seconds": best})
    torch.save(results, args.out)


if __name__ == "__main__":
    main()
