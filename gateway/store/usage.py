"""The rate counters' SQL: sliding windows per sender, limit hits, suspensions (001 VI, 001 IV).

Trusts its callers' Charge. ``consume`` checks the limits and records the message in ONE
transaction: the per-sender row in rate_senders is written first, which in PostgreSQL locks it
(READ COMMITTED), so two nodes consuming for the same sender queue up and the second one's
reads see the first one's row; in SQLite BEGIN IMMEDIATE serialises writers anyway. The same
SQL runs on both. Windows slide: every event keeps its own timestamp.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from gateway.model import ALL_WINDOWS, Charge, Usage, Windows
from gateway.store import script
from gateway.store.database import Database, Executor, Row
from gateway.store.directory import Change, log_change
from gateway.store.script import Script
from gateway.store.times import parse, stamp

MINUTE = timedelta(minutes=1)
DAY = timedelta(hours=24)
HOUR = timedelta(hours=1)


class Over(enum.Enum):
    """Which limit a consume would cross."""

    MESSAGES = "rate.messages"
    RECIPIENTS = "rate.recipients"
    SUSPENDED = "rate.abuse"


@dataclass(frozen=True)
class Consumption:
    """One message to count: what it costs, when, and whether its approvers forced it through."""

    charge: Charge
    now: datetime
    force: bool = False


@dataclass(frozen=True)
class Consumed:
    """The outcome of ``consume``: the event id (to refund it), or the limit crossed and the
    windows as they were (``usage``, read only for a refusal)."""

    event: int = 0
    over: Over | None = None
    usage: Usage = field(default_factory=Usage)


_LOCK = (
    "INSERT INTO rate_senders (sender, touched) VALUES (?, ?)"
    " ON CONFLICT (sender) DO UPDATE SET touched = excluded.touched"
)


# The recipients of the last 24 hours, exactly, in at most 1,440 rows however much was sent:
# the per-minute totals (schema: usage_minutes) of the minutes wholly inside the window, plus
# the events of the minute the window starts in that are inside it.
_DAY_RECIPIENTS = (
    "(SELECT coalesce(sum(recipients), 0) FROM usage_minutes WHERE sender = ? AND minute > ?)"
    " + (SELECT coalesce(sum(recipients), 0) FROM usage_events WHERE sender = ? AND at > ? AND at < ?)"
)


def _day_params(key: str, now: datetime) -> tuple[str, ...]:
    start = now - DAY
    first = start.replace(second=0, microsecond=0)
    return key, stamp(first)[:16], key, stamp(start), stamp(first + MINUTE)[:16]


# Each window counted only when asked for (CASE evaluates the branch it takes)
_SNAPSHOT = (
    "SELECT CASE WHEN CAST(? AS INTEGER) = 1"
    " THEN (SELECT count(*) FROM usage_events WHERE sender = ? AND at > ?) ELSE 0 END,"
    f" CASE WHEN CAST(? AS INTEGER) = 1 THEN {_DAY_RECIPIENTS} ELSE 0 END,"
    " CASE WHEN CAST(? AS INTEGER) = 1"
    " THEN (SELECT count(*) FROM rate_hits WHERE sender = ? AND at > ?) ELSE 0 END,"
    " CASE WHEN CAST(? AS INTEGER) = 1 THEN (SELECT count(*) FROM suspensions WHERE sender = ?) ELSE 0 END"
)


async def snapshot(db: Database, key: str, now: datetime, windows: Windows = ALL_WINDOWS) -> Usage:
    """``key``'s consumption in the windows ending at ``now`` (the checks' snapshot): one
    statement, the store's quickest read; the windows not asked for are left at zero."""
    return _usage(await db.quick(_SNAPSHOT, *_snapshot_params(key, now, windows)))


def _snapshot_params(key: str, now: datetime, windows: Windows) -> tuple[object, ...]:
    return (
        int(windows.messages), key, stamp(now - MINUTE), int(windows.recipients), *_day_params(key, now),
        int(windows.hits), key, stamp(now - HOUR), int(windows.suspended), key,
    )  # fmt: skip


def _usage(row: Row | None) -> Usage:
    messages, recipients, hits, suspended = (int(str(v)) for v in row) if row else (0, 0, 0, 0)
    return Usage(messages, recipients, hits, suspended > 0)


def _over(charge: Charge, current: Usage) -> Over | None:
    if charge.refuse_suspended and current.suspended:
        return Over.SUSPENDED
    if charge.max_messages and current.messages_last_minute + 1 > charge.max_messages:
        return Over.MESSAGES
    if charge.max_recipients and current.recipients_last_day + charge.recipients > charge.max_recipients:
        return Over.RECIPIENTS
    return None


# Events older than the longest window never count again; each sender's are swept at one
# consume in this many, so the sweep costs nothing on most messages.
_SWEEP_EVERY = 64


async def consume(db: Database, charges: list[Consumption]) -> list[Consumed]:
    """Check each charge against the windows and record it, all in one transaction (group
    commit), in order, so each one sees the ones before it; ``force`` skips the check (a held
    message released by its approvers is sent whatever it costs)."""
    return await db.run(partial(_consume_all, db.dialect, charges), durable=False)


