"""Headless commands: the same engine as the GUI, for scripted and batch use.

    python -m xaidesk methods [--modality image|audio|table] [--json]
    python -m xaidesk models [--json]
    python -m xaidesk explain image INPUT --model SPEC --method NAME [--target K]
                                          [--param k=v ...] --out DIR [--trust] [--labels FILE]
    python -m xaidesk explain audio INPUT --model SPEC --method NAME [--target K]
                                          [--param k=v ...] [--start S --stop S] --out DIR [--labels FILE]
    python -m xaidesk explain table CSV --method NAME [--columns A,B,...]
                                        [--target-column NAME] [--param k=v ...] --out DIR
    python -m xaidesk explain molecules DIR_OR_XYZ --energies FILE --method ridge.atoms|ridge.pairs
                                        [--unit angstrom|bohr] [--param k=v ...] --out DIR

The output folder receives ``relevance.npy``, ``overlay.png`` and
``summary.json``, plus ``uncertainty.npy`` (RELAX, SmoothGrad) and
``segments.npy``/``segments.csv`` (LIME) where the method has them, and
``figure.png`` with ``--figure``. Image pixels the model never saw (cut off by
a centre crop; ``--whole-image`` avoids it) are NaN in ``relevance.npy`` and
counted as ``unseen_pixels`` in ``summary.json``. For tables
it receives ``scores.csv`` (``row,score``; 0-based rows in file order),
``relevance.csv`` (``row`` and one column per feature) and ``summary.json``
(method, θ per column, γ, parameters, seconds, top rows). For molecules it
receives ``metrics.csv`` (``metric,value``: MAEs per split in the energy unit,
split sizes, λ), ``element_energies.csv`` (``element,energy``; ridge.atoms) or
``pair_potentials.csv`` (``distance_bohr`` and one column per pair type, 200
points from r_min to r_max; ridge.pairs), ``decompositions.csv`` (the test
molecules' predictions split into atom or pair contributions plus the
intercept) and ``summary.json``. Errors
print one plain sentence to stderr and exit non-zero; the output folder is
checked for writability before any work, and the files are written as a set,
so nothing half-written is left in it. Progress goes to stderr: one updated
line on a terminal, otherwise a plain line every few seconds; library warnings
are summed up in one note.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
import time
from pathlib import Path

from .core import Cancelled, CancelToken, XaideskError, get_method, list_methods, parse_param_values
from .core.io import csv_field, csv_number, json_text
from .core.registry import MODALITIES

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_CANCELLED = 130

#: Commands that live in their own module: name -> module path. Each module offers
#: ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int`` (exit status).
COMMAND_MODULES = {
    "probe": "xaidesk.commands.probe",
    "spray": "xaidesk.commands.spray",
    "evaluate": "xaidesk.commands.evaluate",
    "batch": "xaidesk.commands.batch",
    "convert-vggish": "xaidesk.commands.convert_vggish",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one plain sentence, no usage dump
        self.exit(EXIT_USAGE, f"xaidesk: {message}. Run 'python -m xaidesk --help' for usage.\n")


#: Said by ``python -m xaidesk --help``: the commands are headless; the window has its own start.
WINDOW_NOTE = (
    "None of these commands opens the window. To open the desktop app, run 'python -m xaidesk' "
    "with no command; 'python -m xaidesk --demo' opens it with a built-in demo model and a sample "
    "image. 'python -m xaidesk --self-test' checks every pipeline on the demos."
)


def output_folder(text: str) -> Path:
    """``--out``: a folder name, never empty (an empty name would mean the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("the output folder name is empty; give the folder for the results")
    return Path(text)


MODEL_HELP = ("model spec: demo:NAME, torchvision:ARCH:WEIGHTS, timm:NAME:WEIGHTS, hf:FOLDER, onnx:PATH, "
              "vggish:WEIGHTS, probe:PATH, file:PATH")
LABELS_HELP = ("class names for the model's outputs: a .txt file with one name per line, or a .json file with a "
               "list of names or an id2label object")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="xaidesk", description="Explain images, sounds, tables and molecules from the command line.",
                     epilog=WINDOW_NOTE)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    methods = commands.add_parser("methods", help="list explanation methods and their parameters")
    methods.add_argument("--modality", choices=MODALITIES)
    methods.add_argument("--json", action="store_true", help="print machine-readable JSON")

    models = commands.add_parser("models", help="list built-in models and supported architectures")
    models.add_argument("--json", action="store_true", help="print machine-readable JSON")

    explain = commands.add_parser("explain", help="explain one input and write the results to a folder")
    kinds = explain.add_subparsers(dest="modality", required=True, parser_class=_Parser)
    image = kinds.add_parser("image", help="explain an image classifier's prediction")
    image.add_argument("input", type=Path, help="the image file")
    image.add_argument("--model", required=True, help=MODEL_HELP)
    image.add_argument("--method", required=True, help="method name, see 'xaidesk methods'")
    image.add_argument("--target", type=int, default=None, help="class index to explain (default: top class)")
    image.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="a method parameter")
    image.add_argument("--out", required=True, type=output_folder, help="output folder")
    image.add_argument("--trust", action="store_true", help="allow loading a pickled model file (runs its code)")
    image.add_argument("--labels", type=Path, default=None, metavar="FILE", help=LABELS_HELP)
    image.add_argument("--cmap", default=None, help="colour map of overlay.png")
    image.add_argument("--opacity", type=float, default=0.6, help="heatmap opacity in overlay.png (0-1)")
    image.add_argument("--whole-image", action="store_true",
                       help="resize the whole image to the model's input size instead of cutting out its centre, "
                            "so every pixel is explained (otherwise pixels outside the crop are NaN: not seen)")
    image.add_argument("--figure", action="store_true",
                       help="also write figure.png: the overlay with a title (method, class, model) and a labelled "
                            "colour bar")
    image.add_argument("--evaluate", action="store_true",
                       help="also measure faithfulness by region perturbation, MoRF against random (writes pixel_flipping.csv); "
                            "'xaidesk evaluate' compares methods with every option")
    audio = kinds.add_parser("audio", help="explain a sound classifier's prediction on the clip's spectrogram")
    audio.add_argument("input", type=Path, help="the sound file (WAV, FLAC, OGG, MP3)")
    audio.add_argument("--model", required=True, help="model spec: demo:sounds, vggish:WEIGHTS, file:PATH")
    audio.add_argument("--method", required=True, help="method name, see 'xaidesk methods --modality audio'")
    audio.add_argument("--target", type=int, default=None, help="class index to explain (default: top class)")
    audio.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="a method parameter")
    audio.add_argument("--start", type=float, default=None, help="start of the segment to analyse, in seconds")
    audio.add_argument("--stop", type=float, default=None, help="end of the segment to analyse, in seconds")
    audio.add_argument("--mixdown", default="mean", choices=("mean", "left", "right"),
                       help="how several channels become one")
    audio.add_argument("--out", required=True, type=output_folder, help="output folder")
    audio.add_argument("--trust", action="store_true", help="allow loading a pickled model file (runs its code)")
    audio.add_argument("--labels", type=Path, default=None, metavar="FILE", help=LABELS_HELP)
    audio.add_argument("--cmap", default=None, help="colour map of the relevance in overlay.png")
    audio.add_argument("--opacity", type=float, default=0.6, help="heatmap opacity in overlay.png (0-1)")
    table = kinds.add_parser("table", help="analyse a table (outliers, clusters, a target) and explain it per feature")
    table.add_argument("input", type=Path, help="the table: CSV, TSV or .xlsx")
    table.add_argument("--method", required=True, help="method name, see 'xaidesk methods --modality table'")
    table.add_argument("--columns", default=None, help="feature columns, separated by commas (default: the guessed ones)")
    table.add_argument("--target-column", default=None, help="the column a supervised method predicts")
    table.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="a method parameter")
    table.add_argument("--encoding", default=None, help="text encoding if the file is not UTF-8 (e.g. latin-1)")
    table.add_argument("--out", required=True, type=output_folder, help="output folder")
    molecules = kinds.add_parser("molecules", help="learn atomization energies of molecules and explain them "
                                                   "as energies per element or pair potentials")
    molecules.add_argument("input", type=Path, help="a folder of .xyz files (or one .xyz file)")
    molecules.add_argument("--energies", required=True, type=Path, help="the energies file: lines of 'name value'")
    molecules.add_argument("--method", required=True, help="ridge.atoms or ridge.pairs, see 'xaidesk methods --modality molecule'")
    molecules.add_argument("--unit", default="angstrom", choices=("angstrom", "bohr"),
                           help="length unit of the coordinates in the .xyz files (default angstrom)")
    molecules.add_argument("--energy-unit", default="kcal/mol", help="label of the energy unit (not converted)")
    molecules.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="a method parameter")
    molecules.add_argument("--out", required=True, type=output_folder, help="output folder")
    for name, module_path in COMMAND_MODULES.items():
        module = importlib.import_module(module_path)
        module.add_arguments(commands.add_parser(name, help=module.HELP, description=module.HELP))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():
        caught = _catch_warnings()
        code = _dispatch(args)
    if caught:
        first = str(caught[0].message).strip().splitlines()[0][:160] if str(caught[0].message).strip() else ""
        print(f"xaidesk: note: {len(caught)} library warning(s) were kept off the screen (the first: "
              f"{caught[0].category.__name__}: {first}).", file=sys.stderr)
    return code


