"""`compuerta usage ADDR`: what a sender used of its rate allowance (001 VI), recorded in the audit.

ADDR is the key the gateway counts under: the SASL login when the MTA passes it, else the
envelope sender. Trusts the person at the shell; the look-up itself is an audited event.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
from pathlib import Path

from gateway import config as config_module
from gateway.clock import SystemClock
from gateway.config import Config
from gateway.store import Change, open_store

NAME = "usage"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(NAME, help="a sender's use of the rate limits (001 VI)")
    parser.add_argument("address", help="sender address or SASL login")
    parser.add_argument("--config", type=Path)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_run(config_module.load(args.config), args.address.lower(), args.json))


async def _run(config: Config, key: str, as_json: bool) -> int:
    profile = config.profile_for(key)
    day, minute = profile.rate_recipients.max_per_day, profile.rate_messages.max_per_minute
    store = await open_store(config.store.url, config.store.decision_batch)
    try:
        now = SystemClock().now()
        usage = await store.usage(key, now)
        suspended = await store.suspension(key)
        await store.record_change(Change(getpass.getuser(), "rate.usage", key), now)
    finally:
        await store.close()
    if as_json:
        print(json.dumps({"sender": key, "recipients_last_day": usage.recipients_last_day, "max_per_day": day,
                          "messages_last_minute": usage.messages_last_minute, "max_per_minute": minute,
                          "limit_hits_last_hour": usage.limit_hits_last_hour,
                          "suspended_since": suspended[0].isoformat() if suspended else None}))  # fmt: skip
        return 0
    used = usage.recipients_last_day
    print(
        f"{key}: usó {used:,} de {day:,} destinatarios en las últimas 24 h / used {used:,} of {day:,} recipients in the last 24 h"
    )
    print(f"{usage.messages_last_minute} de {minute} mensajes en el último minuto / messages in the last minute;"
          f" {usage.limit_hits_last_hour} rechazos por límite en la última hora / limit hits in the last hour")  # fmt: skip
    if suspended:
        print(f"SUSPENDIDA desde / SUSPENDED since {suspended[0].isoformat()}: {suspended[1]}"
              f" — compuerta unblock {key}")  # fmt: skip
    return 0
