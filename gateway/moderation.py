"""Moderation of held messages: approve, reject, expire, remind, escalate; exactly once.

Pure rules (which roles an actor may act for, what state the approvals add up to) plus the
store calls that apply them. Every state change is ONE store transaction holding the row
lock, the approvals, the audit rows and the release plan, so two approvers clicking at once
(or two nodes) release a message once. Trusts its callers (web views, API, CLI) to have
authenticated the Actor; checks the Actor's roles itself. Hands approved messages to
gateway.release and outcomes to gateway.notices.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from gateway import metrics, notices, pipeline, release
from gateway.model import Approval, HeldMessage
from gateway.store import digest
from gateway.store import moderation as sql
from gateway.store.audit import AuditEntry, append
from gateway.store.database import Executor

if TYPE_CHECKING:
    from gateway.outcome import Services

log = logging.getLogger(__name__)

ADMINISTRATOR = "administrator"
AUDITOR = "auditor"
SYSTEM = "compuerta"


class ModerationError(Exception):
    """A decision that cannot be made; ``kind`` is not-found, forbidden or decided."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Actor:
    username: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    held: HeldMessage
    acted_for: tuple[str, ...]  # the roles this decision was recorded for
    pending: tuple[str, ...]  # roles still to approve (empty once decided)


# -- pure rules ---------------------------------------------------------------------------


def pending_roles(held: HeldMessage) -> tuple[str, ...]:
    done = {a.role for a in held.approvals if a.decision == "approve"}
    return tuple(role for role in held.required_roles if role not in done)


def roles_for(actor: Actor, held: HeldMessage) -> tuple[str, ...]:
    """The pending roles ``actor`` decides for; an administrator stands in for every role."""
    pending = pending_roles(held)
    if ADMINISTRATOR in actor.roles:
        return pending
    return tuple(role for role in pending if role in actor.roles)


def may_decide(actor: Actor) -> bool:
    return any(role != AUDITOR for role in actor.roles)


def next_state(held: HeldMessage) -> str:
    """held until every required role approved; one rejection ends it (000 Anexo A)."""
    if any(a.decision == "reject" for a in held.approvals):
        return "rejected"
    return "approved" if not pending_roles(held) else "held"


# -- decisions ------------------------------------------------------------------------------


async def _locked(tx: Executor, number: int) -> HeldMessage | None:
    # A no-op UPDATE takes the row lock (PostgreSQL) before reading the approvals, so that
    # concurrent approvals of different roles see each other; SQLite's BEGIN IMMEDIATE already
    # serialises writers.
    await tx.fetchone("UPDATE held SET state = state WHERE id = ? RETURNING id", number)
    return await sql.one(tx, number)


def _entry(now: datetime, actor: str, role: str, action: str, held: HeldMessage, reason: str) -> AuditEntry:
    return AuditEntry(now, actor, role, action, held.ticket, reason, digest(held.raw))


async def decide(services: Services, ticket: str, actor: Actor, decision: str, reason: str) -> Outcome:
    """Record ``actor``'s approve or reject; release or notify when that decides the message."""
    if decision not in ("approve", "reject"):
        raise ModerationError("bad-request", f"decision {decision!r}")
    number = sql.ticket_number(ticket)
    if number is None or not may_decide(actor):
        raise ModerationError("not-found" if number is None else "forbidden", ticket)
    now = services.env.clock.now()
    async with services.store.transaction() as tx:
        held = await _locked(tx, number)
        if held is None:
            raise ModerationError("not-found", ticket)
        if held.state != "held":
            raise ModerationError("decided", f"{ticket} is already {held.state}")
        roles = roles_for(actor, held)
        if not roles:
            raise ModerationError("forbidden", f"{actor.username} holds none of {held.required_roles}")
        held = await _record(tx, services, held, actor, roles, decision, reason, now)
    held = await _after(services, held)
    return Outcome(held, roles, pending_roles(held) if held.state == "held" else ())


