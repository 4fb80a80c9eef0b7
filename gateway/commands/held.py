"""`compuerta held list|show|approve|reject`: the approval queue from the shell, same rules as the web.

Trusts the user named by ``--as`` to be who runs the command (shell access to the gateway is
administrative access); that user's roles decide what they may do, exactly as in the web app.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from gateway import config as config_module
from gateway import moderation, notices
from gateway.commands import _progress as fanout_progress
from gateway.commands._services import opened
from gateway.config import Config
from gateway.model import HeldMessage
from gateway.moderation import Actor, ModerationError
from gateway.outcome import Services
from gateway.store.moderation import QueueFilter

NAME = "held"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(NAME, help="messages held for approval")
    sub = parser.add_subparsers(dest="held_command", required=True)
    listing = sub.add_parser("list", help="the queue")
    listing.add_argument(
        "--state", default="held", choices=["held", "approved", "delivered", "rejected", "expired"]
    )
    listing.add_argument("--sender", default="")
    listing.add_argument("--limit", type=int, default=50)
    show = sub.add_parser("show", help="one held message")
    show.add_argument("ticket")
    for name in ("approve", "reject"):
        decide = sub.add_parser(name, help=f"{name} a held message")
        decide.add_argument("ticket")
        decide.add_argument("--as", dest="username", required=True, help="the approver's user name")
        decide.add_argument("--reason", default="", required=name == "reject")
        if name == "approve":
            decide.add_argument("--wait", action="store_true",
                                help="deliver now from this shell too, with a progress bar, until done")  # fmt: skip
    for command in sub.choices.values():
        command.add_argument("--config", type=Path)
        command.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = config_module.load(args.config)
    return asyncio.run(_run(config, args))


async def _run(config: Config, args: argparse.Namespace) -> int:
    async with opened(config) as services:
        if args.held_command == "list":
            items, total = await services.store.queue(QueueFilter(args.state, args.sender, limit=args.limit))
            print(f"{total} en estado {args.state}")
            for item in items:
                print(_line(config, item))
            return 0
        held = await services.store.held(args.ticket)
        if held is None:
            print(f"compuerta: no existe el folio {args.ticket}")
            return 1
        if args.held_command == "show":
            print(_detail(config, held))
            progress = await services.store.progress(held.ticket)
            if progress is not None:
                print(fanout_progress.render(progress))
            return 0
        return await _decide(services, held, args)


async def _decide(services: Services, held: HeldMessage, args: argparse.Namespace) -> int:
    user = await services.store.user(args.username)
    if user is None or not user.active:
        print(f"compuerta: usuario desconocido o inactivo: {args.username}")
        return 1
    try:
        outcome = await moderation.decide(
            services, held.ticket, Actor(user.username, user.roles), args.held_command, args.reason
        )
    except ModerationError as error:
        print(f"compuerta: {error.kind}: {error}")
        return 1
    pending = f"; faltan: {', '.join(outcome.pending)}" if outcome.pending else ""
    state = outcome.held.state
    if getattr(args, "wait", False) and state == "approved":
        await fanout_progress.wait(services, held.ticket, sys.stdout)
        final = await services.store.held(held.ticket)
        state = final.state if final else state
    print(f"{held.ticket}: {notices.STATES_ES.get(state, state)}{pending}")
    return 0


def _line(config: Config, held: HeldMessage) -> str:
    return (f"{held.ticket}  {held.envelope.mail_from}  {held.dependency or '-'}  "
            f"{len(held.envelope.rcpt_tos)} dest.  vence {notices.local_time(config, held.deadline)}  "
            f"{held.subject}")  # fmt: skip


def _detail(config: Config, held: HeldMessage) -> str:
    approvals = "\n".join(f"  {a.role}: {a.decision} por {a.username} ({a.reason})" for a in held.approvals)
    return "\n".join([
        f"Folio: {held.ticket}  Estado: {notices.STATES_ES.get(held.state, held.state)}",
        f"Remitente: {held.envelope.mail_from}  Dependencia: {held.dependency or '-'}",
        f"Asunto: {held.subject}",
        f"Destinatarios ({len(held.envelope.rcpt_tos)}): "
        + ", ".join(f"{kind} {count}" for kind, count in held.classes),
        "Motivos:\n" + notices.reasons_es(held),
        f"Autorizan: {', '.join(held.required_roles)}  Vence: {notices.local_time(config, held.deadline)}",
        "Decisiones:\n" + (approvals or "  (ninguna)"),
    ])  # fmt: skip
