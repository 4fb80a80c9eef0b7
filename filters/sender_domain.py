"""sender.domain: the envelope sender and every From: mailbox must be institutional and agree.

003 4.21.1 ("No podrá utilizarlo para colocar como remitente direcciones externas") and 003
5.6.7 (headers not altered). Trusts the undecoded top-level headers of the MimeView
(MimeView.raw_headers) and parses them strictly with filters._address; anything ambiguous is
refused, never guessed (THREATS.md F1-F4). Hands its verdict to the pipeline.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from filters._address import AddressError, Mailbox, address_key, addresses_in_text, domain_key, mailboxes
from gateway.model import Action, Context, Message, MimeView, Stage, Verdict

RULE = "sender.domain"
NORM = "003 4.21.1, 5.6.7"
STAGES = (Stage.DATA,)


class Agreement(enum.Enum):
    """How the envelope sender must match From: (or Sender:)."""

    DOMAIN = "domain"  # same domain: mailing lists and shared mailboxes keep working
    ADDRESS = "address"  # the very same mailbox


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    action: Action = Action.REJECT
    # Institutional domains, compared exactly (F3); empty: [organization] home_domains.
    # A subdomain is allowed only when listed here itself.
    domains: tuple[str, ...] = ()
    agreement: Agreement = Agreement.DOMAIN
    # A display name or comment that shows another address than the real one (F1)
    impersonation: Action = Action.REJECT
    # Bounces (null sender, RFC 5321 §4.5.5) come from the MTA itself, with its own From:
    check_bounces: bool = False


def _domains(ctx: Context[Settings]) -> frozenset[str]:
    listed = ctx.settings.domains or ctx.organization.home_domains
    return frozenset(domain_key(d) for d in listed)


def _domain(address: str) -> str:
    return domain_key(address.rpartition("@")[2])


def _from(view: MimeView) -> tuple[Mailbox, ...] | str:
    """The From: mailboxes, or why there are none usable (F2: exactly one From header)."""
    values = view.raw_header("from")
    if len(values) != 1:
        return f"{len(values)} encabezados From / From headers"
    try:
        return mailboxes(values[0])
    except AddressError as error:
        return f"From ilegible / unparseable From ({error})"


def _sender_header(view: MimeView, boxes: tuple[Mailbox, ...]) -> tuple[Mailbox, ...] | str:
    values = view.raw_header("sender")
    if not values and len(boxes) == 1:
        return ()
    # RFC 5322 §3.6.2: several From mailboxes need exactly one Sender, itself one mailbox
    try:
        found = mailboxes(values[0]) if len(values) == 1 else ()
    except AddressError as error:
        return f"Sender ilegible / unparseable Sender ({error})"
    return found if len(found) == 1 else "varios From sin un Sender / several From without one Sender"


def _impersonated(box: Mailbox) -> str | None:
    shown = addresses_in_text(f"{box.display} {box.comments}")
    real = address_key(box.address)
    return next((address for address in shown if address != real), None)


def _agree(sender: str, boxes: tuple[Mailbox, ...], how: Agreement) -> bool:
    if how == Agreement.ADDRESS:
        return address_key(sender) in {address_key(b.address) for b in boxes}
    return _domain(sender) in {domain_key(b.domain) for b in boxes}


def _problem(msg: Message, view: MimeView, domains: frozenset[str], ctx: Context[Settings]) -> Verdict | None:
    action, sender = ctx.settings.action, msg.envelope.mail_from
    if sender and _domain(sender) not in domains:
        return Verdict(action, RULE, f"MAIL FROM <{sender}> externo / external")
    boxes = _from(view)
    if isinstance(boxes, str):
        return Verdict(action, RULE, boxes)
    extra = _sender_header(view, boxes)
    if isinstance(extra, str):
        return Verdict(action, RULE, extra)
    for box in (*boxes, *extra):
        if domain_key(box.domain) not in domains:
            return Verdict(action, RULE, f"From/Sender <{box.address}> externo / external")
        shown = _impersonated(box)
        if shown is not None and ctx.settings.impersonation != Action.ACCEPT:
            detail = (
                f"el nombre muestra / display name shows {shown}, la dirección es / address is {box.address}"
            )
            return Verdict(ctx.settings.impersonation, RULE, detail)
    if sender and not _agree(sender, (*boxes, *extra), ctx.settings.agreement):
        return Verdict(action, RULE, f"MAIL FROM <{sender}> no coincide con From / does not match From")
    return None


async def check(msg: Message, ctx: Context[Settings]) -> Verdict | None:
    domains = _domains(ctx)
    if msg.view is None or not domains:
        return None  # no institutional domains configured: nothing to compare with
    if not msg.envelope.mail_from and not ctx.settings.check_bounces:
        return None
    return _problem(msg, msg.view, domains, ctx)