async def _record(tx: Executor, services: Services, held: HeldMessage, actor: Actor,
                  roles: tuple[str, ...], decision: str, reason: str, now: datetime) -> HeldMessage:  # fmt: skip
    number = sql.ticket_number(held.ticket) or 0
    added = tuple(Approval(role, actor.username, decision, reason, now) for role in roles)
    for approval in added:
        metrics.MODERATION.labels(event=decision).inc()
        await sql.add_approval(tx, number, approval)
        await append(tx, services.store.db.dialect, _entry(now, actor.username, approval.role,
                                                          decision, held, reason))  # fmt: skip
    held = replace(held, approvals=held.approvals + added)
    state = next_state(held)
    if state == "held":
        return held
    await sql.change_state(tx, number, "held", state, now, reason if state == "rejected" else "")
    metrics.APPROVAL_SECONDS.labels(decision=state).observe((now - held.created_at).total_seconds())
    if state == "approved":
        await release.plan(tx, services, held, now)
    await append(tx, services.store.db.dialect, _entry(now, SYSTEM, "", state, held, reason))
    return replace(held, state=state, decided_at=now, outcome_reason=reason if state == "rejected" else "")


async def delivered(services: Services, ticket: str) -> None:
    """The outbox finished delivering ``ticket`` (gateway.delivery): mark it, tell the sender."""
    held = await services.store.held(ticket)
    if held is not None and held.state == "approved":
        await _after(services, held)


async def _after(services: Services, held: HeldMessage) -> HeldMessage:
    """After commit: deliver an approved message, tell the sender of an outcome."""
    if held.state == "approved" and await release.deliver(services, held):
        held = await _delivered(services, held)
    if held.state in ("delivered", "rejected", "expired"):
        config, now = services.env.config, services.env.clock.now()
        await notices.send(services.transport, (held.envelope.mail_from,),
                           notices.outcome_notice(config, held, now), services.signer)  # fmt: skip
    return held


async def _delivered(services: Services, held: HeldMessage) -> HeldMessage:
    now = services.env.clock.now()
    number = sql.ticket_number(held.ticket) or 0
    async with services.store.transaction() as tx:
        if not await sql.change_state(tx, number, "approved", "delivered", now, ""):
            return held  # another caller marked it delivered (and tells the sender), not this one
        await append(tx, services.store.db.dialect, _entry(now, SYSTEM, "", "release", held, ""))
        metrics.MODERATION.labels(event="release").inc()
    await _charge(services, held)
    return replace(held, state="delivered")


async def _charge(services: Services, held: HeldMessage) -> None:
    # 001 VI: a held message counts against the sender's rate allowance once released
    try:
        await pipeline.consume_released(held.envelope, services.env)
    except Exception:
        log.exception("%s: usage of the released message not recorded", held.ticket)


async def assign(services: Services, ticket: str, actor: Actor) -> bool:
    """``actor`` takes the message in hand (shown in the queue)."""
    number = sql.ticket_number(ticket)
    if number is None or not may_decide(actor):
        return False
    async with services.store.transaction() as tx:
        return await sql.assign(tx, number, actor.username)


# -- time: reminders, escalation, expiry, retries (run by the gateway every minute) ----------


async def sweep(services: Services, every: float = 60.0) -> None:
    """Run ``tick`` every ``every`` seconds until cancelled (started by gateway.server)."""
    while True:
        try:
            counts = await tick(services)
            if any(counts.values()):
                log.info("moderation sweep: %s", counts)
        except Exception:  # a failed sweep is retried at the next one; it must never stop them
            log.exception("moderation sweep failed")
        await asyncio.sleep(every)