def _catch_warnings() -> list:
    """Keep library warnings off stderr (one note sums them up); up to 100 of them are kept."""
    caught: list = []

    def keep(message, category, filename, lineno, file=None, line=None) -> None:
        if len(caught) < 100:
            caught.append(warnings.WarningMessage(message, category, filename, lineno, file, line))

    warnings.simplefilter("default")
    warnings.showwarning = keep
    return caught


def _dispatch(args: argparse.Namespace) -> int:
    try:
        if args.command == "methods":
            return _cmd_methods(args)
        if args.command == "models":
            return _cmd_models(args)
        if args.command == "explain" and args.modality == "image":
            return _cmd_explain_image(args)
        if args.command == "explain" and args.modality == "audio":
            return _cmd_explain_audio(args)
        if args.command == "explain" and args.modality == "table":
            return _cmd_explain_table(args)
        if args.command == "explain" and args.modality == "molecules":
            return _cmd_explain_molecules(args)
        if args.command in COMMAND_MODULES:
            return importlib.import_module(COMMAND_MODULES[args.command]).run(args)
    except XaideskError as error:
        print(f"xaidesk: {error.message}", file=sys.stderr)
        return EXIT_ERROR
    except Cancelled:
        print("xaidesk: cancelled; nothing was written.", file=sys.stderr)
        return EXIT_CANCELLED
    except KeyboardInterrupt:
        print("xaidesk: interrupted; nothing was written.", file=sys.stderr)
        return EXIT_CANCELLED
    return EXIT_USAGE


