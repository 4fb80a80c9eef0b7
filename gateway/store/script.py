"""Transactions written once as a script of statements, run by each backend its own way.

A script is a generator: it yields a Step (what to run) and is sent the result (a row, the
rows, or None), so the logic between statements is plain Python that knows nothing of
threads or awaits. PostgreSQL runs a script with an await per step (``run_async``); SQLite
runs the whole script in one call on its writer thread (``run_sync``), so the database's write
lock is held for the statements alone, never while the event loop attends to other sessions.
That matters once several worker processes share one SQLite file.
"""

from __future__ import annotations

import enum
import sqlite3
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

_T = TypeVar("_T")
Row = tuple[object, ...]


class Statements(Protocol):
    """What ``run_async`` needs of a transaction (gateway.store.database.Executor has it)."""

    async def execute(self, sql: str, *params: object) -> None: ...

    async def fetchone(self, sql: str, *params: object) -> Row | None: ...

    async def fetchall(self, sql: str, *params: object) -> list[Row]: ...

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None: ...


class Want(enum.Enum):
    ONE = "one"  # the first row, or None
    ALL = "all"  # every row
    NOTHING = "nothing"
    MANY = "many"  # the statement once for each parameter row


@dataclass(frozen=True)
class Step:
    want: Want
    sql: str
    params: tuple[object, ...] = ()
    rows: tuple[tuple[object, ...], ...] = ()  # Want.MANY: one parameter row per statement


def one(sql: str, *params: object) -> Step:
    return Step(Want.ONE, sql, params)


def execute(sql: str, *params: object) -> Step:
    return Step(Want.NOTHING, sql, params)


def many(sql: str, rows: list[tuple[object, ...]]) -> Step:
    return Step(Want.MANY, sql, rows=tuple(rows))


# What a script is: yields Steps, is sent each Step's result, returns its value
Script = Generator[Step, Any, _T]
ScriptFactory = Callable[[], Script[_T]]


async def run_async(script: Script[_T], tx: Statements) -> _T:
    """Drive ``script`` over ``tx``, one await per statement."""
    result: object = None
    try:
        while True:
            step = script.send(result)
            if step.want is Want.ONE:
                result = await tx.fetchone(step.sql, *step.params)
            elif step.want is Want.ALL:
                result = await tx.fetchall(step.sql, *step.params)
            elif step.want is Want.MANY:
                await tx.executemany(step.sql, step.rows)
                result = None
            else:
                await tx.execute(step.sql, *step.params)
                result = None
    except StopIteration as done:
        value: _T = done.value
        return value


def run_sync(script: Script[_T], connection: sqlite3.Connection) -> _T:
    """Drive ``script`` on ``connection`` in the calling thread (SQLite's writer thread)."""
    result: object = None
    try:
        while True:
            step = script.send(result)
            if step.want is Want.MANY:
                connection.executemany(step.sql, step.rows)
                result = None
                continue
            rows: list[Row] = [tuple(r) for r in connection.execute(step.sql, step.params).fetchall()]
            result = (
                (rows[0] if rows else None)
                if step.want is Want.ONE
                else rows
                if step.want is Want.ALL
                else None
            )
    except StopIteration as done:
        value: _T = done.value
        return value
