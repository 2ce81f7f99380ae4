"""The quick classifier's worker jobs and wording, free of Qt (tested headless).

"Train a quick classifier…" (:mod:`xaidesk.gui.probe_dialog`, and its sound version
:mod:`xaidesk.gui.audio_probe_dialog`) runs three kinds of job on its runner: load a backbone
and list its layers, look at the labelled folder, fit both heads. Each job here is a plain
function ``job(token, progress)`` built by a ``*_job`` function; what the dialog says about a
folder, a fit and where the classifier is saved is here too. Torch is imported only inside
the jobs, so the window still opens before torch is loaded.
"""

from __future__ import annotations

import re
import time
from html import escape
from pathlib import Path

#: The heads every fit makes, in the order they are shown, and their titles.
HEAD_ORDER = ("mean-difference", "logistic")
HEAD_TITLES = {"mean-difference": "Difference of means", "logistic": "Logistic regression"}
#: Fewer held-out images per class than this get a warning that the AUC is not to be trusted.
MIN_HELD_OUT = 20
SUMMARY_COLUMNS = ("Head", "AUC", "Youden threshold", "Sensitivity", "Specificity", "Accuracy")


def probes_folder() -> Path:
    """Where probes are kept that were not saved by the person: ``<data dir>/probes``."""
    from xaidesk import userdirs

    return userdirs.data_dir() / "probes"


def held_out_warning(counts, class_names) -> str | None:
    """A plain warning when the held-out images are too few for the AUC to mean much, else None."""
    n1, n2 = (int(c) for c in counts)
    if min(n1, n2) >= MIN_HELD_OUT:
        return None
    first, second = class_names
    step = 1.0 / max(1, n1 * n2)
    return (f"Only {n1} '{first}' + {n2} '{second}' images were held out, so these figures say little: one image "
            f"ranked differently moves the AUC by up to {min(1.0, step * max(n1, n2)):.2f} (it comes in steps of "
            f"{step:.3g}), and even a perfect AUC is easily luck. Hold out at least {MIN_HELD_OUT} images per class "
            "(more images, or a larger held-out share) before trusting it.")


def clips(text: str) -> str:
    """``text`` about images said about sound clips."""
    return text.replace("images", "clips").replace("image", "clip")


def slug(text: str) -> str:
    """``text`` as a short file-name part (letters, digits, ``_`` and ``-``)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")[:40] or "probe"


# ---------------------------------------------------------------------- jobs
def backbone_job(spec: str, model=None):
    """A job: load the image backbone ``spec`` (or take the loaded ``model``) and list its layers.

    Returns ``(spec, model, layers, default_layer)``; ``layers`` are ``(name, description)`` pairs.
    """
    def job(token, progress):
        from xaidesk.models import load_model

        from .catalog import configure_torch_threads

        configure_torch_threads()
        return _with_layers(spec, model if model is not None else load_model(spec))

    return job


def audio_backbone_job(spec: str, frontend: dict | None = None, model=None):
    """A job: load the audio backbone ``spec`` (``frontend``: the spectrogram settings of a ``file:`` model
    without a description file), check that it can be a backbone, and list its layers (as :func:`backbone_job`)."""
    def job(token, progress):
        from xaidesk.models import load_model
        from xaidesk.models.audio import load_audio_file
        from xaidesk.models.probe.audio import check_audio_backbone

        from .catalog import configure_torch_threads

        configure_torch_threads()
        loaded = model
        if loaded is None and frontend is not None and spec.startswith("file:"):
            loaded = load_audio_file(spec[len("file:"):], spec=spec, frontend=frontend)
        elif loaded is None:
            loaded = load_model(spec)
        check_audio_backbone(loaded)
        return _with_layers(spec, loaded)

    return job


def _with_layers(spec: str, model) -> tuple:
    from xaidesk.models.probe import default_probe_layer, list_probe_layers

    layers = list_probe_layers(model)
    return spec, model, layers, default_probe_layer(layers)


def folder_job(path: Path, *, audio: bool = False):
    """A job: the labelled folder at ``path`` (images, or sound clips); returns ``(path, {class: count})``."""
    def job(token, progress):
        if audio:
            from xaidesk.models.probe.audio import scan_audio_folder as scan
        else:
            from xaidesk.models.probe import scan_labelled_folder as scan
        data = scan(path)
        return path, dict(zip(data.class_names, data.counts()))

    return job


def fit_job(folder: Path, model, layer: str, *, held_out: float, seed: int, audio: bool = False):
    """A job: read the features of every file in ``folder`` and fit both heads; returns the probe result."""
    def job(token, progress):
        if audio:
            from xaidesk.models.probe.audio import fit_audio_probe as fit
        else:
            from xaidesk.models.probe import fit_probe as fit
        return fit(folder, model, layer, held_out=held_out, seed=seed, token=token, progress=progress)

    return job


def write_probe(result, path, head: str, *, audio: bool = False) -> Path:
    """Write the probe file of ``result`` with ``head`` to ``path`` (an audio probe file for sound)."""
    if audio:
        from xaidesk.models.probe.audio import save_audio_probe

        return save_audio_probe(result, path, head)
    from xaidesk.models.probe import save_probe

    return save_probe(result, path, head)


# ---------------------------------------------------------------------- wording
def classes_html(counts: dict, noun: str) -> str:
    """The two classes of a folder and how many ``noun`` (``"images"``) each holds, as rich text."""
    (first, n1), (second, n2) = counts.items()
    return (f"Class 1: <b>{escape(first)}</b> ({n1} {noun})<br>"
            f"Class 2: <b>{escape(second)}</b> ({n2} {noun}), the positive class of the ROC curve")


def summary_cells(head) -> tuple[str, ...]:
    """One head's row of the summary table (:data:`SUMMARY_COLUMNS`)."""
    return (head.title, f"{head.auc:.3f}", f"{head.threshold:.4g}", f"{head.sensitivity:.2f}",
            f"{head.specificity:.2f}", f"{head.accuracy:.2f}")


