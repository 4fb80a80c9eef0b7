"""`compuerta check FILE.eml [--from A] [--to B ...] [--json]`: the verdict, offline."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from gateway import config as config_module
from gateway import offline

NAME = "check"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(NAME, help="the verdict the gateway would give a message, offline")
    parser.add_argument("file", type=Path, help="the message (.eml); - for standard input")
    parser.add_argument("--config", type=Path)
    parser.add_argument("--from", dest="sender", help="envelope sender (default: the From: header)")
    parser.add_argument("--to", dest="rcpts", action="append", default=[],
                        help="envelope recipient, repeatable (default: To: and Cc:)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = config_module.load(args.config)
    raw = sys.stdin.buffer.read() if str(args.file) == "-" else args.file.read_bytes()
    result = asyncio.run(offline.check(config, raw, args.sender, tuple(args.rcpts)))
    print(json.dumps(result.as_json(), ensure_ascii=False) if args.json else result.as_text())
    return 0
