"""SQL of the audit trail: append-only rows, each chained to the previous one by SHA-256.

POLICY.md: "Every decision is signed by who made it and kept in an audit trail that cannot be
edited." Trusts its callers to append inside the transaction of the change it records. Nothing
here UPDATEs or DELETEs; an edited row breaks the chain, which ``verify`` finds. Hands back
AuditEntry rows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from gateway.store.database import Executor

GENESIS = "0" * 64
_LOCK = 7254820  # PostgreSQL advisory lock: one appender at a time keeps the chain linear


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str  # username, or "compuerta" for the gateway itself
    role: str
    action: str  # hold, approve, reject, release, expire, remind, escalate, user.*
    ticket: str
    reason: str = ""
    digest: str = ""  # SHA-256 of the held message's bytes
    id: int = 0
    prev_hash: str = ""
    hash: str = ""


def chain_hash(prev_hash: str, entry: AuditEntry) -> str:
    fields = [entry.at.isoformat(), entry.actor, entry.role, entry.action, entry.ticket, entry.reason,
              entry.digest]  # fmt: skip
    body = json.dumps([prev_hash, *fields], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


async def append(tx: Executor, dialect: str, entry: AuditEntry) -> str:
    """Append ``entry`` after the last row; returns its hash. Call inside a transaction."""
    if dialect == "postgres":
        await tx.execute(f"SELECT pg_advisory_xact_lock({_LOCK})")
    row = await tx.fetchone("SELECT hash FROM audit ORDER BY id DESC LIMIT 1")
    prev = str(row[0]) if row else GENESIS
    digest = chain_hash(prev, entry)
    await tx.execute(
        "INSERT INTO audit (at, actor, role, action, ticket, reason, digest, prev_hash, hash)"
        " VALUES (?,?,?,?,?,?,?,?,?)",
        entry.at.isoformat(), entry.actor, entry.role, entry.action, entry.ticket, entry.reason,
        entry.digest, prev, digest,
    )  # fmt: skip
    return digest


async def entries(db: Executor, ticket: str = "", after: int = 0, limit: int = 1000) -> list[AuditEntry]:
    where, params = ("id > ?", [after]) if not ticket else ("id > ? AND ticket = ?", [after, ticket])
    rows = await db.fetchall(
        "SELECT id, at, actor, role, action, ticket, reason, digest, prev_hash, hash FROM audit"
        f" WHERE {where} ORDER BY id LIMIT ?",
        *params, limit,
    )  # fmt: skip
    return [_entry(row) for row in rows]


def _entry(row: tuple[object, ...]) -> AuditEntry:
    number, at, actor, role, action, ticket, reason, digest, prev, hashed = row
    return AuditEntry(
        datetime.fromisoformat(str(at)), str(actor), str(role), str(action), str(ticket),
        str(reason), str(digest), int(str(number)), str(prev), str(hashed),
    )  # fmt: skip


async def verify(db: Executor) -> tuple[int, int | None]:
    """Walk the whole chain: (rows checked, id of the first broken row or None)."""
    prev, checked, after = GENESIS, 0, 0
    while True:
        batch = await entries(db, after=after)
        if not batch:
            return checked, None
        for entry in batch:
            if entry.prev_hash != prev or chain_hash(prev, entry) != entry.hash:
                return checked, entry.id
            prev, checked, after = entry.hash, checked + 1, entry.id


async def count_from(db: Executor, client: str, action: str, since: datetime) -> int:
    """Rows of ``action`` from the client address ``client`` (kept as the reason) since ``since``."""
    return await _count(db, "reason", client, action, since)


async def count(db: Executor, actor: str, action: str, since: datetime) -> int:
    """Rows of ``actor`` doing ``action`` since ``since`` (failed logins, for throttling)."""
    return await _count(db, "actor", actor, action, since)


async def _count(db: Executor, column: str, value: str, action: str, since: datetime) -> int:
    row = await db.fetchone(
        f"SELECT count(*) FROM audit WHERE {column} = ? AND action = ? AND at >= ?",
        value,
        action,
        since.isoformat(),
    )
    return int(str(row[0])) if row else 0
