"""`compuerta unblock ADDR`: lift a rate.abuse suspension (001 IV) and forgive its limit hits.

Trusts the person at the shell; the unblock is recorded in the audit chain with who did it.
The running gateway sees it at the sender's next message (the suspension lives in the store).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
from pathlib import Path

from gateway import config as config_module
from gateway.clock import SystemClock
from gateway.config import Config
from gateway.store import Change, open_store

NAME = "unblock"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(NAME, help="lift a sender's rate.abuse suspension")
    parser.add_argument("address", help="sender address or SASL login")
    parser.add_argument("--reason", default="")
    parser.add_argument("--config", type=Path)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_run(config_module.load(args.config), args.address.lower(), args.reason))


async def _run(config: Config, key: str, reason: str) -> int:
    store = await open_store(config.store.url, config.store.decision_batch)
    try:
        change = Change(getpass.getuser(), "rate.unblock", key, reason)
        lifted = await store.unblock(key, change, SystemClock().now())
    finally:
        await store.close()
    if lifted:
        print(f"{key}: suspensión levantada / suspension lifted")
    else:
        print(
            f"{key}: no estaba suspendida; se borraron sus rechazos por límite / was not suspended; limit hits cleared"
        )
    return 0
