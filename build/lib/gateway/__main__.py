"""Entry point of `python -m gateway` and the `compuerta` console command: wiring only."""

from __future__ import annotations

import sys

from gateway.cli import main

if __name__ == "__main__":
    sys.exit(main())
