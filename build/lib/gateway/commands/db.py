"""`compuerta db migrate|status [--config FILE]`: bring the store's schema up to date, or show it."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from gateway import config as config_module
from gateway.store import open_store
from gateway.store.schema import MIGRATIONS

NAME = "db"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(NAME, help="the store's schema")
    sub = parser.add_subparsers(dest="db_command", required=True)
    for name, text in (("migrate", "apply pending migrations"), ("status", "show the schema version")):
        command = sub.add_parser(name, help=text)
        command.add_argument("--config", type=Path)
        command.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = config_module.load(args.config)
    version = asyncio.run(_migrate(config.store.url))
    print(f"{_redacted(config.store.url)}: schema version {version} of {len(MIGRATIONS)}")
    return 0


async def _migrate(url: str) -> int:
    # Opening the store migrates it (every node does so at start; migrations run once).
    store = await open_store(url)
    try:
        row = await store.db.fetchone("SELECT max(version) FROM schema_version")
    finally:
        await store.close()
    return int(str(row[0])) if row and row[0] is not None else 0


def _redacted(url: str) -> str:
    # Never print a password from the store URL.
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        credentials, _, host = rest.rpartition("@")
        rest = credentials.split(":")[0] + ":***@" + host
    return scheme + sep + rest
