"""`compuerta serve [--config FILE] [--demo]`: run the gateway."""

from __future__ import annotations

import argparse
from pathlib import Path

from gateway import config as config_module

NAME = "serve"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(NAME, help="run the gateway")
    parser.add_argument("--config", type=Path, help="TOML file (default: the embedded profile)")
    parser.add_argument("--demo", action="store_true", help="embedded sink upstream; mail kept in a folder")
    parser.add_argument("--demo-folder", type=Path, default=Path("demo-mail"))
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from gateway.server import run as serve

    config = config_module.load(args.config)
    return serve(config, args.demo_folder if args.demo else None)
