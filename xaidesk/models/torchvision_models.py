"""torchvision architectures with weights from a local file, and the weights download.

Nothing here touches the network except :func:`download_weights`, and only
when it is called.
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import os
import re
import socket
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable

import torch

from ..core import CancelToken, Cancelled, ModelError
from .base import LoadedModel
from .preprocessing import IMAGENET, Preprocessing

TORCHVISION_ARCHITECTURES: tuple[str, ...] = (
    "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large",
)

# The last (classifier) layer of each family, whose output size is the number of classes.
_CLASSIFIER = {"vgg": "classifier.6", "resnet": "fc", "mobilenet_v2": "classifier.1", "mobilenet_v3": "classifier.3"}

_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "weights", "params")
_PREFIXES = ("module.", "_orig_mod.", "model.")


def classifier_key(arch: str) -> str:
    """Name of the last linear layer of ``arch`` (without ``.weight``)."""
    for family, key in _CLASSIFIER.items():
        if arch.startswith(family):
            return key
    raise KeyError(arch)


def check_architecture(arch: str) -> str:
    """Normalise ``arch`` or raise a :class:`ModelError` listing the supported ones."""
    name = str(arch).strip().lower().replace("-", "_")
    if name not in TORCHVISION_ARCHITECTURES:
        raise ModelError(
            f"'{arch}' is not a supported torchvision architecture. Supported: "
            + ", ".join(TORCHVISION_ARCHITECTURES)
            + "."
        )
    return name


# --------------------------------------------------------------------------- state dicts


def extract_state_dict(obj: Any) -> dict[str, torch.Tensor] | None:
    """The tensors of a state dict, unwrapped from ``{"state_dict": ...}`` / ``{"model": ...}``.

    A common ``module.`` (DataParallel), ``_orig_mod.`` (torch.compile) or
    ``model.`` prefix shared by every key is removed. Returns ``None`` when
    ``obj`` holds no tensors.
    """
    if not isinstance(obj, Mapping):
        return None
    for _ in range(3):  # nested wrappers such as {"model": {"state_dict": ...}}
        inner = next((obj[k] for k in _WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            break
        obj = inner
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        return None
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if all(k.startswith(prefix) for k in tensors):
                tensors = {k[len(prefix):]: v for k, v in tensors.items()}
                changed = True
    return tensors


def _is_counter(key: str) -> bool:
    return key.endswith("num_batches_tracked")


@functools.lru_cache(maxsize=None)
def _signature(arch: str) -> dict[str, tuple[int, ...]]:
    """Parameter and buffer shapes of ``arch`` with 1000 classes (built on the meta device, no memory)."""
    import torchvision

    with torch.device("meta"):
        model = torchvision.models.get_model(arch, weights=None)
    return {k: tuple(v.shape) for k, v in model.state_dict().items() if not _is_counter(k)}


def _compare(state: Mapping[str, torch.Tensor], arch: str) -> tuple[list[str], list[str], list[str]]:
    """Missing keys, unexpected keys and keys of the wrong shape, for ``state`` against ``arch``.

    The classifier's output size is free (it is the number of classes).
    """
    expected = _signature(arch)
    head = classifier_key(arch)
    given = {k: tuple(v.shape) for k, v in state.items() if not _is_counter(k)}
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    wrong = []
    for key in expected:
        if key not in given:
            continue
        a, b = expected[key], given[key]
        if key == f"{head}.weight":
            ok = len(a) == len(b) == 2 and a[1] == b[1]
        elif key == f"{head}.bias":
            ok = len(b) == 1
        else:
            ok = a == b
        if not ok:
            wrong.append(key)
    return missing, unexpected, wrong


def fits_architecture(state: Mapping[str, torch.Tensor], arch: str) -> bool:
    missing, unexpected, wrong = _compare(state, arch)
    return not (missing or unexpected or wrong)


def detect_architecture(state: Mapping[str, torch.Tensor]) -> str | None:
    """The supported torchvision architecture whose layers match ``state`` exactly, if any."""
    keys = set(state)
    for arch in TORCHVISION_ARCHITECTURES:
        # cheap pre-check on a few keys before building the signature
        head = classifier_key(arch)
        if f"{head}.weight" not in keys:
            continue
        if fits_architecture(state, arch):
            return arch
    return None


def num_classes_of(state: Mapping[str, torch.Tensor], arch: str) -> int:
    return int(state[f"{classifier_key(arch)}.weight"].shape[0])


def build_from_state_dict(arch: str, state: Mapping[str, torch.Tensor]) -> torch.nn.Module:
    """Build ``arch`` with as many classes as ``state`` has and load ``state`` into it (strictly)."""
    import torchvision

    num_classes = num_classes_of(state, arch)
    with torch.device("meta"):
        model = torchvision.models.get_model(arch, weights=None, num_classes=num_classes)
    full = dict(state)
    for key, value in model.state_dict().items():
        if _is_counter(key) and key not in full:
            full[key] = torch.zeros((), dtype=torch.long)
    full = {k: (v.float() if v.is_floating_point() else v) for k, v in full.items()}
    model.load_state_dict(full, strict=True, assign=True)
    for name, tensor in list(model.named_parameters()) + list(model.named_buffers()):
        if tensor.is_meta:  # pragma: no cover - guarded by strict loading
            raise ModelError(f"The weights file has no values for {name}.")
    return model


def imagenet_categories(arch: str = "resnet18") -> list[str]:
    """The 1000 ImageNet class names shipped in torchvision's weights metadata (offline)."""
    from torchvision.models import get_model_weights

    return list(get_model_weights(arch).DEFAULT.meta["categories"])


