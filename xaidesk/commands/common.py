"""What the headless commands share: exit statuses, the argument parser class, help texts,
the ``--out`` check, the progress printer, the catching of library warnings, and the
prediction part of ``summary.json``. Light to import: heavy modules load inside functions.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_CANCELLED = 130

MODEL_HELP = ("model spec: demo:NAME, torchvision:ARCH:WEIGHTS, timm:NAME:WEIGHTS, hf:FOLDER, onnx:PATH, "
              "vggish:WEIGHTS, probe:PATH, file:PATH")
LABELS_HELP = ("class names for the model's outputs: a .txt file with one name per line, or a .json file with a "
               "list of names or an id2label object")

DEVICE_HELP = "where the model runs: cpu (default), or cuda for a CUDA GPU that PyTorch can use"


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one plain sentence (no usage dump), exit status 2."""

    def error(self, message: str) -> None:
        self.exit(EXIT_USAGE, f"xaidesk: {message}. Run 'python -m xaidesk --help' for usage.\n")


def output_folder(text: str) -> Path:
    """``--out``: a folder name, never empty (an empty name would mean the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("the output folder name is empty; give the folder for the results")
    return Path(text)


def catch_library_warnings() -> list:
    """Keep library warnings off stderr (:func:`warnings_note` sums them up); up to 100 are kept.

    Call inside ``warnings.catch_warnings()``; returns the list that fills while it is active.
    """
    caught: list = []

    def keep(message, category, filename, lineno, file=None, line=None) -> None:
        if len(caught) < 100:
            caught.append(warnings.WarningMessage(message, category, filename, lineno, file, line))

    warnings.simplefilter("default")
    warnings.showwarning = keep
    return caught


def warnings_note(caught: list) -> str | None:
    """The one note that sums up the caught warnings, or ``None`` when there were none."""
    if not caught:
        return None
    first = str(caught[0].message).strip().splitlines()[0][:160] if str(caught[0].message).strip() else ""
    return (f"xaidesk: note: {len(caught)} library warning(s) were kept off the screen (the first: "
            f"{caught[0].category.__name__}: {first}).")


class CliProgress:
    """Progress on stderr: one updated line on a terminal; otherwise a plain line every ``interval`` s.

    Call it as a progress callback; call :meth:`done` when the work is finished. Off a terminal
    (a log file, a pipe, a batch job) nothing is printed for runs shorter than ``interval``.
    """

    def __init__(self, stream=None, interval: float = 5.0, clock=time.monotonic) -> None:
        self._stream = stream or sys.stderr
        self._terminal = bool(getattr(self._stream, "isatty", lambda: False)())
        self._interval = interval
        self._clock = clock
        self._start = clock()
        self._last_line = self._start
        self._drawn = False

    def __call__(self, fraction: float, message: str = "", partial=None) -> None:
        now = self._clock()
        elapsed = now - self._start
        fraction = min(max(float(fraction), 0.0), 1.0)
        if self._terminal:
            print(f"\r  {fraction * 100:5.1f}%  {elapsed:6.1f}s  {message[:50]:<50}", end="", file=self._stream,
                  flush=True)
            self._drawn = True
        elif now - self._last_line >= self._interval:
            self._last_line = now
            detail = f" ({message.strip()[:80]})" if message.strip() else ""
            print(f"xaidesk: progress {fraction * 100:.0f}%{detail}, {elapsed:.0f} s so far", file=self._stream,
                  flush=True)

    def done(self) -> None:
        """End the terminal's progress line."""
        if self._drawn:
            print(file=self._stream)
            self._drawn = False


def cli_progress() -> CliProgress:
    """The progress reporter of a CLI command (see :class:`CliProgress`)."""
    return CliProgress()


def check_output_options(args: argparse.Namespace, rendered: bool = True) -> None:
    """Refuse unusable output options (an output folder that cannot be written, ...) before any work is done."""
    from ..core import InputError, render
    from ..core.io import check_output_folder

    check_output_folder(args.out)
    if not rendered:
        return
    if not 0.0 <= args.opacity <= 1.0:
        raise InputError("The opacity must be between 0 and 1.")
    if args.cmap is not None and args.cmap not in render.COLORMAPS:
        raise InputError(f"Unknown colour map '{args.cmap}'; choose one of: {', '.join(render.COLORMAPS)}.")


def prediction_summary(prediction, explanation) -> dict:
    """The predicted class, the explained class's probability and the top five, for summary.json."""
    top_index, top_label, top_probability = prediction.top(1)[0]
    return {
        "predicted": {"index": top_index, "label": top_label, "probability": top_probability,
                      "score": float(prediction.logits[top_index])},
        "target_probability": float(prediction.probabilities[explanation.target.index]),
        "top5": [{"index": i, "label": l, "probability": p} for i, l, p in prediction.top(5)],
    }


@contextlib.contextmanager
def cancel_on_interrupt(token) -> Iterator[None]:
    """While inside, Ctrl-C cancels ``token`` (training stops after the batch and keeps its checkpoint); a
    second Ctrl-C stops at once. Outside the main thread nothing changes."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if token.cancelled:
            raise KeyboardInterrupt
        token.cancel()
        print("\nxaidesk: stopping after this batch (press Ctrl-C again to stop at once)...", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def parse_box(text: str, option: str = "--region") -> tuple[int, int, int, int]:
    """``TOP,LEFT,HEIGHT,WIDTH`` (model-input pixels) as four whole numbers."""
    from ..core import InputError

    try:
        box = tuple(int(p.strip()) for p in str(text).split(","))
    except ValueError:
        box = ()
    if len(box) != 4:
        raise InputError(f"{option} takes four whole numbers TOP,LEFT,HEIGHT,WIDTH in model-input pixels "
                         f"(not '{text}').")
    return box


def check_repair_folder(out) -> Path:
    """Refuse an output folder that cannot be written or already holds a corrected model, before any work."""
    from ..core.io import check_output_folder
    from ..repair.result import check_repair_output

    return check_repair_output(check_output_folder(out))


def run_cancellable(work, token, progress, *, out, trains: bool = True, checkpoints=None):
    """``work()`` with Ctrl-C cancelling ``token``; ``None`` when it was cancelled, after saying what was kept."""
    from ..core import Cancelled

    try:
        with cancel_on_interrupt(token):
            return work()
    except Cancelled:
        progress.done()
        where = ("run it again" if not trains else
                 f"the checkpoints are kept in {checkpoints}; run the same command again to resume"
                 if checkpoints is not None else "give --checkpoints DIR to be able to resume")
        print(f"xaidesk: cancelled; nothing was written to {out} ({where}).", file=sys.stderr)
        return None


def write_repair(result, out: Path, progress) -> int:
    """Write a repair's folder and say, figure by figure, what changed."""
    from ..repair.result import MODEL_FILE, write_repair_outputs

    progress.done()
    write_repair_outputs(result, out)
    for comparison in result.comparisons:
        print(f"{comparison.label}: {comparison.before:.4g} -> {comparison.after:.4g}")
    for note in result.notes:
        print(f"note: {note}")
    print(f"{result.edits[0]['summary']} Written to {out}; open the model as file:{out / MODEL_FILE}")
    return 0
