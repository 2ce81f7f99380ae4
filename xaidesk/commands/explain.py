"""``python -m xaidesk explain``: explain one input and write the results to a folder.

    python -m xaidesk explain image INPUT --model SPEC --method NAME [--target K]
                                          [--param k=v ...] --out DIR [--trust] [--labels FILE]
                                          [--device cpu|cuda]
    python -m xaidesk explain audio INPUT --model SPEC --method NAME [--target K]
                                          [--param k=v ...] [--start S --stop S] --out DIR [--labels FILE]
                                          [--device cpu|cuda]
    python -m xaidesk explain table CSV --method NAME [--columns A,B,...]
                                        [--target-column NAME] [--param k=v ...] --out DIR
                                        [--ice FEATURE ...] [--pd2d A,B ...] [--row N]   (tabular.readable)
    python -m xaidesk explain molecules DIR_OR_XYZ --energies FILE --method ridge.atoms|ridge.pairs
                                        [--unit angstrom|bohr] [--param k=v ...] --out DIR

The output folder receives ``relevance.npy``, ``overlay.png`` and
``summary.json``, plus ``uncertainty.npy`` (RELAX, SmoothGrad) and
``segments.npy``/``segments.csv`` (LIME) where the method has them, and
``figure.png`` with ``--figure`` (see :mod:`xaidesk.export.images`). Image pixels the
model never saw (cut off by a centre crop; ``--whole-image`` avoids it) are NaN in
``relevance.npy`` and counted as ``unseen_pixels`` in ``summary.json``. For tables
it receives ``scores.csv`` (``row,score``; 0-based rows in file order),
``relevance.csv`` (``row`` and one column per feature) and ``summary.json``
(method, θ per column, γ, parameters, seconds, top rows; see :mod:`xaidesk.export.tables`).
With ``tabular.readable`` it also receives ``shapley.csv`` (the explained rows' Shapley values)
and ``shapley_summary.png``, and with ``--ice``, ``--pd2d`` and ``--row`` the ICE curves,
two-feature partial dependence and one row's waterfall (see :mod:`xaidesk.export.tabular_files`).
For molecules it receives ``metrics.csv`` (``metric,value``: MAEs per split in the energy
unit, split sizes, λ), ``element_energies.csv`` (``element,energy_<unit>``; ridge.atoms) or
``pair_potentials.csv`` (``distance_bohr``, ``distance_angstrom`` and one column per pair
type, 200 points from r_min to r_max; ridge.pairs), ``decompositions.csv`` (``molecule,type,
atom_i,atom_j,element_i,element_j,distance_angstrom,contribution_<unit>``: the test
molecules' predictions split into atom or pair contributions, then the intercept and the
prediction; atoms numbered from 1) and ``summary.json`` (see :mod:`xaidesk.export.molecules`;
the Molecules tab's exports write the same CSV files). Nothing is written until the work is
done, and the files are written as a set.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core import CancelToken, get_method, list_methods, parse_param_values
from . import common
from .common import DEVICE_HELP, LABELS_HELP, MODEL_HELP, Parser, check_output_options, output_folder


def add_parser(subparsers, name: str = "explain") -> argparse.ArgumentParser:
    """Add ``explain`` with its four kinds (image, audio, table, molecules) to ``subparsers``."""
    explain = subparsers.add_parser(name, help="explain one input and write the results to a folder")
    kinds = explain.add_subparsers(dest="modality", required=True, parser_class=Parser)
    image = kinds.add_parser("image", help="explain an image classifier's prediction")
    image.add_argument("input", type=Path, help="the image file")
    image.add_argument("--model", required=True, help=MODEL_HELP)
    image.add_argument("--method", required=True, help="method name, see 'xaidesk methods'")
    image.add_argument("--target", type=int, default=None, help="class index to explain (default: top class)")
    image.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="a method parameter")
    image.add_argument("--out", required=True, type=output_folder, help="output folder")
    image.add_argument("--trust", action="store_true", help="allow loading a pickled model file (runs its code)")
    image.add_argument("--labels", type=Path, default=None, metavar="FILE", help=LABELS_HELP)
    image.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help=DEVICE_HELP)
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
    audio.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help=DEVICE_HELP)
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
    table.add_argument("--ice", action="append", default=[], metavar="FEATURE",
                       help="tabular.readable only: also write ice_<FEATURE>.csv and .png, what the model would say "
                            "if FEATURE changed, row by row and on average (may be given several times)")
    table.add_argument("--pd2d", action="append", default=[], metavar="A,B",
                       help="tabular.readable only: also write pd2d_<A>_<B>.csv and .png, the model's average "
                            "output over a grid of two features (may be given several times)")
    table.add_argument("--row", type=int, default=None, metavar="N",
                       help="tabular.readable only: also write waterfall_row<N>.png, why file row N (0-based, as in "
                            "scores.csv) got its output; its ICE curve is highlighted")
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
    table.set_defaults(handler=run_table)
    molecules.set_defaults(handler=run_molecules)
    image.set_defaults(handler=run_image)
    audio.set_defaults(handler=run_audio)
    return explain


def run_image(args: argparse.Namespace) -> int:
    from ..core import render
    from ..data.images import load_image
    from ..explain import explain_image, predict_image
    from ..export.images import write_explanation
    from ..models import load_model
    from ..runs import model_on_device, resolve_device

    check_output_options(args)
    resolve_device(args.device)
    params = parse_param_values(args.param)
    image = load_image(args.input)
    model = load_model(args.model, trust=args.trust, labels=args.labels)
    if args.whole_image:
        from dataclasses import replace

        model = replace(model, preprocessing=model.preprocessing.whole_image())
    prediction = predict_image(model, image.pixels)
    progress = common.cli_progress()
    with model_on_device(model, args.device) as on_device:
        explanation = explain_image(on_device, image.pixels, args.method, target=args.target, params=params,
                                    token=CancelToken(), progress=progress)
    progress.done()
    signed = get_method(explanation.method).shows_sign(explanation.params)
    cmap, levels = args.cmap or render.automatic_colormap(signed), render.automatic_levels(explanation.relevance, signed)
    overlay = render.blend_overlay(image.pixels, explanation.relevance, cmap=cmap, opacity=args.opacity, levels=levels)
    summary = {
        "input": str(args.input),
        "model": args.model,
        "model_name": model.name,
        "device": args.device,
        **({"labels": str(args.labels)} if args.labels is not None else {}),
        **explanation.summary(),
        **common.prediction_summary(prediction, explanation),
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
            colorbar_label=f"{info.unit} · " + render.map_colour_meaning(explanation.relevance, class_name, cmap, signed,
                                                                     levels))
    curve = None
    if args.evaluate:
        from ..evaluate import FlipSettings, image_faithfulness

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


def run_audio(args: argparse.Namespace) -> int:
    from ..data.audio import load_clip
    from ..explain.audio import explain_audio, predict_audio, render_spectrogram_overlay
    from ..export.images import write_explanation
    from ..models import load_model
    from ..runs import model_on_device, resolve_device

    check_output_options(args)
    resolve_device(args.device)
    params = parse_param_values(args.param)
    audio = load_clip(args.input, args.start, args.stop, mixdown=args.mixdown)
    model = load_model(args.model, trust=args.trust, labels=args.labels)
    prediction = None if getattr(model, "embedding_only", False) else predict_audio(model, audio)
    progress = common.cli_progress()
    with model_on_device(model, args.device) as on_device:
        explanation = explain_audio(on_device, audio, args.method, target=args.target, params=params,
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
        summary.update(common.prediction_summary(prediction, explanation))
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


def readable_requests(args: argparse.Namespace) -> tuple[list[str], list[tuple[str, str]]]:
    """``--ice`` features and ``--pd2d`` pairs, refused in plain words with methods other than tabular.readable."""
    from ..core import InputError
    from ..tabular.methods import METHOD_NAME

    asked = [flag for flag, value in (("--ice", args.ice), ("--pd2d", args.pd2d), ("--row", args.row is not None))
             if value]
    if asked and args.method != METHOD_NAME:
        raise InputError(f"{' and '.join(asked)} need a fitted model: they work with --method {METHOD_NAME} only, "
                         f"not with {args.method}.")
    pairs = []
    for text in args.pd2d:
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != 2 or not all(parts):
            raise InputError(f"--pd2d takes two feature names separated by a comma (e.g. income,age), not '{text}'.")
        pairs.append((parts[0], parts[1]))
    return [f.strip() for f in args.ice], pairs


def run_table(args: argparse.Namespace) -> int:
    from ..core import InputError
    from ..data.tables import load_table
    from ..explain.table import as_feature_matrix, explain_table
    from ..export.tables import write_table_results
    from ..export.tabular_files import readable_file_names, readable_files
    from ..tabular.methods import METHOD_NAME

    check_output_options(args, rendered=False)
    ice, pairs = readable_requests(args)
    params = parse_param_values(args.param)
    columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
    table = load_table(args.input, encoding=args.encoding)
    if args.method == METHOD_NAME:
        features = as_feature_matrix(table, columns, args.target_column)
        for name in readable_file_names(features.names, ice, pairs, args.row):
            if (args.out / name).is_dir():
                raise InputError(f"'{args.out / name}' is a folder, so the results cannot be written there; "
                                 "remove it or give another output folder.")
        if args.row is not None and args.row not in set(int(r) for r in features.row_ids):
            raise InputError(f"Row {args.row} is not part of the analysis: rows are numbered from 0 in file order, "
                             f"and rows with missing values are left out. Choose one of the rows in scores.csv.")
    token = CancelToken()
    progress = common.cli_progress()
    result = explain_table(table, args.method, params, columns=columns, target=args.target_column,
                           token=token, progress=progress)
    progress.done()
    for notice in table.notices + result.notices:
        print(f"xaidesk: note: {notice}", file=sys.stderr)
    extra = (readable_files(result, ice=ice, pd2d=pairs, row=args.row, token=token)
             if args.method == METHOD_NAME else {})
    write_table_results(args.out, result, table, args.target_column, extra_files=extra)
    top = result.top_rows(3)
    print(
        f"{result.method}: {len(result.row_ids)} rows x {len(result.feature_names)} features in {result.seconds:.2f} s; "
        f"highest {result.score_label}: " + ", ".join(f"row {t['row']} ({t['score']:.3g})" for t in top)
        + f"; results in {args.out}" + (f" (also {', '.join(extra)})" if extra else "")
    )
    return 0


def run_molecules(args: argparse.Namespace) -> int:
    from ..core import MethodError
    from ..data.molecules import load_molecules
    from ..export.molecules import POTENTIAL_POINTS, write_molecule_results

    check_output_options(args, rendered=False)
    values = parse_param_values(args.param)
    info = get_method(args.method)
    if "molecule" not in info.modality:
        names = ", ".join(m.name for m in list_methods("molecule"))
        raise MethodError(f"The method {args.method} is not for molecules; choose one of: {names}.")
    params = info.resolve_params(values)
    progress = common.cli_progress()
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
    decompositions = [model.decompose(mols, int(index)) for index in model.split["test"]]
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
        summary["potential_grid"] = {"from_bohr": model.basis.r_min, "to_bohr": model.basis.r_max,
                                     "points": POTENTIAL_POINTS}
    write_molecule_results(args.out, model, decompositions, summary)
    print(
        f"{explanation.method}: {len(mols)} molecules, test MAE {metrics['test_mae']:.3g} {unit} "
        f"(λ = {model.alpha:.3g}) in {explanation.seconds:.2f} s; results in {args.out}"
    )
    return 0