def _describe_mismatch(state: Mapping[str, torch.Tensor], arch: str) -> str:
    missing, unexpected, wrong = _compare(state, arch)
    parts = []
    if missing:
        parts.append(f"{len(missing)} of its layers are missing (for example '{missing[0]}')")
    if unexpected:
        parts.append(f"{len(unexpected)} are unknown to it (for example '{unexpected[0]}')")
    if wrong:
        key = wrong[0]
        parts.append(
            f"{len(wrong)} have the wrong shape (for example '{key}': "
            f"{list(state[key].shape)} instead of {list(_signature(arch)[key])})"
        )
    return "; ".join(parts)


def load_torchvision(
    arch: str,
    path: str | os.PathLike,
    *,
    spec: str | None = None,
    state: Mapping[str, torch.Tensor] | None = None,
    notes: list[str] | None = None,
) -> LoadedModel:
    """Load torchvision's ``arch`` with the state dict in ``path`` (or the given ``state``)."""
    from .files import read_sidecar, read_weights_only

    arch = check_architecture(arch)
    path = Path(path).expanduser()
    spec = spec or f"torchvision:{arch}:{path}"
    notes = list(notes or [])
    if state is None:
        obj = read_weights_only(path)
        state = extract_state_dict(obj)
        if state is None:
            raise ModelError(
                f"{path.name} does not hold a state dict (a table of layer weights), so it cannot "
                f"be loaded into {arch}. If it is a complete saved model, open it with 'file:{path}'."
            )
    if not fits_architecture(state, arch):
        detected = detect_architecture(state)
        if detected:
            raise ModelError(
                f"The weights in {path.name} are for {detected}, not {arch}. Choose {detected} as the "
                f"architecture (torchvision:{detected}:{path}).",
                details=_describe_mismatch(state, arch),
            )
        raise ModelError(
            f"The weights in {path.name} do not fit torchvision's {arch} and do not look like any "
            f"supported architecture ({_describe_mismatch(state, arch)}). Check that the file holds "
            f"a state dict saved from torchvision.models.{arch}(); a complete saved model opens "
            "with 'file:PATH'.",
        )
    try:
        module = build_from_state_dict(arch, state)
    except ModelError:
        raise
    except Exception as error:  # noqa: BLE001
        raise ModelError(
            f"The weights in {path.name} could not be loaded into {arch}.", details=f"{type(error).__name__}: {error}"
        ) from error
    module.eval()
    module.requires_grad_(False)
    num_classes = num_classes_of(state, arch)

    sidecar = read_sidecar(path)
    preprocessing: Preprocessing = IMAGENET
    if sidecar.preprocessing is not None:
        preprocessing = sidecar.preprocessing
        notes.append(f"Preprocessing from {sidecar.source}.")
    class_names = None
    if sidecar.class_names is not None:
        if len(sidecar.class_names) == num_classes:
            class_names = sidecar.class_names
            notes.append(f"Class names from {sidecar.source}.")
        else:
            notes.append(
                f"{sidecar.source} lists {len(sidecar.class_names)} class names but the model has "
                f"{num_classes} outputs; the names were ignored."
            )
    if class_names is None:
        if num_classes == 1000:
            class_names = imagenet_categories(arch)
            notes.append("1000 outputs: using the ImageNet class names.")
        else:
            class_names = [f"class {i}" for i in range(num_classes)]
            notes.append(
                f"The model has {num_classes} classes and no class names were found; put them in "
                f"{path.name}.json ({{\"class_names\": [...]}}) or {path.name}.classes.txt (one per line)."
            )
    return LoadedModel(
        spec=spec,
        name=f"{arch} ({path.name})",
        module=module,
        preprocessing=preprocessing,
        class_names=[str(c) for c in class_names],
        architecture=arch,
        notes=notes,
    )


# --------------------------------------------------------------------------- download


