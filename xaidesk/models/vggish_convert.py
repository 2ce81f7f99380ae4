"""VGGish weights from torchvggish or TensorFlow, reordered for xaidesk's (mel × time) input.

xaidesk's VGGish (:func:`xaidesk.models.audio.build_vggish`) takes log-mel patches shaped
(N, 1, 64 mel bands, 96 frames). The published networks take the transpose:

- **torchvggish** (harritaylor/torchvggish, ``vggish-10086976.pth``): input (N, 1, 96 frames, 64
  bands); state-dict keys ``features.N.weight/bias`` (the conv stack, same indices as ours) and
  ``embeddings.0/2/4`` (fully connected 12288→4096→4096→128). Its ``forward`` flattens the
  (N, 512, 6, 4) feature map after moving channels last (NHWC: index ``(t·4 + m)·512 + c``) and
  applies a ReLU to the embedding. A whole-model state dict may also hold ``pproc.*`` (AudioSet's
  PCA and 8-bit quantisation of the embedding): that post-processing is for storing embeddings,
  not part of the network, so it is left out (with a note).
- **TensorFlow** (the original ``vggish_model.ckpt``): input (N, 96, 64, 1) NHWC; variables
  ``vggish/conv1/weights``, ``vggish/conv2``, ``vggish/conv3/conv3_1``, ``conv3_2``,
  ``vggish/conv4/conv4_1``, ``conv4_2``, ``vggish/fc1/fc1_1``, ``fc1_2``, ``vggish/fc2`` (each
  ``weights`` and ``biases``); conv kernels are HWIO (3, 3, in, out), dense matrices (in, out);
  the flatten is NHWC as in torchvggish; the embedding is linear. A checkpoint needs TensorFlow
  to read, so export its arrays once (``r = tf.train.load_checkpoint(CKPT);
  np.savez("vggish.npz", **{k: r.get_tensor(k) for k in r.get_variable_to_shape_map()})``) and
  give xaidesk the ``.npz`` (or a ``.safetensors``/state-dict file of the same names).

The reordering. Our model on X (64 × 96) must equal the reference network on Xᵀ (96 × 64).
Transposing every conv kernel's two spatial axes makes each of our feature maps the transpose of
the reference's (3×3 convolutions with padding 1, ReLU and 2×2 max pooling commute with a
transpose), so our last map is (512, 4 mel, 6 time) where the reference has (6 time, 4 mel, 512)
after its NHWC move. ``nn.Flatten`` enumerates ours as ``c·24 + m·6 + t``; the first fully
connected layer's columns are therefore taken in the order ``(t·4 + m)·512 + c``
(:func:`fc1_column_order`). The other layers are unchanged (TensorFlow's dense matrices are
transposed to PyTorch's (out, in)).

Loading ``vggish:PATH`` converts automatically (:func:`read_vggish_state`); :func:`convert_vggish`
writes a converted copy once (marked as xaidesk's layout, so it loads without guessing):

    python -m xaidesk convert-vggish SRC DST [--layout auto|torchvggish|tensorflow]

Which layout a ``features.*``/``embeddings.*`` file is in cannot be told from its shapes (3×3
kernels and 12288 inputs either way). Such a file is read as torchvggish's -- the only published
PyTorch VGGish -- unless it is marked: written by :func:`convert_vggish`, holding a classifier
``head`` (only xaidesk's VGGish has one), or described by a sidecar ``{"layout": "xaidesk"}``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..core import ModelError

#: Layout names: xaidesk's own (mel × time), torchvggish's and TensorFlow's (time × mel).
LAYOUTS = ("xaidesk", "torchvggish", "tensorflow")
#: Marker written into converted files (safetensors metadata, or a key of a ``.pt`` dict).
LAYOUT_MARKER = "xaidesk_vggish_layout"
LAYOUT_MARKER_VALUE = "mel-time"
#: TensorFlow scope of each conv layer -> index in ``features``.
TF_CONVS = (("vggish/conv1", 0), ("vggish/conv2", 3), ("vggish/conv3/conv3_1", 6), ("vggish/conv3/conv3_2", 8),
            ("vggish/conv4/conv4_1", 11), ("vggish/conv4/conv4_2", 13))
#: TensorFlow scope of each dense layer -> index in ``embeddings``.
TF_DENSE = (("vggish/fc1/fc1_1", 0), ("vggish/fc1/fc1_2", 2), ("vggish/fc2", 4))
CONV_INDICES = tuple(index for _, index in TF_CONVS)
DENSE_INDICES = tuple(index for _, index in TF_DENSE)
FEATURE_CHANNELS = 512


def fc1_column_order(n_mels: int = 64, frames: int = 96, channels: int = FEATURE_CHANNELS) -> np.ndarray:
    """Column ``k`` of our first dense layer is the reference's column ``order[k]``.

    Ours flattens (C, mel, time) as ``c·(M·T) + m·T + t``; the reference flattens NHWC with
    H = time and W = mel, ``(t·M + m)·C + c`` (M = n_mels/16, T = frames/16 after four poolings).
    """
    mels, times = int(n_mels) // 16, int(frames) // 16
    c, m, t = np.meshgrid(np.arange(channels), np.arange(mels), np.arange(times), indexing="ij")
    return ((t * mels + m) * channels + c).reshape(-1)


# --- reading ---------------------------------------------------------------------------------------


def _as_tensor(value) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().float()
    return torch.from_numpy(np.ascontiguousarray(value)).float()


def read_arrays(path: str | Path) -> tuple[dict[str, torch.Tensor], bool]:
    """The named arrays of a ``.npz``, ``.safetensors`` or PyTorch weights file, and whether the file is
    marked as xaidesk's layout. Nothing in the file is run (``allow_pickle=False``, ``weights_only=True``)."""
    from .files import check_model_file, read_weights_only, state_dict_of

    path = Path(path).expanduser()
    check_model_file(path)
    marked = False
    try:
        if path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                arrays = {name: _as_tensor(archive[name]) for name in archive.files}
        elif path.suffix.lower() == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as handle:
                marked = (handle.metadata() or {}).get(LAYOUT_MARKER) == LAYOUT_MARKER_VALUE
                arrays = {name: handle.get_tensor(name).float() for name in handle.keys()}
        else:
            obj = read_weights_only(path)
            if isinstance(obj, dict):
                marked = obj.get(LAYOUT_MARKER) == LAYOUT_MARKER_VALUE
            arrays = state_dict_of(obj) or {}
    except ModelError:
        raise
    except Exception as error:  # noqa: BLE001 - any unreadable file gets one plain sentence
        raise ModelError(f"{path.name} could not be read as a weights file (.pt, .pth, .safetensors or .npz).",
                         details=f"{type(error).__name__}: {error}") from error
    arrays = {str(name).removesuffix(":0"): value for name, value in arrays.items()}
    if not arrays:
        raise ModelError(f"{path.name} holds no weights; VGGish needs a file of layer weights.")
    return arrays, marked


