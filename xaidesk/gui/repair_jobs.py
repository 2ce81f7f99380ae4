"""The Model workflow's choices and job, free of Qt (tested headless; the wording of results is in
:mod:`xaidesk.gui.repair_wording`).

"Correct, prune or fine-tune…" (:mod:`xaidesk.gui.repair_dialog`) collects what to remove
(:class:`SprayCluster`, :class:`TickedImages` or :class:`DrawnRegion`), a repair from the
registry (:func:`xaidesk.repair.methods.list_repairs`) with its settings, the labelled images
(:class:`DataChoice`) and an output folder into one :class:`RepairPlan`. :func:`repair_job`
turns the plan into a :class:`~xaidesk.repair.methods.RepairRequest`, runs the repair and writes
its folder with :func:`xaidesk.repair.result.write_repair_outputs`. Torch is imported only inside
the functions, so the window still opens before torch is loaded.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

#: The demo model whose own scene generator can stand in for a labelled folder.
DEMO_SPEC = "demo:clever_hans"
#: How many generated demo pictures the dialog offers by default.
DEFAULT_GENERATED = 96
#: The model file every repair writes (opened afterwards as ``file:PATH``).
MODEL_FILE = "model.safetensors"


# ---------------------------------------------------------------------- choices
@dataclass(frozen=True)
class SprayCluster:
    """The artefact is what one cluster of a saved SpRAy result folder has in common."""

    folder: Path
    cluster: int

    def describe(self) -> str:
        return f"cluster {self.cluster} of the SpRAy results in {Path(self.folder).name}"


@dataclass(frozen=True)
class TickedImages:
    """The artefact is what the images in ``carrying`` have and those in ``clean`` lack."""

    carrying: tuple[Path, ...]
    clean: tuple[Path, ...]
    description: str = ""

    def describe(self) -> str:
        return self.description or f"{len(self.carrying)} images that carry it and {len(self.clean)} clean ones"


@dataclass(frozen=True)
class DrawnRegion:
    """The artefact lies in ``box`` = (top, left, height, width), in model-input pixels, of ``image``."""

    image: Path
    box: tuple[int, int, int, int]

    def describe(self) -> str:
        top, left, height, width = self.box
        return f"the {height}×{width} region at row {top}, column {left} of {Path(self.image).name}"


@dataclass(frozen=True)
class DataChoice:
    """The labelled images: a folder with one subfolder per class, or generated demo pictures.

    ``generated`` is the number of pictures made by the demo's own scene generator (0: none);
    ``held_out`` the share kept apart to measure before and after.
    """

    folder: Path | None = None
    generated: int = 0
    held_out: float = 0.2
    seed: int = 0

    @property
    def given(self) -> bool:
        return self.folder is not None or self.generated > 0

    def describe(self) -> str:
        if self.folder is not None:
            return f"the labelled folder {self.folder}"
        return f"{self.generated} generated demo pictures" if self.generated else "no labelled images"


@dataclass
class RepairPlan:
    """Everything the person chose: the repair, its settings, the model, the artefact, the data, the output."""

    method: str
    params: dict
    model: object
    out: Path
    artefact: SprayCluster | TickedImages | DrawnRegion | None = None
    target: int | None = None
    data: DataChoice = field(default_factory=DataChoice)


@dataclass
class RepairOutcome:
    """A finished repair: the result, where it was written and how long it took."""

    result: object
    out: Path
    seconds: float

    @property
    def model_spec(self) -> str:
        return f"file:{self.out / MODEL_FILE}"


# ---------------------------------------------------------------------- what a method needs
def _method(name: str):
    from xaidesk.repair.methods import get_repair

    return get_repair(name)


def method_title(name: str) -> str:
    """The registry's title of the repair ``name`` (the name itself when it is not registered)."""
    from xaidesk.core import MethodError

    try:
        return _method(name).title
    except MethodError:
        return name


def needs_artefact(name: str) -> bool:
    """Whether the repair ``name`` removes a particular artefact (and so needs one chosen)."""
    from xaidesk.repair.methods import NEEDS_ARTEFACT, NEEDS_REGION

    return bool({NEEDS_ARTEFACT, NEEDS_REGION} & _method(name).needs)


def measures_artefact(name: str) -> bool:
    """Whether the repair ``name`` can use an artefact, if only to measure its relevance share before and after."""
    from xaidesk.repair.methods import OPTIONAL_REGION

    return needs_artefact(name) or OPTIONAL_REGION in _method(name).needs


def needs_data(name: str) -> bool:
    """Whether the repair ``name`` cannot run without labelled images (to train on or to measure on)."""
    from xaidesk.repair.methods import NEEDS_SAMPLES, NEEDS_TRAINING

    return bool({NEEDS_TRAINING, NEEDS_SAMPLES} & _method(name).needs)


def trains(name: str) -> bool:
    """Whether the repair ``name`` fine-tunes (and so keeps checkpoints it can resume from)."""
    from xaidesk.repair.methods import NEEDS_TRAINING

    return NEEDS_TRAINING in _method(name).needs