def _cmd_methods(args: argparse.Namespace) -> int:
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


def _cmd_models(args: argparse.Namespace) -> int:
    from .models import TORCHVISION_ARCHITECTURES, list_builtin_models

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


class CliProgress:
    """Progress on stderr: one updated line on a terminal; otherwise a plain line every ``interval`` s.

    Call it as a progress callback; call :meth:`done` when the work is finished. Off a terminal
    (a log file, a pipe, a batch job) nothing is printed for runs shorter than ``interval``.
    """

    def __init__(self, stream=None, interval: float = 5.0, clock=time.monotonic) -> None:
        self._stream = stream or sys.stderr
        self._terminal = bool(getattr(self._stream, "isatty", lambda: False)())
        self._interval = interval
        self._clock = clock
        self._start = clock()
        self._last_line = self._start
        self._drawn = False

    def __call__(self, fraction: float, message: str = "", partial=None) -> None:
        now = self._clock()
        elapsed = now - self._start
        fraction = min(max(float(fraction), 0.0), 1.0)
        if self._terminal:
            print(f"\r  {fraction * 100:5.1f}%  {elapsed:6.1f}s  {message[:50]:<50}", end="", file=self._stream,
                  flush=True)
            self._drawn = True
        elif now - self._last_line >= self._interval:
            self._last_line = now
            detail = f" ({message.strip()[:80]})" if message.strip() else ""
            print(f"xaidesk: progress {fraction * 100:.0f}%{detail}, {elapsed:.0f} s so far", file=self._stream,
                  flush=True)

    def done(self) -> None:
        """End the terminal's progress line."""
        if self._drawn:
            print(file=self._stream)
            self._drawn = False


def cli_progress() -> CliProgress:
    """The progress reporter of a CLI command (see :class:`CliProgress`)."""
    return CliProgress()


