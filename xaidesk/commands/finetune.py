"""``python -m xaidesk finetune``: fine-tune a model with explanations (right for the right reasons, or Sun et al.).

    python -m xaidesk finetune --model SPEC --method rrr|sun --data FOLDER [--region TOP,LEFT,HEIGHT,WIDTH]
                               [--epochs 3] [--batch-size 32] [--learning-rate 1e-4] [--weight auto]
                               [--xi 1] [--lam 1] [--feature-layer NAME] [--held-out 0.2]
                               [--checkpoints DIR] [--seed 0] --out DIR
    python -m xaidesk finetune --model demo:clever_hans --method rrr --demo-data 1000 --out DIR

FOLDER has one subfolder per class of the model; a held-out share of it is kept aside to measure
accuracy and the relevance share in the region. ``--demo-data N`` trains on N generated Clever Hans
scenes instead (the tags as in training, the tag box as the region) and measures on tag-free and on
tagged scenes. ``--region`` is a bare box in model-input pixels (the picture as resized for the model).
DIR receives the edited model (``model.safetensors``, opened as ``file:DIR/model.safetensors``),
``report.json``, ``comparison.csv``, ``training_history.csv`` and, with a region, ``before_after.png``
(the mean heatmaps before | after), as a set; a folder that already holds a model is refused. Ctrl-C stops after the
current batch and keeps a checkpoint in ``--checkpoints DIR``; the same command resumes it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "fine-tune a model with explanations: right for the right reasons (rrr) or LRP-weighted features (sun)"

#: The most generated scenes ``--demo-data`` makes (they are held in memory).
MAX_DEMO_SCENES = 20_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .common import MODEL_HELP, output_folder

    parser.add_argument("--model", required=True, help=MODEL_HELP)
    parser.add_argument("--method", required=True, choices=("rrr", "sun"),
                        help="rrr: penalise input gradients in --region (Ross et al. 2017); sun: LRP-weighted "
                             "features (Sun et al. 2020)")
    parser.add_argument("--data", type=Path, default=None, help="folder with one subfolder of images per class")
    parser.add_argument("--demo-data", type=int, default=None, metavar="N",
                        help="instead of --data: N generated Clever Hans scenes for demo:clever_hans")
    parser.add_argument("--region", default=None, metavar="TOP,LEFT,HEIGHT,WIDTH",
                        help="the box the model should not use, as four whole numbers in model-input pixels (the "
                             "picture after resizing for the model, for example 64x64 for demo:clever_hans), "
                             "counted from the top-left corner; needed for rrr except with --demo-data, where it "
                             "defaults to the tag box. With a box, before_after.png shows the mean heatmaps")
    parser.add_argument("--epochs", type=int, default=3, help="passes over the training images (default 3)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per step (default 32)")
    parser.add_argument("--learning-rate", type=float, default=1e-4, help="Adam's step size (default 1e-4)")
    parser.add_argument("--weight", default="auto", help="rrr: the penalty's weight, or auto (default)")
    parser.add_argument("--xi", type=float, default=1.0, help="sun: weight of the ordinary cross-entropy (default 1)")
    parser.add_argument("--lam", type=float, default=1.0, help="sun: weight of the LRP-weighted cross-entropy (default 1)")
    parser.add_argument("--feature-layer", default=None, help="sun: the Linear layer whose input is weighted "
                                                              "(default: the last)")
    parser.add_argument("--held-out", type=float, default=0.2, help="share of --data kept aside to measure (default 0.2)")
    parser.add_argument("--checkpoints", type=Path, default=None, help="folder for checkpoints; rerun to resume")
    parser.add_argument("--seed", type=int, default=0, help="fixes the split, the batch order and the demo scenes")
    parser.add_argument("--out", type=output_folder, required=True, help="output folder")


def run(args: argparse.Namespace) -> int:
    from .common import EXIT_CANCELLED, check_repair_folder, cli_progress, run_cancellable, write_repair
    from ..core import CancelToken, InputError

    check_repair_folder(args.out)
    if (args.data is None) == (args.demo_data is None):
        raise InputError("Give the training images with --data FOLDER, or --demo-data N for generated demo scenes "
                         "(one of the two).")
    settings = _settings(args)
    if not 0.0 < args.held_out < 1.0:
        raise InputError(f"--held-out must be a share between 0 and 1, such as 0.2 (not {args.held_out}).")
    model, data = _load(args)
    token = CancelToken()
    progress = cli_progress()
    result = run_cancellable(lambda: _finetune(args, model, data, settings, token, progress), token, progress,
                             out=args.out, checkpoints=args.checkpoints)
    if result is None:
        return EXIT_CANCELLED
    _add_demo_figures(result, model, data)
    return write_repair(result, args.out, progress)


def _settings(args):
    from ..repair.training import TrainingSettings

    settings = TrainingSettings(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                                seed=args.seed)
    settings.check()
    return settings


def _load(args) -> tuple:
    """The model and ``{"train", "held_out", "share", "region", "tagged"}``."""
    from ..core import InputError
    from ..data.scenes import CH_CLASSES, MARK_BOX
    from ..models import load_model
    from ..repair.artefact import box_mask
    from ..repair.data import generated_clever_hans_set, load_labelled_folder, split_held_out
    from .common import cli_progress
    from .common import parse_box

    model = load_model(args.model)
    size = tuple(model.preprocessing.size)
    region = box_mask(size, parse_box(args.region)) if args.region is not None else None
    if args.demo_data is not None:
        if [c.lower() for c in model.class_names] != CH_CLASSES:
            raise InputError("--demo-data makes Clever Hans scenes (horse, other); use it with demo:clever_hans or a "
                             "model edited from it.")
        if not 20 <= args.demo_data <= MAX_DEMO_SCENES:
            raise InputError(f"--demo-data must be between 20 and {MAX_DEMO_SCENES} scenes; got {args.demo_data}.")
        count = max(10, int(round(args.demo_data * args.held_out)))
        tagged = generated_clever_hans_set(model, count, args.seed + 2, marked="all")
        return model, {"train": generated_clever_hans_set(model, args.demo_data, args.seed + 1),
                       "held_out": generated_clever_hans_set(model, count, args.seed + 2, marked="none"),
                       "share": tagged.of_class(0), "tagged": tagged,
                       "region": region if region is not None else box_mask(size, MARK_BOX)}
    progress = cli_progress()
    images = load_labelled_folder(args.data, model, progress=progress)
    progress.done()
    train, held_out = split_held_out(images, args.held_out, args.seed)
    return model, {"train": train, "held_out": held_out, "share": held_out, "tagged": None, "region": region}


def _finetune(args, model, data, settings, token, progress):
    from ..core import InputError
    from ..repair.guided import rrr_finetune, sun_finetune

    if args.method == "rrr":
        if data["region"] is None:
            raise InputError("Right for the right reasons needs the region the model should not use: give --region "
                             "TOP,LEFT,HEIGHT,WIDTH in model-input pixels.")
        return rrr_finetune(model, data["train"], data["region"], weight=args.weight, settings=settings,
                            held_out=data["held_out"], share_images=data["share"], checkpoint_dir=args.checkpoints,
                            token=token, progress=progress)
    return sun_finetune(model, data["train"], xi=args.xi, lam=args.lam, feature_layer=args.feature_layer,
                        settings=settings, held_out=data["held_out"], mask=data["region"], share_images=data["share"],
                        checkpoint_dir=args.checkpoints, token=token, progress=progress)


def _add_demo_figures(result, model, data) -> None:
    """With --demo-data: name the held-out figures after the scenes, and add the accuracy on tagged scenes."""
    from ..repair.result import Comparison
    from ..repair.training import accuracy

    tagged = data.get("tagged")
    if tagged is None:
        return
    for c in result.comparisons:
        if c.name == "accuracy_held_out":
            c.label = f"held-out accuracy, tag-free scenes ({len(data['held_out'])})"
        elif c.name == "relevance_share_region":
            c.label = f"share of positive relevance in the tag box, tagged horses ({len(data['share'])})"
    result.comparisons.append(Comparison("accuracy_held_out_tagged", f"held-out accuracy, tagged scenes ({len(tagged)})",
                                         accuracy(model.module, tagged), accuracy(result.model.module, tagged)))
