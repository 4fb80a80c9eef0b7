"""How far the delivery of a released message got: the outbox's rows summed per domain.

Trusts the outbox tables (gateway.store.outbox). Hands a model.Progress to the web pages, the
JSON API and the CLI, which only render it. Home recipients are counted per home domain; each
peer domain shows the state of its administrators' copy: pending → sent → confirmed.
"""

from __future__ import annotations

from datetime import datetime

from gateway.model import DeliveryKind, DomainProgress, Progress
from gateway.store.database import Executor, Row


async def progress(db: Executor, held_id: int, ticket: str) -> Progress | None:
    """The progress of ticket ``held_id``; None when it was never released."""
    rows = await db.fetchall(
        "SELECT d.kind, d.domain, d.last_reply, d.confirmed_at, count(*),"
        " sum(CASE WHEN r.state = 'delivered' THEN 1 ELSE 0 END),"
        " sum(CASE WHEN r.state = 'failed' THEN 1 ELSE 0 END)"
        " FROM deliveries d JOIN delivery_recipients r ON r.delivery_id = d.id"
        " WHERE d.held_id = ? GROUP BY d.id, d.kind, d.domain, d.last_reply, d.confirmed_at"
        " ORDER BY d.id",
        held_id,
    )
    if not rows:
        released = await db.fetchone("SELECT 1 FROM releases WHERE held_id = ?", held_id)
        return None if released is None else Progress(ticket, 0, 0, 0)
    domains = _merge([_job_progress(row) for row in rows])
    return Progress(
        ticket, sum(d.total for d in domains), sum(d.delivered for d in domains),
        sum(d.failed for d in domains), tuple(domains),
    )  # fmt: skip


def _job_progress(row: Row) -> DomainProgress:
    kind, domain, last_reply, confirmed, total, delivered, failed = row
    counts = int(str(total)), int(str(delivered or 0)), int(str(failed or 0))
    confirmed_at = datetime.fromisoformat(str(confirmed)) if confirmed else None
    return DomainProgress(
        str(domain), DeliveryKind(str(kind)), *counts,
        status=_status(DeliveryKind(str(kind)), *counts, confirmed_at is not None),
        confirmed_at=confirmed_at, last_reply=str(last_reply or ""),
    )  # fmt: skip


def _status(kind: DeliveryKind, total: int, delivered: int, failed: int, confirmed: bool) -> str:
    if delivered + failed < total:
        return "pending"
    if delivered == 0:
        return "failed"
    if kind is DeliveryKind.PEER:  # a peer's copy is "sent" to its administrators
        return "confirmed" if confirmed else "sent"
    return "delivered"


def _merge(jobs: list[DomainProgress]) -> list[DomainProgress]:
    """One line per (kind, domain): the home batches of a domain add up."""
    merged: dict[tuple[DeliveryKind, str], DomainProgress] = {}
    for job in jobs:
        key = (job.kind, job.domain)
        seen = merged.get(key)
        merged[key] = job if seen is None else _add(seen, job)
    return list(merged.values())


def _add(a: DomainProgress, b: DomainProgress) -> DomainProgress:
    total, delivered, failed = a.total + b.total, a.delivered + b.delivered, a.failed + b.failed
    return DomainProgress(
        a.domain, a.kind, total, delivered, failed,
        _status(a.kind, total, delivered, failed, a.confirmed_at is not None),
        a.confirmed_at, b.last_reply or a.last_reply,
    )  # fmt: skip
