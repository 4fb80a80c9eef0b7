"""freemail.mass: refuse a masivo that includes public freemail recipients (001 VI).

001 VI: "Queda estrictamente prohibido … envíos masivos … a destinatarios de servidores de
correo públicos (yahoo, hotmail, gmail)". Trusts the recipient classification of
filters._recipients; "masivo" is the masivo rule's own definition, which gateway.config copies
into these settings so that both rules always agree. Hands its verdict to the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from filters import _recipients
from gateway.model import Action, Context, Message, Stage, Verdict

RULE = "freemail.mass"
NORM = "001 VI"
STAGES = (Stage.DATA,)


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    action: Action = Action.REJECT  # 001 VI: "estrictamente prohibido"
    criteria: _recipients.Criteria = field(default_factory=_recipients.Criteria)  # from masivo


async def check(msg: Message, ctx: Context[Settings]) -> Verdict | None:
    found = _recipients.breakdown(msg, ctx)
    freemail = found.count(_recipients.Kind.FREEMAIL)
    if not freemail or not _recipients.masivo_reasons(msg, found, ctx.settings.criteria, ctx):
        return None
    return Verdict(
        ctx.settings.action, RULE, f"{freemail} destinatario(s) de correo público en un envío masivo"
    )
