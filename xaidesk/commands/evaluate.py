"""``python -m xaidesk evaluate``: compare explanation methods on one input by faithfulness.

    python -m xaidesk evaluate image INPUT --model SPEC --methods A,B,... [--target K]
    python -m xaidesk evaluate audio INPUT --model SPEC --methods A,B,... [--target K] [--start S --stop S]
    python -m xaidesk evaluate table CSV --methods A,B,... [--columns ...] [--target-column NAME] [--rows N]

    common: [--order morf,lerf,random] [--patch N] [--steps N] [--fill mean|blur|black]
            [--random-orders N] [--seed N] [--score logit|probability]
            [--param NAME=VALUE | --param METHOD:NAME=VALUE ...] --out DIR

Every method explains the input (the same pipelines as ``explain``), then its explanation is
evaluated by removing units (image patches; spectrogram time-frequency patches; table features)
most relevant first, least relevant first and in random orders (see :mod:`xaidesk.evaluate`).
``--param NAME=VALUE`` applies to every chosen method that has that parameter;
``--param METHOD:NAME=VALUE`` to one method. DIR receives ``curves.csv``, ``areas.csv``,
``curves.png`` and ``summary.json``, written as a set.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core import CancelToken, InputError, MethodError, get_method

HELP = "compare explanation methods on one input by faithfulness (pixel flipping / region perturbation)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .common import LABELS_HELP, MODEL_HELP, Parser, output_folder
    from ..evaluate import FILLS

    kinds = parser.add_subparsers(dest="modality", required=True, parser_class=Parser)

    def common(sub: argparse.ArgumentParser, *, images: bool) -> None:
        sub.add_argument("--methods", required=True, help="methods to compare, separated by commas")
        sub.add_argument("--order", default="morf,lerf,random",
                         help="removal orders, separated by commas: morf, lerf, random (default all three)")
        if images:
            sub.add_argument("--patch", type=int, default=0,
                             help="side of a removed square in cells: 1 = pixel flipping, 0 = automatic "
                                  "(images: 1/16 of the shorter side; spectrograms: 8)")
            sub.add_argument("--fill", default="mean", choices=FILLS,
                             help="what removed patches show: the mean, a blurred copy, or black (silence for sound)")
            sub.add_argument("--score", default="logit", choices=("logit", "probability"),
                             help="the explained quantity: the class logit or its softmax probability")
        sub.add_argument("--steps", type=int, default=20, help="removal steps (the curve has steps + 1 points)")
        sub.add_argument("--random-orders", type=int, default=3, help="random orders averaged as the baseline")
        sub.add_argument("--seed", type=int, default=0, help="seed of the random orders")
        sub.add_argument("--param", action="append", default=[], metavar="[METHOD:]NAME=VALUE",
                         help="a method parameter (for all methods that have it, or for METHOD only)")
        sub.add_argument("--out", required=True, type=output_folder, help="output folder")

    image = kinds.add_parser("image", help="compare image methods on one image")
    image.add_argument("input", type=Path, help="the image file")
    image.add_argument("--model", required=True, help=MODEL_HELP)
    image.add_argument("--labels", type=Path, default=None, metavar="FILE", help=LABELS_HELP)
    image.add_argument("--target", type=int, default=None, help="class index to explain (default: top class)")
    image.add_argument("--trust", action="store_true", help="allow loading a pickled model file (runs its code)")
    common(image, images=True)

    audio = kinds.add_parser("audio", help="compare methods on a sound's spectrogram")
    audio.add_argument("input", type=Path, help="the sound file (WAV, FLAC, OGG, MP3)")
    audio.add_argument("--model", required=True, help="model spec: demo:sounds, vggish:WEIGHTS, file:PATH")
    audio.add_argument("--labels", type=Path, default=None, metavar="FILE", help=LABELS_HELP)
    audio.add_argument("--target", type=int, default=None, help="class index to explain (default: top class)")
    audio.add_argument("--start", type=float, default=None, help="start of the segment to analyse, in seconds")
    audio.add_argument("--stop", type=float, default=None, help="end of the segment to analyse, in seconds")
    audio.add_argument("--mixdown", default="mean", choices=("mean", "left", "right"),
                       help="how several channels become one")
    audio.add_argument("--trust", action="store_true", help="allow loading a pickled model file (runs its code)")
    common(audio, images=True)

    table = kinds.add_parser("table", help="compare table methods by removing features (replaced by the column mean)")
    table.add_argument("input", type=Path, help="the table: CSV, TSV or .xlsx")
    table.add_argument("--columns", default=None, help="feature columns, separated by commas (default: the guessed ones)")
    table.add_argument("--target-column", default=None, help="the column a supervised method predicts")
    table.add_argument("--encoding", default=None, help="text encoding if the file is not UTF-8 (e.g. latin-1)")
    table.add_argument("--rows", type=int, default=200, help="evaluate at most this many rows (spread over the table)")
    common(table, images=False)


def split_list(text: str) -> list[str]:
    return [part.strip() for part in str(text).split(",") if part.strip()]


def method_params(pairs: list[str], methods: list[str]) -> dict[str, dict[str, str]]:
    """``--param`` values per method: ``NAME=VALUE`` for all methods that have NAME, ``METHOD:NAME=VALUE`` for one."""
    out: dict[str, dict[str, str]] = {m: {} for m in methods}
    for pair in pairs:
        if "=" not in pair:
            raise MethodError(f"Parameters are written name=value; '{pair}' has no '='.")
        key, value = (part.strip() for part in pair.split("=", 1))
        if ":" in key:
            method, name = (part.strip() for part in key.split(":", 1))
            if method not in out:
                raise InputError(f"--param {pair}: {method} is not among the methods to compare ({', '.join(methods)}).")
            out[method][name] = value
            continue
        takers = [m for m in methods if any(p.name == key for p in get_method(m).params)]
        if not takers:
            raise InputError(f"--param {pair}: none of the chosen methods has a parameter '{key}'.")
        for m in takers:
            out[m][key] = value
    return out


def _settings(args: argparse.Namespace):
    from ..evaluate import FlipSettings

    return FlipSettings(orders=tuple(split_list(args.order)), steps=args.steps, patch=getattr(args, "patch", 0),
                        fill=getattr(args, "fill", "mean"), random_orders=args.random_orders, seed=args.seed,
                        score=getattr(args, "score", "logit")).checked()


def run(args: argparse.Namespace) -> int:
    from .common import check_output_options, cli_progress
    from ..core.io import staged_folder, write_bytes_atomic, write_json_atomic
    from ..evaluate import compare_audio_methods, compare_image_methods, compare_table_methods
    from ..evaluate.report import areas_csv, curves_csv, curves_png

    check_output_options(args, rendered=False)
    methods = split_list(args.methods)
    if not methods:
        raise InputError("Give at least one method with --methods (names separated by commas).")
    for name in methods:
        info = get_method(name)
        if args.modality not in info.modality:
            raise MethodError(f"The method {name} does not work on {args.modality} inputs; "
                              f"see 'python -m xaidesk methods --modality {args.modality}'.")
    params = method_params(args.param, methods)
    settings = _settings(args)
    progress = cli_progress()
    token = CancelToken()
    summary = {"input": str(args.input), "modality": args.modality, "methods": methods, "settings": settings.to_dict()}
    if args.modality == "image":
        from ..data.images import load_image
        from ..models import load_model

        from ..evaluate.pixel_flipping import check_patch_size

        image = load_image(args.input)
        check_patch_size(settings.patch, image.pixels.shape)
        model = load_model(args.model, trust=args.trust, labels=args.labels)
        results = compare_image_methods(model, image.pixels, methods, target=args.target, params=params,
                                        settings=settings, token=token, progress=progress)
        summary.update(model=args.model, model_name=model.name, image_size=[image.width, image.height],
                       notices=list(image.notices))
    elif args.modality == "audio":
        from ..data.audio import load_clip
        from ..models import load_model

        audio = load_clip(args.input, args.start, args.stop, mixdown=args.mixdown)
        model = load_model(args.model, trust=args.trust, labels=args.labels)
        results = compare_audio_methods(model, audio, methods, target=args.target, params=params,
                                        settings=settings, token=token, progress=progress)
        summary.update(model=args.model, model_name=model.name, segment=[audio.start, audio.stop])
    else:
        from ..data.tables import load_table

        if args.rows < 1:
            raise InputError("--rows must be at least 1.")
        table = load_table(args.input, encoding=args.encoding)
        columns = split_list(args.columns) if args.columns else None
        results = compare_table_methods(table, methods, columns=columns, target=args.target_column, params=params,
                                        settings=settings, max_rows=args.rows, token=token,
                                        progress=progress)
        summary.update(target_column=args.target_column, notices=list(table.notices))
    progress.done()
    title = f"{args.input.name}: {results[0].target_label}" if results else args.input.name
    png = curves_png(results, title=title)
    summary["results"] = [r.to_dict() for r in results]
    summary["curves_png"] = "curves.png"
    # Everything is computed; only now touch the output folder, and write the files as a set.
    with staged_folder(args.out) as folder:
        write_bytes_atomic(folder / "curves.csv", curves_csv(results).encode("utf-8"))
        write_bytes_atomic(folder / "areas.csv", areas_csv(results).encode("utf-8"))
        write_bytes_atomic(folder / "curves.png", png)
        write_json_atomic(folder / "summary.json", summary)
    for result in results:
        areas = result.areas()
        print(f"{result.method}: AOPC MoRF {areas['aopc_morf']:.4g}, LeRF {areas['aopc_lerf']:.4g}, "
              f"random {areas['aopc_random']:.4g} (MoRF - random {areas['aopc_morf_minus_random']:+.4g})")
    print(f"results in {args.out}")
    if args.modality == "image":
        for notice in summary["notices"]:
            print(f"xaidesk: note: {notice}", file=sys.stderr)
    return 0

