"""`python -m bench`: run the suite and write BENCHMARKS.md (bench/run sets the machine up first)."""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from pathlib import Path

from bench import report, suite


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (min/median/max); default 3")
    parser.add_argument("--quick", action="store_true", help="a quarter of the messages (a smoke run)")
    parser.add_argument("--only", default="", help="comma-separated scenario keys (and 'memory')")
    parser.add_argument("--output", type=Path, default=Path("BENCHMARKS.md"))
    args = parser.parse_args()
    only = {key for key in args.only.split(",") if key}
    # SIGTERM unwinds like Ctrl-C, so that every server the suite started is stopped
    signal.signal(signal.SIGTERM, lambda number, _frame: sys.exit(128 + number))
    with tempfile.TemporaryDirectory(prefix="compuerta-bench-") as folder:
        results = suite.run(Path(folder), args.runs, args.quick, only, _progress)
    args.output.write_text(report.render(results, {}))
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
