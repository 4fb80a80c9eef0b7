"""`compuerta audit verify|show`: check the hash chain of the audit trail, or print it.

Trusts nothing in the table: ``verify`` recomputes every row's hash from its fields and the
previous row's hash; an edited, inserted or deleted row breaks the chain and the command exits 1
naming the first broken row.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from gateway import config as config_module
from gateway.store import open_store

NAME = "audit"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(NAME, help="the audit trail of decisions")
    sub = parser.add_subparsers(dest="audit_command", required=True)
    sub.add_parser("verify", help="check the hash chain")
    show = sub.add_parser("show", help="print the trail (of one ticket)")
    show.add_argument("ticket", nargs="?", default="")
    for command in sub.choices.values():
        command.add_argument("--config", type=Path)
        command.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = config_module.load(args.config)
    return asyncio.run(_run(config.store.url, args))


async def _run(url: str, args: argparse.Namespace) -> int:
    store = await open_store(url)
    try:
        if args.audit_command == "show":
            for e in await store.audit_entries(args.ticket):
                print(
                    f"{e.id}\t{e.at.isoformat()}\t{e.actor}\t{e.role or '-'}\t{e.action}\t{e.ticket}\t{e.reason}"
                )
            return 0
        checked, broken = await store.audit_verify()
    finally:
        await store.close()
    if broken is not None:
        print(f"cadena rota en el registro {broken} (después de {checked} registros íntegros)")
        return 1
    print(f"cadena íntegra: {checked} registros")
    return 0
