"""One writer per run folder: a lock file that two runs can never both hold.

``RUN/.lock`` is created with ``O_CREAT | O_EXCL`` (atomic on local file systems and NFSv3+), holding
the writer's host, process id and start time. A lock left by a process that is gone (a crash, a
killed job) on this host is taken over; a lock of a live process, or of another host, refuses the
run with a sentence that says who holds it and what to do.

A writer may name itself with ``owner`` (the cluster executor passes its run id and shard): a lock
that names the same owner is taken over wherever its holder ran, since it was left by an earlier
try of the same task, which the cluster reran because the computer running it stopped answering.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from pathlib import Path
from typing import Iterator

from ..core import InputError
from .format import now_text

LOCK_FILE = ".lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # exists but belongs to someone else, or cannot be asked: assume it runs
    return True


def _holder(path: Path) -> dict:
    try:
        value = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _stale(holder: dict) -> bool:
    """Whether the holder is a process of this host that is gone (its lock may be taken over)."""
    return holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int) \
        and not _alive(holder["pid"])


def lock_holder(run_dir) -> dict:
    """Who holds ``RUN/.lock``: its ``host``, ``pid``, ``started`` (and ``owner``); ``{}`` when nobody does."""
    return _holder(Path(run_dir) / LOCK_FILE)


def holder_gone(holder: dict) -> bool:
    """Whether the holder is a process of this host that is gone (its lock may be taken over)."""
    return _stale(holder)


@contextlib.contextmanager
def run_lock(run_dir, owner: str | None = None) -> Iterator[Path]:
    """Hold ``RUN/.lock`` while writing the run folder ``run_dir`` (created if needed); always released.

    ``owner`` names the task that writes (recorded in the lock). A lock naming the same owner on
    another computer is taken over (an earlier try of the same task, whose worker the cluster
    declared lost); on this computer only once its process is gone, like any other lock.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    mine = {"host": socket.gethostname(), "pid": os.getpid(), "started": now_text()}
    if owner is not None:
        mine["owner"] = str(owner)
    for _attempt in range(2):
        try:
            handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _holder(path)
            same_task = owner is not None and holder.get("owner") == str(owner)
            if _stale(holder) or (same_task and holder.get("host") != socket.gethostname()):
                path.unlink(missing_ok=True)
                continue
            who = (f"process {holder.get('pid', '?')} on {holder.get('host', 'an unknown computer')}, since "
                   f"{holder.get('started', 'an unknown time')}") if holder else "another run"
            raise InputError(f"Another run is writing into '{run_dir}' ({who}). Wait for it to finish, or choose "
                             f"another folder. If no run is writing there (its computer was restarted), delete "
                             f"'{path}'.") from None
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(mine, file)
        break
    else:
        raise InputError(f"The run folder '{run_dir}' could not be locked for writing; try again.")
    try:
        yield path
    finally:
        if _holder(path) == mine:
            path.unlink(missing_ok=True)


__all__ = ["LOCK_FILE", "holder_gone", "lock_holder", "run_lock"]
