"""The store: what the gateway keeps (held messages, the decision log, ...), whatever the database.

Trusts its callers' dataclasses; callers never see SQL. ``open_store(url)`` opens the backend
named by ``[store] url`` (SQLite now; PostgreSQL speaks the same Database seam) and migrates it.
Methods are named for the event they record. Held messages commit on their own before their
250; the decision log is written in batches (group commit), because one commit per message
would cost more than the whole policy (DESIGN.md: 0.38 ms per SQLite commit).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from dataclasses import replace
from datetime import datetime

from gateway.model import Action, DecisionRecord, Envelope, HeldMessage, Verdict
from gateway.store.database import Database, DatabaseError, Row, SQLiteDatabase
from gateway.store.schema import migrate

log = logging.getLogger(__name__)


class StoreError(Exception):
    """The store could not do what was asked; the caller tempfails."""


class Store:
    def __init__(self, db: Database, batch: int = 64) -> None:
        self.db = db
        self._batch = batch
        self._pending: list[DecisionRecord] = []
        self._flush_lock = asyncio.Lock()
        self._flusher: asyncio.Task[None] | None = None

    async def close(self) -> None:
        await self.flush()
        await self.db.close()

    async def ping(self) -> None:
        try:
            await self.db.fetchone("SELECT 1")
        except DatabaseError as error:
            raise StoreError(str(error)) from error

    # -- decision log: append-only (style rule 20) --------------------------------------------

    async def record_decision(self, record: DecisionRecord) -> None:
        """Queue a decision-log row; rows are written in batches within 50 ms."""
        self._pending.append(record)
        if len(self._pending) >= self._batch:
            await self.flush()
        elif self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(0.05)  # group commit: gather the rows of concurrent sessions
        await self.flush()

    async def flush(self) -> None:
        """Write every queued decision-log row now."""
        async with self._flush_lock:
            rows, self._pending = self._pending, []
            if not rows:
                return
            try:
                async with self.db.transaction() as tx:
                    await tx.executemany(
                        "INSERT INTO decisions (message_id, at, stage, sender, recipients, size,"
                        " rules, action, ticket) VALUES (?,?,?,?,?,?,?,?,?)",
                        [_decision_row(r) for r in rows],
                    )
            except DatabaseError as error:
                # The messages themselves are safe (relayed or held); only their log line is lost.
                log.error("decision log: %d rows not written: %s", len(rows), error)

    async def decisions(self, limit: int = 100) -> list[DecisionRecord]:
        await self.flush()
        rows = await self.db.fetchall(
            "SELECT message_id, sender, recipients, size, rules, action, at, stage, ticket"
            " FROM decisions ORDER BY id DESC LIMIT ?",
            limit,
        )
        return [_decision_from(row) for row in rows]

    # -- held messages ------------------------------------------------------------------------

    async def hold(self, held: HeldMessage) -> HeldMessage:
        """Commit ``held`` durably; returns it with its ticket and status token set."""
        token = secrets.token_urlsafe(24)
        try:
            async with self.db.transaction() as tx:
                row = await tx.fetchone(
                    "INSERT INTO held (message_id, created_at, sender, recipients, size, subject,"
                    " reasons, deadline, status_token, state, raw) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
                    " RETURNING id",
                    *_held_row(held, token),
                )
        except DatabaseError as error:
            raise StoreError(f"hold not committed: {error}") from error
        assert row is not None
        return replace(held, ticket=ticket_of(int(str(row[0]))), status_token=token)

    async def held(self, ticket: str) -> HeldMessage | None:
        number = ticket_number(ticket)
        if number is None:
            return None
        row = await self.db.fetchone(f"SELECT {_HELD_COLUMNS} FROM held WHERE id = ?", number)
        return None if row is None else _held_from(row)


async def open_store(url: str, batch: int = 64) -> Store:
    """Open and migrate the store at ``url``."""
    try:
        db = await _open_database(url)
        await migrate(db)
    except DatabaseError as error:
        raise StoreError(str(error)) from error
    return Store(db, batch)


async def _open_database(url: str) -> Database:
    if url.startswith("sqlite:///"):
        return await SQLiteDatabase.open(url.removeprefix("sqlite:///"))
    if url.startswith(("postgresql://", "postgres://")):
        from gateway.store.postgres import PostgresDatabase

        return await PostgresDatabase.open(url)
    raise StoreError(f"unsupported store url {url!r}")


def ticket_of(number: int) -> str:
    return f"C-{number:06d}"


def ticket_number(ticket: str) -> int | None:
    digits = ticket.strip().upper().removeprefix("C-")
    return int(digits) if digits.isdigit() else None


_HELD_COLUMNS = "message_id, created_at, recipients, reasons, raw, subject, deadline, status_token, state, id"


def _decision_row(r: DecisionRecord) -> tuple[object, ...]:
    return (
        r.message_id, r.at.isoformat(), r.stage, r.sender, r.recipients, r.size,
        ",".join(r.rules), r.action.name.lower(), r.ticket,
    )  # fmt: skip


def _decision_from(row: Row) -> DecisionRecord:
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


def _held_from(row: Row) -> HeldMessage:
    message_id, created, envelope_json, reasons_json, raw, subject, deadline, token, state, number = row
    envelope = json.loads(str(envelope_json))
    reasons = tuple(
        Verdict(Action[a.upper()], rule, detail) for a, rule, detail in json.loads(str(reasons_json))
    )
    return HeldMessage(
        str(message_id), Envelope(envelope["mail_from"], tuple(envelope["rcpt_tos"])),
        bytes(raw) if isinstance(raw, (bytes, bytearray, memoryview)) else b"", reasons,
        datetime.fromisoformat(str(created)), str(subject or ""),
        datetime.fromisoformat(str(deadline)) if deadline else None,
        ticket_of(int(str(number))), str(token), str(state),
    )  # fmt: skip
