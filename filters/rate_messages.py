"""rate.messages: at most 30 messages per sender in any minute (001 VI "30 mensajes por minuto").

Trusts the Usage snapshot the pipeline read for this sender (the SASL login when known, else
the envelope sender) and runs at MAIL, so a sender over the limit is told before sending the
body. The snapshot only explains; the authoritative check-and-consume is one store
transaction when the message is accepted (gateway.pipeline.consume). Hands its verdict to the
pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.model import Action, Context, Message, Stage, Verdict

RULE = "rate.messages"
NORM = "001 VI"
STAGES = (Stage.MAIL,)


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    action: Action = Action.TEMPFAIL  # the sender's MTA retries once the minute has slid on
    max_per_minute: int = 30  # 001 VI: "30 mensajes por minuto"; 0: counted, never limited


def detail(used: int, limit: int) -> str:
    return f"{used} mensajes en el último minuto, límite {limit} / {used} messages in the last minute"


async def check(msg: Message, ctx: Context[Settings]) -> Verdict | None:
    used, limit = ctx.usage.messages_last_minute, ctx.settings.max_per_minute
    if limit and used + 1 > limit:
        return Verdict(ctx.settings.action, RULE, detail(used, limit))
    return None
