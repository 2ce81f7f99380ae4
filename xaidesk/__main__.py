"""``python -m xaidesk`` and the ``xaidesk`` command.

With a command (``methods``, ``models``, ``explain``) it runs headless;
otherwise it opens the desktop application.
"""

from __future__ import annotations

import sys

HEADLESS_COMMANDS = {"methods", "models", "explain"}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and (argv[0] in HEADLESS_COMMANDS or argv[0] in ("-h", "--help")):
        from .cli import main as cli_main

        return cli_main(argv)
    from .gui.app import main as gui_main

    return gui_main(argv)


if __name__ == "__main__":
    sys.exit(main())
