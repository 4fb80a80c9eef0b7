"""size.max: refuse a message larger than the policy allows (001 VI: 25 MB).

Trusts the envelope's declared SIZE at MAIL time and the received bytes at DATA time; hands
its verdict to the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.model import Action, Context, Message, Stage, Verdict

RULE = "size.max"
NORM = "001 VI"
STAGES = (Stage.MAIL, Stage.DATA)


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    action: Action = Action.REJECT
    # 001 VI: "no deberá exceder de 25 Mb" (read as 25 MiB, what mail clients show)
    max_bytes: int = 25 * 1024 * 1024


async def check(msg: Message, ctx: Context[Settings]) -> Verdict | None:
    limit = ctx.settings.max_bytes
    size = len(msg.raw) if msg.raw else (msg.envelope.declared_size or 0)
    if size > limit:
        return Verdict(ctx.settings.action, RULE, f"{size} > {limit} bytes")
    return None
