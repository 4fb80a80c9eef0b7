"""sender.login: an authenticated user sends only in their own name (003 5.6.7).

003 5.6.7: "Evitar alterar o modificar las cabeceras de correo electrónico (envío de correos en
nombre de otra persona ...)". Trusts Envelope.login (the SASL login: the milter's {auth_authen}
macro or Postfix's XFORWARD LOGIN), the directory snapshot and, at DATA, the raw From: header,
read by the strict parser (THREATS.md F1). A login owns its own address (a bare login is a
local part of a home domain) and the addresses its directory account lists in ``send_as``.
Hands its verdict to the pipeline; with no login there is nobody to compare with, and
sender.domain judges the address alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from filters._address import AddressError, mailboxes
from gateway.model import Action, Context, Message, Stage, Verdict

RULE = "sender.login"
NORM = "003 5.6.7"
STAGES = (Stage.MAIL, Stage.DATA)


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    action: Action = Action.REJECT
    check_from_header: bool = True  # the From: header too, not only the envelope sender


async def check(msg: Message, ctx: Context[Settings]) -> Verdict | None:
    login = (msg.envelope.login or "").strip().lower()
    if not login:
        return None
    senders = _senders(msg, ctx.settings)
    if isinstance(senders, str):
        return Verdict(ctx.settings.action, RULE, senders)
    for address in senders:
        if not _owns(login, address, ctx):
            return Verdict(ctx.settings.action, RULE, f"{address} no es de {login}")
    return None


def _senders(msg: Message, settings: Settings) -> list[str] | str:
    """The envelope sender and the From: mailboxes, read by the strict parser sender.domain
    uses (THREATS.md F1); a From: it cannot read is a reason to refuse, never a pass."""
    # The null sender (bounces, RFC 5321 §4.5.5) is nobody's name.
    found = [msg.envelope.mail_from] if msg.envelope.mail_from else []
    if msg.view is not None and settings.check_from_header:
        for value in msg.view.raw_header("from"):
            try:
                found += [box.address for box in mailboxes(value)]
            except AddressError as error:
                return f"From ilegible / unparseable From ({error})"
    return [address.strip().lower() for address in found]


def _owns(login: str, address: str, ctx: Context[Settings]) -> bool:
    own = _own_addresses(login, ctx)
    if address in own:
        return True
    for candidate in own:
        account = ctx.directory.account(candidate)
        if account is not None and address in (a.lower() for a in account.send_as):
            return True
    return False


def _own_addresses(login: str, ctx: Context[Settings]) -> tuple[str, ...]:
    if "@" in login:
        return (login,)
    # A bare login ("ana") is the local part of the institution's own domains.
    return tuple(f"{login}@{domain.lower()}" for domain in ctx.organization.home_domains)