def check_output_options(args: argparse.Namespace, rendered: bool = True) -> None:
    """Refuse unusable output options (an output folder that cannot be written, ...) before any work is done."""
    from .core import InputError, render
    from .core.io import check_output_folder

    check_output_folder(args.out)
    if not rendered:
        return
    if not 0.0 <= args.opacity <= 1.0:
        raise InputError("The opacity must be between 0 and 1.")
    if args.cmap is not None and args.cmap not in render.COLORMAPS:
        raise InputError(f"Unknown colour map '{args.cmap}'; choose one of: {', '.join(render.COLORMAPS)}.")


def prediction_summary(prediction, explanation) -> dict:
    """The predicted class, the explained class's probability and the top five, for summary.json."""
    top_index, top_label, top_probability = prediction.top(1)[0]
    return {
        "predicted": {"index": top_index, "label": top_label, "probability": top_probability,
                      "score": float(prediction.logits[top_index])},
        "target_probability": float(prediction.probabilities[explanation.target.index]),
        "top5": [{"index": i, "label": l, "probability": p} for i, l, p in prediction.top(5)],
    }


def write_explanation(out, explanation, overlay, summary: dict, curve=None, figure: bytes | None = None) -> None:
    """Write an image or audio explanation's files as a set (see the module docstring);
    ``figure`` is a PNG written as ``figure.png``."""
    import numpy as np

    from .core.io import save_npy_atomic, save_png_atomic, staged_folder, write_bytes_atomic, write_json_atomic

    with staged_folder(out) as folder:
        save_npy_atomic(folder / "relevance.npy", explanation.relevance)
        if explanation.uncertainty is not None:
            save_npy_atomic(folder / "uncertainty.npy", explanation.uncertainty)
        segments = explanation.extras.get("segments")
        if isinstance(segments, np.ndarray):
            save_npy_atomic(folder / "segments.npy", segments.astype(np.int32))
            weights = explanation.extras.get("segment_weights")
            if weights is not None:
                rows = ["segment,weight,cells"] + [
                    f"{label},{float(weight):.9g},{int(np.count_nonzero(segments == label))}"
                    for label, weight in enumerate(weights)
                ]
                write_bytes_atomic(folder / "segments.csv", ("\n".join(rows) + "\n").encode("utf-8"))
        if curve is not None:
            rows = ["fraction_removed,score,random_order_score"] + [
                f"{f:.6g},{a:.9g},{b:.9g}"
                for f, a, b in zip(curve.fractions, curve.curves["morf"], curve.curves["random"])
            ]
            write_bytes_atomic(folder / "pixel_flipping.csv", ("\n".join(rows) + "\n").encode("utf-8"))
        save_png_atomic(folder / "overlay.png", overlay)
        if figure is not None:
            write_bytes_atomic(folder / "figure.png", figure)
        write_json_atomic(folder / "summary.json", summary)


def _cmd_explain_image(args: argparse.Namespace) -> int:
    from .core import render
    from .data.images import load_image
    from .explain import explain_image, predict_image
    from .models import load_model

    check_output_options(args)
    params = parse_param_values(args.param)
    image = load_image(args.input)
    model = load_model(args.model, trust=args.trust, labels=args.labels)
    if args.whole_image:
        from dataclasses import replace

        model = replace(model, preprocessing=model.preprocessing.whole_image())
    prediction = predict_image(model, image.pixels)
    progress = cli_progress()
    explanation = explain_image(
        model, image.pixels, args.method, target=args.target, params=params, token=CancelToken(), progress=progress
    )
    progress.done()
    signed = get_method(explanation.method).shows_sign(explanation.params)
    cmap, levels = args.cmap or render.automatic_colormap(signed), render.automatic_levels(explanation.relevance, signed)
    overlay = render.blend_overlay(image.pixels, explanation.relevance, cmap=cmap, opacity=args.opacity, levels=levels)
    summary = {
        "input": str(args.input),
        "model": args.model,
        "model_name": model.name,
        **({"labels": str(args.labels)} if args.labels is not None else {}),
        **explanation.summary(),
        **prediction_summary(prediction, explanation),
        "image_size": [image.width, image.height],
        "notices": image.notices + list(model.notes),
        "preprocessing": model.preprocessing.to_dict(),
        "unseen_pixels": render.unseen_count(explanation.relevance),
    }
    figure = None
    if args.figure:
        target = explanation.target
        info = get_method(explanation.method)
        class_text = str(target.index) if target.label in ("", str(target.index)) else f"{target.index}: {target.label}"
        class_name = target.label or f"class {target.index}"
        if not info.explains_class:
            class_text = class_name = ""
        figure = render.figure_bytes(
            image.pixels, explanation.relevance, cmap=cmap, opacity=args.opacity, levels=levels,
            title=render.figure_title(info.title, class_text, model.name),
            colorbar_label="relevance · " + render.map_colour_meaning(explanation.relevance, class_name, cmap, signed,
                                                                     levels))
    curve = None
    if args.evaluate:
        from .evaluate import FlipSettings, image_faithfulness

        curve = image_faithfulness(model, image.pixels, explanation.relevance, explanation.target.index,
                                   FlipSettings(orders=("morf", "random")), method=explanation.method,
                                   token=CancelToken(), progress=progress)
        progress.done()
        areas = curve.to_dict()
        summary["pixel_flipping"] = {
            "auc": areas["auc_morf"], "random_auc": areas["auc_random"],
            "faithfulness_gap": areas["auc_random"] - areas["auc_morf"], "aopc": areas["aopc_morf"],
            "random_aopc": areas["aopc_random"], "units": curve.units, **curve.settings,
        }
    # Everything is computed; only now touch the output folder, and write the files as a set.
    write_explanation(args.out, explanation, overlay, summary, curve, figure)
    print(
        f"{explanation.method}: explained '{explanation.target.label}' (class {explanation.target.index}, "
        f"score {explanation.score:.3g}) in {explanation.seconds:.2f} s; results in {args.out}"
    )
    for notice in image.notices:
        print(f"xaidesk: note: {notice}", file=sys.stderr)
    return 0


