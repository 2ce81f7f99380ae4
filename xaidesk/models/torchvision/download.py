"""Downloading torchvision's published weights into the cache: the only code here that touches the
network, and only when it is called."""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import socket
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

from ...core import CancelToken, Cancelled, ModelError
from .architectures import check_architecture

def weights_dir() -> Path:
    """Where downloaded weights are kept: ``$XAIDESK_CACHE_DIR/weights`` or the person's cache folder."""
    override = os.environ.get("XAIDESK_CACHE_DIR")
    if override:
        return Path(override) / "weights"
    from ...userdirs import cache_dir

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
        from ...core.io import normal_file_mode

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