def detect_layout(arrays: dict[str, torch.Tensor], marked: bool = False, hint: str | None = None) -> str:
    """``"tensorflow"`` for ``vggish/...`` names; for ``features.*`` names ``"xaidesk"`` when marked,
    holding a ``head`` or described so by ``hint``, else ``"torchvggish"``."""
    if hint is not None and hint not in LAYOUTS:
        raise ModelError(f"Unknown VGGish layout '{hint}'; use one of: {', '.join(LAYOUTS)}.")
    if any(name.startswith("vggish/") for name in arrays):
        return "tensorflow"
    if "features.0.weight" not in arrays or "embeddings.0.weight" not in arrays:
        sample = ", ".join(sorted(arrays)[:4])
        raise ModelError(
            "These weights are not VGGish's: neither torchvggish's names (features.0.weight, embeddings.0.weight, "
            f"...) nor TensorFlow's (vggish/conv1/weights, ...) were found (the file has {sample}, ...).")
    if hint in ("xaidesk", "torchvggish"):
        return hint
    if marked or any(name.startswith("head.") for name in arrays):
        return "xaidesk"
    return "torchvggish"


# --- converting ------------------------------------------------------------------------------------


def _need(arrays: dict[str, torch.Tensor], name: str, shape: tuple[int, ...] | None = None) -> torch.Tensor:
    if name not in arrays:
        raise ModelError(f"The VGGish weights lack '{name}'; the file is incomplete or not VGGish.")
    value = arrays[name]
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise ModelError(f"'{name}' has shape {tuple(value.shape)} where VGGish has {tuple(shape)}; these are not "
                         "VGGish weights (conv64-128-256-256-512-512, fully connected 12288-4096-4096-128).")
    return value


