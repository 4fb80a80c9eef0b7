"""rcpt.visible: more than 5 addresses in To:/Cc: are tagged, with advice to use Bcc (001 VI).

001 VI: "Cuando se envíe un correo a más de 5 destinatarios … utilizar el campo CCO". Trusts
the undecoded top-level headers of the MimeView; counts every mailbox of every To: and Cc:
header, members of groups included. Hands its verdict (a tag by default) to the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

from filters._address import AddressError, address_list
from gateway.model import Action, Context, Message, MimeView, Stage, Verdict

RULE = "rcpt.visible"
NORM = "001 VI"
STAGES = (Stage.DATA,)


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    action: Action = Action.TAG
    max_visible: int = 5  # 001 VI: "más de 5 destinatarios"


def _count(value: str) -> int:
    try:
        return len(address_list(value))
    except AddressError:
        return value.count("@")  # malformed: every address a reader would see still counts


def visible(view: MimeView) -> int:
    """How many recipients every reader of the message sees."""
    return sum(_count(value) for name in ("to", "cc") for value in view.raw_header(name))


async def check(msg: Message, ctx: Context[Settings]) -> Verdict | None:
    if msg.view is None:
        return None
    count = visible(msg.view)
    if count <= ctx.settings.max_visible:
        return None
    return Verdict(ctx.settings.action, RULE, f"{count} > {ctx.settings.max_visible}")
