"""``python -m graphc ...`` runs the command line (see :mod:`graphc.cli`)."""
import sys

from graphc.cli import main

if __name__ == "__main__":
    sys.exit(main())
