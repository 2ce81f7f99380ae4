"""``python -m xaidesk`` and the ``xaidesk`` command.

With a command (``methods``, ``models``, ``explain``) it runs headless;
``--self-test`` checks every pipeline on the built-in demos (add ``--window``
to also open and close the main window); otherwise it opens the desktop app.
"""

from __future__ import annotations

import sys

HEADLESS_COMMANDS = {"methods", "models", "explain"}


def _headless_commands() -> set[str]:
    from .cli import COMMAND_MODULES

    return HEADLESS_COMMANDS | set(COMMAND_MODULES)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--version" in argv:
        from . import __version__

        print(f"xaidesk {__version__}")
        return 0
    if "--self-test" in argv:
        from .selftest import run_self_test

        return run_self_test(with_window="--window" in argv)
    if argv and (argv[0] in _headless_commands() or argv[0] in ("-h", "--help")):
        from .cli import main as cli_main

        return cli_main(argv)
    from .gui.app import main as gui_main

    return gui_main(argv)


if __name__ == "__main__":
    sys.exit(main())