async def tick(services: Services) -> dict[str, int]:
    """One sweep at the clock's now; returns how many of each it did (tests and metrics)."""
    config, now = services.env.config, services.env.clock.now()
    counts = {"reminded": 0, "escalated": 0, "expired": 0, "released": 0, "notified": 0}
    remind_before = now + timedelta(hours=config.approval.remind_hours)
    for number in await sql.due(services.store.db, "deadline", remind_before):
        counts["reminded"] += await _flagged(services, number, "reminded", "reminder")
    for number in await sql.due(services.store.db, "deadline", now):
        counts["escalated"] += await _flagged(services, number, "escalated", "escalation")
    if config.approval.expiry_outcome == "reject":
        for number in await sql.due(services.store.db, "expires_at", now):
            counts["expired"] += await _expire(services, number, now)
    counts["released"] = await _retry_releases(services)
    counts["notified"] = await _retry_notices(services)
    return counts


async def _flagged(services: Services, number: int, column: str, kind: str) -> int:
    now = services.env.clock.now()
    async with services.store.transaction() as tx:
        if not await sql.flag(tx, number, column):
            return 0
        held = await sql.one(tx, number)
        assert held is not None
        await append(tx, services.store.db.dialect, _entry(now, SYSTEM, "", kind, held, ""))
    metrics.MODERATION.labels(event=kind).inc()
    if kind == "escalation":
        metrics.SLA_BREACHES.inc()  # past the deadline of 000 Anexo A (two business days)
    roles = held.required_roles + ((ADMINISTRATOR,) if kind == "escalation" else ())
    await notify_approvers(services, held, kind, roles)
    return 1


async def tell_sender(services: Services, held: HeldMessage) -> bool:
    """Send the sender's held notice; marked once upstream took it (the sweep retries the rest)."""
    number = sql.ticket_number(held.ticket) or 0
    if held.envelope.mail_from:
        data = notices.held_notice(services.env.config, held, services.env.clock.now())
        if not await notices.send(services.transport, (held.envelope.mail_from,), data, services.signer):
            return False
    await sql.notified(services.store.db, number)
    return True


async def notify_approvers(services: Services, held: HeldMessage, kind: str, roles: tuple[str, ...]) -> None:
    addresses: set[str] = set()
    for role in roles:
        addresses.update(u.email for u in await services.store.users_with_role(role) if u.email)
    to = tuple(sorted(addresses))
    data = notices.approver_notice(services.env.config, held, kind, to, services.env.clock.now())
    await notices.send(services.transport, to, data, services.signer)


async def _expire(services: Services, number: int, now: datetime) -> int:
    reason = "Venció el plazo sin autorización (lineamiento 000 Anexo A)"
    async with services.store.transaction() as tx:
        if not await sql.change_state(tx, number, "held", "expired", now, reason):
            return 0
        held = await sql.one(tx, number)
        assert held is not None
        await append(tx, services.store.db.dialect, _entry(now, SYSTEM, "", "expire", held, reason))
    metrics.MODERATION.labels(event="expire").inc()
    metrics.APPROVAL_SECONDS.labels(decision="expired").observe((now - held.created_at).total_seconds())
    await _after(services, held)
    return 1


async def _retry_notices(services: Services) -> int:
    """Senders not yet told that their message is held (upstream refused the first notice)."""
    told = 0
    before = services.env.clock.now() - timedelta(minutes=1)
    for number in await sql.unnotified(services.store.db, before):
        held = await sql.one(services.store.db, number)
        if held is not None and await tell_sender(services, held):
            told += 1
    return told


async def _retry_releases(services: Services) -> int:
    """Approved but not accepted upstream (a crash or an upstream outage): deliver again.

    Only once twice the upstream timeout has passed since the approval, so that a delivery
    still in flight in the approving request is never doubled.
    """
    grace = timedelta(seconds=2 * services.env.config.upstream.timeout)
    released = 0
    for number in await sql.stale_approved(services.store.db, services.env.clock.now() - grace):
        held = await sql.one(services.store.db, number)
        if held is not None and held.state == "approved":
            await _after(services, held)
            released += 1
    return released
