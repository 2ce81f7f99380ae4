"""Open the xaidesk desktop application: ``python main.py [--demo] [IMAGE]``."""

import sys

from xaidesk.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