def _cmd_explain_audio(args: argparse.Namespace) -> int:
    from .data.audio import load_clip
    from .explain.audio import explain_audio, predict_audio, render_spectrogram_overlay
    from .models import load_model

    check_output_options(args)
    params = parse_param_values(args.param)
    audio = load_clip(args.input, args.start, args.stop, mixdown=args.mixdown)
    model = load_model(args.model, trust=args.trust, labels=args.labels)
    prediction = None if getattr(model, "embedding_only", False) else predict_audio(model, audio)
    progress = cli_progress()
    explanation = explain_audio(model, audio, args.method, target=args.target, params=params,
                                token=CancelToken(), progress=progress)
    progress.done()
    extras = explanation.extras
    overlay = render_spectrogram_overlay(extras["spectrogram"], explanation.relevance, cmap=args.cmap,
                                         opacity=args.opacity,
                                         signed=get_method(explanation.method).shows_sign(explanation.params))
    summary = {
        "input": str(args.input),
        "model": args.model,
        "model_name": model.name,
        **({"labels": str(args.labels)} if args.labels is not None else {}),
        **explanation.summary(),
        "frontend": extras["frontend"],
        "segment": {"start": extras["segment"][0], "stop": extras["segment"][1], "file_rate": audio.rate,
                    "channels": audio.channels, "mixdown": audio.mixdown, "subtype": audio.subtype},
        "relevance_axes": ["mel band (lowest first)", "frame"],
        "frames": int(explanation.relevance.shape[1]),
        "windows": extras["windows"],
        "window_scores": extras["window_scores"],
        "notices": list(audio.notices) + list(model.notes),
    }
    if prediction is not None:
        summary.update(prediction_summary(prediction, explanation))
        summary["window_top"] = [model.label(i) for i in prediction.window_top]
    write_explanation(args.out, explanation, overlay, summary)
    print(
        f"{explanation.method}: explained '{explanation.target.label}' (class {explanation.target.index}) on "
        f"{summary['segment']['stop'] - summary['segment']['start']:.2f} s of sound, {len(extras['windows'])} "
        f"window(s), in {explanation.seconds:.2f} s; results in {args.out}"
    )
    for notice in extras.get("notes", []):
        print(f"xaidesk: note: {notice}", file=sys.stderr)
    return 0


def _cmd_explain_table(args: argparse.Namespace) -> int:
    from .data.tables import load_table
    from .explain.table import explain_table
    from .export.tables import write_table_results

    check_output_options(args, rendered=False)
    params = parse_param_values(args.param)
    columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
    table = load_table(args.input, encoding=args.encoding)
    progress = cli_progress()
    result = explain_table(table, args.method, params, columns=columns, target=args.target_column,
                           token=CancelToken(), progress=progress)
    progress.done()
    for notice in table.notices + result.notices:
        print(f"xaidesk: note: {notice}", file=sys.stderr)
    write_table_results(args.out, result, table, args.target_column)
    top = result.top_rows(3)
    print(
        f"{result.method}: {len(result.row_ids)} rows x {len(result.feature_names)} features in {result.seconds:.2f} s; "
        f"highest {result.score_label}: " + ", ".join(f"row {t['row']} ({t['score']:.3g})" for t in top)
        + f"; results in {args.out}"
    )
    return 0


