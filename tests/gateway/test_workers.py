"""`[smtp] workers`: several gateway processes share the SMTP port and the store."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from pathlib import Path

import pytest

from gateway.config import ConfigError, build
from tests.conftest import Sink, message
from tests.gateway.test_server import free_port, start_process, transaction, wait_for_port


def children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.add(int(entry.name))
    return found


async def send_one(port: int, number: int) -> bytes:
    return await transaction(port, message(subject=f"n{number}"))


async def wait_for_workers(pid: int, count: int, exclude: set[int] = frozenset()) -> set[int]:  # type: ignore[assignment]
    for _ in range(600):
        found = children(pid) - exclude
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)  # waiting for real processes to start, not for time to pass
    raise AssertionError(f"expected {count} workers of {pid}, found {children(pid)}")


async def test_two_workers_share_the_port_and_the_store(tmp_path: Path, sink: Sink) -> None:
    smtp_port = free_port()
    config = tmp_path / "c.toml"
    config.write_text(
        f'[smtp]\nlisten = "127.0.0.1:{smtp_port}"\nworkers = 2\n[upstream]\naddress = "127.0.0.1:{sink.port}"\n'
        f'[web]\nlisten = "127.0.0.1:{free_port()}"\n[store]\nurl = "sqlite:///{tmp_path / "s.db"}"\n'
    )
    process = await start_process("serve", "--config", str(config), cwd=tmp_path)
    workers = await wait_for_workers(process.pid, 2)
    await wait_for_port(smtp_port, process)
    victim = min(workers)
    os.kill(victim, signal.SIGKILL)  # a worker that dies is started again
    await wait_for_workers(process.pid, 2, exclude={victim})
    replies = await asyncio.gather(*(send_one(smtp_port, n) for n in range(13)))
    assert all(reply.startswith(b"250 ") for reply in replies), replies

    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), 30) == 0
    assert sorted(r.data.split(b"Subject: ")[1].split(b"\r\n")[0] for r in sink.handler.received) == sorted(
        f"n{n}".encode() for n in range(13)
    )
    with sqlite3.connect(tmp_path / "s.db") as db:
        assert db.execute("SELECT count(*) FROM decisions").fetchone()[0] == 13


def test_workers_must_be_at_least_one() -> None:
    with pytest.raises(ConfigError) as raised:
        build({"smtp": {"workers": 0}})
    assert raised.value.key == "smtp.workers"
