"""SQL of held-message moderation: the queue, one message, approvals and state changes.

Trusts its callers (gateway.moderation) to call the writing functions inside one transaction,
so that a state change and its approvals and audit rows commit together. Every state change is
a conditional UPDATE (``WHERE state = ?``): of two concurrent deciders exactly one sees its row
come back; the other learns it lost. Hands back model dataclasses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from gateway.model import Action, Approval, Envelope, HeldMessage, Verdict
from gateway.store.database import Executor, Row

SUMMARY = (
    "id, message_id, created_at, recipients, reasons, subject, deadline, status_token, state,"
    " dependency, required_roles, classes, assignee, expires_at, decided_at, outcome_reason"
)
FULL = SUMMARY + ", raw"


@dataclass(frozen=True)
class QueueFilter:
    """What the queue shows: by state, sender, dependency, subject words; newest first."""

    state: str = "held"
    sender: str = ""
    dependency: str = ""
    subject: str = ""
    limit: int = 50
    offset: int = 0


def ticket_of(number: int) -> str:
    return f"C-{number:06d}"


def ticket_number(ticket: str) -> int | None:
    digits = ticket.strip().upper().removeprefix("C-")
    return int(digits) if digits.isdigit() and len(digits) < 16 else None


def _time(value: object) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None


def held_from(row: Row, approvals: tuple[Approval, ...] = ()) -> HeldMessage:
    (number, message_id, created, envelope_json, reasons_json, subject, deadline, token, state,
     dependency, roles, classes, assignee, expires, decided, outcome) = row[:16]  # fmt: skip
    envelope = json.loads(str(envelope_json))
    reasons = tuple(
        Verdict(Action[a.upper()], rule, detail) for a, rule, detail in json.loads(str(reasons_json))
    )
    raw = row[16] if len(row) > 16 else b""
    return HeldMessage(
        str(message_id), Envelope(envelope["mail_from"], tuple(envelope["rcpt_tos"])),
        bytes(raw) if isinstance(raw, (bytes, bytearray, memoryview)) else b"", reasons,
        datetime.fromisoformat(str(created)), str(subject or ""), _time(deadline),
        ticket_of(int(str(number))), str(token), str(state), str(dependency),
        tuple(r for r in str(roles).split(",") if r), tuple(sorted(json.loads(str(classes)).items())),
        str(assignee), _time(expires), _time(decided), str(outcome), approvals,
    )  # fmt: skip


def _where(spec: QueueFilter) -> tuple[str, list[object]]:
    clauses: list[str] = ["state = ?"]
    params: list[object] = [spec.state]
    if spec.sender:
        clauses.append("sender = ?")
        params.append(spec.sender.lower())
    if spec.dependency:
        clauses.append("dependency = ?")
        params.append(spec.dependency)
    if spec.subject:
        clauses.append("lower(subject) LIKE ?")
        params.append("%" + spec.subject.lower().replace("%", "").replace("_", "") + "%")
    return " AND ".join(clauses), params


async def queue(db: Executor, spec: QueueFilter) -> tuple[list[HeldMessage], int]:
    """One page of the queue (oldest deadline first) and the count of all that match."""
    where, params = _where(spec)
    rows = await db.fetchall(
        f"SELECT {SUMMARY} FROM held WHERE {where} ORDER BY created_at, id LIMIT ? OFFSET ?",
        *params, spec.limit, spec.offset,
    )  # fmt: skip
    count = await db.fetchone(f"SELECT count(*) FROM held WHERE {where}", *params)
    return [held_from(row) for row in rows], int(str(count[0])) if count else 0


async def approvals(db: Executor, number: int) -> tuple[Approval, ...]:
    rows = await db.fetchall(
        "SELECT role, username, decision, reason, at FROM approvals WHERE held_id = ? ORDER BY id", number
    )
    return tuple(Approval(str(r), str(u), str(d), str(why), datetime.fromisoformat(str(at)))
                 for r, u, d, why, at in rows)  # fmt: skip


async def one(db: Executor, number: int) -> HeldMessage | None:
    row = await db.fetchone(f"SELECT {FULL} FROM held WHERE id = ?", number)
    return None if row is None else held_from(row, await approvals(db, number))


async def by_token(db: Executor, token: str) -> HeldMessage | None:
    row = await db.fetchone(f"SELECT {SUMMARY} FROM held WHERE status_token = ?", token)
    if row is None:
        return None
    return held_from(row, await approvals(db, int(str(row[0]))))


async def add_approval(tx: Executor, number: int, approval: Approval) -> None:
    await tx.execute(
        "INSERT INTO approvals (held_id, role, username, decision, reason, at) VALUES (?,?,?,?,?,?)",
        number, approval.role, approval.username, approval.decision, approval.reason,
        approval.at.isoformat(),
    )  # fmt: skip


async def change_state(tx: Executor, number: int, before: str, after: str, at: datetime, reason: str) -> bool:
    """Move ``number`` from ``before`` to ``after``; False when someone else moved it first."""
    row = await tx.fetchone(
        "UPDATE held SET state = ?, decided_at = ?, outcome_reason = ? WHERE id = ? AND state = ?"
        " RETURNING id",
        after, at.isoformat(), reason, number, before,
    )  # fmt: skip
    return row is not None


async def assign(tx: Executor, number: int, username: str) -> bool:
    row = await tx.fetchone(
        "UPDATE held SET assignee = ? WHERE id = ? AND state = 'held' RETURNING id", username, number
    )
    return row is not None


async def flag(tx: Executor, number: int, column: str) -> bool:
    """Set the reminded or escalated flag once; False when it was already set."""
    assert column in ("reminded", "escalated")
    row = await tx.fetchone(
        f"UPDATE held SET {column} = 1 WHERE id = ? AND state = 'held' AND {column} = 0 RETURNING id",
        number,
    )
    return row is not None


async def due(db: Executor, column: str, before: datetime, limit: int = 500) -> list[int]:
    """Held messages whose ``column`` (deadline or expires_at) is before ``before``."""
    assert column in ("deadline", "expires_at")
    rows = await db.fetchall(
        f"SELECT id FROM held WHERE state = 'held' AND {column} IS NOT NULL AND {column} < ?"
        " ORDER BY id LIMIT ?",
        before.isoformat(), limit,
    )  # fmt: skip
    return [int(str(row[0])) for row in rows]


async def stale_approved(db: Executor, before: datetime, limit: int = 100) -> list[int]:
    """Approved before ``before`` and still not accepted upstream: to be delivered again."""
    rows = await db.fetchall(
        "SELECT id FROM held WHERE state = 'approved' AND decided_at < ? ORDER BY id LIMIT ?",
        before.isoformat(), limit,
    )  # fmt: skip
    return [int(str(row[0])) for row in rows]


async def notified(db: Executor, number: int) -> None:
    """The sender's notice of ``number`` was taken upstream."""
    await db.execute("UPDATE held SET notified = 1 WHERE id = ?", number)


async def unnotified(db: Executor, before: datetime, limit: int = 100) -> list[int]:
    """Held before ``before`` whose sender was not yet told (upstream refused the notice)."""
    rows = await db.fetchall(
        "SELECT id FROM held WHERE notified = 0 AND state = 'held' AND created_at < ? ORDER BY id LIMIT ?",
        before.isoformat(), limit,
    )  # fmt: skip
    return [int(str(row[0])) for row in rows]
