"""Headless commands: the same engine as the GUI, for scripted and batch use.

    python -m xaidesk methods [--modality image|audio|table|molecule] [--json]
    python -m xaidesk models [--json]
    python -m xaidesk explain image|audio|table|molecules INPUT ... --out DIR
    python -m xaidesk probe|spray|evaluate|batch|convert-vggish ...

This module only builds the parser and dispatches: each command lives in its own module of
:mod:`xaidesk.commands` (:mod:`~xaidesk.commands.listing`, :mod:`~xaidesk.commands.explain`,
...), which adds its arguments and runs it; the helpers they share are in
:mod:`xaidesk.commands.common`. Errors print one plain sentence to stderr and exit non-zero;
the output folder is checked for writability before any work, and the files are written as
a set, so nothing half-written is left in it. Progress goes to stderr: one updated line on a
terminal, otherwise a plain line every few seconds; library warnings are summed up in one note.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from .commands.common import EXIT_CANCELLED, EXIT_ERROR, Parser, catch_library_warnings, warnings_note
from .core import Cancelled, XaideskError

#: Every command, in the order of ``--help``: name -> its module. A module either adds its own
#: parser with ``add_parser(subparsers, name)`` (setting the ``handler`` default that runs it), or
#: offers ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int`` (exit status).
COMMAND_MODULES = {
    "methods": "xaidesk.commands.listing",
    "models": "xaidesk.commands.listing",
    "explain": "xaidesk.commands.explain",
    "probe": "xaidesk.commands.probe",
    "spray": "xaidesk.commands.spray",
    "evaluate": "xaidesk.commands.evaluate",
    "batch": "xaidesk.commands.batch",
    "convert-vggish": "xaidesk.commands.convert_vggish",
    "correct": "xaidesk.commands.correct",
    "prune": "xaidesk.commands.prune",
    "finetune": "xaidesk.commands.finetune",
    "counterfactual": "xaidesk.commands.counterfactual",
    "concepts": "xaidesk.commands.concepts",
}

#: Said by ``python -m xaidesk --help``: the commands are headless; the window has its own start.
WINDOW_NOTE = (
    "None of these commands opens the window. To open the desktop app, run 'python -m xaidesk' "
    "with no command; 'python -m xaidesk --demo' opens it with a built-in demo model and a sample "
    "image. 'python -m xaidesk --self-test' checks every pipeline on the demos."
)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command; each command module adds its own part."""
    parser = Parser(prog="xaidesk", description="Explain images, sounds, tables and molecules from the command line.",
                    epilog=WINDOW_NOTE)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name, module_path in COMMAND_MODULES.items():
        module = importlib.import_module(module_path)
        if hasattr(module, "add_parser"):
            module.add_parser(commands, name)
        else:
            command = commands.add_parser(name, help=module.HELP, description=module.HELP)
            module.add_arguments(command)
            command.set_defaults(handler=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():
        caught = catch_library_warnings()
        code = _dispatch(args)
    note = warnings_note(caught)
    if note:
        print(note, file=sys.stderr)
    return code


def _dispatch(args: argparse.Namespace) -> int:
    from .tabular import load_builtin_methods

    try:
        load_builtin_methods()
        return args.handler(args)
    except XaideskError as error:
        print(f"xaidesk: {error.message}", file=sys.stderr)
        return EXIT_ERROR
    except Cancelled:
        print("xaidesk: cancelled; nothing was written.", file=sys.stderr)
        return EXIT_CANCELLED
    except KeyboardInterrupt:
        print("xaidesk: interrupted; nothing was written.", file=sys.stderr)
        return EXIT_CANCELLED

