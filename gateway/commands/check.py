"""`compuerta check FILE.eml [--from A] [--to B ...] [--json] [--no-directory]`: the verdict, offline.

Reads the directory (accounts, lists, peer domains) from the configured store when there is one,
read-only; never creates a store. Rate limits are not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from gateway import config as config_module
from gateway import offline
from gateway.store import StoreError, open_store

NAME = "check"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(NAME, help="the verdict the gateway would give a message, offline")
    parser.add_argument("file", type=Path, help="the message (.eml); - for standard input")
    parser.add_argument("--config", type=Path)
    parser.add_argument("--from", dest="sender", help="envelope sender (default: the From: header)")
    parser.add_argument("--to", dest="rcpts", action="append", default=[],
                        help="envelope recipient, repeatable (default: To: and Cc:)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--no-directory", action="store_true",
                        help="judge without the store's directory (as if it had no accounts)")  # fmt: skip
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = config_module.load(args.config)
    raw = sys.stdin.buffer.read() if str(args.file) == "-" else args.file.read_bytes()
    result = asyncio.run(_check(config, raw, args))
    print(json.dumps(result.as_json(), ensure_ascii=False) if args.json else result.as_text())
    return 0


async def _check(config: config_module.Config, raw: bytes, args: argparse.Namespace) -> offline.CheckResult:
    rcpts = tuple(args.rcpts)
    if args.no_directory or not _store_exists(config.store.url):
        return await offline.check(config, raw, args.sender, rcpts)
    try:
        store = await open_store(config.store.url)
    except StoreError as error:
        print(f"compuerta check: store {config.store.url} not read ({error}); judging without the directory",
              file=sys.stderr)  # fmt: skip
        return await offline.check(config, raw, args.sender, rcpts)
    try:
        directory, version = await store.directory(), await store.directory_version()
    finally:
        await store.close()
    return await offline.check(config, raw, args.sender, rcpts, directory, f"store, version {version}")


def _store_exists(url: str) -> bool:
    """A SQLite store only if its file is there (opening it would create one)."""
    return not url.startswith("sqlite:///") or Path(url.removeprefix("sqlite:///")).is_file()
