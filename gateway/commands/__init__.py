"""The `compuerta` subcommands: one module each, listed explicitly here.

Each module exposes ``NAME``, ``register(subparsers)`` (its argparse parser, which sets
``run``) and the ``run(args) -> int`` it registered. A new command is one module and one line.
"""

from __future__ import annotations

from types import ModuleType

from gateway.commands import audit, check, config, db, directory, dkim, held, serve, unblock, usage, users

COMMANDS: tuple[ModuleType, ...] = (
    serve,
    config,
    check,
    db,
    held,
    users,
    audit,
    dkim,
    directory,
    usage,
    unblock,
)
