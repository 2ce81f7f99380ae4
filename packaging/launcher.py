"""Entry script of the frozen application (PyInstaller analyses this file)."""

import multiprocessing
import sys

from xaidesk.__main__ import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(main())
