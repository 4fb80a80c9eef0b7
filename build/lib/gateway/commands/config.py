"""`compuerta config check FILE`: validate a configuration file (exit 2 naming the bad key)."""

from __future__ import annotations

import argparse
from pathlib import Path

from gateway import config as config_module

NAME = "config"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(NAME, help="configuration tools")
    sub = parser.add_subparsers(dest="config_command", required=True)
    check = sub.add_parser("check", help="validate a configuration file")
    check.add_argument("file", type=Path)
    check.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = config_module.load(args.file)
    profiles = ", ".join(sorted(config.profiles)) or "none"
    print(f"{args.file}: ok; home domains: {', '.join(config.organization.home_domains) or 'none'};"
          f" domain profiles: {profiles}")  # fmt: skip
    return 0
