"""The quick two-class classifier for sound: a labelled folder of clips, an audio backbone's layer.

This is :mod:`xaidesk.models.probe` for audio models (``demo:sounds``, ``vggish:PATH``, an
audio ``file:PATH``); the split, both heads, the ROC curve, the AUC, the Youden threshold and
the classifier network are that module's functions. What differs is how a clip becomes Φ:

1. the clip is decoded (:func:`xaidesk.data.audio.load_audio`, at most
   :data:`MAX_CLIP_SECONDS`), resampled to the model's rate and turned into its log-mel
   spectrogram (:class:`~xaidesk.models.audio.AudioFrontEnd`);
2. the spectrogram is cut into the model's own windows (``window_frames`` frames every
   ``window_hop_frames``, the last one ending at the clip's end; a clip shorter than one window
   is padded with silence) -- the same windows the Audio tab predicts on;
3. each window goes through the backbone up to the layer; a feature map (C, mel, time) is
   averaged over mel and time, a vector is used as it is;
4. Φ(clip) is the **mean over the clip's windows**.

Because the head is linear, g(clip) = wᵀΦ(clip) + b is the mean of g over the windows, and the
classifier network (which sees one window at a time, logits ∓(g − t)/2) gives the Audio tab's
clip logits -- the windows' mean logits -- as ∓(g(clip) − t)/2. (The Audio tab's top class
averages probabilities, not logits, so on a clip whose windows disagree it can differ from the
sign of g(clip) − t.)

The saved classifier. :func:`save_audio_probe` writes the probe file of
:func:`xaidesk.models.probe.file.probe_document` with three more entries: ``"modality": "audio"``,
the backbone's ``"frontend"`` and the ``"pooling"``. Open it as ``file:PATH.xdprobe``: an
audio probe file counts as an audio model file (:func:`xaidesk.models.audio.is_audio_sidecar`),
and :func:`xaidesk.models.audio.load_audio_file` hands it to :func:`load_audio_probe`, which
loads the backbone (with the saved spectrogram settings), cuts it at the layer and adds the
head. (``probe:PATH`` reads the same file through :func:`xaidesk.models.probe.file.load_probe`, which
today makes every probe an image model.)
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...core import CancelToken, InputError, ModelError, no_progress
from ..base import LoadedModel
from .backbone import cut_backbone, feature_extractor
from .file import PROBE_FORMAT, PROBE_SUFFIX, fitted_probe_module, probe_document, read_probe
from .fitting import ProbeResult, fit_heads, portable_spec
from .folder import MIN_IMAGES_PER_CLASS, LabelledFolder, scan_labelled_folder, split_held_out
from .heads import HEADS, probe_notes

#: Fewest clips a class needs (as the image probe: two to train on, one to judge on, with room).
MIN_CLIPS_PER_CLASS = MIN_IMAGES_PER_CLASS
#: Only this much of each file is read (a long recording is summarised by its first ten minutes).
MAX_CLIP_SECONDS = 600.0
#: Windows run through the backbone together.
WINDOW_BATCH = 32
POOLING = "mean over the clip's windows of the layer's output averaged over mel bands and time"
POOLING_VECTOR = "mean over the clip's windows of the layer's output"


# --- the labelled folder -------------------------------------------------------------------------


def scan_audio_folder(folder: str | Path, min_per_class: int = MIN_CLIPS_PER_CLASS) -> LabelledFolder:
    """The clips (WAV, FLAC, OGG, MP3, AIFF) of ``folder``'s two class subfolders, nested folders included.

    Raises
    ------
    InputError
        When the folder is missing, does not hold exactly two subfolders with clips, or a class
        has fewer than ``min_per_class`` clips.
    """
    from ...data.audio import AUDIO_SUFFIXES

    return scan_labelled_folder(folder, min_per_class, suffixes=AUDIO_SUFFIXES, noun="clip",
                                listing="sound clips (WAV, FLAC, OGG or MP3)", example="calls/ and noise/")


def _in_clips(error: InputError) -> InputError:
    """The image probe's message about a split or a direction, worded for clips."""
    message = error.message.replace("images", "clips").replace("image(s)", "clip(s)").replace("image", "clip")
    return InputError(message, details=error.details)


# --- features ------------------------------------------------------------------------------------


def check_audio_backbone(model: LoadedModel) -> None:
    """Refuse a backbone that is not an audio model with spectrogram settings."""
    if getattr(model, "modality", "image") != "audio" or getattr(model, "frontend", None) is None:
        raise ModelError(f"{model.name} is not an audio model; choose an audio backbone (demo:sounds, vggish:PATH, "
                         "or file:PATH with an audio description file).")


def clip_windows(path: Path, frontend) -> torch.Tensor:
    """The model windows (W, 1, n_mels, window_frames) of the clip at ``path`` (see the module notes)."""
    from ...data.audio import load_audio
    from ..audio import clip_samples, window_inputs

    audio = load_audio(path, max_seconds=MAX_CLIP_SECONDS)
    log_mel = frontend.log_mel(clip_samples(audio, frontend))
    if not np.all(np.isfinite(log_mel)):
        raise InputError(f"{path.name} gives a spectrogram with invalid values; the file may be damaged.")
    return window_inputs(log_mel, frontend)[0]


