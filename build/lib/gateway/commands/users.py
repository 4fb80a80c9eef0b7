"""`compuerta users add|list|passwd|roles|disable|enable|token`: the people of the approval app.

Trusts the shell user (administrative access). Passwords come from standard input (one line)
or an interactive prompt, never from the command line where `ps` would show them; they are
stored as argon2 hashes. Roles must be administrator, auditor or one of [approval] roles.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from datetime import datetime
from pathlib import Path

from gateway import config as config_module
from gateway.approval import auth
from gateway.clock import SystemClock
from gateway.config import Config, ConfigError
from gateway.model import User
from gateway.store import Store, open_store

NAME = "users"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(NAME, help="people of the approval web app")
    sub = parser.add_subparsers(dest="users_command", required=True)
    add = sub.add_parser("add", help="add a user (password from standard input or a prompt)")
    add.add_argument("username")
    add.add_argument("--role", dest="roles", action="append", required=True)
    add.add_argument("--email", default="")
    sub.add_parser("list", help="every user and their roles")
    for name, text in (("passwd", "set a new password"), ("disable", "block the user"),
                       ("enable", "unblock the user"), ("token", "issue a new API token (printed once)")):  # fmt: skip
        sub.add_parser(name, help=text).add_argument("username")
    roles = sub.add_parser("roles", help="replace the user's roles")
    roles.add_argument("username")
    roles.add_argument("--role", dest="roles", action="append", required=True)
    for command in sub.choices.values():
        command.add_argument("--config", type=Path)
        command.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = config_module.load(args.config)
    if getattr(args, "roles", None):
        allowed = auth.known_roles(config.approval.roles)
        for role in args.roles:
            if role not in allowed:
                raise ConfigError("--role", role, "one of " + ", ".join(allowed))
    return asyncio.run(_run(config, args))


def _password() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("Contraseña: ")
    return sys.stdin.readline().rstrip("\n")


async def _run(config: Config, args: argparse.Namespace) -> int:
    store = await open_store(config.store.url)
    now = SystemClock().now()
    try:
        command = args.users_command
        if command == "list":
            for user in await store.users():
                state = "activo" if user.active else "bloqueado"
                print(f"{user.username}\t{','.join(user.roles)}\t{user.email or '-'}\t{state}")
            return 0
        if command == "add":
            password = auth.hash_password(_password())
            await store.add_user(User(args.username, tuple(args.roles), args.email, True, password), now)
            print(f"usuario {args.username} creado")
            return 0
        return await _change(store, args, now)
    except ValueError as error:
        print(f"compuerta: {error}", file=sys.stderr)
        return 2
    finally:
        await store.close()


async def _change(store: Store, args: argparse.Namespace, now: datetime) -> int:
    command, token = args.users_command, ""
    column, value = _column(command, args)
    if command == "token":
        token = auth.new_token()
        value = auth.token_hash(token)
    if not await store.update_user(args.username, column, value, now):
        print(f"compuerta: no existe el usuario {args.username}", file=sys.stderr)
        return 1
    print(token if token else f"usuario {args.username}: {command} hecho")
    return 0


def _column(command: str, args: argparse.Namespace) -> tuple[str, object]:
    if command == "passwd":
        return "password_hash", auth.hash_password(_password())
    if command in ("disable", "enable"):
        return "active", int(command == "enable")
    if command == "roles":
        return "roles", ",".join(args.roles)
    return "api_token_hash", ""
