"""Coverage-guided fuzz target (atheris): the MIME parser and the whole pipeline on one input.

Trusts nothing: each input is a message's bytes. Fails (raises) when an exception escapes, when
the parser itself breaks (a "parser failure" problem), or when a message with an inspection
problem is accepted. Run it as fuzz/README.md says; it is not part of the test suite.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import atheris

# Fuzz this checkout, not whatever copy of the packages the environment has installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

with atheris.instrument_imports(include=["filters", "gateway"]):
    from filters import _mime
    from gateway import offline
    from gateway.config import build
    from gateway.model import Action

CONFIG = build({"organization": {"home_domains": ["gto.gob.mx"]}})
LOOP = asyncio.new_event_loop()


def test_one_input(data: bytes) -> None:
    view = _mime.parse(data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    broken = [p for p in view.problems if p.detail.startswith("parser failure")]
    if broken:
        raise AssertionError(broken)
    result = LOOP.run_until_complete(offline.check(CONFIG, data, "ana@gto.gob.mx", ("luis@gto.gob.mx",)))
    if view.problems and result.action == Action.ACCEPT:
        raise AssertionError(f"accepted despite {view.problems}")


def main() -> None:
    logging.disable(logging.CRITICAL)  # the parser logs its own failures; the assertion reports them
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