def extract_clip_features(
    model: LoadedModel,
    layer: str,
    files: list[Path],
    *,
    token: CancelToken | None = None,
    progress=no_progress,
    trunk: torch.nn.Module | None = None,
) -> tuple[np.ndarray, list[tuple[int, str]], tuple[int, ...], list[int]]:
    """Φ of every clip: ``(features (N, D), failed, layer_shape, windows per clip)``.

    Windows of several clips run through the backbone together (:data:`WINDOW_BATCH` at a time);
    ``failed`` lists ``(index, reason)`` of clips that could not be read (their rows are zeros).
    """
    from .backbone import layer_shapes

    check_audio_backbone(model)
    token = token or CancelToken()
    progress = progress or no_progress
    trunk = trunk if trunk is not None else cut_backbone(model, layer)
    shape = layer_shapes(model).get(layer)
    if shape is None:
        raise ModelError(f"The layer '{layer}' was not used when {model.name} processed a window; choose another.")
    extractor = feature_extractor(trunk, shape).eval()
    frontend = model.frontend
    sums: np.ndarray | None = None
    counts = np.zeros(len(files), dtype=np.int64)
    failed: dict[int, str] = {}
    pending: list[tuple[int, torch.Tensor]] = []

    def flush() -> None:
        nonlocal sums
        if not pending:
            return
        batch = torch.cat([windows for _, windows in pending])
        with torch.inference_mode():
            out = extractor(batch).double().numpy()
        if not np.all(np.isfinite(out)):
            raise ModelError(f"{model.name} gave invalid values (NaN or infinity) at the layer '{layer}'.")
        if sums is None:
            sums = np.zeros((len(files), out.shape[1]), dtype=np.float64)
        start = 0
        for index, windows in pending:
            sums[index] += out[start:start + len(windows)].sum(axis=0)
            counts[index] += len(windows)
            start += len(windows)
        pending.clear()

    for index, path in enumerate(files):
        token.check()
        try:
            pending.append((index, clip_windows(path, frontend)))
        except InputError as error:
            failed[index] = error.message
        if sum(len(w) for _, w in pending) >= WINDOW_BATCH:
            flush()
        progress((index + 1) / max(1, len(files)), f"Reading features: clip {index + 1} of {len(files)}")
    flush()
    if sums is None:
        raise InputError("None of the clips could be read; check that the folder holds sound files.")
    features = sums / np.maximum(counts, 1)[:, None]
    return features, sorted(failed.items()), tuple(shape), counts.tolist()


# --- fitting -------------------------------------------------------------------------------------


@dataclass
class AudioProbeResult(ProbeResult):
    """A fitted audio probe: :class:`~xaidesk.models.probe.fitting.ProbeResult` plus the spectrogram settings."""

    frontend: dict = field(default_factory=dict)
    windows_per_clip: list[int] = field(default_factory=list)

    @property
    def pooling(self) -> str:
        """How window features are pooled over a clip (by the layer's shape)."""
        return POOLING if len(self.layer_shape) == 3 else POOLING_VECTOR

    def to_dict(self, curves: bool = False) -> dict[str, Any]:
        """As the image probe's, plus the modality, the spectrogram settings and the windows per clip."""
        data = super().to_dict(curves)
        data["modality"] = "audio"
        data["frontend"] = dict(self.frontend)
        windows = [w for w in self.windows_per_clip if w]
        data["windows_per_clip"] = {"min": min(windows), "max": max(windows)} if windows else {}
        return data


def audio_portable_spec(spec: str) -> str:
    """``spec`` with its file path made absolute (``vggish:`` too), so a saved probe finds its backbone."""
    prefix, sep, rest = spec.partition(":")
    if sep and prefix.strip().lower() == "vggish" and rest.strip():
        return f"{prefix}:{Path(rest.strip()).expanduser().resolve()}"
    return portable_spec(spec)


