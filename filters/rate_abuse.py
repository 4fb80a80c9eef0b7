"""rate.abuse: a sender that keeps hitting the rate limits is suspended (001 IV).

001 IV: "las cuentas que generen tráfico excesivo … serán deshabilitadas automáticamente".
Trusts the Usage snapshot (limit hits in the last hour, current suspension). Returns a suspend
verdict; the pipeline records the suspension and has the administrators told (style rule 10),
and refuses the sender until `compuerta unblock`. Hands its verdict to the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.model import Action, Context, Message, Stage, Verdict

RULE = "rate.abuse"
NORM = "001 IV"
STAGES = (Stage.MAIL, Stage.DATA)
SUSPENDED = "cuenta suspendida / sender suspended"


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    action: Action = Action.SUSPEND
    # An MTA retrying a few deferred messages hits a limit now and then; this many refusals
    # within an hour is a sender that keeps pushing.
    hits_per_hour: int = 10
    notify: tuple[str, ...] = ()  # administrators told of each suspension
    notice_from: str = ""  # sender of the notice; empty: postmaster@ the first home domain


async def check(msg: Message, ctx: Context[Settings]) -> Verdict | None:
    usage = ctx.usage
    if usage.suspended:
        return Verdict(ctx.settings.action, RULE, SUSPENDED)
    limit = ctx.settings.hits_per_hour
    if limit and usage.limit_hits_last_hour >= limit:
        detail = f"{usage.limit_hits_last_hour} rechazos por límite en una hora / limit hits in one hour"
        return Verdict(ctx.settings.action, RULE, detail)
    return None