def _consume_all(dialect: str, charges: list[Consumption]) -> Script[list[Consumed]]:
    done: dict[int, Consumed] = {}
    # PostgreSQL: lock the senders' rows in one order, so two nodes' batches never deadlock
    for index in sorted(range(len(charges)), key=lambda i: charges[i].charge.key):
        done[index] = yield from _consume_one(dialect, charges[index])
    return [done[index] for index in range(len(charges))]


# Record the message only if it fits: the limits of _over, checked by the database in the same
# statement (one statement per message while SQLite's write lock is held, not two)
_CONSUME = (
    "INSERT INTO usage_events (sender, at, recipients) SELECT ?, ?, CAST(? AS INTEGER)"
    " WHERE CAST(? AS INTEGER) = 1 OR ("
    "(CAST(? AS INTEGER) = 0"
    " OR (SELECT count(*) FROM usage_events WHERE sender = ? AND at > ?) < CAST(? AS INTEGER))"
    f" AND (CAST(? AS INTEGER) = 0 OR {_DAY_RECIPIENTS} + CAST(? AS INTEGER) <= CAST(? AS INTEGER))"
    " AND (CAST(? AS INTEGER) = 0 OR NOT EXISTS (SELECT 1 FROM suspensions WHERE sender = ?)))"
    " RETURNING id"
)


def _consume_params(item: Consumption) -> tuple[object, ...]:
    c, now = item.charge, item.now
    return (
        c.key, stamp(now), c.recipients, int(item.force),
        c.max_messages, c.key, stamp(now - MINUTE), c.max_messages,
        c.max_recipients, *_day_params(c.key, now), c.recipients, c.max_recipients,
        int(c.refuse_suspended), c.key,
    )  # fmt: skip


def _consume_one(dialect: str, item: Consumption) -> Script[Consumed]:
    charge, now = item.charge, item.now
    if dialect != "sqlite":
        # The write is the lock: concurrent consumers of one sender serialise here (SQLite's
        # BEGIN IMMEDIATE already serialises writers)
        yield script.execute(_LOCK, charge.key, stamp(now))
    row = yield script.one(_CONSUME, *_consume_params(item))
    if row is None:
        # Refused: read the windows to say which limit, as the checks' snapshot would
        current = _usage((yield script.one(_SNAPSHOT, *_snapshot_params(charge.key, now, ALL_WINDOWS))))
        return Consumed(0, _over(charge, current) or Over.MESSAGES, current)
    event = int(str(row[0]))
    if event % _SWEEP_EVERY == 0:
        yield from _sweep(charge.key, now)
    return Consumed(event)


def _sweep(key: str, now: datetime) -> Script[None]:
    """Forget ``key``'s events that no window reaches any more, and their minutes' totals
    (first, so that the delete trigger finds nothing left to update)."""
    yield script.execute(
        "DELETE FROM usage_minutes WHERE sender = ? AND minute < ?", key, stamp(now - DAY)[:16]
    )
    yield script.execute("DELETE FROM usage_events WHERE sender = ? AND at <= ?", key, stamp(now - DAY))


async def refund(db: Database, event: int) -> None:
    """Give back a consumed message that was not accepted after all (upstream refused it)."""
    async with db.transaction(durable=False) as tx:
        await tx.execute("DELETE FROM usage_events WHERE id = ?", event)


async def hit(db: Database, key: str, rule: str, now: datetime) -> None:
    async with db.transaction(durable=False) as tx:
        await tx.execute("INSERT INTO rate_hits (sender, at, rule) VALUES (?, ?, ?)", key, stamp(now), rule)
        await tx.execute("DELETE FROM rate_hits WHERE sender = ? AND at <= ?", key, stamp(now - DAY))


async def suspend(db: Database, key: str, detail: str, now: datetime) -> bool:
    """Suspend ``key``; True when it was not suspended before (then the admins are told)."""
    async with db.transaction() as tx:
        row = await tx.fetchone(
            "INSERT INTO suspensions (sender, since, detail) VALUES (?, ?, ?)"
            " ON CONFLICT (sender) DO NOTHING RETURNING sender",
            key, stamp(now), detail,
        )  # fmt: skip
        if row is not None:
            await log_change(tx, db.dialect, Change("compuerta", "rate.suspend", key, detail), now)
    return row is not None


async def suspension(db: Executor, key: str) -> tuple[datetime, str] | None:
    row = await db.fetchone("SELECT since, detail FROM suspensions WHERE sender = ?", key)
    return (parse(str(row[0])), str(row[1])) if row else None


async def unblock(db: Database, key: str, change: Change, now: datetime) -> bool:
    """Lift ``key``'s suspension and forgive its past limit hits; True if it was suspended."""
    async with db.transaction() as tx:
        row = await tx.fetchone("DELETE FROM suspensions WHERE sender = ? RETURNING sender", key)
        await tx.execute("DELETE FROM rate_hits WHERE sender = ?", key)
        await log_change(tx, db.dialect, change, now)
    return row is not None
