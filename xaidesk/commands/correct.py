"""``python -m xaidesk correct``: remove an artefact the model uses (ClArC), and measure before and after.

    python -m xaidesk correct --model SPEC --method p-clarc|a-clarc
        (--spray DIR --cluster K | --carrying LIST --clean LIST | --region IMAGE:top,left,height,width)
        [--class LABEL] [--layer NAME] [--cav pattern|logistic] [--data FOLDER] [--held-out 0.2]
        [--epochs 3] [--checkpoints DIR] [--seed 0] --out DIR
    python -m xaidesk correct --model demo:clever_hans --method p-clarc --demo-data 2000 --out DIR

LIST is a folder of images or a text file with one image path per line (relative paths are
read from the text file's folder). ``--data`` is a folder with one subfolder per class: A-ClArC
trains on it, and a held-out share of it measures the figures. ``--demo-data N`` generates N
labelled pictures of the Clever Hans demo as in training (and tag-free held-out pictures of
another seed); without a source it removes the demo's copyright tag. DIR receives
``model.safetensors`` (opens as ``file:DIR/model.safetensors``), ``report.json``,
``comparison.csv`` and ``before_after.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "remove an artefact a model uses as a shortcut (P-ClArC or A-ClArC) and compare before and after"
METHODS = ("p-clarc", "a-clarc")
#: Tag-free held-out pictures ``--demo-data`` generates unless ``--demo-held-out`` says otherwise.
DEMO_HELD_OUT = 1000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .common import MODEL_HELP, output_folder

    parser.add_argument("--model", required=True, help=MODEL_HELP)
    parser.add_argument("--method", required=True, choices=METHODS,
                        help="p-clarc: project the artefact's direction out of one layer (no training); "
                             "a-clarc: fine-tune with the artefact pasted into the other classes' images")
    parser.add_argument("--spray", type=Path, default=None, help="a SpRAy result folder whose cluster holds the artefact")
    parser.add_argument("--cluster", type=int, default=None, help="with --spray: the cluster that carries the artefact")
    parser.add_argument("--carrying", type=Path, default=None, help="images that carry the artefact (folder or list file)")
    parser.add_argument("--clean", type=Path, default=None, help="images without it (folder or list file)")
    parser.add_argument("--region", default=None, metavar="IMAGE:top,left,height,width",
                        help="the artefact drawn as a box on one image (in model-input pixels)")
    parser.add_argument("--class", dest="target_class", default=None,
                        help="the class the artefact drives, by label or index (default: the SpRAy run's class)")
    parser.add_argument("--layer", default=None, help="P-ClArC: the layer to correct (default: the last convolutional stage)")
    parser.add_argument("--cav", default="pattern", choices=("pattern", "logistic"),
                        help="P-ClArC: the concept direction, pattern (difference of means, default) or logistic")
    parser.add_argument("--data", type=Path, default=None, help="labelled images, one subfolder per class")
    parser.add_argument("--held-out", type=float, default=0.2, help="share of --data kept to measure (default 0.2)")
    parser.add_argument("--epochs", type=int, default=3, help="A-ClArC: epochs of fine-tuning (default 3)")
    parser.add_argument("--learning-rate", type=float, default=1e-4, help="A-ClArC: Adam's step size (default 0.0001)")
    parser.add_argument("--batch-size", type=int, default=32, help="A-ClArC: images per step (default 32)")
    parser.add_argument("--paste-share", type=float, default=0.5,
                        help="A-ClArC: share of the other classes' images the artefact is pasted into (default 0.5)")
    parser.add_argument("--checkpoints", type=Path, default=None, help="A-ClArC: folder for checkpoints (resumes)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, the training and the demo data")
    parser.add_argument("--demo-data", type=int, default=None, metavar="N",
                        help="demo:clever_hans only: generate N labelled training pictures and tag-free held-out ones")
    parser.add_argument("--demo-held-out", type=int, default=DEMO_HELD_OUT, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=output_folder, required=True, help="output folder")


def read_list(path: Path) -> list[Path]:
    """The images of a folder, or the paths listed one per line in a text file."""
    from ..core import InputError
    from ..data.images import IMAGE_SUFFIXES

    path = path.expanduser()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    elif path.is_file():
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        files = [p if p.is_absolute() else path.parent / p for p in (Path(line) for line in lines if line)]
    else:
        raise InputError(f"'{path}' does not exist; give a folder of images or a text file listing them.")
    if not files:
        raise InputError(f"'{path}' holds no images.")
    return files


def parse_region(text: str) -> tuple[Path, tuple[int, int, int, int]]:
    """``IMAGE:TOP,LEFT,HEIGHT,WIDTH`` as the image path and the box."""
    from ..core import InputError
    from .common import parse_box

    image, _, numbers = text.rpartition(":")
    if not image:
        raise InputError(f"--region must be IMAGE:top,left,height,width (four whole numbers), not '{text}'.")
    return Path(image), parse_box(numbers)


def class_index(model, text: str) -> int:
    """The class named ``text`` (label, any case) or numbered ``text`` of ``model``."""
    from ..core import InputError
    from ..repair.sources import check_class

    names = [str(n).lower() for n in model.class_names]
    if text.lower() in names:
        return names.index(text.lower())
    if text.strip().lstrip("-").isdigit():
        return check_class(model, int(text))
    raise InputError(f"'{text}' is not a class of {model.name}; its classes are: {', '.join(model.class_names[:10])}.")


def _demo_sets(model, args):
    """Generated training pictures (as in training) and tag-free held-out pictures of another seed."""
    from ..core import InputError
    from ..repair.data import generated_clever_hans_set

    if model.spec != "demo:clever_hans":
        raise InputError("--demo-data generates pictures for demo:clever_hans only; give --data for other models.")
    if not 8 <= args.demo_data <= 100_000 or not 4 <= args.demo_held_out <= 100_000:
        raise InputError(f"--demo-data must be between 8 and 100000 pictures; got {args.demo_data}.")
    train = generated_clever_hans_set(model, args.demo_data, args.seed, marked="as-in-training")
    held_out = generated_clever_hans_set(model, args.demo_held_out, args.seed + 100_003, marked="none")
    return train, held_out


def _demo_artefact(model, args, target: int):
    """The demo's copyright tag, cut from a generated tagged horse; tagged and tag-free horses to fit it on."""
    from ..data.scenes import MARK_BOX
    from ..repair.artefact import artefact_from_region
    from ..repair.data import generated_clever_hans_set

    count = max(8, min(args.demo_data, 800))
    carrying = generated_clever_hans_set(model, count, args.seed + 7, marked="all").of_class(target)
    clean = generated_clever_hans_set(model, count, args.seed + 7, marked="none").of_class(target)
    artefact = artefact_from_region(carrying.inputs[0], MARK_BOX, description="the demo's copyright tag",
                                    origin={"source": "demo", "box": list(MARK_BOX)})
    return artefact, carrying, clean


