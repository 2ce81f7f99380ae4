"""``xaidesk concepts``: which learned concepts (channels of a layer) a prediction used, and what they look like.

    python -m xaidesk concepts layers --model SPEC
    python -m xaidesk concepts image INPUT --model SPEC [--layer L] [--top K] [--channels A,B]
                                     [--method lrp.NAME] [--param NAME=VALUE] [--target K]
                                     [--prototypes DIR] --out DIR
    python -m xaidesk concepts references FOLDER --model SPEC [--layer L] [--method lrp.NAME]
                                          [--param NAME=VALUE] [--batch-size N] [--device cpu|cuda]
                                          [--target K] [--per-concept 8] [--shard I/N] --out RUN
    python -m xaidesk concepts prototypes RUN --class K [--prototypes N] [--seed S] --out DIR

``layers`` lists the model's concept layers (the default one marked). ``image`` splits the LRP
explanation by the channels of the layer (:mod:`xaidesk.concepts.image`) and writes the files of
:func:`xaidesk.concepts.files.write_image_concepts`. ``references`` runs the folder through the model
once, as a dataset-mode run folder RUN that resumes after a cancel
(:mod:`xaidesk.concepts.references`), then writes ``RUN/references`` (the RelMax and ActMax samples of
every concept; :func:`xaidesk.concepts.files.write_references`). The Dataset tab opens RUN.
``prototypes`` fits prototypes of one class's reasoning (PCX) on a reference run; ``image --prototypes DIR``
then says how typical one prediction's reasoning is (nearest prototype, percentile, differing concepts).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "concepts: the learned features a prediction used (CRP), their reference samples, a class's prototypes"


def add_parser(subparsers, name: str = "concepts") -> argparse.ArgumentParser:
    """Add ``concepts`` with its kinds (layers, image, references, prototypes) to ``subparsers``."""
    from .common import LABELS_HELP, MODEL_HELP, Parser, output_folder

    parser = subparsers.add_parser(name, help=HELP, description=HELP)
    kinds = parser.add_subparsers(dest="kind", required=True, parser_class=Parser)

    def model_options(command: argparse.ArgumentParser) -> None:
        command.add_argument("--model", required=True, help=MODEL_HELP)
        command.add_argument("--labels", type=Path, default=None, metavar="FILE", help=LABELS_HELP)
        command.add_argument("--trust", action="store_true", help="allow loading a pickled model file (runs its code)")

    def lrp_options(command: argparse.ArgumentParser) -> None:
        command.add_argument("--layer", default=None, help="the concept layer (default: the model's last convolution "
                                                           "or block; see 'xaidesk concepts layers')")
        command.add_argument("--method", default=None, help="the LRP method (default: the image default)")
        command.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                             help="a setting of the LRP method")
        command.add_argument("--target", type=int, default=None,
                             help="class index to explain (default: the predicted class)")

    layers = kinds.add_parser("layers", help="list the model's concept layers")
    model_options(layers)
    layers.set_defaults(handler=run_layers)

    image = kinds.add_parser("image", help="the top concepts of one image's prediction, with their heatmaps")
    image.add_argument("input", type=Path, help="the image file")
    model_options(image)
    lrp_options(image)
    image.add_argument("--top", type=int, default=8, help="how many concepts (default 8)")
    image.add_argument("--channels", default=None, help="explain these channels instead, separated by commas")
    image.add_argument("--prototypes", type=Path, default=None, metavar="DIR",
                       help="also say how typical this prediction's reasoning is for its class: a folder written by "
                            "'xaidesk concepts prototypes' (same model, layer and class)")
    image.add_argument("--out", required=True, type=output_folder, help="output folder")
    image.set_defaults(handler=run_image)

    references = kinds.add_parser("references", help="the samples of a folder where each concept is most relevant "
                                                      "(RelMax) and most active (ActMax)")
    references.add_argument("folder", type=Path, help="the folder of images (class subfolders optional)")
    model_options(references)
    lrp_options(references)
    references.add_argument("--batch-size", type=int, default=16, help="images per batch (default 16)")
    references.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where the model runs")
    references.add_argument("--per-concept", type=int, default=8, help="reference samples per concept (default 8)")
    references.add_argument("--shard", default=None, metavar="I/N",
                            help="do only shard I of N (numbered from 0); join the shards with 'xaidesk batch --merge'")
    references.add_argument("--out", required=True, type=output_folder, help="the run folder (resumed if it holds "
                                                                             "the same run)")
    references.set_defaults(handler=run_references)

    prototypes = kinds.add_parser("prototypes", help="prototypes of a class's reasoning (PCX) from a reference run")
    prototypes.add_argument("run", type=Path, help="a reference run folder ('xaidesk concepts references')")
    prototypes.add_argument("--class", dest="class_index", type=int, required=True, help="the class index")
    prototypes.add_argument("--prototypes", type=int, default=None,
                            help="how many prototypes (default: chosen by the Bayesian information criterion)")
    prototypes.add_argument("--seed", type=int, default=0, help="seed of the mixture fit (default 0)")
    prototypes.add_argument("--out", required=True, type=output_folder, help="output folder")
    prototypes.set_defaults(handler=run_prototypes)
    return parser


def _load(args: argparse.Namespace):
    from ..models import load_model

    return load_model(args.model, trust=args.trust, labels=args.labels)


def _params(args: argparse.Namespace) -> dict:
    from ..core import parse_param_values

    return parse_param_values(args.param)


def run_layers(args: argparse.Namespace) -> int:
    from ..explain.lrp.concepts import concept_layers, default_layer

    model = _load(args)
    layers = concept_layers(model)
    default = default_layer(layers)
    for layer in layers:
        print(f"{layer.name}\t{layer.kind}\t{layer.channels} channels{'  (default)' if layer.name == default else ''}")
    if not layers:
        print(f"{model.name} has no layers whose channels could be read as concepts.")
    return 0


def _channels(text: str | None) -> list[int] | None:
    from ..core import InputError

    if not text:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(f"--channels takes whole numbers separated by commas (got '{text}').") from None


def run_image(args: argparse.Namespace) -> int:
    from ..core import CancelToken
    from ..core.io import check_output_folder
    from ..data.images import load_image
    from .common import cli_progress, run_cancellable
    from ..concepts.files import write_image_concepts
    from ..concepts.image import explain_concepts

    check_output_folder(args.out)
    channels, params = _channels(args.channels), _params(args)
    prototypes = None
    if args.prototypes is not None:
        from ..concepts.prototype_files import read_prototypes

        prototypes = read_prototypes(args.prototypes)
    image = load_image(args.input)
    model = _load(args)
    token, progress = CancelToken(), cli_progress()
    result = run_cancellable(lambda: explain_concepts(
        model, image.pixels, args.layer, method=args.method, params=params, target=args.target, top=args.top,
        channels=channels, token=token, progress=progress), token, progress, out=args.out, trains=False)
    if result is None:
        from .common import EXIT_CANCELLED
        return EXIT_CANCELLED
    progress.done()
    judged = _typicality(prototypes, result) if prototypes is not None else None
    write_image_concepts(args.out, result, image.pixels, source=str(Path(args.input).resolve()), typicality=judged)
    print(f"{model.name}: class {result.target} ({result.target_label}), layer {result.layer}.")
    for channel, share in zip(result.channels, result.shares):
        feeders = ", ".join(f"{c} ({s:.0%})" for c, s in result.feeding.get(channel, [])[:3])
        print(f"  concept {channel}: {share:+.1%} of the layer's relevance"
              + (f"; fed by concepts {feeders} of layer {result.lower_layer}" if feeders else ""))
    if judged is not None:
        differing = ", ".join(f"{c} ({d:+.1%})" for c, d in judged["differences"][:3])
        print(f"Nearest prototype {judged['prototype'] + 1}; more typical than {judged['percentile']:.0f} % of the "
              f"class's images{' (unusual reasoning)' if judged['percentile'] < 5 else ''}; differs most in "
              f"concepts {differing}.")
    print(f"Written to {args.out}")
    return 0


def _typicality(prototypes, result) -> dict:
    """How typical ``result``'s concept relevance is for ``prototypes``, as plain data for concepts.json."""
    from ..concepts.prototypes import check_comparable, typicality

    check_comparable(prototypes, result.layer, result.target)
    judged = typicality(prototypes, result.channel_relevance)
    return {"prototype": judged.prototype, "percentile": judged.percentile,
            "log_likelihood": judged.log_likelihood, "differences": judged.differences}


