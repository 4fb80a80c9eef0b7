"""The outbox's SQL: release jobs, claim them with a lease, record each recipient's outcome.

Trusts its callers' dataclasses (jobs planned by relay.fanout, replies from the transport).
Written once for SQLite and PostgreSQL: the claim is ``UPDATE … WHERE id IN (SELECT … LIMIT n)
RETURNING``; PostgreSQL adds ``FOR UPDATE SKIP LOCKED`` to the inner SELECT, so that workers of
several nodes never take the same job, and SQLite serialises writers with BEGIN IMMEDIATE. A job
whose lease expired (its worker died) is taken over. Recipients are marked delivered only after
the upstream accepted them, inside one transaction with the job's own state.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.model import Delivery, DeliveryKind, Release
from gateway.store.database import Database, Executor

PENDING, DONE = "pending", "done"  # job states
DELIVERED, FAILED = "delivered", "failed"  # recipient states besides pending


@dataclass(frozen=True)
class Job:
    """A claimed delivery job: what one worker sends in one SMTP transaction."""

    id: int
    held_id: int
    kind: DeliveryKind
    domain: str
    mail_from: str
    attempts: int
    created_at: datetime
    token: str  # the peer administrator's confirm token ("" for home batches)
    rcpt_tos: tuple[str, ...] = ()  # the recipients still pending


@dataclass(frozen=True)
class Reminder:
    """A peer domain whose administrators got their copy but have not confirmed re-sending it."""

    id: int
    held_id: int
    domain: str
    token: str
    rcpt_tos: tuple[str, ...]
    reminders: int


def stamp(moment: datetime) -> str:
    """A fixed-width UTC timestamp, so that text comparison in SQL is time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


async def plan_release(
    tx: Executor, held_id: int, release: Release, jobs: Sequence[Delivery], now: datetime
) -> bool:
    """Write the jobs of a release in the caller's transaction; False if it was released before."""
    row = await tx.fetchone(
        "INSERT INTO releases (held_id, approved_by, approved_at, created_at) VALUES (?,?,?,?)"
        " ON CONFLICT (held_id) DO NOTHING RETURNING held_id",
        held_id, ",".join(release.approved_by), stamp(release.approved_at), stamp(now),
    )  # fmt: skip
    if row is None:
        return False  # a second release of the same message delivers nothing more
    for job in jobs:
        await _insert_job(tx, held_id, job, now)
    return True


async def _insert_job(tx: Executor, held_id: int, job: Delivery, now: datetime) -> None:
    token = secrets.token_urlsafe(24) if job.kind is DeliveryKind.PEER else None
    row = await tx.fetchone(
        "INSERT INTO deliveries (held_id, batch, kind, domain, mail_from, state, next_attempt,"
        " created_at, token) VALUES (?,?,?,?,?,?,?,?,?) RETURNING id",
        held_id, job.batch, job.kind.value, job.domain, job.mail_from, PENDING, stamp(now),
        stamp(now), token,
    )  # fmt: skip
    assert row is not None
    await tx.executemany(
        "INSERT INTO delivery_recipients (delivery_id, rcpt, state) VALUES (?,?,?)",
        [(row[0], rcpt, PENDING) for rcpt in job.rcpt_tos],
    )


async def claim(db: Database, owner: str, now: datetime, lease_until: datetime, limit: int = 1) -> list[Job]:
    """Take up to ``limit`` due jobs that nobody holds (or whose lease expired) for ``owner``."""
    lock = " FOR UPDATE SKIP LOCKED" if db.dialect == "postgres" else ""
    async with db.transaction() as tx:
        rows = await tx.fetchall(
            "UPDATE deliveries SET owner = ?, lease_until = ? WHERE id IN ("
            " SELECT id FROM deliveries WHERE state = ? AND next_attempt <= ?"
            " AND (owner IS NULL OR lease_until <= ?) ORDER BY next_attempt, id LIMIT ?" + lock + ")"
            " RETURNING id, held_id, kind, domain, mail_from, attempts, created_at, token",
            owner, stamp(lease_until), PENDING, stamp(now), stamp(now), limit,
        )  # fmt: skip
        return [await _with_recipients(tx, row) for row in sorted(rows, key=lambda r: int(str(r[0])))]


async def _with_recipients(tx: Executor, row: tuple[object, ...]) -> Job:
    number, held_id, kind, domain, mail_from, attempts, created, token = row
    rcpts = await tx.fetchall(
        "SELECT rcpt FROM delivery_recipients WHERE delivery_id = ? AND state = ? ORDER BY rcpt",
        number,
        PENDING,
    )
    return Job(
        int(str(number)), int(str(held_id)), DeliveryKind(str(kind)), str(domain), str(mail_from),
        int(str(attempts)), datetime.fromisoformat(str(created)), str(token or ""),
        tuple(str(r[0]) for r in rcpts),
    )  # fmt: skip


async def release_leases(db: Database, owner_prefix: str) -> int:
    """Free the leases of a restarted node's own workers (they died with the old process)."""
    async with db.transaction() as tx:
        rows = await tx.fetchall(
            "UPDATE deliveries SET owner = NULL, lease_until = NULL"
            " WHERE state = ? AND substr(owner, 1, ?) = ? RETURNING id",
            PENDING, len(owner_prefix), owner_prefix,
        )  # fmt: skip
    return len(rows)