def reorder_fc1(weight: torch.Tensor, n_mels: int = 64, frames: int = 96) -> torch.Tensor:
    """The reference's first dense weight (out, T·M·C) with columns in our order: ``weight[:, fc1_column_order()]``,
    computed as a reshape (out, T, M, C) -> (out, C, M, T)."""
    mels, times, channels = n_mels // 16, frames // 16, FEATURE_CHANNELS
    if weight.ndim != 2 or weight.shape[1] != times * mels * channels:
        raise ModelError(f"The first fully connected layer takes {weight.shape[-1]} inputs where VGGish's takes "
                         f"{times * mels * channels} (512 channels x 4 x 6); these are not VGGish weights for "
                         "0.96 s patches.")
    return weight.reshape(weight.shape[0], times, mels, channels).permute(0, 3, 2, 1).reshape(weight.shape[0], -1)


def to_xaidesk_state(arrays: dict[str, torch.Tensor], layout: str) -> tuple[dict[str, torch.Tensor], list[str]]:
    """A state dict for :func:`~xaidesk.models.audio.build_vggish` from ``arrays`` in ``layout``, and notes."""
    notes: list[str] = []
    if layout == "xaidesk":
        return {k: v for k, v in arrays.items() if not k.startswith("pproc.")}, notes
    state: dict[str, torch.Tensor] = {}
    if layout == "tensorflow":
        for scope, index in TF_CONVS:
            kernel = _need(arrays, f"{scope}/weights")
            if kernel.ndim != 4 or kernel.shape[:2] != (3, 3):
                raise ModelError(f"'{scope}/weights' is not a 3x3 convolution kernel (HWIO); not VGGish's weights.")
            # HWIO on (time, mel) -> OIHW on (mel, time): ours[o, i, a, b] = tf[b, a, i, o].
            state[f"features.{index}.weight"] = kernel.permute(3, 2, 1, 0).contiguous()
            state[f"features.{index}.bias"] = _need(arrays, f"{scope}/biases")
        for scope, index in TF_DENSE:
            matrix = _need(arrays, f"{scope}/weights")
            if matrix.ndim != 2:
                raise ModelError(f"'{scope}/weights' is not a dense matrix; these are not VGGish's weights.")
            state[f"embeddings.{index}.weight"] = matrix.t().contiguous()
            state[f"embeddings.{index}.bias"] = _need(arrays, f"{scope}/biases")
        notes.append("Converted from TensorFlow's VGGish (time x mel, HWIO kernels): kernels transposed and the "
                     "first fully connected layer's inputs reordered for xaidesk's mel x time patches.")
    elif layout == "torchvggish":
        for index in CONV_INDICES:
            kernel = _need(arrays, f"features.{index}.weight")
            if kernel.ndim != 4:
                raise ModelError(f"'features.{index}.weight' is not a convolution kernel; not VGGish's weights.")
            state[f"features.{index}.weight"] = kernel.transpose(2, 3).contiguous()
            state[f"features.{index}.bias"] = _need(arrays, f"features.{index}.bias")
        for index in DENSE_INDICES:
            state[f"embeddings.{index}.weight"] = _need(arrays, f"embeddings.{index}.weight")
            state[f"embeddings.{index}.bias"] = _need(arrays, f"embeddings.{index}.bias")
        notes.append("Read as torchvggish's weights (time x mel): kernels transposed and the first fully connected "
                     "layer's inputs reordered for xaidesk's mel x time patches. The output is the embedding before "
                     "torchvggish's final ReLU (as TensorFlow's VGGish gives it).")
        if any(k.startswith("pproc.") for k in arrays):
            notes.append("The file's PCA post-processing (pproc: AudioSet's compression of stored embeddings) "
                         "is not part of the network and was left out.")
    else:
        raise ModelError(f"Unknown VGGish layout '{layout}'; use one of: {', '.join(LAYOUTS)}.")
    state["embeddings.0.weight"] = reorder_fc1(state["embeddings.0.weight"])
    return state, notes


