"""The embedded store: one SQLite file through aiosqlite, WAL mode, migrated on open.

Trusts the dataclasses it is given. Held messages are committed on their own, before their
250 (synchronous=FULL, so a commit survives a power cut too); the decision log is written in
batches, one transaction per batch, because one commit per message would cost more than
the whole policy (DESIGN.md: 0.38 ms per commit).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import sqlite3
from datetime import datetime

import aiosqlite

from gateway.model import Action, DecisionRecord, Envelope, HeldMessage, Verdict
from gateway.store import StoreError
from gateway.store.schema import MIGRATIONS

log = logging.getLogger(__name__)


class SQLiteStore:
    def __init__(self, db: aiosqlite.Connection, batch: int) -> None:
        self._db = db
        self._batch = batch
        self._pending: list[DecisionRecord] = []
        self._lock = asyncio.Lock()
        self._flusher: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, path: str, batch: int = 64) -> SQLiteStore:
        try:
            db = await aiosqlite.connect(path, isolation_level=None)
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=FULL")
            await db.execute("PRAGMA busy_timeout=5000")
            await db.execute("PRAGMA foreign_keys=ON")
            await _migrate(db)
        except sqlite3.Error as error:
            raise StoreError(f"cannot open SQLite store {path}: {error}") from error
        return cls(db, batch)

    async def close(self) -> None:
        await self.flush()
        await self._db.close()

    async def ping(self) -> None:
        try:
            await self._db.execute("SELECT 1")
        except (sqlite3.Error, ValueError) as error:
            raise StoreError(str(error)) from error

    async def record_decision(self, record: DecisionRecord) -> None:
        self._pending.append(record)
        if len(self._pending) >= self._batch:
            await self.flush()
        elif self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(0.05)  # group commit: gather the rows of concurrent sessions
        await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            rows, self._pending = self._pending, []
            if not rows:
                return
            try:
                await self._db.executemany(
                    "INSERT INTO decisions (message_id, at, stage, sender, recipients, size,"
                    " rules, action, ticket) VALUES (?,?,?,?,?,?,?,?,?)",
                    [_decision_row(r) for r in rows],
                )
            except sqlite3.Error as error:
                log.error("decision log: %d rows not written: %s", len(rows), error)

    async def hold(self, held: HeldMessage) -> HeldMessage:
        token = secrets.token_urlsafe(24)
        try:
            async with self._lock:
                cursor = await self._db.execute(
                    "INSERT INTO held (message_id, created_at, sender, recipients, size, subject,"
                    " reasons, deadline, status_token, state, raw) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    _held_row(held, token),
                )
        except sqlite3.Error as error:
            raise StoreError(f"hold not committed: {error}") from error
        ticket = f"C-{cursor.lastrowid:06d}"
        return _with_ticket(held, ticket, token)

    async def held(self, ticket: str) -> HeldMessage | None:
        number = _ticket_number(ticket)
        if number is None:
            return None
        async with self._db.execute(
            "SELECT message_id, created_at, sender, recipients, reasons, raw, subject, deadline,"
            " status_token, state, id FROM held WHERE id = ?",
            (number,),
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else _held_from(tuple(row))

    async def decisions(self, limit: int = 100) -> list[DecisionRecord]:
        await self.flush()
        async with self._db.execute(
            "SELECT message_id, sender, recipients, size, rules, action, at, stage, ticket"
            " FROM decisions ORDER BY id DESC LIMIT ?",
            (limit,),
        ) as cursor:
            rows = await cursor.fetchall()
        return [_decision_from(tuple(row)) for row in rows]


async def _migrate(db: aiosqlite.Connection) -> None:
    await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    async with db.execute("SELECT max(version) FROM schema_version") as cursor:
        row = await cursor.fetchone()
    current = row[0] if row and row[0] is not None else 0
    for version, statements in enumerate(MIGRATIONS, 1):
        if version <= current:
            continue
        await db.execute("BEGIN IMMEDIATE")
        for statement in statements.sqlite:
            await db.execute(statement)
        await db.execute("INSERT INTO schema_version VALUES (?)", (version,))
        await db.execute("COMMIT")
        log.info("store migrated to schema version %d", version)


def _decision_row(r: DecisionRecord) -> tuple[object, ...]:
    return (
        r.message_id, r.at.isoformat(), r.stage, r.sender, r.recipients, r.size,
        ",".join(r.rules), r.action.name.lower(), r.ticket,
    )  # fmt: skip


def _decision_from(row: tuple[object, ...]) -> DecisionRecord:
    message_id, sender, recipients, size, rules, action, at, stage, ticket = row
    return DecisionRecord(
        str(message_id), str(sender), int(str(recipients)), int(str(size)),
        tuple(r for r in str(rules).split(",") if r), Action[str(action).upper()],
        datetime.fromisoformat(str(at)), str(stage), str(ticket or ""),
    )  # fmt: skip


def _held_row(held: HeldMessage, token: str) -> tuple[object, ...]:
    envelope = {"mail_from": held.envelope.mail_from, "rcpt_tos": list(held.envelope.rcpt_tos)}
    reasons = [[v.action.name.lower(), v.rule, v.detail] for v in held.reasons]
    deadline = held.deadline.isoformat() if held.deadline else None
    return (
        held.message_id, held.created_at.isoformat(), held.envelope.mail_from,
        json.dumps(envelope), len(held.raw), held.subject, json.dumps(reasons), deadline,
        token, held.state, held.raw,
    )  # fmt: skip


def _held_from(row: tuple[object, ...]) -> HeldMessage:
    message_id, created, _sender, envelope_json, reasons_json, raw, subject, deadline = row[:8]
    token, state, number = row[8:]
    envelope = json.loads(str(envelope_json))
    reasons = tuple(
        Verdict(Action[a.upper()], rule, detail) for a, rule, detail in json.loads(str(reasons_json))
    )
    return HeldMessage(
        str(message_id), Envelope(envelope["mail_from"], tuple(envelope["rcpt_tos"])),
        bytes(raw) if isinstance(raw, (bytes, bytearray, memoryview)) else b"", reasons,
        datetime.fromisoformat(str(created)), str(subject or ""),
        datetime.fromisoformat(str(deadline)) if deadline else None,
        f"C-{int(str(number)):06d}", str(token), str(state),
    )  # fmt: skip


def _with_ticket(held: HeldMessage, ticket: str, token: str) -> HeldMessage:
    from dataclasses import replace

    return replace(held, ticket=ticket, status_token=token)


def _ticket_number(ticket: str) -> int | None:
    digits = ticket.upper().removeprefix("C-")
    return int(digits) if digits.isdigit() else None
