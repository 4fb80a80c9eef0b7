"""The `compuerta` command line: parse arguments and run the subcommand asked for.

Trusts nothing the user typed: files are validated by gateway.config and errors are one line
naming what was wrong. Exit codes (DESIGN.md): 0 ok, 2 usage or configuration error,
1 runtime failure. The subcommands live in gateway.commands, one module each.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from gateway import __version__
from gateway.commands import COMMANDS
from gateway.config import ConfigError
from gateway.store import StoreError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="compuerta", description="Outbound mail policy gateway")
    parser.add_argument("--version", action="version", version=f"compuerta {__version__}")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    commands = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip
    # aiosmtpd logs every command at INFO; our own log has one line per decision
    logging.getLogger("mail.log").setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        code: int = args.run(args)
    except ConfigError as error:
        print(f"compuerta: configuration error: {error}", file=sys.stderr)
        return 2
    except (OSError, StoreError) as error:
        print(f"compuerta: {error}", file=sys.stderr)
        return 1
    return code
