"""freemail.list: hold a message with many public freemail recipients (001 VI).

001 VI: distribution lists to hotmail, yahoo or gmail addresses are "sujeto a la autorización".
Trusts the recipient classification of filters._recipients; hands a hold verdict to the
pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

from filters import _recipients
from gateway.model import Action, Context, Message, Stage, Verdict

RULE = "freemail.list"
NORM = "001 VI"
STAGES = (Stage.DATA,)


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    action: Action = Action.HOLD  # 001 VI: "sujeto a la autorización"
    # A handful of citizens in Cc is correspondence; ten or more freemail addresses in one
    # message is a list. Configurable per profile.
    threshold: int = 10


async def check(msg: Message, ctx: Context[Settings]) -> Verdict | None:
    found = _recipients.breakdown(msg, ctx)
    freemail = found.count(_recipients.Kind.FREEMAIL)
    if freemail < ctx.settings.threshold:
        return None
    return Verdict(
        ctx.settings.action,
        RULE,
        f"{freemail} destinatarios de correo público (máximo {ctx.settings.threshold - 1})",
    )