def weights_dir() -> Path:
    """Where downloaded weights are kept: ``$XAIDESK_CACHE_DIR/weights`` or the person's cache folder."""
    override = os.environ.get("XAIDESK_CACHE_DIR")
    if override:
        return Path(override) / "weights"
    from ..userdirs import cache_dir

    return cache_dir() / "weights"


def weights_url(arch: str) -> str:
    """URL of torchvision's published default weights for ``arch`` (no network access)."""
    from torchvision.models import get_model_weights

    return get_model_weights(check_architecture(arch)).DEFAULT.url


# Replaceable in tests.
_urlopen: Callable[..., Any] = urllib.request.urlopen

_NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, socket.timeout, ConnectionError, TimeoutError)


def _offline_error(arch: str, reason: str) -> ModelError:
    return ModelError(
        f"Could not download the published weights for {arch}: this computer seems to be offline "
        f"({reason}). Download the file elsewhere and load it as 'torchvision:{arch}:PATH' (a weights file "
        "on this computer).",
        details=reason,
    )


def download_weights(
    arch: str,
    *,
    progress: Callable[[float, str], None] | None = None,
    token: CancelToken | None = None,
) -> Path:
    """Download torchvision's published weights for ``arch`` into the cache and return the file.

    Parameters
    ----------
    arch
        One of :data:`TORCHVISION_ARCHITECTURES`.
    progress
        Called as ``progress(fraction, message)`` while downloading.
    token
        Checked between chunks; cancelling raises :class:`~xaidesk.core.Cancelled`
        and leaves no partial file behind.

    Returns
    -------
    Path
        The weights file (state dict); load it with ``torchvision:ARCH:PATH``.
        A file already in the cache is returned without a download.
    """
    arch = check_architecture(arch)
    report = progress or (lambda fraction, message="": None)
    url = weights_url(arch)
    filename = url.rsplit("/", 1)[-1] or f"{arch}.pth"
    folder = weights_dir()
    target = folder / filename
    if target.is_file():
        report(1.0, f"The weights for {arch} are already downloaded.")
        return target
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, tmp_name = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=folder)
    except OSError as error:
        raise ModelError(
            f"Could not create the download folder {folder}: {error.strerror or error}.", details=str(error)
        ) from error
    tmp = Path(tmp_name)
    try:
        from ..core.io import normal_file_mode

        os.chmod(tmp, normal_file_mode())  # a shared weights file, not a private 0600 one
        with os.fdopen(handle, "wb") as out:
            report(0.0, f"Connecting to download the {arch} weights ...")
            if token is not None:
                token.check()
            try:
                response = _urlopen(url, timeout=30)
            except urllib.error.HTTPError as error:
                raise ModelError(
                    f"Could not download the published weights for {arch}: the server answered "
                    f"{error.code} {error.reason}. Download the file elsewhere and open it with "
                    f"'torchvision:{arch}:PATH' (a weights file on this computer).",
                    details=url,
                ) from error
            except _NETWORK_ERRORS as error:
                raise _offline_error(arch, str(getattr(error, "reason", error))) from error
            with response:
                total = int(response.headers.get("Content-Length") or 0)
                digest = hashlib.sha256()
                done, last = 0, -1.0
                while True:
                    if token is not None:
                        token.check()
                    try:
                        chunk = response.read(1 << 16)
                    except _NETWORK_ERRORS as error:
                        raise _offline_error(arch, f"the connection broke: {error}") from error
                    if not chunk:
                        break
                    try:
                        out.write(chunk)
                    except OSError as error:
                        raise ModelError(
                            f"Could not save the {arch} weights in {folder}: {error.strerror or error}.",
                            details=str(error),
                        ) from error
                    digest.update(chunk)
                    done += len(chunk)
                    fraction = min(done / total, 0.999) if total else 0.0
                    if fraction - last >= 0.01 or not total:
                        last = fraction
                        size = f" of {total / 1e6:.1f}" if total else ""
                        report(fraction, f"Downloading {arch} weights: {done / 1e6:.1f}{size} MB")
        if total and done != total:
            raise _offline_error(arch, f"the download stopped after {done} of {total} bytes")
        match = re.search(r"-([0-9a-f]{6,64})\.", filename)
        if match and not digest.hexdigest().startswith(match.group(1)):
            raise ModelError(
                f"The downloaded weights for {arch} are damaged (their checksum does not match). "
                "Try again, or download the file elsewhere and open it with 'torchvision:ARCH:PATH'."
            )
        os.replace(tmp, target)
    except (ModelError, Cancelled):
        raise
    except Exception as error:  # noqa: BLE001 - anything else still becomes one sentence
        raise ModelError(
            f"Could not download the published weights for {arch}: {error}.", details=repr(error)
        ) from error
    finally:
        if tmp.exists():
            try:
                tmp.unlink()
            except OSError:
                pass
    report(1.0, f"Downloaded the {arch} weights.")
    return target