def fit_audio_probe(
    folder: str | Path,
    model: LoadedModel,
    layer: str,
    *,
    held_out: float = 0.3,
    seed: int = 0,
    token: CancelToken | None = None,
    progress=no_progress,
) -> AudioProbeResult:
    """Fit both heads on ``model``'s ``layer`` features of a two-class folder of clips and judge them.

    As :func:`xaidesk.models.probe.fitting.fit_probe`, with clips instead of images (see the module notes
    for how a clip becomes Φ).

    Raises
    ------
    InputError
        For an unsuitable folder or split.
    ModelError
        When the model is not an audio model or cannot be cut at ``layer``.
    """
    start = time.perf_counter()
    token = token or CancelToken()
    progress = progress or no_progress
    check_audio_backbone(model)
    data = scan_audio_folder(folder)
    try:
        train, test = split_held_out(data.labels, held_out, seed)
    except InputError as error:
        raise _in_clips(error) from None
    progress(0.0, "Preparing the backbone")
    trunk = cut_backbone(model, layer)
    token.check()

    def feature_progress(fraction: float, message: str = "", partial=None) -> None:
        progress(0.95 * fraction, message)

    features, failed, shape, windows = extract_clip_features(
        model, layer, data.files, token=token, progress=feature_progress, trunk=trunk)
    token.check()
    progress(0.96, "Fitting the classifiers")
    try:
        fitted = fit_heads(data, features, failed, train, test, seed,
                           too_few="Too few clips of '{name}' could be read ({n_train} to train on, {n_test} to "
                                   "judge on; {failed} file(s) in the folder could not be read as sound). Replace "
                                   "the damaged files.")
    except InputError as error:
        raise _in_clips(error) from None
    progress(1.0, "Done")
    return AudioProbeResult(
        backbone=audio_portable_spec(model.spec),
        backbone_name=model.name,
        layer=layer,
        layer_shape=shape,
        held_out_share=float(held_out),
        seconds=time.perf_counter() - start,
        frontend=model.frontend.to_dict(),
        windows_per_clip=[int(w) for w in windows],
        **fitted,
    )


# --- the saved classifier ------------------------------------------------------------------------


def audio_probe_document(result: AudioProbeResult, head: str = "mean-difference") -> dict[str, Any]:
    """The probe file's contents: :func:`~xaidesk.models.probe.file.probe_document` plus the audio entries."""
    document = probe_document(result, head)
    document.update({"modality": "audio", "frontend": dict(result.frontend), "pooling": result.pooling})
    return document


def save_audio_probe(result: AudioProbeResult, path: str | Path, head: str = "mean-difference") -> Path:
    """Write the audio probe file (atomically); open it with ``load_model("file:PATH")``."""
    from ...core.io import write_json_atomic

    if head not in HEADS:
        raise InputError(f"Unknown head '{head}'; choose one of: {', '.join(HEADS)}.")
    return write_json_atomic(Path(path).expanduser(), audio_probe_document(result, head))


def is_audio_probe_file(path: str | Path) -> bool:
    """Whether ``path`` is a probe file (``.xdprobe``) fitted on an audio backbone."""
    path = Path(path).expanduser()
    if path.suffix.lower() != PROBE_SUFFIX or not path.is_file():
        return False
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(document, dict) and document.get("format") == PROBE_FORMAT \
        and str(document.get("modality", "")).lower() == "audio"


def _load_backbone(spec: str, frontend, trust: bool) -> LoadedModel:
    from .. import load_model
    from ..audio import load_audio_file, load_vggish
    from ..base import check_finite_weights

    prefix, _, rest = spec.partition(":")
    kind = prefix.strip().lower()
    if kind == "probe":
        raise ModelError("A probe's backbone cannot itself be a probe file.")
    if kind == "file" and rest.strip():
        if is_audio_probe_file(rest.strip()):
            raise ModelError("A probe's backbone cannot itself be a probe file.")
        model = load_audio_file(rest.strip(), trust=trust, spec=spec, frontend=frontend)
    elif kind == "vggish" and rest.strip():
        model = load_vggish(rest.strip(), spec=spec, frontend=frontend)
    else:
        model = load_model(spec, trust=trust)
    check_finite_weights(model.module, model.name)
    check_audio_backbone(model)
    if model.frontend != frontend:
        raise ModelError(f"The backbone {spec} now has other spectrogram settings than when this classifier was "
                         "fitted. Fit the classifier again.")
    return model


def load_audio_probe(path: str | Path, *, spec: str | None = None, trust: bool = False) -> LoadedModel:
    """Load a saved audio probe as an audio :class:`LoadedModel` (the backbone from its own spec)."""
    from ..audio import AudioFrontEnd

    path = Path(path).expanduser()
    document = read_probe(path)
    if str(document.get("modality", "")).lower() != "audio":
        raise ModelError(f"'{path.name}' is a classifier for images; open it in the Images tab as probe:{path}.")
    frontend = AudioFrontEnd.from_dict(document.get("frontend"))
    backbone_spec = str(document["backbone"])
    try:
        backbone = _load_backbone(backbone_spec, frontend, trust)
    except ModelError as error:
        raise ModelError(f"The backbone of this classifier ({backbone_spec}) could not be loaded: {error.message}",
                         details=error.details) from None
    module, head, fitted, layer = fitted_probe_module(document, backbone, backbone_spec, "classifier")
    names = [str(c) for c in document["class_names"]]
    notes = probe_notes(names, head, float(fitted.get("auc", float("nan"))), float(fitted["threshold"]))
    notes.append(f"Fitted on whole clips: Φ(clip) is the {document.get('pooling', POOLING)}; the network scores "
                 "one window at a time and the clip's logits are the windows' mean.")
    return LoadedModel(
        spec=spec or f"file:{path}",
        name=f"{names[0]} vs {names[1]} ({backbone.name}, {layer})",
        module=module,
        preprocessing=backbone.preprocessing,
        class_names=names,
        architecture=backbone.architecture,
        modality="audio",
        notes=notes,
        frontend=frontend,
    )