def run_references(args: argparse.Namespace) -> int:
    from ..core import CancelToken, Cancelled, InputError
    from ..core.io import check_output_folder
    from ..explain.lrp.concepts import concept_layers, default_layer
    from ..runs.scan import check_shard, parse_shard
    from .common import EXIT_CANCELLED, cancel_on_interrupt, cli_progress
    from ..concepts.files import write_references
    from ..concepts.image import lrp_method
    from ..concepts.references import compute_references

    check_output_folder(args.out)
    if args.per_concept < 1:
        raise InputError(f"--per-concept must be at least 1 (got {args.per_concept}).")
    shard = check_shard(parse_shard(args.shard)) if args.shard else None
    params = _params(args)
    method = lrp_method(args.method)
    model = _load(args)
    layer = args.layer or default_layer(concept_layers(model))
    if layer is None:
        raise InputError(f"{model.name} has no layers whose channels could be read as concepts.")
    token, progress = CancelToken(), cli_progress()
    try:
        with cancel_on_interrupt(token):
            references = compute_references(args.folder, model, layer, out=args.out, method=method, params=params,
                                            batch_size=args.batch_size, device=args.device, target=args.target,
                                            shard=shard, token=token, progress=progress)
            write_references(references, per_concept=args.per_concept, token=token, progress=progress)
    except Cancelled:
        progress.done()
        print(f"xaidesk: cancelled; the images done so far are kept in {args.out}: run the same command again to "
              "resume.", file=sys.stderr)
        return EXIT_CANCELLED
    progress.done()
    print(f"{len(references.files)} images, layer {layer} ({references.channels} concepts): reference samples in "
          f"{args.out / 'references'}; open {args.out} in the Dataset tab.")
    return 0


