"""Atomic file writes: write to a temporary name beside the target, then rename.

Files and folders get the user's normal permissions (``0666`` / ``0777`` less the umask),
not the private ``0600`` / ``0700`` of :mod:`tempfile`. JSON is strict: a non-finite float
is written as ``null``.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: the only portable way is to set it and put it back
    os.umask(mask)
    return mask


def normal_file_mode() -> int:
    """``0666`` less the umask: the mode ``open(path, "w")`` would give a new file."""
    return 0o666 & ~current_umask()


def normal_folder_mode() -> int:
    """``0777`` less the umask: the mode ``mkdir`` would give a new folder."""
    return 0o777 & ~current_umask()


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, normal_file_mode())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def save_npy_atomic(path: str | os.PathLike, array: np.ndarray) -> Path:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return write_bytes_atomic(path, buffer.getvalue())


def save_npz_atomic(path: str | os.PathLike, arrays: dict) -> Path:
    """Several named arrays in one ``.npz`` file (uncompressed, no pickles), written atomically."""
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **{name: np.asarray(a) for name, a in arrays.items()})
    return write_bytes_atomic(path, buffer.getvalue())


def save_png_atomic(path: str | os.PathLike, rgb: np.ndarray) -> Path:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="PNG")
    return write_bytes_atomic(path, buffer.getvalue())


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def finite_or_none(obj: Any) -> Any:
    """``obj`` with every NaN or infinite float (also in numpy scalars and arrays) replaced by ``None``."""
    if isinstance(obj, np.ndarray):
        obj = obj.tolist()
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: finite_or_none(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(value) for value in obj]
    return obj


def json_text(obj: Any, indent: int | None = 2) -> str:
    """Strict JSON for ``obj``: numpy values and paths converted, non-finite floats as ``null``."""
    return json.dumps(finite_or_none(obj), indent=indent, default=_json_default, allow_nan=False)


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as strict JSON (see :func:`json_text`), atomically."""
    return write_bytes_atomic(path, (json_text(obj) + "\n").encode("utf-8"))


@contextlib.contextmanager
def staged_folder(target: str | os.PathLike, stale: Sequence[str] = ()) -> Iterator[Path]:
    """Write a set of files as a whole: into a hidden folder beside ``target``, then move them in.

    If ``target`` does not exist yet it appears in one rename, complete; if it
    exists, each file is replaced atomically, and files of ``target`` matching a
    glob pattern of ``stale`` that this set did not write are removed (an earlier
    set's leftovers). On any error the staging folder is removed and ``target`` is
    left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        os.chmod(staging, normal_folder_mode())
        yield staging
        if not target.exists():
            os.replace(staging, target)
            return
        written = {item.name for item in staging.iterdir()}
        for item in sorted(staging.iterdir()):
            os.replace(item, target / item.name)
        staging.rmdir()
        for pattern in stale:
            for leftover in target.glob(pattern):
                if leftover.name not in written and leftover.is_file():
                    leftover.unlink(missing_ok=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def csv_number(value: float) -> str:
    """A number for a CSV cell: 12 significant digits, an empty cell for nan."""
    return "" if value != value else f"{float(value):.12g}"


def csv_field(text) -> str:
    """A text CSV cell, quoted only where it holds a comma, quote or line break."""
    text = str(text)
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n\r') else text


def check_output_folder(target: str | os.PathLike) -> Path:
    """Refuse an output folder that cannot be written, before any work is done.

    ``target`` may exist (a folder) or not; :func:`staged_folder` writes beside it, so the
    nearest existing folder on its way is tried by creating and removing an empty folder in it.
    Nothing is left behind. Returns ``target`` as a :class:`~pathlib.Path`.

    Raises
    ------
    InputError
        When the name is empty, ``target`` or a folder on its way is a file or a link loop,
        or the folder cannot be written.
    """
    from .errors import InputError

    if not str(target).strip():
        raise InputError("The output folder name is empty; give the folder for the results.")
    target = Path(target)
    if target.is_symlink() and not target.exists():
        raise InputError(f"The output '{target}' is a link that leads nowhere (a broken link or a link loop); "
                         "give another folder.")
    if target.exists() and not target.is_dir():
        raise InputError(f"The output '{target}' exists and is a file; give a folder for the results.")
    ancestor = Path(os.path.abspath(target)).parent
    while not ancestor.exists():
        if ancestor.is_symlink():
            raise InputError(f"The output folder '{target}' lies under '{ancestor}', a link that leads nowhere; "
                             "give another folder.")
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InputError(f"The output folder '{target}' cannot be made: '{ancestor}' is a file, not a folder.")
    for folder in [ancestor] + ([target] if target.is_dir() else []):
        try:
            os.rmdir(tempfile.mkdtemp(prefix=".xaidesk-write-check.", dir=folder))
        except OSError as error:
            reason = (error.strerror or type(error).__name__).lower()
            raise InputError(f"The results cannot be written to '{target}': the folder '{folder}' cannot be "
                             f"written to ({reason}). Choose a folder you can write to.") from None
    return target


def missing_path_message(path: str | os.PathLike, what: str = "file") -> str:
    """Why a named ``path`` that does not exist cannot be opened: a link loop, a broken link, or missing.

    ``what`` names the thing for the sentence (``"file"``, ``"model file"``, ``"folder"``).
    """
    path = Path(path)
    try:
        os.stat(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return (f"'{path}' is a link loop: it leads back to itself through links, so there is no {what} to "
                    f"open. Fix the link or choose the {what} it was meant to point to.")
    if path.is_symlink():
        return (f"'{path}' is a link to '{os.readlink(path)}', which does not exist. Fix the link or choose the "
                f"{what} itself.")
    return f"The {what} '{path}' does not exist. Check the name and folder."
