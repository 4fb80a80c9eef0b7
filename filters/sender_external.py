"""sender.external: an account not authorised for the Internet writes only to institutional domains.

003 3.0 ("hacia Internet (solo algunas cuentas autorizadas)"). Trusts the Directory snapshot
(Account.internet, peer domains) and runs at RCPT on the recipient just asked for, so only the
external recipients are refused and the rest of the message still goes. Hands its verdict to
the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

from filters._address import domain_key
from gateway.model import Action, Context, Message, Stage, Verdict

RULE = "sender.external"
NORM = "003 3.0"
STAGES = (Stage.RCPT,)


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    action: Action = Action.REJECT
    domains: tuple[str, ...] = ()  # home domains; empty: [organization] home_domains
    # Other institutional domains besides the home ones and the directory's peer domains
    also_allowed: tuple[str, ...] = ()


def _institutional(domain: str, ctx: Context[Settings]) -> bool:
    listed = (*(ctx.settings.domains or ctx.organization.home_domains), *ctx.settings.also_allowed)
    return domain in {domain_key(d) for d in listed} or ctx.directory.peer(domain) is not None


async def check(msg: Message, ctx: Context[Settings]) -> Verdict | None:
    envelope = msg.envelope
    account = ctx.directory.account(envelope.mail_from) if envelope.mail_from else None
    if account is None or account.internet or not envelope.rcpt_tos:
        return None
    recipient = envelope.rcpt_tos[-1]
    if _institutional(domain_key(recipient.rpartition("@")[2]), ctx):
        return None
    return Verdict(ctx.settings.action, RULE, f"{envelope.mail_from} -> {recipient}")
