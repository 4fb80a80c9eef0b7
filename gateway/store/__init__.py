"""The store: what the gateway keeps (held messages, the decision log, ...), whatever the database.

Trusts its callers' dataclasses; callers never see SQL. ``open_store(url)`` opens the backend
named by ``[store] url`` (SQLite now; PostgreSQL speaks the same Database seam) and migrates it.
Methods are named for the event they record. Held messages commit on their own before their
250; the decision log is written in batches (group commit), because one commit per message
would cost more than the whole policy (DESIGN.md: 0.38 ms per SQLite commit).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
from collections.abc import Awaitable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from typing import TypeVar

from gateway.model import (
    ALL_WINDOWS,
    Action,
    Charge,
    DecisionRecord,
    Delivery,
    Directory,
    HeldMessage,
    Progress,
    Release,
    Usage,
    User,
    Windows,
)
from gateway.store import audit, moderation, outbox, script, stats, users
from gateway.store import directory as _directory
from gateway.store import progress as progress_query
from gateway.store import usage as _usage
from gateway.store.batch import Batcher
from gateway.store.database import Database, DatabaseError, Executor, Row, SQLiteDatabase
from gateway.store.directory import Change as Change
from gateway.store.directory import DirectoryData as DirectoryData
from gateway.store.directory import Inactive as Inactive
from gateway.store.directory import RetiredAddress as RetiredAddress
from gateway.store.moderation import ticket_number, ticket_of
from gateway.store.schema import migrate
from gateway.store.usage import Consumed as Consumed

log = logging.getLogger(__name__)


TOUCH_EVERY = timedelta(minutes=15)
_TOUCHED_MAX = 100_000


class StoreError(Exception):
    """The store could not do what was asked; the caller tempfails."""


class Store:
    def __init__(self, db: Database, batch: int = 64) -> None:
        self.db = db
        self._batch = batch
        self._pending: list[DecisionRecord] = []
        self._flush_lock = asyncio.Lock()
        self._flusher: asyncio.Task[None] | None = None
        self._touched: dict[str, datetime] = {}  # address -> last activity written by this process
        # Concurrent sessions' rate checks share one transaction (gateway.store.batch)
        self._consumer = Batcher(partial(_usage.consume, db), batch)

    async def close(self) -> None:
        await self._consumer.wait()
        await self.flush()
        await self.db.close()

    async def ping(self) -> None:
        try:
            await self.db.fetchone("SELECT 1")
        except DatabaseError as error:
            raise StoreError(str(error)) from error

    async def delivery_counts(self) -> dict[str, int]:
        return await stats.delivery_counts(self.db)

    async def held_counts(self) -> dict[str, int]:
        """Held messages per state (for the metrics gauges)."""
        try:
            return await stats.held_counts(self.db)
        except DatabaseError as error:
            raise StoreError(str(error)) from error

    async def oldest_held(self) -> datetime | None:
        """When the oldest message still waiting for approval was held."""
        try:
            return await stats.oldest_held(self.db)
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
                await self.db.run(partial(_log_decisions, [_decision_row(r) for r in rows]), durable=False)
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
        """Commit ``held`` durably with its audit row; returns it with ticket and status token."""
        token = secrets.token_urlsafe(24)
        try:
            async with self.db.transaction() as tx:
                row = await tx.fetchone(
                    "INSERT INTO held (message_id, created_at, sender, recipients, size, subject,"
                    " reasons, deadline, status_token, state, raw, dependency, required_roles,"
                    " classes, expires_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
                    *_held_row(held, token),
                )
                assert row is not None
                stored = replace(held, ticket=ticket_of(int(str(row[0]))), status_token=token)
                entry = audit.AuditEntry(held.created_at, "compuerta", "", "hold", stored.ticket,
                                         ", ".join(held_rules(held)), digest(held.raw))  # fmt: skip
                await audit.append(tx, self.db.dialect, entry)
        except DatabaseError as error:
            raise StoreError(f"hold not committed: {error}") from error
        return stored

    async def held(self, ticket: str) -> HeldMessage | None:
        number = ticket_number(ticket)
        return None if number is None else await moderation.one(self.db, number)

    async def held_by_token(self, token: str) -> HeldMessage | None:
        return await moderation.by_token(self.db, token) if token else None

    async def queue(self, spec: moderation.QueueFilter) -> tuple[list[HeldMessage], int]:
        return await moderation.queue(self.db, spec)

    def transaction(self) -> AbstractAsyncContextManager[Executor]:
        """One atomic unit for gateway.moderation: a state change with its approvals and audit."""
        return self.db.transaction()

    async def audit_entries(self, ticket: str = "") -> list[audit.AuditEntry]:
        return await audit.entries(self.db, ticket)

    async def audit_event(self, entry: audit.AuditEntry) -> None:
        """Append one event that changes nothing else (a login, a failed login)."""
        async with self.db.transaction() as tx:
            await audit.append(tx, self.db.dialect, entry)

    async def audit_count(self, actor: str, action: str, since: datetime) -> int:
        return await audit.count(self.db, actor, action, since)

    async def audit_count_from(self, client: str, action: str, since: datetime) -> int:
        return await audit.count_from(self.db, client, action, since)

    async def audit_verify(self) -> tuple[int, int | None]:
        return await audit.verify(self.db)

    # -- people of the web app (gateway.store.users) --------------------------------------------

    async def add_user(self, user: User, at: datetime) -> None:
        try:
            async with self.db.transaction() as tx:
                await users.add(tx, user, at)
                await audit.append(tx, self.db.dialect, _user_entry(at, "user.add", user.username))
        except DatabaseError as error:
            raise StoreError(f"user {user.username} not added: {error}") from error

    async def update_user(self, username: str, column: str, value: object, at: datetime) -> bool:
        async with self.db.transaction() as tx:
            changed = await users.update(tx, username, column, value)
            if changed and column != "api_token_hash":
                await audit.append(tx, self.db.dialect, _user_entry(at, f"user.{column}", username))
        return changed

    async def user(self, username: str) -> User | None:
        return await users.get(self.db, username)

    async def users(self) -> list[User]:
        return await users.listing(self.db)

    async def users_with_role(self, role: str) -> list[User]:
        return await users.with_role(self.db, role)

    async def user_by_token(self, token_hash: str) -> User | None:
        return await users.by_token(self.db, token_hash)

    async def open_session(self, token_hash: str, username: str, csrf: str, expires: datetime) -> None:
        await users.open_session(self.db, token_hash, username, csrf, expires)

    async def session(self, token_hash: str, now: datetime) -> tuple[User, str] | None:
        return await users.session(self.db, token_hash, now)

    async def close_session(self, token_hash: str) -> None:
        await users.close_session(self.db, token_hash)

    # -- outbox of released masivos (issue 5): SQL in gateway/store/outbox.py -----------------

    async def release(
        self, held: HeldMessage, release: Release, jobs: list[Delivery], now: datetime,
        tx: Executor | None = None,
    ) -> bool:  # fmt: skip
        """Write the delivery jobs of ``held``, inside ``tx`` (the approval's) or on their own.

        Returns False when the message had been released before: nothing more is written.
        """
        number = ticket_number(held.ticket)
        if number is None:
            raise StoreError(f"release of a message without a ticket: {held.message_id}")
        if tx is not None:
            return await outbox.plan_release(tx, number, release, jobs, now)
        async with self.db.transaction() as own:
            return await outbox.plan_release(own, number, release, jobs, now)

    async def progress(self, ticket: str) -> Progress | None:
        """How far the delivery of ``ticket`` got; None when it was never released."""
        number = ticket_number(ticket)
        if number is None:
            return None
        return await progress_query.progress(self.db, number, ticket_of(number))

    # -- the directory (gateway.store.directory) ----------------------------------------------

    async def write_directory(self, data: DirectoryData, change: Change, now: datetime) -> int:
        """Import or edit directory entries; raises RetiredAddress (000 norma 22)."""
        return await _guard(_directory.write(self.db, data, change, now))

    async def directory(self) -> Directory:
        return await _guard(_directory.load(self.db))

    async def directory_version(self) -> int:
        return await _guard(_directory.version(self.db))

    async def retired(self) -> list[tuple[str, datetime]]:
        return await _guard(_directory.retired(self.db))

    async def inactive(self, since: datetime) -> list[Inactive]:
        return await _guard(_directory.inactive(self.db, since))

    async def touch(self, address: str, now: datetime) -> None:
        """Record outbound activity of ``address`` (a held message counts as activity).

        The inactive-accounts report (003 8.3) counts in days, so an address this process
        recorded less than TOUCH_EVERY ago is not written again: one write per sender and
        quarter hour instead of one per message."""
        key = address.lower()
        last = self._touched.get(key)
        if last is not None and timedelta(0) <= now - last < TOUCH_EVERY:
            return
        await _guard(_directory.touch(self.db, key, now))
        if len(self._touched) >= _TOUCHED_MAX:
            self._touched.clear()
        self._touched[key] = now

    async def record_change(self, change: Change, now: datetime) -> None:
        """Append an administrative action (e.g. `compuerta usage`) to the audit chain."""
        async with self.db.transaction() as tx:
            await _directory.log_change(tx, self.db.dialect, change, now)

    # -- rate counters (gateway.store.usage) --------------------------------------------------

    async def usage(self, key: str, now: datetime, windows: Windows = ALL_WINDOWS) -> Usage:
        """``key``'s rate windows at ``now``; those not in ``windows`` are left at zero."""
        return await _guard(_usage.snapshot(self.db, key, now, windows))

    async def consume(self, charge: Charge, now: datetime, force: bool = False) -> Consumed:
        """Check the limits and record the message in one transaction (001 VI); a message
        that counts is outbound activity of its sender (003 8.3)."""
        consumed = await _guard(self._consumer.submit(_usage.Consumption(charge, now, force)))
        if consumed.event and charge.address:
            try:
                await self.touch(charge.address, now)
            except StoreError as error:  # the report loses a mark; the message stays counted
                log.error("activity of %s not recorded: %s", charge.address, error)
        return consumed

    async def refund(self, event: int) -> None:
        await _guard(_usage.refund(self.db, event))

    async def limit_hit(self, key: str, rule: str, now: datetime) -> None:
        await _guard(_usage.hit(self.db, key, rule, now))

    async def suspend(self, key: str, detail: str, now: datetime) -> bool:
        return await _guard(_usage.suspend(self.db, key, detail, now))

    async def suspension(self, key: str) -> tuple[datetime, str] | None:
        return await _guard(_usage.suspension(self.db, key))

    async def unblock(self, key: str, change: Change, now: datetime) -> bool:
        return await _guard(_usage.unblock(self.db, key, change, now))


_T = TypeVar("_T")


async def _guard(call: Awaitable[_T]) -> _T:
    try:
        return await call
    except DatabaseError as error:
        raise StoreError(str(error)) from error


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


def _log_decisions(rows: list[tuple[object, ...]]) -> script.Script[None]:
    yield script.many(
        "INSERT INTO decisions (message_id, at, stage, sender, recipients, size, rules, action, ticket)"
        " VALUES (?,?,?,?,?,?,?,?,?)",
        rows,
    )


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


def _user_entry(at: datetime, action: str, username: str) -> audit.AuditEntry:
    return audit.AuditEntry(at, "compuerta-cli", "administrator", action, "", username)


def digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def held_rules(held: HeldMessage) -> tuple[str, ...]:
    return tuple(v.rule for v in held.reasons)


def _held_row(held: HeldMessage, token: str) -> tuple[object, ...]:
    envelope = {"mail_from": held.envelope.mail_from, "rcpt_tos": list(held.envelope.rcpt_tos)}
    reasons = [[v.action.name.lower(), v.rule, v.detail] for v in held.reasons]
    deadline = held.deadline.isoformat() if held.deadline else None
    expires = held.expires_at.isoformat() if held.expires_at else None
    return (
        held.message_id, held.created_at.isoformat(), held.envelope.mail_from.lower(),
        json.dumps(envelope), len(held.raw), held.subject, json.dumps(reasons), deadline,
        token, held.state, held.raw, held.dependency, ",".join(held.required_roles),
        json.dumps(dict(held.classes)), expires,
    )  # fmt: skip