def run_prototypes(args: argparse.Namespace) -> int:
    from ..concepts.prototype_files import write_prototypes
    from ..concepts.prototypes import choose_prototype_count, prototypes_for_class
    from ..concepts.references import open_references
    from ..core.io import check_output_folder

    check_output_folder(args.out)
    references = open_references(args.run)
    count = args.prototypes
    if count is None:
        rows = references.rows_of_class(args.class_index)
        count = choose_prototype_count(references.relevance[rows], seed=args.seed) if len(rows) >= 6 else 1
    result = prototypes_for_class(references, args.class_index, count, seed=args.seed)
    write_prototypes(result, args.out)
    print(f"{result.count} prototypes of class {args.class_index} from {len(result.files)} images at layer "
          f"{references.layer}:")
    for k in range(result.count):
        top = ", ".join(f"{c} ({share:.0%})" for c, share in result.top_concepts(k, 3))
        print(f"  prototype {k + 1}: {result.weights[k]:.0%} of the class, {len(result.members[k])} images; "
              f"top concepts {top}")
    least = sorted(range(len(result.files)), key=lambda i: result.percentiles[i])[:3]
    print("least typical: " + ", ".join(f"{result.files[i]} ({result.percentiles[i]:.0f} %)" for i in least))
    print(f"Written to {args.out}")
    return 0
