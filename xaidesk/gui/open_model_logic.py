"""What the Open model dialog decides and says, free of Qt (tested headless).

The dialog (:mod:`xaidesk.gui.widgets.open_model_dialog`) only shows what these functions
return: the sentence that says what a chosen path is, the architecture list's hint, the status
line, the classes line, the search's best match, and the check that a model takes the input
size set by hand (:func:`try_input`).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from pathlib import Path

#: How many class names the dialog lists before "…".
SHOWN_CLASSES = 8
#: The sentence of a weights file's description that asks for the architecture (dropped once it is loaded).
ASK_FOR_ARCHITECTURE = "Choose the architecture they were trained with."
LABEL_FILE_FILTER = "Class names (*.txt *.json);;All files (*)"
MODEL_FILE_FILTER = ("Models (*.onnx *.safetensors *.pt *.pth *.bin *.ckpt *.tar *.ts *.pkl *.xdprobe);;"
                     "All files (*)")
#: What the dialog says about a model that runs code, where it may and where it may not be opened.
TRUST_LATER = "Its classes and preprocessing are shown once it is open."
TRUST_REFUSED = ("Models that run code when loaded are not opened here. Save the model's weights (its state_dict) "
                 "or a TorchScript version, and open that.")


@dataclass
class OpenModelChoice:
    """What the person opened.

    Attributes
    ----------
    spec
        The model spec (``torchvision:mobilenet_v3_small:/data/w.pth``, ``hf:/models/vit``, ...).
    path
        The file or folder the person chose.
    labels
        The class-names file, or ``None``.
    preprocessing
        The preprocessing set by hand, or ``None`` when the model's own is kept.
    model
        The loaded model with the class names and the preprocessing applied; ``None`` for a file
        that runs code when loaded (the tab asks for trust and loads it).
    title
        A short name for pickers.
    needs_trust
        Loading runs code stored in the file.
    """

    spec: str
    path: Path
    labels: str | None = None
    preprocessing: object = None
    model: object = None
    title: str = ""
    needs_trust: bool = False


def escape_rich(text: str) -> str:
    """``text`` for a rich-text label (quotes stay as they are: labels do not decode ``&#x27;``)."""
    return escape(str(text), quote=False)


def found_source(guess) -> str:
    """Whose architecture the recognised one is (``"torchvision"`` or ``"timm"``)."""
    return getattr(guess, "architecture_source", None) or "torchvision"


def best_match(matches: list, text: str):
    """The match a search for ``text`` most likely means: the name typed exactly (torchvision first),
    else a name that starts with it, else the shortest name."""
    wanted = text.strip().lower().replace("-", "_").replace(" ", "_")

    def rank(choice) -> tuple:
        name = choice.name.lower()
        return (name != wanted, not name.startswith(wanted), len(name), choice.source != "torchvision", name)

    return min(matches, key=rank, default=None)


def other_modality_text(modality: str) -> str:
    """Why a model of another kind is not opened here."""
    if modality == "audio":
        return "This is a model for sound: open it in the Audio tab."
    return f"This is a model for {modality} input, which cannot be used here."


def guess_html(guess, *, modality: str, allow_untrusted: bool, loaded_into=None) -> str:
    """Rich text for "What it is": the guess's description and notes, and what stands in the way.

    Parameters
    ----------
    guess
        The :class:`~xaidesk.models.sources.SourceGuess` of the chosen path.
    modality
        The kind of model the caller can use.
    allow_untrusted
        Whether a model that runs code may be handed on for the person to trust.
    loaded_into
        The architecture choice the weights were loaded into: said instead of asking for one.
    """
    description = guess.description
    if loaded_into is not None:
        description = description.replace(ASK_FOR_ARCHITECTURE, "").strip()
        description += f" Loaded into {loaded_into.title.replace('  ', ' ')}."
    words = [escape_rich(description)] + [escape_rich(note) for note in guess.notes]
    if guess.modality != modality:
        words.append("<b>" + escape_rich(other_modality_text(guess.modality)) + "</b>")
    elif guess.needs_trust:
        words.append("<b>" + escape_rich(TRUST_LATER if allow_untrusted else TRUST_REFUSED) + "</b>")
    return "<br>".join(words)


def trust_asked_html(message: str) -> str:
    """The line added to "What it is" when loading says only then that the source runs code."""
    return "<br><b>" + escape_rich(message + " Press Open… to confirm that you trust it and load it.") + "</b>"


def classes_text(names) -> tuple[str, str]:
    """The classes line (count and the first :data:`SHOWN_CLASSES` names) and its tooltip (up to 200)."""
    names = list(names)
    shown = ", ".join(names[:SHOWN_CLASSES]) + (", …" if len(names) > SHOWN_CLASSES else "")
    text = f"{len(names)} class{'es' if len(names) != 1 else ''}: {shown}"
    return text, "\n".join(f"{i}: {n}" for i, n in enumerate(names[:200]))


def architecture_hint(guess, choices, shown: int | None = None) -> str:
    """The line under the architecture list: what was found, and how many of the list are shown."""
    timm_listed = any(c.source == "timm" for c in choices)
    listing = "" if timm_listed else " Listing timm's architectures too …"
    if guess.architecture:
        text = (f"Found: {found_source(guess)}'s {guess.architecture}. Choose another only if you "
                f"know the weights belong to it.{listing}")
    else:
        text = "Choose the architecture the weights were trained with." + listing
    if shown is not None and shown < len(choices):
        text = f"{shown} of {len(choices)} shown. " + text
    return text


def loading_text(guess, chosen) -> str:
    """The busy line while the model of ``guess`` (in the architecture ``chosen``, if any) loads."""
    name = chosen.name if chosen is not None else (guess.architecture or Path(str(guess.path)).name)
    return f"Loading {name} to read its classes and preprocessing …"


def missing_library_text(error: ImportError) -> str:
    """The plain sentence for a model whose kind needs a library that is not installed."""
    return f"This kind of model needs a library that is not installed here ({error.name or error})."


def idle_text(guess, *, modality: str, allow_untrusted: bool, spec: str | None, stopped: bool,
              failed: bool, check_failed: bool, can_retry: bool, model_name: str | None, stale: bool,
              preprocessing_problem: bool, preprocessing_edited: bool) -> str:
    """The status line while nothing runs: what the person can do next.

    Parameters
    ----------
    guess
        What the chosen path is, or ``None``.
    spec
        The spec of the current choices, or ``None`` while something is missing.
    stopped
        Loading was stopped.
    failed, check_failed
        Something failed; the failure was the check of the preprocessing set by hand.
    can_retry
        "Load again" may be pressed.
    model_name
        The loaded model's name, or ``None``.
    stale
        The loaded model no longer matches the choices (the class names file changed).
    """
    if guess is None:
        return "Choose another file or folder." if failed else ""
    if guess.modality != modality or (guess.needs_trust and not allow_untrusted):
        return ""
    if guess.needs_trust:
        return "Press Open… to confirm and load it."
    if spec is None:
        return "Choose the architecture to load the weights into."
    if stopped:
        return "Stopped. Press Load again to load the model."
    if check_failed:
        return "Change the preprocessing, or set it back with \"Use the model's own\"; then press Open."
    if failed:
        retry = ", or press Load again" if can_retry else ""
        return f"Change the choices above{retry}."
    if model_name is not None and stale:
        return "The class names file changed: press Load again to use it."
    if model_name is not None:
        if preprocessing_problem:
            return "Fix the preprocessing to open the model."
        edited = " with the preprocessing set by hand" if preprocessing_edited else ""
        return f"Ready: press Open to use {model_name}{edited}."
    return ""


def needs_trust(error: BaseException) -> bool:
    """Whether loading failed only because the source runs code (the model was loaded, so torch is)."""
    from xaidesk.models.files import UntrustedModelError

    return isinstance(error, UntrustedModelError)


def try_input(model, preprocessing) -> bool:
    """Run ``model`` on one blank input prepared as ``preprocessing``; a plain ``ModelError`` if it fails."""
    import torch

    from xaidesk.core import ModelError

    shape = (1, preprocessing.num_channels, *preprocessing.size)
    text = f"{shape[1]}×{shape[2]}×{shape[3]} (channels × height × width)"
    # An ONNX model scores in onnxruntime and explains gradients through its conversion: both must take it.
    modules = [model.scoring_module] + ([model.module] if model.module is not model.scoring_module else [])
    for module in modules:
        try:
            with torch.no_grad():
                out = module(torch.zeros(shape))
        except Exception as error:  # noqa: BLE001 - any failure of the forward pass
            raise ModelError(
                f"The model does not accept an input of {text}. Set the preprocessing back with \"Use the model's "
                "own\", or choose a size the model was made for.",
                details=f"{type(error).__name__}: {getattr(error, 'message', error)}",
            ) from error
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (1, model.num_classes):
            raise ModelError(
                f"With an input of {text} the model does not give its {model.num_classes} class scores. Set the "
                "preprocessing back with \"Use the model's own\".")
        if not bool(torch.isfinite(out).all()):
            raise ModelError(f"With an input of {text} the model gives invalid scores (NaN or infinity).")
    return True


# ---------------------------------------------------------------------- the dialog's worker jobs
def recognise_job(text: str):
    """A runner job: what ``text`` (a path) is, as a :class:`~xaidesk.models.sources.SourceGuess`."""
    def job(token, progress):
        from xaidesk.models.sources import recognise

        from .catalog import configure_torch_threads

        configure_torch_threads()
        return recognise(text)

    return job


def choices_job(with_timm: bool):
    """A runner job: the architectures to choose from (torchvision's only, quick; or timm's too)."""
    def job(token, progress):
        from xaidesk.models.sources import architecture_choices, torchvision_architecture_choices

        return architecture_choices() if with_timm else torchvision_architecture_choices()

    return job


def inspect_job(key: tuple):
    """A runner job: load the model of ``key`` (spec, label file); returns ``(key, model)``."""
    spec, labels = key

    def job(token, progress):
        from xaidesk.models import load_model

        return key, load_model(spec, labels=labels)

    return job
