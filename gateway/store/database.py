"""The Database seam: the few async calls that SQLite (aiosqlite) and PostgreSQL (asyncpg) share.

Trusts its callers' SQL, written once with ``?`` placeholders in the dialect both backends
understand (TEXT timestamps in ISO 8601, INTEGER flags, ``RETURNING``). Hands rows back as
tuples. Store logic lives above this seam, so a backend is an adapter plus its schema column.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

import aiosqlite

Row = tuple[object, ...]


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

    def transaction(self) -> AbstractAsyncContextManager[Executor]:
        """All statements on the yielded executor commit together or not at all."""
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

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._inner = _Connection(connection)
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str) -> SQLiteDatabase:
        try:
            connection = await aiosqlite.connect(path, isolation_level=None)
            # busy_timeout first: another node migrating holds the lock that journal_mode=WAL needs
            # synchronous=FULL: a committed hold survives a power cut, not only a crash
            for pragma in ("busy_timeout=5000", "journal_mode=WAL", "synchronous=FULL"):
                await connection.execute(f"PRAGMA {pragma}")
        except sqlite3.Error as error:
            raise DatabaseError(f"cannot open SQLite database {path}: {error}") from error
        return cls(connection)

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
    async def transaction(self) -> AsyncIterator[Executor]:
        async with self._lock:
            # BEGIN IMMEDIATE takes the write lock now, so two processes cannot both read-then-write
            await self._inner.execute("BEGIN IMMEDIATE")
            try:
                yield self._inner
                await self._inner.execute("COMMIT")
            except BaseException:
                await _rollback(self._inner.connection)
                raise

    async def close(self) -> None:
        await self._inner.connection.close()


async def _rollback(connection: aiosqlite.Connection) -> None:
    try:
        await connection.execute("ROLLBACK")
    except sqlite3.Error:
        pass  # no transaction left to roll back (a failed COMMIT may already have ended it)
