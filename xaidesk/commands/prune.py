"""``xaidesk prune``: remove the least relevant filters and units of a model (pruning by explaining).

    python -m xaidesk prune --model SPEC --data FOLDER [--criterion relevance|taylor|magnitude|random]
                            [--share 0.3] [--steps 1] [--finetune-epochs 0] [--per-class 10]
                            [--held-out 0.2] [--checkpoints DIR] [--curve] [--seed 0] --out DIR
    python -m xaidesk prune --demo-data N [--model demo:clever_hans] ... --out DIR

``FOLDER`` holds one subfolder of images per class of the model. A share of it is held out to
measure the accuracy; from the rest, ``--per-class`` images of each class are the reference
images the units are scored on (and, with ``--finetune-epochs``, all of it is trained on after
each step). ``--demo-data N`` uses N generated Clever Hans scenes for ``demo:clever_hans``
instead (tags as in training; the accuracy is also measured on held-out scenes without tags).

DIR receives ``model.safetensors`` (open it as ``file:DIR/model.safetensors``), ``report.json``,
``comparison.csv`` and, with ``--curve``, ``pruning_curve.csv`` and ``pruning_curve.png``.
With ``--finetune-epochs``, ``--checkpoints DIR`` keeps a checkpoint per step: Ctrl-C stops after the
current batch and keeps it, and the same command resumes. See :mod:`xaidesk.repair.prune`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "prune the least relevant filters and units of a model (pruning by explaining, Yeom et al. 2021)"
DEMO_MODEL = "demo:clever_hans"
#: :data:`xaidesk.repair.prune_scores.CRITERIA`, spelt out so that building the parser does not import torch.
CRITERIA = ("relevance", "taylor", "magnitude", "random")
#: The most generated scenes ``--demo-data`` makes (they are generated in memory).
MAX_DEMO_SCENES = 5_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .common import MODEL_HELP, output_folder

    parser.add_argument("--model", default=None, help=MODEL_HELP + f" (default with --demo-data: {DEMO_MODEL})")
    parser.add_argument("--data", type=Path, default=None, help="a folder with one subfolder of images per class")
    parser.add_argument("--demo-data", type=int, default=None, dest="demo_data", metavar="N",
                        help=f"instead of --data: N generated Clever Hans scenes for {DEMO_MODEL}")
    parser.add_argument("--criterion", default="relevance", choices=CRITERIA,
                        help="how units are ranked: LRP relevance (default), Taylor, weight magnitude or random")
    parser.add_argument("--share", type=float, default=0.3, help="share of the prunable units removed (default 0.3)")
    parser.add_argument("--steps", type=int, default=1, help="prune in this many steps (default 1: one shot)")
    parser.add_argument("--finetune-epochs", type=int, default=0, dest="finetune_epochs",
                        help="fine-tune this many epochs after each step (default 0: no fine-tuning)")
    parser.add_argument("--per-class", type=int, default=10, dest="per_class",
                        help="reference images per class the units are scored on (default 10)")
    parser.add_argument("--held-out", type=float, default=0.2, dest="held_out",
                        help="share of the images kept aside to measure the accuracy (default 0.2)")
    parser.add_argument("--checkpoints", type=Path, default=None,
                        help="with --finetune-epochs: folder for checkpoints (one per step); rerun to resume")
    parser.add_argument("--curve", action="store_true",
                        help="also measure accuracy against the pruned share for every criterion")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, the reference images and the "
                                                            "random criterion (default 0)")
    parser.add_argument("--out", type=output_folder, default=None, help="output folder")


def _check_arguments(args: argparse.Namespace) -> None:
    from ..core import InputError
    from ..repair.prune import check_share

    if args.out is None:
        raise InputError("Give an output folder with --out DIR.")
    if (args.data is None) == (args.demo_data is None):
        raise InputError("Give either --data FOLDER (one subfolder of images per class) or --demo-data N.")
    if args.demo_data is not None:
        if not 10 <= args.demo_data <= MAX_DEMO_SCENES:
            raise InputError(f"--demo-data must be between 10 and {MAX_DEMO_SCENES} scenes; got {args.demo_data}.")
        if args.model not in (None, DEMO_MODEL):
            raise InputError(f"--demo-data makes scenes for {DEMO_MODEL} only; leave --model out or use --data.")
    elif args.model is None:
        raise InputError("Give the model to prune with --model SPEC.")
    check_share(args.share)
    if args.steps < 1:
        raise InputError(f"--steps must be at least 1; got {args.steps}.")
    if args.finetune_epochs < 0:
        raise InputError(f"--finetune-epochs must be 0 or more; got {args.finetune_epochs}.")
    if args.checkpoints is not None and args.finetune_epochs == 0:
        raise InputError("--checkpoints keeps fine-tuning checkpoints; use it with --finetune-epochs N (or leave it "
                         "out).")
    if args.per_class < 1:
        raise InputError(f"--per-class must be at least 1; got {args.per_class}.")
    if not 0.0 < args.held_out < 1.0:
        raise InputError(f"--held-out must be between 0 and 1 (e.g. 0.2); got {args.held_out}.")
    if not 0 <= args.seed < 2**32:
        raise InputError(f"--seed must be a whole number from 0 to {2**32 - 1}; got {args.seed}.")


def run(args: argparse.Namespace) -> int:
    from .common import EXIT_CANCELLED, check_repair_folder, cli_progress, run_cancellable, write_repair
    from ..core import CancelToken
    from ..models import load_model
    from ..repair.data import generated_clever_hans_set, load_labelled_folder, split_held_out
    from ..repair.prune import CURVE_PICTURE, prune, pruning_curve
    from ..repair.prune_scores import reference_samples
    from ..repair.training import TrainingSettings

    _check_arguments(args)
    check_repair_folder(args.out)
    token = CancelToken()
    progress = cli_progress()
    model = load_model(args.model or DEMO_MODEL)
    extra = None
    if args.demo_data is not None:
        images = generated_clever_hans_set(model, args.demo_data, args.seed, marked="as-in-training")
    else:
        images = load_labelled_folder(args.data, model, token=token, progress=progress)
    train, held_out = split_held_out(images, args.held_out, args.seed)
    if args.demo_data is not None:
        clean = generated_clever_hans_set(model, max(2, len(held_out)), args.seed + 1, marked="none")
        extra = {"without_tag": ("held-out accuracy, scenes without tags", clean)}
    samples = reference_samples(train, args.per_class, args.seed)
    settings = TrainingSettings(epochs=args.finetune_epochs, seed=args.seed) if args.finetune_epochs > 0 else None

    def work():
        result = prune(model, samples, held_out, criterion=args.criterion, share=args.share, steps=args.steps,
                       train=train if settings else None, settings=settings, checkpoint_dir=args.checkpoints,
                       token=token, progress=progress, extra_held_out=extra, seed=args.seed)
        if args.curve:
            table, picture = pruning_curve(model, samples, held_out, token=token, progress=progress, seed=args.seed)
            result.tables.append(table)
            result.images[CURVE_PICTURE] = picture
        return result

    result = run_cancellable(work, token, progress, out=args.out, trains=settings is not None,
                             checkpoints=args.checkpoints)
    if result is None:
        return EXIT_CANCELLED
    return write_repair(result, args.out, progress)
