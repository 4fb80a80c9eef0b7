"""The Database seam: the few async calls that SQLite (aiosqlite) and PostgreSQL (asyncpg) share.

Trusts its callers' SQL, written once with ``?`` placeholders in the dialect both backends
understand (TEXT timestamps in ISO 8601, INTEGER flags, ``RETURNING``). Hands rows back as
tuples. Store logic lives above this seam, so a backend is an adapter plus its schema column.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol, TypeVar

import aiosqlite

from gateway.store.script import ScriptFactory, run_sync

Row = tuple[object, ...]  # the same alias as gateway.store.script.Row

_T = TypeVar("_T")
log = logging.getLogger(__name__)


class DatabaseError(Exception):
    """The database failed; the store turns it into a StoreError."""


class Executor(Protocol):
    """Statements, inside or outside a transaction."""

    async def execute(self, sql: str, *params: object) -> None: ...

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None: ...

    async def fetchone(self, sql: str, *params: object) -> Row | None: ...

    async def fetchall(self, sql: str, *params: object) -> list[Row]: ...


class Database(Executor, Protocol):
    dialect: str  # "sqlite" or "postgres"

    async def quick(self, sql: str, *params: object) -> Row | None:
        """``fetchone`` for a small indexed read on the hot path (the rate snapshot of every
        message). SQLite may run it on the caller's thread: never for a large result."""
        ...

    async def run(self, script: ScriptFactory[_T], durable: bool = True) -> _T:
        """Run ``script`` (gateway.store.script) as one transaction, like ``transaction``; for
        the hot paths: SQLite runs it in one call on its writer thread."""
        ...

    def transaction(self, durable: bool = True) -> AbstractAsyncContextManager[Executor]:
        """All statements on the yielded executor commit together or not at all.

        ``durable``: the commit is on disk before it returns (a held message, an approval, the
        outbox). False is for bookkeeping written on every message (rate counters, the
        decision log): it survives a crash of the process, and a power cut may lose its last
        moments; it never waits for the disk, which on a busy machine can take a second."""
        ...

    async def close(self) -> None: ...