def read_vggish_state(path: str | Path, layout: str | None = None) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The weights of ``path`` as a state dict of xaidesk's VGGish, converted from the layout it is in.

    ``layout`` (``"xaidesk"``, ``"torchvggish"``, ``"tensorflow"``) overrides the guess of
    :func:`detect_layout`.
    """
    arrays, marked = read_arrays(path)
    return to_xaidesk_state(arrays, detect_layout(arrays, marked, layout))


def convert_vggish(src: str | Path, dst: str | Path, layout: str | None = None) -> Path:
    """Write ``src``'s VGGish weights (torchvggish or TensorFlow layout) in xaidesk's layout to ``dst``.

    ``dst`` ending in ``.safetensors`` gets a safetensors file (marker in its metadata); any
    other name a PyTorch file ``{"state_dict": ..., "xaidesk_vggish_layout": "mel-time"}``. The
    result is checked by loading it into :func:`~xaidesk.models.audio.build_vggish`. Returns ``dst``.
    """
    return convert_vggish_reporting_layout(src, dst, layout)[0]


def convert_vggish_reporting_layout(src: str | Path, dst: str | Path, layout: str | None = None) -> tuple[Path, str]:
    """As :func:`convert_vggish`, and also the layout found in ``src`` (``"torchvggish"``, ``"tensorflow"``, ...).

    Raises
    ------
    ModelError
        When ``src`` would be overwritten, cannot be read, or its weights do not fit VGGish after conversion.
    """
    from ..core.io import write_bytes_atomic
    from .audio import build_vggish
    from .base import check_finite_weights

    src, dst = Path(src).expanduser(), Path(dst).expanduser()
    if src.resolve() == dst.resolve():
        raise ModelError("Write the converted weights to a new file; the original is never overwritten.")
    arrays, marked = read_arrays(src)
    found = detect_layout(arrays, marked, layout)
    state, _notes = to_xaidesk_state(arrays, found)
    del arrays
    head = state.get("head.1.weight")
    with torch.device("meta"):
        module = build_vggish(int(head.shape[0]) if head is not None else None)
    try:
        module.load_state_dict(state, assign=True)
    except RuntimeError as error:
        raise ModelError(f"The weights in {src.name} do not fit the VGGish architecture after conversion.",
                         details=str(error)) from error
    check_finite_weights(module, src.name)
    state = {k: v.contiguous() for k, v in module.state_dict().items()}
    if dst.suffix.lower() == ".safetensors":
        from safetensors.torch import save

        data = save(state, metadata={LAYOUT_MARKER: LAYOUT_MARKER_VALUE})
    else:
        import io

        buffer = io.BytesIO()
        torch.save({"state_dict": state, LAYOUT_MARKER: LAYOUT_MARKER_VALUE}, buffer)
        data = buffer.getvalue()
    dst.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(dst, data)
    return dst, found
