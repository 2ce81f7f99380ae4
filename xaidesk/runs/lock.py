"""One writer per run folder: a lock file that two runs can never both hold.

``RUN/.lock`` holds the writer's host, process id, start time and a random id. It is written in
full to a temporary file first and then hard-linked into place, which fails when a lock exists
(atomic on local file systems and NFS), so a reader sees no lock or a complete one, never a half
written one. Where the file system has no hard links it is created with ``O_CREAT | O_EXCL``.

A lock left by a process that is gone (a crash, a killed job) on this host is taken over; a lock of
a live process, or of another host, refuses the run with a sentence that says who holds it and what
to do. A writer may name itself with ``owner`` (the cluster executor passes its run id and shard): a
lock that names the same owner is taken over wherever its holder ran, since it was left by an
earlier try of the same task, which the cluster reran because the computer running it stopped
answering.

A takeover first renames the lock it judged stale to a name of its own (atomic), then removes it
only if it is still the very lock it judged; otherwise it puts it back. Of two writers that find
the same stale lock, only one gets the folder. Removing a lock on release works the same way, so a
writer never removes a lock that another took over meanwhile. One narrow case remains: a third
writer that creates its lock in the instant a lock is moved aside to be checked, while the put-back
of a changed lock then fails; a cluster task whose lock went that way stops at its next check.

An earlier try that still runs after its lock was taken over (its computer was cut off, not gone)
finds out with :meth:`LockHandle.still_mine`, which a writer calls between items; the cluster task
stops once it is False (:func:`held_lock` finds the handle of a folder this process holds).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import time
from pathlib import Path
from typing import Iterator

from ..core import InputError
from .format import now_text

LOCK_FILE = ".lock"
#: The key of :func:`lock_holder`'s answer for a lock file that exists but cannot be read (yet).
UNREADABLE = "unreadable"
_held: dict[str, "LockHandle"] = {}  # the locks this process holds, by folder


def is_lock_file(name: str) -> bool:
    """Whether a file name in a run folder is the lock or one of its short-lived side files."""
    return name == LOCK_FILE or name.startswith(LOCK_FILE + "-")


def _alive(pid: int) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # exists but belongs to someone else, or cannot be asked: assume it runs
    return True


def _read(path: Path) -> str | None:
    """The text of ``path``; None when it does not exist (other errors are raised)."""
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except FileNotFoundError:
        return None


def _parse(text: str | None) -> dict:
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _stale(holder: dict) -> bool:
    """Whether the holder is a process of this host that is gone (its lock may be taken over)."""
    return holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int) \
        and not _alive(holder["pid"])


def _side_file(path: Path, kind: str) -> Path:
    """A file name beside the lock that no other writer uses (its process and host are in the name)."""
    return path.with_name(f"{LOCK_FILE}-{kind}-{os.getpid()}-{secrets.token_hex(4)}@{socket.gethostname()}")


def _sweep(run_dir: Path) -> None:
    """Remove the side files that processes of this host which are gone left behind (a crash mid-lock)."""
    for side in run_dir.glob(f"{LOCK_FILE}-*@{socket.gethostname()}"):
        pid = side.name.rpartition("@")[0].split("-")[-2]
        if pid.isdigit() and not _alive(int(pid)):
            side.unlink(missing_ok=True)


def _create(path: Path, text: str) -> bool:
    """Create the lock ``path`` holding ``text`` unless there is one; whether it was created."""
    side = _side_file(path, "new")
    handle = os.open(side, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    try:
        os.write(handle, text.encode("utf-8"))
    finally:
        os.close(handle)
    try:
        os.link(side, path)
        return True
    except FileExistsError:
        return os.stat(side).st_nlink == 2  # NFS: the link was made but the server's reply was lost
    except OSError:  # no hard links on this file system
        return _create_in_place(path, text)
    finally:
        os.unlink(side)


def _create_in_place(path: Path, text: str) -> bool:
    try:
        handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    try:
        os.write(handle, text.encode("utf-8"))
    finally:
        os.close(handle)
    return True


def _remove_if(path: Path, text: str) -> bool:
    """Remove the lock ``path`` if it holds exactly ``text``; whether it is gone.

    The lock is renamed aside first (atomic), so no other writer's lock is removed: one that replaced
    ``text`` meanwhile is put back (unless a newer lock took its place while it was aside).
    """
    side = _side_file(path, "old")
    try:
        os.rename(path, side)
    except FileNotFoundError:
        return True
    try:
        with contextlib.suppress(OSError):
            if _read(side) == text:
                return True
        try:
            os.link(side, path)
        except FileExistsError:
            pass
        except OSError:  # no hard links on this file system
            if not path.exists():
                os.rename(side, path)
        return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(side)


class LockHandle:
    """The lock a writer holds: its ``path`` and the exact ``text`` it wrote there."""

    def __init__(self, path: Path, text: str) -> None:
        self.path, self.text = path, text
        self._released = False

    def still_mine(self) -> bool:
        """Whether the lock file still holds what this writer wrote (cheap: one small read).

        False once another writer took it over or it was removed; True while it cannot be read
        (a passing error of a network file system is no reason to stop). A lock missing for a moment
        (another writer's takeover moved it aside to check it) is looked at again before the answer.
        """
        for wait in (0.05, 0.2, 0.0):
            try:
                text = _read(self.path)
            except OSError:
                return True
            if text is not None:
                return text == self.text
            time.sleep(wait)
        return False

    def release(self) -> None:
        """Remove the lock if it is still this writer's (one taken over meanwhile stays); once."""
        if self._released:
            return
        self._released = True
        if _held.get(str(self.path.parent)) is self:
            del _held[str(self.path.parent)]
        with contextlib.suppress(OSError):
            if _read(self.path) == self.text:
                _remove_if(self.path, self.text)


def lock_holder(run_dir) -> dict:
    """Who holds ``RUN/.lock``: its ``host``, ``pid``, ``started``, ``id`` (and ``owner``); ``{}`` when nobody does.

    A lock file that exists but cannot be read or parsed (yet) gives ``{UNREADABLE: True}``: it is
    held, by someone unknown.
    """
    try:
        text = _read(Path(run_dir) / LOCK_FILE)
    except OSError:
        return {UNREADABLE: True}
    if text is None:
        return {}
    return _parse(text) or {UNREADABLE: True}


def holder_gone(holder: dict) -> bool:
    """Whether the holder is a process of this host that is gone (its lock may be taken over)."""
    return _stale(holder)


def held_lock(run_dir) -> LockHandle | None:
    """The lock this process holds on ``run_dir`` (taken with :func:`run_lock`), or None."""
    return _held.get(str(Path(run_dir).expanduser().resolve()))


@contextlib.contextmanager
def run_lock(run_dir, owner: str | None = None) -> Iterator[LockHandle]:
    """Hold ``RUN/.lock`` while writing the run folder ``run_dir`` (created if needed); always released.

    ``owner`` names the task that writes (recorded in the lock). A lock naming the same owner on
    another computer is taken over (an earlier try of the same task, whose worker the cluster
    declared lost); on this computer only once its process is gone, like any other lock.

    Yields
    ------
    LockHandle
        The lock held; a writer that may have been cut off asks :meth:`LockHandle.still_mine` between items.
    """
    run_dir = Path(run_dir).expanduser().resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    _sweep(run_dir)
    mine = {"host": socket.gethostname(), "pid": os.getpid(), "started": now_text(), "id": secrets.token_hex(8)}
    if owner is not None:
        mine["owner"] = str(owner)
    text = json.dumps(mine)
    for _attempt in range(3):
        if _create(path, text):
            break
        try:
            judged = _read(path)
        except OSError:
            judged = ""
        if judged is None:
            continue  # released meanwhile
        holder = _parse(judged)
        same_task = owner is not None and holder.get("owner") == str(owner)
        if _stale(holder) or (same_task and holder.get("host") != socket.gethostname()):
            _remove_if(path, judged)
            continue
        who = (f"process {holder.get('pid', '?')} on {holder.get('host', 'an unknown computer')}, since "
               f"{holder.get('started', 'an unknown time')}") if holder else "another run"
        raise InputError(f"Another run is writing into '{run_dir}' ({who}). Wait for it to finish, or choose "
                         f"another folder. If no run is writing there (its computer was restarted), delete "
                         f"'{path}'.")
    else:
        raise InputError(f"The run folder '{run_dir}' could not be locked for writing; try again.")
    handle = _held[str(run_dir)] = LockHandle(path, text)
    try:
        yield handle
    finally:
        handle.release()


__all__ = ["LOCK_FILE", "UNREADABLE", "LockHandle", "held_lock", "holder_gone", "is_lock_file", "lock_holder", "run_lock"]
