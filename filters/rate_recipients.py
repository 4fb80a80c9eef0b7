"""rate.recipients: at most 10,000 recipients per sender in any 24 hours (001 VI).

Counts recipients the way the policy means: after expanding distribution lists, each person
once per message. Trusts the Usage snapshot and the Directory in the Context; runs at MAIL (a
sender already at the limit) and at DATA (this message would cross it). The authoritative
check-and-consume is one store transaction at acceptance (gateway.pipeline.consume). Hands its
verdict to the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.model import Action, Context, Message, Stage, Verdict

RULE = "rate.recipients"
NORM = "001 VI"
STAGES = (Stage.MAIL, Stage.DATA)


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    action: Action = Action.TEMPFAIL
    max_per_day: int = 10_000  # 001 VI: "10 000 destinatarios por día", a rolling 24 h; 0: no limit


def detail(used: int, adding: int, limit: int) -> str:
    return (
        f"usó {used:,} de {limit:,} destinatarios en las últimas 24 h, este mensaje suma {adding:,} / "
        f"used {used:,} of {limit:,} recipients in the last 24 h, this message adds {adding:,}"
    )


async def check(msg: Message, ctx: Context[Settings]) -> Verdict | None:
    used, limit = ctx.usage.recipients_last_day, ctx.settings.max_per_day
    adding = len(ctx.directory.expand(msg.envelope.rcpt_tos))
    if limit and (used + adding > limit or (not adding and used >= limit)):
        return Verdict(ctx.settings.action, RULE, detail(used, adding, limit))
    return None
