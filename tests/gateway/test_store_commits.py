"""How the store commits: durable where a message depends on it, fast for bookkeeping.

Real SQLite files and the real PostgreSQL server (the ``store_url`` fixture runs both).
"""

from __future__ import annotations

import asyncio
import sqlite3
from functools import partial
from pathlib import Path

import pytest

from gateway.store import open_store, script
from gateway.store.database import SQLiteDatabase


async def _setting(url: str, durable: bool) -> str:
    store = await open_store(url)
    query = "PRAGMA synchronous" if store.db.dialect == "sqlite" else "SHOW synchronous_commit"
    async with store.db.transaction(durable=durable) as tx:
        row = await tx.fetchone(query)
    await store.close()
    assert row is not None
    return str(row[0])


async def test_durable_transactions_wait_for_the_disk(store_url: str) -> None:
    # SQLite: 2 is FULL (the WAL is synced at each commit); PostgreSQL: synchronous commit
    assert await _setting(store_url, durable=True) in ("2", "on")


async def test_bookkeeping_transactions_do_not(store_url: str) -> None:
    # SQLite: 1 is NORMAL (synced at checkpoints); PostgreSQL: asynchronous commit
    assert await _setting(store_url, durable=False) in ("1", "off")


async def test_a_durable_commit_after_bookkeeping_is_durable_again(tmp_path: Path) -> None:
    db = await SQLiteDatabase.open(str(tmp_path / "c.db"))
    async with db.transaction(durable=False) as tx:
        await tx.execute("CREATE TABLE t (x INTEGER)")
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO t VALUES (1)")
        assert await tx.fetchone("PRAGMA synchronous") == (2,)
    await db.close()


async def test_checkpoints_run_in_the_background(tmp_path: Path) -> None:
    # No automatic checkpoint on the sessions' connection: the database file only grows when
    # the background checkpointer copies the WAL's pages into it
    path = tmp_path / "c.db"
    db = await SQLiteDatabase.open(str(path), checkpoint_every=0.05)
    async with db.transaction() as tx:
        await tx.execute("CREATE TABLE t (x TEXT)")
        await tx.executemany("INSERT INTO t VALUES (?)", [("x" * 1000,) for _ in range(500)])
    for _ in range(200):
        if path.stat().st_size > 400_000:
            break
        await asyncio.sleep(0.05)
    assert path.stat().st_size > 400_000
    await db.close()


async def test_quick_reads_see_every_commit_and_hold_no_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    db = await SQLiteDatabase.open(str(path), checkpoint_every=3600)
    async with db.transaction() as tx:
        await tx.execute("CREATE TABLE t (x INTEGER)")
        await tx.execute("INSERT INTO t VALUES (7)")
    assert await db.quick("SELECT x FROM t") == (7,)
    # Another process writes: the loop's reader sees it at its next read
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("INSERT INTO t VALUES (8)")
    assert await db.quick("SELECT max(x) FROM t") == (8,)
    # The read ended with the query: a checkpoint can copy and truncate the whole WAL (a reader
    # left inside a read transaction would make it report busy and keep the WAL growing)
    assert other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone() == (0, 0, 0)
    other.close()
    await db.close()


def _fill(values: list[int]) -> script.Script[tuple[int, int]]:
    yield script.execute("CREATE TABLE IF NOT EXISTS s (x INTEGER)")
    yield script.many("INSERT INTO s (x) VALUES (?)", [(v,) for v in values])
    total = yield script.one("SELECT sum(x) FROM s")
    rows = yield script.Step(script.Want.ALL, "SELECT x FROM s ORDER BY x")
    return int(str(total[0])), len(rows)


def _fill_then_fail() -> script.Script[None]:
    yield from _fill([100])
    raise RuntimeError("a bug halfway through")


async def test_a_script_is_one_transaction(store_url: str) -> None:
    store = await open_store(store_url)
    assert await store.db.run(partial(_fill, [1, 2, 3]), durable=False) == (6, 3)
    # A script that fails commits nothing of what it did
    with pytest.raises(RuntimeError):
        await store.db.run(_fill_then_fail)
    assert await store.db.fetchall("SELECT x FROM s ORDER BY x") == [(1,), (2,), (3,)]
    await store.close()


async def test_bookkeeping_waits_for_a_write_lock_another_process_holds(tmp_path: Path) -> None:
    # Bookkeeping runs on the loop's thread only when the lock is free; taken, the writer thread
    # waits for it, and the loop goes on serving in the meantime
    path = tmp_path / "c.db"
    db = await SQLiteDatabase.open(str(path), checkpoint_every=3600)
    await db.run(partial(_fill, [1]), durable=False)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO s (x) VALUES (10)")
    waiting = asyncio.ensure_future(db.run(partial(_fill, [100]), durable=False))
    for _ in range(20):
        await asyncio.sleep(0)  # the loop is free while the writer thread waits
    assert not waiting.done()
    other.execute("COMMIT")
    assert await waiting == (111, 3)  # after the other process's row: serialised, nothing lost
    other.close()
    await db.close()