class _Connection:
    """Statements on one aiosqlite connection, errors turned into DatabaseError."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self.connection = connection

    async def execute(self, sql: str, *params: object) -> None:
        try:
            await self.connection.execute(sql, params)
        except sqlite3.Error as error:
            raise DatabaseError(str(error)) from error

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        try:
            await self.connection.executemany(sql, list(rows))
        except sqlite3.Error as error:
            raise DatabaseError(str(error)) from error

    async def fetchone(self, sql: str, *params: object) -> Row | None:
        rows = await self.fetchall(sql, *params)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, *params: object) -> list[Row]:
        try:
            # One trip to aiosqlite's thread (execute, fetchall and close would be three)
            return [tuple(row) for row in await self.connection.execute_fetchall(sql, params)]
        except sqlite3.Error as error:
            raise DatabaseError(str(error)) from error


class SQLiteDatabase:
    """One aiosqlite connection; a lock serialises use so that transactions never interleave."""

    dialect = "sqlite"

    def __init__(self, connection: aiosqlite.Connection, checkpointer: aiosqlite.Connection,
                 reader: sqlite3.Connection, here: sqlite3.Connection, writer: sqlite3.Connection,
                 checkpoint_every: float) -> None:  # fmt: skip
        self._inner = _Connection(connection)
        self._reader = reader
        # Bookkeeping scripts run here, on the event loop's thread, when the write lock is free
        self._here = here
        # Scripts (gateway.store.script) run whole on this connection, in this one thread
        self._writer = writer
        self._writes = ThreadPoolExecutor(1, thread_name_prefix="compuerta-sqlite")
        self._writer_durable: bool | None = None  # its PRAGMA synchronous (None: not set yet)
        self._lock = asyncio.Lock()
        self._durable = True  # the connection's PRAGMA synchronous is FULL (else NORMAL)
        self._checkpointer = checkpointer
        self._checkpoints = asyncio.get_running_loop().create_task(self._checkpoint(checkpoint_every))

    @classmethod
    async def open(cls, path: str, checkpoint_every: float = 1.0) -> SQLiteDatabase:
        opened: list[aiosqlite.Connection] = []
        try:
            opened.append(await _connect(path))
            # synchronous=FULL: a committed hold survives a power cut, not only a crash. No
            # automatic checkpoints: the commit that crosses the WAL's threshold would copy the
            # pages back and fsync the database while every session waits on it; a second
            # connection does it in the background instead (``_checkpoint``).
            for pragma in ("synchronous=FULL", "wal_autocheckpoint=0"):
                await opened[0].execute(f"PRAGMA {pragma}")
            opened.append(await _connect(path, wal=False))
            reader = _reader(path)
            here = _here(path)
            writer = _writer(path)
        except sqlite3.Error as error:
            for connection in opened:
                await connection.close()
            raise DatabaseError(f"cannot open SQLite database {path}: {error}") from error
        return cls(opened[0], opened[1], reader, here, writer, checkpoint_every)

    async def run(self, script: ScriptFactory[_T], durable: bool = True) -> _T:
        """The whole transaction in one call, the write lock taken and released with no wait
        on the event loop in between.

        Bookkeeping (not ``durable``) runs right here on the loop's thread when the write lock
        is free: it waits for no disk (WAL, synchronous=NORMAL, no automatic checkpoint), takes
        tens of microseconds, and holds the lock only that long, where a trip to the writer
        thread costs ~50 us of CPU in thread hand-offs and holds the lock while that thread
        waits for the GIL between statements (a second worker process waits all that time).
        When the lock is taken, or for a durable commit (it waits for fsync), the writer
        thread runs it and waits for the lock."""
        if not durable:
            try:
                return _transaction(self._here, script, fail_busy=True)
            except _Busy:
                pass
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writes, self._run, script, durable)

    def _run(self, script: ScriptFactory[_T], durable: bool) -> _T:
        try:
            if durable != self._writer_durable:
                self._writer.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
                self._writer_durable = durable
        except sqlite3.Error as error:
            raise DatabaseError(str(error)) from error
        return _transaction(self._writer, script)

    async def quick(self, sql: str, *params: object) -> Row | None:
        """On this thread, in tens of microseconds: a WAL reader never waits for writers, and
        the trip to aiosqlite's thread would cost more than the query. Should the database be
        busy anyway (a recovery after a crash), the read waits on aiosqlite's thread instead."""
        try:
            rows = self._reader.execute(sql, params).fetchall()  # all: the read ends here
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) and "busy" not in str(error):
                raise DatabaseError(str(error)) from error
            return await self.fetchone(sql, *params)
        except sqlite3.Error as error:
            raise DatabaseError(str(error)) from error
        return tuple(rows[0]) if rows else None

    async def _checkpoint(self, every: float) -> None:
        """Copy committed WAL pages into the database file, off the sessions' connection.
        PASSIVE never waits for readers or writers: it does what it can and tries again."""
        while True:
            await asyncio.sleep(every)
            try:
                await self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error as error:
                log.warning("SQLite checkpoint failed (retried in %.0f s): %s", every, error)

    async def execute(self, sql: str, *params: object) -> None:
        async with self._lock:
            await self._inner.execute(sql, *params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        async with self._lock:
            await self._inner.executemany(sql, rows)

    async def fetchone(self, sql: str, *params: object) -> Row | None:
        async with self._lock:
            return await self._inner.fetchone(sql, *params)

    async def fetchall(self, sql: str, *params: object) -> list[Row]:
        async with self._lock:
            return await self._inner.fetchall(sql, *params)

    @asynccontextmanager
    async def transaction(self, durable: bool = True) -> AsyncIterator[Executor]:
        async with self._lock:
            if durable != self._durable:
                # WAL: NORMAL commits without fsync (the WAL is synced at checkpoints); a FULL
                # commit syncs the WAL, and so everything committed before it as well
                await self._inner.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
                self._durable = durable
            # BEGIN IMMEDIATE takes the write lock now, so two processes cannot both read-then-write
            await self._inner.execute("BEGIN IMMEDIATE")
            try:
                yield self._inner
                await self._inner.execute("COMMIT")
            except BaseException:
                await _rollback(self._inner.connection)
                raise

    async def close(self) -> None:
        self._checkpoints.cancel()
        await asyncio.wait([self._checkpoints])
        try:
            await self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as error:
            log.warning("SQLite checkpoint at close failed: %s", error)
        await self._checkpointer.close()
        self._reader.close()
        self._here.close()
        await asyncio.get_running_loop().run_in_executor(self._writes, self._writer.close)
        self._writes.shutdown()
        await self._inner.connection.close()


class _Busy(Exception):
    """Another connection holds the write lock: the transaction did not start."""


def _transaction(connection: sqlite3.Connection, script: ScriptFactory[_T], fail_busy: bool = False) -> _T:
    """``script`` as one transaction on ``connection``; ``fail_busy``: raise _Busy when BEGIN
    finds the write lock taken (the connection must wait for nothing then)."""
    try:
        connection.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        if fail_busy and error.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise _Busy() from error
        raise DatabaseError(str(error)) from error
    except sqlite3.Error as error:
        raise DatabaseError(str(error)) from error
    try:
        value = run_sync(script(), connection)
        connection.execute("COMMIT")
    except BaseException as error:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        if isinstance(error, sqlite3.Error):
            raise DatabaseError(str(error)) from error
        raise
    return value


def _here(path: str) -> sqlite3.Connection:
    # The loop thread's writer: busy_timeout=0 (never block the event loop: a busy lock sends
    # the script to the writer thread), synchronous=NORMAL (bookkeeping only, no fsync)
    here = sqlite3.connect(path, isolation_level=None)
    for pragma in ("busy_timeout=0", "synchronous=NORMAL", "wal_autocheckpoint=0"):
        here.execute(f"PRAGMA {pragma}")
    return here


def _reader(path: str) -> sqlite3.Connection:
    # busy_timeout=0: never block the event loop; query_only: this connection never writes
    reader = sqlite3.connect(path, isolation_level=None)
    for pragma in ("busy_timeout=0", "query_only=1"):
        reader.execute(f"PRAGMA {pragma}")
    return reader


def _writer(path: str) -> sqlite3.Connection:
    # Used only by the writer thread (check_same_thread off: it is made here, used there)
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("PRAGMA busy_timeout=5000")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    return writer


async def _connect(path: str, wal: bool = True) -> aiosqlite.Connection:
    """A connection that waits up to 5 s for locks; ``wal``: switch the file to WAL mode (it
    stays so: the other connections of the process only need the first one to do it)."""
    connection = await aiosqlite.connect(path, isolation_level=None)
    try:
        # busy_timeout first: another node migrating holds the lock that journal_mode=WAL needs
        await connection.execute("PRAGMA busy_timeout=5000")
        if wal:
            await _wal(connection)
    except sqlite3.Error:
        await connection.close()
        raise
    return connection


async def _wal(connection: aiosqlite.Connection) -> None:
    # Two processes switching a new file at once may deadlock on the lock upgrade, and SQLite
    # then answers "locked" to one of them at once instead of waiting: try again
    for attempt in range(50):
        try:
            await connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == 49:
                raise
            await asyncio.sleep(0.1)


async def _rollback(connection: aiosqlite.Connection) -> None:
    try:
        await connection.execute("ROLLBACK")
    except sqlite3.Error:
        pass  # no transaction left to roll back (a failed COMMIT may already have ended it)
