"""rcpt.max: refuse recipients past the per-message limit (001 VI: 500 destinatarios).

Trusts the envelope's recipient list, which at RCPT time holds the recipients accepted so far
plus the one being asked about; hands its verdict to the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.model import Action, Context, Message, Stage, Verdict

RULE = "rcpt.max"
NORM = "001 VI"
STAGES = (Stage.RCPT,)


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    # THREATS.md S8: a 452 (RFC 5321 §4.5.3.1.10) only defers recipient 501, and the client
    # sends the rest in another transaction; refuse for good (550 5.5.3) instead.
    action: Action = Action.REJECT
    max_recipients: int = 500  # 001 VI: "Límite de destinatarios 500"
    # 001 VI: past 500 "un procedimiento especial": a sender holding the mass-mailing right is
    # not refused here; the masivo rule holds the message for approval instead.
    exempt_mass_mailing: bool = True


async def check(msg: Message, ctx: Context[Settings]) -> Verdict | None:
    count = len(msg.envelope.rcpt_tos)
    account = ctx.directory.account(msg.envelope.mail_from)
    if ctx.settings.exempt_mass_mailing and account is not None and account.mass_mailing:
        return None
    if count > ctx.settings.max_recipients:
        return Verdict(ctx.settings.action, RULE, f"recipient {count} > {ctx.settings.max_recipients}")
    return None
