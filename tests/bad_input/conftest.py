"""The bad-input corpus: every awkward or broken input goes through the CLI in-process.

Each case asserts what a person must get:

- no traceback (only ``SystemExit`` from argument parsing may leave ``main``);
- a non-zero exit with one plain ``xaidesk: ...`` sentence on stderr, or, where the
  input is usable, exit 0 with a plain notice when something was changed or dropped;
- nothing half-written: a refused run leaves no output files (an existing folder stays untouched);
- the inputs unchanged, byte for byte.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def _fingerprint(paths) -> dict:
    prints = {}
    for path in paths:
        path = Path(path)
        if path.is_file():
            prints[path] = hashlib.sha256(path.read_bytes()).hexdigest()
        elif path.is_dir():
            for item in sorted(path.rglob("*")):
                if item.is_file() and not item.is_symlink():
                    prints[item] = hashlib.sha256(item.read_bytes()).hexdigest()
    return prints


def _run(argv, capsys) -> CliResult:
    from xaidesk.cli import main

    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as stop:  # argparse refusals
        code = stop.code if isinstance(stop.code, int) else 1
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)


@pytest.fixture
def cli(capsys):
    """``cli(argv)`` runs ``xaidesk.cli.main`` in-process and returns code, stdout and stderr."""
    return lambda argv: _run(argv, capsys)


@pytest.fixture
def refused(capsys):
    """``refused(argv, inputs=(), out=None, says=())``: the CLI refuses plainly.

    Asserts a non-zero exit, a plain one-line ``xaidesk:`` message on stderr (containing
    every string in ``says``, case-insensitive), no traceback, the ``inputs`` unchanged and
    no half-written files in ``out``. Returns the :class:`CliResult`.
    """

    def check(argv, inputs=(), out=None, says=()) -> CliResult:
        before = _fingerprint(inputs)
        out_before = _fingerprint([out]) if out is not None and Path(out).exists() else None
        result = _run(argv, capsys)
        assert result.code != 0, f"accepted: {argv}\n{result.out}\n{result.err}"
        assert "Traceback" not in result.err, result.err
        assert result.err.strip().startswith("xaidesk:"), result.err
        refusal = [line for line in result.err.strip().splitlines() if not line.startswith("xaidesk: note:")]
        assert len(refusal) == 1, f"not one plain sentence: {result.err!r}"
        for text in says:
            assert text.lower() in result.err.lower(), f"{text!r} not in {result.err!r}"
        assert _fingerprint(inputs) == before, "an input file was modified"
        if out is not None:
            out = Path(out)
            if out_before is None:
                assert not out.exists() or not any(out.iterdir()), f"half-written output: {list(out.iterdir())}"
            else:
                assert _fingerprint([out]) == out_before, "the output folder was changed by a refused run"
        return result

    return check


@pytest.fixture
def accepted(capsys):
    """``accepted(argv, inputs=(), says=())``: the CLI handles the input and says so.

    Asserts exit 0, no traceback, every string in ``says`` on stderr (a plain notice) and
    the inputs unchanged. Returns the :class:`CliResult`.
    """

    def check(argv, inputs=(), says=()) -> CliResult:
        before = _fingerprint(inputs)
        result = _run(argv, capsys)
        assert result.code == 0, f"refused: {argv}\n{result.err}"
        assert "Traceback" not in result.err, result.err
        for text in says:
            assert text.lower() in result.err.lower(), f"{text!r} not in {result.err!r}"
        assert _fingerprint(inputs) == before, "an input file was modified"
        return result

    return check