def counts_text(result) -> str:
    """What an image probe was trained and judged on."""
    first, second = result.class_names
    return (f"Layer {result.layer} of {result.backbone_name} ({result.feature_dim} features). Trained on "
            f"{result.train_counts[0]} '{first}' + {result.train_counts[1]} '{second}' images, judged on "
            f"{result.held_out_counts[0]} + {result.held_out_counts[1]} held-out images. An image is called "
            f"'{second}' when its score reaches the threshold.")


def audio_counts_text(result) -> str:
    """What a sound probe was trained and judged on, with how many windows make each clip."""
    first, second = result.class_names
    windows = [w for w in getattr(result, "windows_per_clip", []) if w]
    spread = ""
    if windows:
        low, high = min(windows), max(windows)
        spread = f" Each clip is the mean of its {low} window{'s' if high > 1 else ''}" if low == high else \
            f" Each clip is the mean of its windows ({low} to {high})"
        spread += " of the layer's output."
    return (f"Layer {result.layer} of {result.backbone_name} ({result.feature_dim} features).{spread} Trained on "
            f"{result.train_counts[0]} '{first}' + {result.train_counts[1]} '{second}' clips, judged on "
            f"{result.held_out_counts[0]} + {result.held_out_counts[1]} held-out clips. A clip is called "
            f"'{second}' when its score reaches the threshold.")


def fitted_text(result) -> str:
    """The status line after a fit."""
    skipped = f" {len(result.skipped)} unreadable file(s) were left out." if result.skipped else ""
    return f"Fitted in {result.seconds:.1f} s.{skipped}"


def save_file_name(class_names) -> str:
    """The file name Save… suggests: ``FIRST_vs_SECOND.xdprobe``."""
    from xaidesk.models.probe.file import PROBE_SUFFIX

    return f"{slug('_vs_'.join(class_names))}{PROBE_SUFFIX}"


def kept_copy_path(result, head: str, now: float | None = None) -> Path:
    """Where "Explain in … tab" keeps an unsaved classifier: the probes folder, named by classes, layer,
    head and time."""
    from xaidesk.models.probe.file import PROBE_SUFFIX

    name = f"{slug('_vs_'.join(result.class_names))}_{slug(result.layer)}_{head}"
    stamp = time.strftime('%Y%m%d-%H%M%S', time.localtime(now))
    return probes_folder() / f"{name}_{stamp}{PROBE_SUFFIX}"


def save_place_text(*, saved_path: Path | None, suggested: Path | None, tab: str, prefix: str) -> str:
    """Where the classifier is (``saved_path``, after saving) or will go (``suggested``, before), or ``""``."""
    if saved_path is not None:
        return (f"The classifier is saved in {saved_path} (open it later in the {tab} tab as the model "
                f"{prefix}:{saved_path}).")
    if suggested is not None:
        return (f"Not saved yet. Save… asks where to write it (suggested: {suggested}); Explain in {tab} tab keeps "
                f"a copy in {probes_folder()}.")
    return ""


def offers_current_backbone(model) -> bool:
    """Whether the Audio tab's model is offered as the backbone (VGGish weights or an audio model file that
    is not itself a probe; the built-in models are listed anyway)."""
    from xaidesk.models.probe.audio import is_audio_probe_file

    spec = str(getattr(model, "spec", ""))
    kind, _, rest = spec.partition(":")
    return getattr(model, "modality", "") == "audio" and getattr(model, "frontend", None) is not None \
        and kind in ("vggish", "file") and not is_audio_probe_file(rest)
