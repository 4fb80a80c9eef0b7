"""The PostgreSQL adapter of the Database seam (asyncpg), for several gateway nodes sharing state.

Trusts its callers' SQL, written once for both backends with ``?`` placeholders, which it
numbers (``$1``, ``$2`` …) for PostgreSQL. Hands rows back as tuples. A pool of connections
lets nodes and sessions work in parallel; each transaction runs on one connection.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import TypeVar

import asyncpg

from gateway.store.database import DatabaseError, Executor, Row
from gateway.store.script import ScriptFactory, run_async

_T = TypeVar("_T")

_PLACEHOLDER = re.compile(r"\?")


@lru_cache(maxsize=512)
def numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$n`` (our SQL never has a literal ``?``)."""
    counter = iter(range(1, 10_000))
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)


_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)


class _Connection:
    """Statements on one pooled connection (inside a transaction)."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection

    async def execute(self, sql: str, *params: object) -> None:
        try:
            await self.connection.execute(numbered(sql), *params)
        except _ERRORS as error:
            raise DatabaseError(str(error)) from error

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        try:
            await self.connection.executemany(numbered(sql), list(rows))
        except _ERRORS as error:
            raise DatabaseError(str(error)) from error

    async def fetchone(self, sql: str, *params: object) -> Row | None:
        rows = await self.fetchall(sql, *params)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, *params: object) -> list[Row]:
        try:
            records = await self.connection.fetch(numbered(sql), *params)
        except _ERRORS as error:
            raise DatabaseError(str(error)) from error
        return [tuple(record.values()) for record in records]


class PostgresDatabase:
    dialect = "postgres"

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, url: str, size: int = 10) -> PostgresDatabase:
        try:
            pool = await asyncpg.create_pool(url, min_size=1, max_size=size, timeout=10)
        except (*_ERRORS, TimeoutError) as error:
            raise DatabaseError(f"cannot open PostgreSQL store: {error}") from error
        return cls(pool)

    async def execute(self, sql: str, *params: object) -> None:
        async with self._acquire() as connection:
            await connection.execute(sql, *params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        async with self._acquire() as connection:
            await connection.executemany(sql, rows)

    async def fetchone(self, sql: str, *params: object) -> Row | None:
        async with self._acquire() as connection:
            return await connection.fetchone(sql, *params)

    async def fetchall(self, sql: str, *params: object) -> list[Row]:
        async with self._acquire() as connection:
            return await connection.fetchall(sql, *params)

    @asynccontextmanager
    async def _acquire(self) -> AsyncIterator[_Connection]:
        try:
            async with self._pool.acquire(timeout=10) as connection:
                yield _Connection(connection)
        except (*_ERRORS, TimeoutError) as error:
            raise DatabaseError(str(error)) from error

    async def quick(self, sql: str, *params: object) -> Row | None:
        return await self.fetchone(sql, *params)

    async def run(self, script: ScriptFactory[_T], durable: bool = True) -> _T:
        async with self.transaction(durable) as tx:
            return await run_async(script(), tx)

    @asynccontextmanager
    async def transaction(self, durable: bool = True) -> AsyncIterator[Executor]:
        async with self._acquire() as connection:
            try:
                async with connection.connection.transaction():
                    if not durable:
                        # Asynchronous commit: no wait for the WAL flush; a crash of the server
                        # may lose the last moments of these rows, never corrupt anything
                        await connection.execute("SET LOCAL synchronous_commit TO OFF")
                    yield connection
            except _ERRORS as error:
                raise DatabaseError(str(error)) from error

    async def close(self) -> None:
        await self._pool.close()
