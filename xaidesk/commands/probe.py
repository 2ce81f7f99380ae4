"""``xaidesk probe``: fit a quick two-class classifier on a backbone layer of a labelled folder.

    python -m xaidesk probe FOLDER --model SPEC [--layer NAME] [--head mean-difference|logistic]
                               [--held-out 0.3] [--seed 0] --out DIR
    python -m xaidesk probe --model SPEC --list-layers

``FOLDER`` holds two subfolders of images, one per class -- or, with an audio backbone
(``demo:sounds``, ``vggish:PATH``, an audio ``file:PATH``), two subfolders of sound clips
(:mod:`xaidesk.models.probe.audio`: each clip's windows are averaged). The output folder receives

- ``probe.xdprobe``: the classifier (backbone spec, layer, both heads); explain it with
  ``python -m xaidesk explain image IMAGE --model probe:DIR/probe.xdprobe --method ...``, or for
  sound ``python -m xaidesk explain audio CLIP --model file:DIR/probe.xdprobe --method ...``;
- ``roc.csv``: ``head,fpr,tpr,threshold``, the held-out ROC curve of both heads (the first
  point of each has threshold ``inf``);
- ``summary.json``: AUCs, Youden-J thresholds, sensitivity and specificity at them, counts (the
  threshold is chosen on the held-out images, so the figures at it are optimistic; the AUC is not);
- ``roc.png``: both ROC curves with their Youden points.

See :mod:`xaidesk.models.probe` for the method.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HELP = "fit a quick two-class classifier on a backbone layer's features of a labelled folder (ROC, AUC, Youden J)"

#: Colours of the heads in roc.png (RGB).
HEAD_COLOURS = {"mean-difference": (31, 119, 180), "logistic": (214, 39, 40)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .common import output_folder
    from ..models.probe import HEADS

    parser.add_argument("folder", type=Path, nargs="?", default=None,
                        help="a folder with two subfolders of images (or of sound clips), one per class")
    parser.add_argument("--model", required=True,
                        help="the backbone: demo:NAME, torchvision:ARCH:WEIGHTS, file:PATH; for sound demo:sounds, "
                             "vggish:WEIGHTS or an audio file:PATH")
    parser.add_argument("--layer", default=None,
                        help="the backbone layer whose features are used (default: the last feature map; "
                             "see --list-layers)")
    parser.add_argument("--head", default=HEADS[0], choices=HEADS,
                        help="the head the saved classifier uses (both are fitted and reported)")
    parser.add_argument("--held-out", type=float, default=0.3, dest="held_out",
                        help="share of each class kept aside to judge the classifier (default 0.3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the held-out split (default 0)")
    parser.add_argument("--out", type=output_folder, default=None, help="output folder")
    parser.add_argument("--list-layers", action="store_true", dest="list_layers",
                        help="list the backbone's layers a classifier can be fitted on, and stop")


def run(args: argparse.Namespace) -> int:
    from .common import EXIT_USAGE, check_output_options, cli_progress
    from ..core import CancelToken, InputError
    from ..core.io import save_png_atomic, staged_folder, write_bytes_atomic, write_json_atomic
    from ..models import load_model
    from ..models.probe import PROBE_FILE_NAME, default_probe_layer, fit_probe, list_probe_layers, probe_document

    if not args.list_layers and (args.folder is None or args.out is None):
        print("xaidesk: probe needs a FOLDER and --out DIR (or --list-layers).", file=sys.stderr)
        return EXIT_USAGE
    if args.out is not None:
        check_output_options(args, rendered=False)
    if not 0 <= args.seed < 2**32:
        raise InputError(f"--seed must be a whole number from 0 to {2**32 - 1}; got {args.seed}.")
    model = load_model(args.model)
    layers = list_probe_layers(model)
    if args.list_layers:
        default = default_probe_layer(layers)
        for name, description in layers:
            print(f"{description}{'   (default)' if name == default else ''}")
        return 0
    if not layers:
        raise InputError(f"{model.name} has no layers a classifier can be fitted on; choose another backbone.")
    names = [name for name, _ in layers]
    layer = args.layer if args.layer is not None else default_probe_layer(layers)
    if layer not in names:
        raise InputError(
            f"'{layer}' is not a layer a classifier can be fitted on in {model.name}; choose one of: "
            + ", ".join(names) + " (see --list-layers)."
        )
    audio = model.modality == "audio"
    progress = cli_progress()
    if audio:
        from ..models.probe.audio import audio_probe_document, fit_audio_probe

        result = fit_audio_probe(args.folder, model, layer, held_out=args.held_out, seed=args.seed,
                                 token=CancelToken(), progress=progress)
        document = audio_probe_document(result, args.head)
    else:
        result = fit_probe(args.folder, model, layer, held_out=args.held_out, seed=args.seed,
                           token=CancelToken(), progress=progress)
        document = probe_document(result, args.head)
    progress.done()
    probe_path = args.out / PROBE_FILE_NAME
    # An audio probe opens as file:PATH (the audio loaders read it); probe:PATH makes an image model.
    spec = f"{'file' if audio else 'probe'}:{probe_path.resolve()}"
    summary = {**result.to_dict(), "head_used": args.head, "probe_file": str(probe_path), "model_spec": spec}
    with staged_folder(args.out) as folder:
        write_json_atomic(folder / PROBE_FILE_NAME, document)
        write_bytes_atomic(folder / "roc.csv", roc_csv(result).encode("utf-8"))
        save_png_atomic(folder / "roc.png", render_roc(result))
        write_json_atomic(folder / "summary.json", summary)
    for name, head in result.heads.items():
        print(f"{head.title}: held-out AUC {head.auc:.3f}; Youden threshold {head.threshold:.4g} "
              f"(sensitivity {head.sensitivity:.2f}, specificity {head.specificity:.2f})")
    unit = "clips" if audio else "images"
    print(f"'{result.class_names[1]}' vs '{result.class_names[0]}' on {model.name}, layer {layer}: "
          f"{sum(result.train_counts)} training and {sum(result.held_out_counts)} held-out {unit}; "
          f"results in {args.out}. Explain it with --model {'file' if audio else 'probe'}:{probe_path}")
    if result.skipped:
        print(f"{len(result.skipped)} file(s) could not be opened and were left out (see summary.json).",
              file=sys.stderr)
    return 0


def roc_csv(result) -> str:
    """``head,fpr,tpr,threshold`` rows of both heads' held-out ROC curves."""
    from ..core.io import csv_field, csv_number

    rows = ["head,fpr,tpr,threshold"]
    for name, head in result.heads.items():
        rows += [f"{csv_field(name)},{csv_number(f)},{csv_number(t)},{csv_number(th)}"
                 for f, t, th in zip(head.fpr, head.tpr, head.thresholds)]
    return "\n".join(rows) + "\n"


