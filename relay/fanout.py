"""Plan the delivery of a released masivo: which SMTP transactions, to whom. Pure, no I/O.

Trusts the held message's envelope, the directory snapshot and the configured home domains.
Hands a list of Delivery jobs to the outbox (gateway.store.outbox), which writes them in the
approval's transaction. Only public servants receive it (000 Anexo A: "solo a servidores
públicos"): home-domain recipients directly, each other government domain through its
administrators, and never an external address.
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.model import Delivery, DeliveryKind, Directory, HeldMessage

MASIVO = "masivo"  # the rule whose holds fan out (POLICY.md "Mass mailings")
BATCH = 500  # 001 VI: "Límite de destinatarios 500" per message, so per SMTP transaction too


def plan(
    held: HeldMessage,
    directory: Directory,
    home_domains: Iterable[str],
    sender: str,
    batch: int = BATCH,
) -> list[Delivery]:
    """The jobs for ``held``: home recipients in batches, then one job per peer domain.

    ``sender`` is the envelope sender of the cover notes the gateway writes to peer admins;
    home batches keep the original sender, so that bounces reach the person who wrote it.
    A message held for another reason (freemail.list, content.chain: 001 VI "sujeto a la
    autorización") goes, once approved, to its own envelope recipients and nobody else.
    """
    if not any(verdict.rule == MASIVO for verdict in held.reasons):
        direct = _chunks(list(_unique(held.envelope.rcpt_tos)), max(1, batch))
        return [Delivery(DeliveryKind.DIRECT, "", held.envelope.mail_from, chunk, n)
                for n, chunk in enumerate(direct)]  # fmt: skip
    homes = tuple(domain.lower() for domain in home_domains)
    jobs = [
        Delivery(DeliveryKind.HOME, domain, held.envelope.mail_from, chunk)
        for domain, recipients in _home_recipients(held.envelope.rcpt_tos, homes).items()
        for chunk in _chunks(recipients, max(1, batch))
    ]
    jobs += [
        Delivery(DeliveryKind.PEER, peer.domain.lower(), sender, _unique(peer.administrators))
        for peer in sorted(directory.peers.values(), key=lambda p: p.domain.lower())
        if peer.administrators and _home_of(peer.domain.lower(), homes) is None
    ]
    return [_numbered(job, n) for n, job in enumerate(jobs)]


def home_of(address: str, home_domains: Iterable[str]) -> str | None:
    """The home domain ``address`` belongs to (itself or a subdomain of it), or None."""
    return _home_of(address.rpartition("@")[2].lower(), tuple(d.lower() for d in home_domains))


def _home_of(domain: str, homes: tuple[str, ...]) -> str | None:
    for home in homes:
        if domain == home or domain.endswith("." + home):
            return home
    return None


def _home_recipients(rcpt_tos: Iterable[str], homes: tuple[str, ...]) -> dict[str, list[str]]:
    """Home recipients grouped by home domain, first-seen order, each address once."""
    grouped: dict[str, list[str]] = {}
    for address in _unique(rcpt_tos):
        home = _home_of(address.rpartition("@")[2].lower(), homes)
        if home is not None:  # peer and external recipients are reached otherwise, or not at all
            grouped.setdefault(home, []).append(address)
    return grouped


def _unique(addresses: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for address in addresses:
        seen.setdefault(address.lower(), address)
    return tuple(seen.values())


def _chunks(items: list[str], size: int) -> Iterable[tuple[str, ...]]:
    for start in range(0, len(items), size):
        yield tuple(items[start : start + size])


def _numbered(job: Delivery, batch: int) -> Delivery:
    return Delivery(job.kind, job.domain, job.mail_from, job.rcpt_tos, batch)