def _cmd_explain_molecules(args: argparse.Namespace) -> int:
    import numpy as np

    from .core import MethodError
    from .core.io import staged_folder, write_bytes_atomic, write_json_atomic
    from .data.molecules import load_molecules

    check_output_options(args, rendered=False)
    values = parse_param_values(args.param)
    info = get_method(args.method)
    if "molecule" not in info.modality:
        names = ", ".join(m.name for m in list_methods("molecule"))
        raise MethodError(f"The method {args.method} is not for molecules; choose one of: {names}.")
    params = info.resolve_params(values)
    progress = cli_progress()
    token = CancelToken()
    mols = load_molecules(args.input, args.energies, unit=args.unit, energy_unit=args.energy_unit,
                          require_energies=True, cancel=token)
    for notice in mols.notices:
        print(f"xaidesk: note: {notice}", file=sys.stderr)
    explanation = info.function(None, mols, None, params=params, token=token,
                                progress=progress)
    progress.done()
    model = explanation.extras["model"]
    for note in model.notes:
        print(f"xaidesk: note: {note}", file=sys.stderr)
    unit = model.energy_unit
    metrics = dict(model.metrics)
    metric_rows = ["metric,value"] + [f"{csv_field(k)},{csv_number(v)}" for k, v in metrics.items()]
    files: dict[str, list[str]] = {"metrics.csv": metric_rows}
    if model.kind == "atoms":
        files["element_energies.csv"] = ["element,energy"] + [
            f"{e},{csv_number(v)}" for e, v in model.element_energies().items()]
    else:
        grid = np.linspace(model.basis.r_min, model.basis.r_max, 200)
        distances, curves = model.potentials(grid)
        labels = list(curves)
        files["pair_potentials.csv"] = [",".join(["distance_bohr"] + labels)] + [
            ",".join([csv_number(d)] + [csv_number(curves[label][k]) for label in labels])
            for k, d in enumerate(distances)]
    decomposition = ["molecule,kind,i,j,label,distance_bohr,contribution"]
    for index in model.split["test"]:
        parts = model.decompose(mols, int(index))
        name = csv_field(parts.name)
        for k in parts.ranked():
            j, d = ("", "") if parts.kind == "atoms" else (int(parts.j[k]), csv_number(parts.distance[k]))
            decomposition.append(f"{name},{parts.kind},{int(parts.i[k])},{j},{parts.labels[k]},{d},"
                                 f"{csv_number(parts.parts[k])}")
        decomposition.append(f"{name},intercept,,,,,{csv_number(parts.intercept)}")
    files["decompositions.csv"] = decomposition
    summary = {
        "input": str(args.input), "energies": str(args.energies), "length_unit_of_files": args.unit,
        "energy_unit": unit, "method": explanation.method, "params": dict(explanation.params),
        "metrics": {**metrics, "unit": unit}, "test_mae": metrics["test_mae"], "alpha": model.alpha,
        "intercept": model.intercept, "elements": explanation.extras["elements"],
        "n_molecules": len(mols), "seconds": round(float(explanation.seconds), 4),
        "seconds_by_step": dict(model.seconds),
    }
    if model.kind == "atoms":
        summary["element_energies"] = model.element_energies()
    else:
        summary["pair_types"] = list(model.basis.pair_labels)
        summary["basis"] = model.basis.to_dict()
        summary["potential_grid"] = {"from_bohr": model.basis.r_min, "to_bohr": model.basis.r_max, "points": 200}
    with staged_folder(args.out) as folder:
        for name, rows in files.items():
            write_bytes_atomic(folder / name, ("\n".join(rows) + "\n").encode("utf-8"))
        write_json_atomic(folder / "summary.json", summary)
    print(
        f"{explanation.method}: {len(mols)} molecules, test MAE {metrics['test_mae']:.3g} {unit} "
        f"(λ = {model.alpha:.3g}) in {explanation.seconds:.2f} s; results in {args.out}"
    )
    return 0