def run(args: argparse.Namespace) -> int:
    from .common import EXIT_CANCELLED, check_repair_folder, cli_progress, run_cancellable, write_repair
    from ..core import CancelToken, InputError
    from ..models import load_model
    from ..repair.clarc import a_clarc, p_clarc
    from ..repair.data import load_labelled_folder, split_held_out
    from ..repair.result import check_editable
    from ..repair.sources import artefact_from_files, artefact_from_image_region, artefact_from_spray, load_images
    from ..repair.training import TrainingSettings

    check_repair_folder(args.out)
    sources = [args.spray is not None, args.carrying is not None and args.region is None, args.region is not None]
    if sum(sources) > 1:
        raise InputError("Give one source of the artefact: --spray DIR --cluster K, --carrying/--clean lists, "
                         "or --region IMAGE:top,left,height,width.")
    if args.data is not None and args.demo_data is not None:
        raise InputError("Give either --data FOLDER or --demo-data N, not both.")
    token, progress = CancelToken(), cli_progress()
    model = load_model(args.model)
    check_editable(model)
    train = held_out = None
    if args.demo_data is not None:
        train, held_out = _demo_sets(model, args)
    elif args.data is not None:
        train, held_out = split_held_out(load_labelled_folder(args.data, model, token=token), args.held_out, args.seed)
    target = class_index(model, args.target_class) if args.target_class is not None else None
    if args.spray is not None:
        if args.cluster is None:
            raise InputError("With --spray, say which cluster carries the artefact (--cluster K).")
        artefact, carrying, clean = artefact_from_spray(args.spray, args.cluster, model, token=token)
        target = artefact.origin["target"] if target is None else target
    elif target is None and args.demo_data is not None:
        target = 0
    if target is None:
        raise InputError("Say which class the artefact drives with --class (for example --class horse).")
    if args.region is not None:
        image, box = parse_region(args.region)
        if args.clean is not None:
            clean = load_images(model, read_list(args.clean), token=token)
        elif train is not None:
            clean = train.of_class(target)
        else:
            raise InputError("With --region, give images to paste the artefact into: --clean LIST or --data FOLDER.")
        artefact, carrying, clean = artefact_from_image_region(model, image, box, clean)
    elif args.carrying is not None:
        if args.clean is None:
            raise InputError("With --carrying, also give images without the artefact (--clean LIST).")
        artefact, carrying, clean = artefact_from_files(model, read_list(args.carrying), read_list(args.clean), target,
                                                        token=token)
    elif args.spray is None:
        if args.demo_data is None:
            raise InputError("Say where the artefact is: --spray DIR --cluster K, --carrying LIST --clean LIST, "
                             "or --region IMAGE:top,left,height,width.")
        artefact, carrying, clean = _demo_artefact(model, args, target)
    if args.method == "a-clarc" and train is None:
        raise InputError("A-ClArC fine-tunes on labelled images: give --data FOLDER (one subfolder per class).")
    def work():
        if args.method == "p-clarc":
            return p_clarc(model, artefact, carrying, clean, layer=args.layer, cav=args.cav, held_out=held_out,
                           target=target, token=token, progress=progress)
        settings = TrainingSettings(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                                    seed=args.seed)
        return a_clarc(model, artefact, train, target=target, settings=settings, paste_share=args.paste_share,
                       held_out=held_out, checkpoint_dir=args.checkpoints, token=token, progress=progress)

    result = run_cancellable(work, token, progress, out=args.out, trains=args.method == "a-clarc",
                             checkpoints=args.checkpoints)
    if result is None:
        return EXIT_CANCELLED
    if args.demo_data is not None and held_out is not None:
        result.notes.append("The held-out pictures are generated without the tag: 'as given' means tag-free.")
    result.provenance["data"] = (str(args.data.resolve()) if args.data is not None else
                                 f"generated: {args.demo_data} pictures, seed {args.seed}" if args.demo_data else None)
    if held_out is None:
        result.notes.append("No held-out images were given (--data), so only the artefact's own images were measured.")
    return write_repair(result, args.out, progress)
