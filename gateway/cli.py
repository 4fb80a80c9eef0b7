"""The `compuerta` command line: parse arguments and call the operation asked for.

Trusts nothing the user typed: every file is validated by gateway.config, every error is one
line naming what was wrong. Exit codes (DESIGN.md): 0 ok, 2 usage or configuration error,
1 runtime failure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway import config as config_module
from gateway import offline

log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="compuerta", description="Outbound mail policy gateway")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", type=Path, help="TOML file (default: embedded profile)")
    serve.add_argument("--demo", action="store_true", help="embedded sink upstream, mail kept in ./demo-mail")
    serve.add_argument("--demo-folder", type=Path, default=Path("demo-mail"))
    cfg = commands.add_parser("config", help="configuration tools")
    cfg_commands = cfg.add_subparsers(dest="config_command", required=True)
    cfg_check = cfg_commands.add_parser("check", help="validate a configuration file")
    cfg_check.add_argument("file", type=Path)
    check = commands.add_parser("check", help="the verdict for a message, offline")
    check.add_argument("file", type=Path, help="the message (.eml); - for standard input")
    check.add_argument("--config", type=Path)
    check.add_argument("--from", dest="sender", help="envelope sender (default: From:)")
    check.add_argument("--to", dest="rcpts", action="append", default=[], help="envelope recipient")
    check.add_argument("--json", action="store_true", help="one JSON object on standard output")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip
    # aiosmtpd logs every command at INFO; our own log has one line per decision
    logging.getLogger("mail.log").setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        return _dispatch(args)
    except config_module.ConfigError as error:
        print(f"compuerta: configuration error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"compuerta: {error}", file=sys.stderr)
        return 1


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "serve":
        from gateway.server import serve

        config = config_module.load(args.config)
        return asyncio.run(serve(config, args.demo_folder if args.demo else None))
    if args.command == "config":
        config = config_module.load(args.file)
        print(f"{args.file}: ok ({len(config.profiles)} domain profile(s))")
        return 0
    if args.command == "check":
        return _check(args)
    return 2


def _check(args: argparse.Namespace) -> int:
    config = config_module.load(args.config)
    raw = sys.stdin.buffer.read() if str(args.file) == "-" else args.file.read_bytes()
    result = asyncio.run(offline.check(config, raw, args.sender, tuple(args.rcpts)))
    if args.json:
        print(json.dumps(result.as_json(), ensure_ascii=False))
    else:
        print(result.as_text())
    return 0
