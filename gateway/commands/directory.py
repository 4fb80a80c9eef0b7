"""`compuerta directory import|list|set|edit|retire|inactive`: the accounts, lists and peer domains.

Trusts the person at the shell (shell access to the gateway is administrative access) but not
the files they import (gateway.directory_file checks every row). Every change goes to the store
in one transaction with its audit entry; a running gateway picks it up within
``[store] directory_reload`` seconds, without a restart.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import json
import sys
from datetime import timedelta
from pathlib import Path

from gateway import config as config_module
from gateway import directory_file
from gateway.clock import SystemClock
from gateway.commands import _directory_report as directory_report
from gateway.config import Config
from gateway.directory_file import DirectoryFileError
from gateway.model import Account
from gateway.store import Change, DirectoryData, RetiredAddress, Store, open_store

NAME = "directory"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(NAME, help="accounts, distribution lists, peer domains")
    sub = parser.add_subparsers(dest="directory_command", required=True)
    load = sub.add_parser("import", help="import a CSV or TOML file (added or updated, never removed)")
    load.add_argument("file", type=Path)
    listing = sub.add_parser("list", help="show the directory")
    listing.add_argument("what", nargs="?", default="accounts", choices=directory_report.KINDS)
    listing.add_argument("--json", action="store_true")
    for name in ("set", "edit"):
        edit = sub.add_parser(name, help="create or change one account")
        edit.add_argument("address")
        edit.add_argument(
            "--state", help="active, suspended, disabled, temporary, grace (or activa, baja, ...)"
        )
        edit.add_argument("--expires", help="last day of a temporary account, YYYY-MM-DD")
        edit.add_argument("--baja", help="day of the baja: the account stays usable 15 more days")
        edit.add_argument("--internet", choices=["yes", "no"], help="may write to the Internet (003 3.0)")
        edit.add_argument("--mass-mailing", choices=["yes", "no"])
        edit.add_argument("--dependency")
        edit.add_argument("--name")
        edit.add_argument("--send-as", help="other addresses this login may send as, space-separated")
    retire = sub.add_parser("retire", help="retire an address for good (000 norma 22)")
    retire.add_argument("address")
    inactive = sub.add_parser("inactive", help="accounts with no outbound mail in N days (003 8.3)")
    inactive.add_argument("--days", type=int, required=True)
    inactive.add_argument("--json", action="store_true")
    for command in sub.choices.values():
        command.add_argument("--config", type=Path)
        command.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = config_module.load(args.config)
    try:
        return asyncio.run(_run(config, args))
    except (DirectoryFileError, RetiredAddress) as error:
        print(f"compuerta: {error}", file=sys.stderr)
        return 2


async def _run(config: Config, args: argparse.Namespace) -> int:
    store = await open_store(config.store.url, config.store.decision_batch)
    try:
        command = args.directory_command
        if command == "list":
            return await directory_report.listing(store, args.what, args.json)
        if command == "inactive":
            since = SystemClock().now() - timedelta(days=args.days)
            return directory_report.inactive(await store.inactive(since), args.days, args.json)
        data, summary = await _change(store, args)
        change = Change(getpass.getuser(), f"directory.{command}", summary[:200])
        version = await store.write_directory(data, change, SystemClock().now())
        print(f"{summary}; versión del directorio / directory version {version}")
        return 0
    finally:
        await store.close()


async def _change(store: Store, args: argparse.Namespace) -> tuple[DirectoryData, str]:
    command = args.directory_command
    if command == "import":
        data = directory_file.read(args.file)
        return data, (
            f"{args.file.name}: {len(data.accounts)} cuentas, {len(data.lists)} listas, "
            f"{len(data.dependencies)} dependencias, {len(data.peers)} dominios, {len(data.retired)} bajas"
        )
    address = directory_file.address(args.address, "address")
    if command == "retire":
        return DirectoryData(retired=(address,)), f"{address}: dada de baja definitiva / retired"
    current = (await store.directory()).account(address) or Account(address)
    account = _edited(current, args)
    return DirectoryData(
        accounts=(account,)
    ), f"{address}: {json.dumps(_describe(account), ensure_ascii=False)}"


def _edited(account: Account, args: argparse.Namespace) -> Account:
    row: dict[str, object] = {"address": account.address, "dependency": args.dependency or account.dependency,
                              "state": args.state or account.state.value, "name": args.name or account.name,
                              "expires": args.expires or (account.expires.isoformat() if account.expires else ""),
                              "baja": args.baja or "",
                              "internet": args.internet or ("yes" if account.internet else "no"),
                              "mass_mailing": args.mass_mailing or ("yes" if account.mass_mailing else "no"),
                              "send_as": args.send_as if args.send_as is not None else " ".join(account.send_as)}  # fmt: skip
    if args.baja and not args.expires:
        row["expires"] = ""  # the baja sets the end of the grace period
        row["state"] = args.state or "grace"
    return directory_file.account(row, account.address)


def _describe(account: Account) -> dict[str, object]:
    fields = dataclasses.asdict(account)
    fields["state"] = account.state.value
    fields["expires"] = account.expires.isoformat() if account.expires else None
    return fields