def offers_generated(model) -> bool:
    """Whether ``model`` is the demo whose scene generator can make labelled pictures."""
    return getattr(model, "spec", None) == DEMO_SPEC


def class_choices(model) -> list[tuple[int, str]]:
    """``(index, "index: name")`` for each class of ``model`` (``"class 3"`` where the name is the number)."""
    from .formatting import class_text

    return [(i, class_text(i, name)) for i, name in enumerate(getattr(model, "class_names", []) or [])]


def plan_problems(plan: RepairPlan) -> list[str]:
    """What is still missing before ``plan`` can run, in plain words (empty when it can)."""
    problems = []
    if plan.model is None:
        problems.append("Open an image model first (Model ▸ Open model, or a demo model).")
        return problems
    if needs_artefact(plan.method):
        if plan.artefact is None:
            problems.append("Choose what to remove: a SpRAy cluster, ticked images or a region drawn on an image.")
        elif isinstance(plan.artefact, TickedImages) and (len(plan.artefact.carrying) < 2
                                                          or len(plan.artefact.clean) < 2):
            problems.append("Add at least two images that carry the artefact and two clean ones.")
        elif isinstance(plan.artefact, DrawnRegion) and not plan.data.given:
            problems.append("A drawn region is compared with clean images: choose labelled images under Data.")
        if plan.target is None:
            problems.append("Choose the class the artefact drives.")
    if needs_data(plan.method) and not plan.data.given:
        problems.append("Choose labelled images under Data (a folder with one subfolder per class).")
    if not str(plan.out).strip():
        problems.append("Choose the output folder.")
    elif Path(plan.out).is_file():
        problems.append(f"The output folder '{plan.out}' is a file: choose a folder (a new one is made).")
    return problems


# ---------------------------------------------------------------------- folders
def models_root() -> Path:
    """Where corrected models go unless the person chooses: ``<data dir>/corrected models``
    (the person's own xaidesk folder, :func:`xaidesk.userdirs.data_dir`; never xaidesk's own files)."""
    from xaidesk import userdirs

    return userdirs.data_dir() / "corrected models"


def slug(text: str) -> str:
    """``text`` as a short file-name part (letters, digits, ``_`` and ``-``), cut after a whole word."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", str(text)).strip("_")
    if len(name) > 32:
        name = name[:32].rsplit("_", 1)[0]
    return name or "model"


def default_output_folder(model, method: str) -> Path:
    """Where the corrected model goes unless the person chooses: ``<data dir>/corrected models/MODEL-METHOD``,
    or ``MODEL-METHOD-2``, ``-3``, ... when that already holds a corrected model (never written over unasked).

    The name has no time in it, so a stopped training run, run again, finds its checkpoint and resumes.
    """
    base = models_root() / f"{slug(getattr(model, 'name', 'model'))}-{slug(method)}"
    folder, number = base, 1
    while (folder / MODEL_FILE).exists():
        number += 1
        folder = base.with_name(f"{base.name}-{number}")
    return folder


def checkpoint_folder(out) -> Path:
    """Where training keeps its checkpoint: the folder ``<out>.checkpoints`` beside the output folder."""
    out = Path(out)
    return out.parent / f"{out.name}.checkpoints"


def inside_resources(path) -> bool:
    """Whether ``path`` lies inside xaidesk's own resources (which must never be written to)."""
    from xaidesk.resources import resources_root

    return Path(path).resolve().is_relative_to(resources_root().resolve())


def check_output(out) -> Path:
    """Refuse an output folder that cannot be written (or lies in xaidesk's own files), before any work."""
    from xaidesk.core import InputError
    from xaidesk.core.io import check_output_folder

    from xaidesk.repair.result import check_repair_output

    if inside_resources(out):
        raise InputError(f"'{out}' is inside xaidesk's own files; choose a folder of yours for the corrected model.")
    return check_repair_output(check_output_folder(out))


# ---------------------------------------------------------------------- the job
def load_data(model, data: DataChoice, *, token=None, progress=None):
    """``(train, held_out)`` image sets for ``data`` (``(None, None)`` when no images were chosen)."""
    from xaidesk.core import InputError, no_progress
    from xaidesk.repair.data import generated_clever_hans_set, load_labelled_folder, split_held_out

    progress = progress or no_progress
    if data.folder is not None:
        images = load_labelled_folder(data.folder, model, token=token, progress=progress)
    elif data.generated > 0:
        if not offers_generated(model):
            raise InputError(f"Generated demo pictures fit only the demo model {DEMO_SPEC}; choose a labelled "
                             "folder for this model.")
        images = generated_clever_hans_set(model, int(data.generated), int(data.seed))
    else:
        return None, None
    return split_held_out(images, held_out=float(data.held_out), seed=int(data.seed))


def own_copy(model):
    """``model`` with its own copy of the network, for the dialog's worker thread (the tab keeps using its own).

    Call it on the GUI thread while no job of the tab runs, so that no rule or hook is attached while copying.
    """
    import copy
    from dataclasses import replace

    return replace(model, module=copy.deepcopy(model.module), notes=list(model.notes))


