"""masivo: hold a mass mailing for approval (000 "Definición de un correo masivo", Anexo A).

Trusts the Directory (dependencies, all-staff lists, the mass-mailing right) and the
organisation's home domains; hands a hold verdict to the pipeline, whose detail names every
reason so that the sender and the approvers see them all. The definition is per profile (000:
"el titular de cada Dependencia podrá determinar consideraciones adicionales").
"""

from __future__ import annotations

from dataclasses import dataclass, field

from filters import _recipients
from gateway.model import Action, Context, Message, Stage, Verdict

RULE = "masivo"
NORM = "000 norma 10, Anexo A; 001 VI; 003 4.16"
STAGES = (Stage.DATA,)


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    action: Action = Action.HOLD  # 000 Anexo A: DGTIT reviews and approves every masivo
    criteria: _recipients.Criteria = field(default_factory=_recipients.Criteria)
    # Roles that must all approve; empty: [approval] required. Publicity of events needs
    # Comunicación Social's visto bueno as well (000 Anexo A 4).
    approvers: tuple[str, ...] = ()


async def check(msg: Message, ctx: Context[Settings]) -> Verdict | None:
    found = _recipients.breakdown(msg, ctx)
    reasons = _recipients.masivo_reasons(msg, found, ctx.settings.criteria, ctx)
    if not reasons:
        return None
    return Verdict(ctx.settings.action, RULE, "; ".join(reasons))
