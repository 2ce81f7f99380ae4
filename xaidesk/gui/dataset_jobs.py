"""Qt-free work behind the Dataset tab: the run job, the output-folder checks and the end-of-run sentence.

:func:`run_folder` runs in the tab's own :class:`~xaidesk.gui.runner.Runner` (the tab wraps it
in a ``job(token, progress)``) and returns the plain :class:`~xaidesk.runs.BatchResult`. The
rest decides what the tab shows about an output folder. Nothing here imports Qt, so it is
tested headless; torch is only imported when a run starts.
"""

from __future__ import annotations

from pathlib import Path

from ..core import XaideskError
from ..runs import MethodRequest, RunInfo, read_run
from ..runs.format import RUN_FILE
from ..runs.lock import is_lock_file
from .formatting import format_duration
from .wording import plural


def run_folder(source, out: Path, spec: str, methods: list[MethodRequest], *, device: str = "cpu",
               batch_size: int, shard=None, target: int | None = None, labels=None, preprocessing=None,
               token=None, progress=None):
    """Explain every file of ``source`` into the run folder ``out`` (resuming a run of the same settings there)."""
    from xaidesk.runs import run_batch

    from .catalog import configure_torch_threads

    configure_torch_threads()
    return run_batch(source, out, spec, methods, device=device, batch_size=batch_size, shard=shard, target=target,
                     token=token, progress=progress, labels=labels, preprocessing=preprocessing)


def run_folder_on_cluster(source, out: Path, spec: str, methods: list[MethodRequest], *, address: str,
                          device: str = "cpu", batch_size: int, target: int | None = None, labels=None,
                          preprocessing=None, token=None, progress=None):
    """Hand the run to the Dask scheduler at ``address``: one task per shard, merged into ``out``."""
    from xaidesk.runs.cluster import run_on_cluster

    return run_on_cluster(source, out, spec, methods, address=address, device=device, batch_size=batch_size,
                          target=target, labels=labels, preprocessing=preprocessing, token=token, progress=progress)


def cluster_address_problem(text: str) -> str | None:
    """Why ``text`` is not a Dask scheduler's address (one plain sentence), or None (also for no address)."""
    text = text.strip()
    if not text:
        return None
    scheme, _, rest = text.rpartition("://")
    host, _, port = rest.rpartition(":")
    if scheme not in ("", "tcp", "tls", "ucx") or not host or not port.isdigit():
        return (f"'{text}' is not a cluster address. Give the Dask scheduler's address as tcp://HOST:PORT "
                "(e.g. tcp://10.0.0.5:8786), or leave it empty to run on this computer.")
    return None


def cluster_commands(source, out: Path, spec: str, methods: list[MethodRequest], *, address: str | None,
                     device: str, batch_size: int, target: int | None, labels=None) -> tuple[str, str]:
    """The command lines that run these settings elsewhere: on a Dask cluster, and as one task of a SLURM array
    (shard ``$SLURM_ARRAY_TASK_ID`` of ``$SLURM_ARRAY_TASK_COUNT``, merged afterwards)."""
    import shlex

    from ..runs.cluster import cluster_command

    dask = cluster_command(source, out, spec, methods, address=address or "tcp://SCHEDULER:8786", device=device,
                           batch_size=batch_size, target=target, labels=labels)
    words = shlex.split(dask)
    task = shlex.join(words[:words.index("--executor")])
    shards = f"{out}.shards"
    slurm = (f"{task} --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT "
             f"--out {shlex.quote(shards)}/$SLURM_ARRAY_TASK_ID\n"
             f"xaidesk batch --merge {shlex.quote(shards)}/* --out {shlex.quote(str(out))}")
    return dask, slurm


def default_output(root: Path) -> Path:
    """The run folder offered for an input folder: ``<name>-explained`` beside it.

    Folders that ship with xaidesk (the samples in ``resources/``) or whose parent cannot be written get
    their runs in the person's own data folder instead (``runs/<name>-explained`` there).
    """
    import os

    from ..resources import resources_root
    from ..userdirs import data_dir

    root = Path(root)
    shipped = root.resolve().is_relative_to(resources_root().resolve())
    if shipped or not os.access(root.parent, os.W_OK):
        return data_dir() / "runs" / f"{root.name}-explained"
    return root.parent / f"{root.name}-explained"


def output_problem(out: Path, source: Path, methods: list[str], target: int | None) -> str | None:
    """Why ``out`` cannot take a run of ``source`` (one plain sentence), or None when it can.

    An existing run there must be the same run (it is then resumed); other folders must be new or empty.
    """
    advice = f"Choose a new output folder, e.g. '{default_output(source)}'."
    if out == source:
        return "The output folder is the input folder itself; choose another folder for the results."
    if out.exists() and not out.is_dir():
        return f"The output '{out}' is a file, not a folder. {advice}"
    if not out.is_dir():
        return None
    if not (out / RUN_FILE).is_file():
        return None if not any(not is_lock_file(p.name) for p in out.iterdir()) else (
            f"The output folder '{out}' is not empty and holds no batch run. {advice}")
    try:
        info = read_run(out)
    except XaideskError as error:
        return f"{error.message} {advice}"
    if info.source.resolve() != source.resolve():
        return f"The output folder '{out}' holds the run of another input folder ('{info.source}'). {advice}"
    if info.target != target:
        return f"The output folder '{out}' holds a run that explained another class. {advice}"
    if sorted(m.name for m in info.methods) != sorted(methods):
        return f"The output folder '{out}' holds a run of other methods. {advice}"
    return None


def existing_run(out: Path) -> RunInfo | None:
    """The run an output folder already holds (one being resumed), or None (no run, or one that cannot be read)."""
    if not (out / RUN_FILE).is_file():
        return None
    try:
        return read_run(out)
    except XaideskError:
        return None


def unfinished_run(out: Path | None) -> dict | None:
    """``run.json`` of an unfinished run in the output folder ``out``, or None."""
    info = existing_run(out) if out is not None else None
    return None if info is None or info.finished else info.meta


def finished_text(result) -> str:
    """The one sentence that ends a run (for the status bar), from its :class:`~xaidesk.runs.BatchResult`."""
    return (f"Done: {plural(result.computed, 'explanation')} of {plural(result.files, 'file')} in "
            f"{format_duration(result.seconds)}"
            + (f", {result.already_done} {'was' if result.already_done == 1 else 'were'} already done"
               if result.already_done else "")
            + (f", {plural(len(result.skipped), 'file')} could not be read (see skipped.csv)"
               if result.skipped else "")
            + ".")


def stopped_text(saved: int) -> str:
    """What the progress line says once a cancelled run has stopped, with ``saved`` results on disk."""
    return f"Cancelled – {plural(saved, 'result')} {'is' if saved == 1 else 'are'} saved; press Resume to continue."


__all__ = ["default_output", "existing_run", "finished_text", "output_problem", "run_folder", "stopped_text",
           "unfinished_run"]