def build_artefact(plan: RepairPlan, train, *, token=None, progress=None):
    """``(artefact, carrying, clean)`` for the plan's artefact choice (``(None, None, None)`` without one)."""
    from xaidesk.core import no_progress

    progress = progress or no_progress
    choice, model = plan.artefact, plan.model
    if choice is None or not measures_artefact(plan.method):
        return None, None, None
    from xaidesk.repair import sources

    if isinstance(choice, SprayCluster):
        return sources.artefact_from_spray(choice.folder, int(choice.cluster), model, token=token, progress=progress)
    if isinstance(choice, TickedImages):
        return sources.artefact_from_files(model, list(choice.carrying), list(choice.clean), int(plan.target),
                                           token=token)
    if train is None or plan.target is None:
        return sources.artefact_from_image_region(model, choice.image, tuple(int(v) for v in choice.box), train)
    # pasted into the class's own images, so that the direction separates the artefact, not the class
    return sources.artefact_from_image_region(model, choice.image, tuple(int(v) for v in choice.box),
                                              train.of_class(int(plan.target)))


def spray_target(folder) -> int:
    """The explained class of a saved SpRAy result folder (the class its artefact drives)."""
    from xaidesk.evaluate.spray import read_spray_results

    _result, heatmaps = read_spray_results(folder)
    return int(heatmaps.target)


def repair_job(plan: RepairPlan):
    """A job: check the output folder, read the images, find the artefact, run the repair, write its folder.

    Returns a :class:`RepairOutcome`. Training keeps its checkpoint in :func:`checkpoint_folder` and
    resumes from it when run again with the same settings; the checkpoint is removed once the
    corrected model is written.
    """
    def job(token, progress):
        from xaidesk.core import InputError, sub_progress
        from xaidesk.repair.methods import RepairRequest, get_repair
        from xaidesk.repair.result import check_editable, write_repair_outputs

        from .catalog import configure_torch_threads

        started = time.monotonic()
        problems = plan_problems(plan)
        if problems:
            raise InputError(" ".join(problems))
        out = check_output(plan.out)
        check_editable(plan.model)
        method = get_repair(plan.method)
        method.resolve_params(plan.params)
        configure_torch_threads()
        train, held_out = load_data(plan.model, plan.data, token=token, progress=sub_progress(progress, 0.0, 0.1))
        artefact, carrying, clean = build_artefact(plan, train, token=token,
                                                   progress=sub_progress(progress, 0.1, 0.2))
        target = plan.target
        if isinstance(plan.artefact, SprayCluster) and target is None:
            target = spray_target(plan.artefact.folder)
        checkpoints = checkpoint_folder(out) if trains(plan.method) else None
        request = RepairRequest(model=plan.model, params=dict(plan.params), artefact=artefact, carrying=carrying,
                                clean=clean, target=target, train=train, held_out=held_out,
                                checkpoint_dir=checkpoints)
        result = method.run(request, token=token, progress=sub_progress(progress, 0.2, 0.97))
        token.check()
        progress(0.98, "Writing the corrected model")
        write_repair_outputs(result, out)
        if checkpoints is not None and checkpoints.is_dir():
            shutil.rmtree(checkpoints, ignore_errors=True)
        return RepairOutcome(result, out, time.monotonic() - started)

    return job


# ---------------------------------------------------------------------- pictures and SpRAy selections
def model_input_picture(model, path) -> "object":
    """The image at ``path`` as the model sees it: resized and cropped to the model input, RGB uint8 (H, W, 3)."""
    import numpy as np

    from xaidesk.data.images import load_image
    from xaidesk.repair.data import DECODE_MAX_SIDE

    pre = model.preprocessing
    x = pre.to_tensor(load_image(path, max_side=DECODE_MAX_SIDE).pixels)[0]
    mean = np.asarray(pre.mean, dtype=np.float32).reshape(-1, 1, 1)
    std = np.asarray(pre.std, dtype=np.float32).reshape(-1, 1, 1)
    pixels = np.clip(x.numpy() * std + mean, 0.0, 1.0)
    if pixels.shape[0] == 1:
        pixels = np.repeat(pixels, 3, axis=0)
    return np.ascontiguousarray((pixels.transpose(1, 2, 0) * 255.0 + 0.5).astype(np.uint8))


def spray_selection(heatmaps, labels, cluster: int, describe: str = "") -> tuple[TickedImages, int]:
    """The images of SpRAy ``cluster`` (carrying) and of the other clusters (clean), and the explained class.

    ``heatmaps`` is the SpRAy panel's :class:`~xaidesk.evaluate.spray.RunHeatmaps`, ``labels`` each map's cluster.
    """
    carrying = tuple(heatmaps.source_path(i) for i, c in enumerate(labels) if int(c) == int(cluster))
    clean = tuple(heatmaps.source_path(i) for i, c in enumerate(labels) if int(c) != int(cluster))
    text = describe or (f"cluster {cluster} of the SpRAy analysis of '{heatmaps.target_label}' "
                        f"({len(carrying)} images; the other {len(clean)} as clean)")
    return TickedImages(carrying, clean, text), int(heatmaps.target)