async def delivered(
    db: Database, job: Job, refused: Sequence[tuple[str, int, str]], code: int, reply: str, now: datetime
) -> None:
    """The upstream accepted ``job`` except ``refused`` (5xx each): record every recipient."""
    at = stamp(now)
    async with db.transaction() as tx:
        await tx.executemany(
            "UPDATE delivery_recipients SET state = ?, code = ?, reply = ?, at = ?"
            " WHERE delivery_id = ? AND rcpt = ? AND state = ?",
            [(FAILED, c, text, at, job.id, rcpt, PENDING) for rcpt, c, text in refused],
        )
        await tx.execute(
            "UPDATE delivery_recipients SET state = ?, code = ?, reply = ?, at = ?"
            " WHERE delivery_id = ? AND state = ?",
            DELIVERED, code, reply, at, job.id, PENDING,
        )  # fmt: skip
        last = f"{refused[0][1]} {refused[0][2]}" if refused else ""
        await _finish(tx, job, last, at)


async def failed(db: Database, job: Job, code: int, reply: str, now: datetime) -> None:
    """The upstream refused ``job`` for good (5xx), or it expired: its pending recipients failed."""
    at = stamp(now)
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE delivery_recipients SET state = ?, code = ?, reply = ?, at = ?"
            " WHERE delivery_id = ? AND state = ?",
            FAILED, code, reply, at, job.id, PENDING,
        )  # fmt: skip
        await _finish(tx, job, f"{code} {reply}", at)


async def _finish(tx: Executor, job: Job, last_reply: str, at: str) -> None:
    await tx.execute(
        "UPDATE deliveries SET state = ?, owner = NULL, lease_until = NULL, attempts = attempts + 1,"
        " last_reply = ?, sent_at = ? WHERE id = ?",
        DONE, last_reply, at, job.id,
    )  # fmt: skip


async def release_done(db: Executor, held_id: int) -> bool:
    """Whether every delivery job of ``held_id`` has finished (delivered or failed)."""
    row = await db.fetchone(
        "SELECT 1 FROM deliveries WHERE held_id = ? AND state = ? LIMIT 1", held_id, PENDING
    )
    return row is None


async def deferred(db: Database, job: Job, owner: str, code: int, reply: str, retry_at: datetime) -> None:
    """The upstream answered 4xx: try again at ``retry_at`` (persisted, so a restart resumes)."""
    await db.execute(
        "UPDATE deliveries SET owner = NULL, lease_until = NULL, attempts = attempts + 1,"
        " next_attempt = ?, last_reply = ? WHERE id = ? AND owner = ?",
        stamp(retry_at), f"{code} {reply}", job.id, owner,
    )  # fmt: skip


async def release_of(db: Executor, held_id: int, ticket: str) -> Release | None:
    row = await db.fetchone("SELECT approved_by, approved_at FROM releases WHERE held_id = ?", held_id)
    if row is None:
        return None
    by = tuple(name for name in str(row[0]).split(",") if name)
    return Release(ticket, by, datetime.fromisoformat(str(row[1])))


async def confirm(db: Database, token: str, now: datetime) -> tuple[int, str, datetime] | None:
    """A peer administrator confirmed re-sending: (held id, domain, first confirmation time)."""
    if not token:
        return None
    async with db.transaction() as tx:
        row = await tx.fetchone(
            "UPDATE deliveries SET confirmed_at = COALESCE(confirmed_at, ?) WHERE token = ? AND kind = ?"
            " RETURNING held_id, domain, confirmed_at",
            stamp(now), token, DeliveryKind.PEER.value,
        )  # fmt: skip
    if row is None:
        return None
    return int(str(row[0])), str(row[1]), datetime.fromisoformat(str(row[2]))


async def peer_by_token(db: Executor, token: str) -> tuple[int, str, datetime | None] | None:
    """The (held id, domain, confirmation time) a confirm token belongs to."""
    row = await db.fetchone(
        "SELECT held_id, domain, confirmed_at FROM deliveries WHERE token = ? AND kind = ?",
        token, DeliveryKind.PEER.value,
    )  # fmt: skip
    if row is None:
        return None
    return int(str(row[0])), str(row[1]), datetime.fromisoformat(str(row[2])) if row[2] else None


async def due_reminders(db: Executor, sent_before: datetime, most: int) -> list[Reminder]:
    """Peer copies delivered but unconfirmed, last sent or reminded before ``sent_before``."""
    rows = await db.fetchall(
        "SELECT id, held_id, domain, token, reminders FROM deliveries WHERE kind = ? AND state = ?"
        " AND confirmed_at IS NULL AND reminders < ? AND COALESCE(reminded_at, sent_at) <= ?"
        " ORDER BY id",
        DeliveryKind.PEER.value, DONE, most, stamp(sent_before),
    )  # fmt: skip
    reminders = []
    for number, held_id, domain, token, count in rows:
        rcpts = await db.fetchall(
            "SELECT rcpt FROM delivery_recipients WHERE delivery_id = ? AND state = ? ORDER BY rcpt",
            number,
            DELIVERED,
        )
        if rcpts:
            reminders.append(Reminder(int(str(number)), int(str(held_id)), str(domain), str(token),
                                      tuple(str(r[0]) for r in rcpts), int(str(count))))  # fmt: skip
    return reminders


async def reminded(db: Database, reminder: Reminder, now: datetime) -> bool:
    """Take the right to send ``reminder`` (False if another worker or node took it first)."""
    async with db.transaction() as tx:
        row = await tx.fetchone(
            "UPDATE deliveries SET reminders = reminders + 1, reminded_at = ? WHERE id = ? AND reminders = ?"
            " RETURNING id",
            stamp(now), reminder.id, reminder.reminders,
        )  # fmt: skip
    return row is not None
