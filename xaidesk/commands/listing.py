"""``python -m xaidesk methods`` and ``python -m xaidesk models``: what the workbench offers.

    python -m xaidesk methods [--modality image|audio|table|molecule] [--json]
    python -m xaidesk models [--json]

Light on purpose: listing the methods loads neither torch nor Qt.
"""

from __future__ import annotations

import argparse

from ..core.registry import MODALITIES


def add_parser(subparsers, name: str) -> argparse.ArgumentParser:
    """Add the ``methods`` or the ``models`` command to ``subparsers``."""
    if name == "methods":
        parser = subparsers.add_parser("methods", help="list explanation methods and their parameters")
        parser.add_argument("--modality", choices=MODALITIES)
        parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
        parser.set_defaults(handler=run_methods)
    elif name == "models":
        parser = subparsers.add_parser("models", help="list built-in models and supported architectures")
        parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
        parser.set_defaults(handler=run_models)
    else:
        raise ValueError(f"no listing command {name!r}")
    return parser


def run_methods(args: argparse.Namespace) -> int:
    """Print the registered methods (of one modality) with their parameters, or their JSON."""
    from ..core import list_methods
    from ..core.io import json_text

    methods = list_methods(args.modality)
    if args.json:
        print(json_text([m.to_dict() for m in methods]))
        return 0
    for info in methods:
        print(f"{info.name}  [{', '.join(info.modality)}]  {info.title}")
        if info.help:
            print(f"    {info.help}")
        for p in info.params:
            bounds = ""
            if p.choices:
                bounds = f" one of {{{', '.join(map(str, p.choices))}}}"
            elif p.minimum is not None or p.maximum is not None:
                bounds = f" in [{'' if p.minimum is None else p.minimum}, {'' if p.maximum is None else p.maximum}]"
            print(f"    --param {p.name}=<{p.kind}> (default {p.default}){bounds}: {p.help}")
    return 0


def run_models(args: argparse.Namespace) -> int:
    """Print the built-in models and the torchvision architectures, or their JSON."""
    from ..core.io import json_text
    from ..models import TORCHVISION_ARCHITECTURES, list_builtin_models

    builtin = list_builtin_models()
    if args.json:
        payload = {
            "builtin": [{**m, "samples": [str(s) for s in m.get("samples", [])]} for m in builtin],
            "torchvision": list(TORCHVISION_ARCHITECTURES),
        }
        print(json_text(payload))
        return 0
    print("Built-in models:")
    for m in builtin:
        print(f"  {m['spec']:<22} {m['title']}")
        if m.get("description"):
            print(f"  {'':<22} {m['description']}")
        for sample in m.get("samples", []):
            print(f"  {'':<22} sample: {sample}")
    print("\ntorchvision architectures (weights from a local file: torchvision:ARCH:WEIGHTS.pth):")
    print("  " + ", ".join(TORCHVISION_ARCHITECTURES))
    print("\nSaved models: file:PATH (weights-only; add --trust to load a pickled model you trust)")
    return 0