def render_roc(result, size: int = 480) -> np.ndarray:
    """Both heads' ROC curves, the chance diagonal and the Youden points, as an RGB image."""
    from PIL import Image, ImageDraw

    margin_left, margin_bottom, margin = 56, 48, 40
    image = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    plot = size - margin_left - 16

    def point(fpr: float, tpr: float) -> tuple[float, float]:
        return margin_left + fpr * plot, margin + (1.0 - tpr) * (size - margin - margin_bottom)

    grey = (160, 160, 160)
    for tick in np.linspace(0.0, 1.0, 6):
        x, _ = point(tick, 0.0)
        _, y = point(0.0, tick)
        draw.line([point(tick, 0.0), point(tick, 1.0)], fill=(235, 235, 235))
        draw.line([point(0.0, tick), point(1.0, tick)], fill=(235, 235, 235))
        draw.text((x - 8, size - margin_bottom + 4), f"{tick:.1f}", fill=(60, 60, 60))
        draw.text((margin_left - 28, y - 6), f"{tick:.1f}", fill=(60, 60, 60))
    draw.rectangle([point(0.0, 1.0), point(1.0, 0.0)], outline=grey)
    draw.line([point(0.0, 0.0), point(1.0, 1.0)], fill=grey, width=1)
    draw.text((margin_left + plot / 2 - 70, size - 22), "false positive rate (1 - specificity)", fill=(0, 0, 0))
    draw.text((4, margin - 16), "true positive rate (sensitivity)", fill=(0, 0, 0))
    draw.text((4, 4), f"Held-out ROC; positive class: {result.class_names[1]}", fill=(0, 0, 0))
    for row, (name, head) in enumerate(result.heads.items()):
        colour = HEAD_COLOURS.get(name, (0, 0, 0))
        draw.line([point(f, t) for f, t in zip(head.fpr, head.tpr)], fill=colour, width=2)
        x, y = point(1.0 - head.specificity, head.sensitivity)
        draw.ellipse([x - 5, y - 5, x + 5, y + 5], outline=colour, width=2)
        label = f"{head.title}: AUC {head.auc:.3f}, Youden t = {head.threshold:.3g}"
        lx, ly = point(0.25, 0.06 + 0.07 * (len(result.heads) - 1 - row))
        draw.line([(lx - 22, ly + 6), (lx - 4, ly + 6)], fill=colour, width=2)
        draw.text((lx, ly), label, fill=(0, 0, 0))
    return np.asarray(image)
