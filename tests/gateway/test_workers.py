"""`[smtp] workers`: several gateway processes share the SMTP port and the store."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from pathlib import Path

import pytest

from gateway.config import ConfigError, build
from tests.conftest import Sink, alive, message
from tests.gateway.test_server import command, free_port, start_process, transaction, wait_for_port


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


def two_workers(folder: Path, smtp_port: int, sink_port: int, extra: str = "") -> Path:
    """A configuration of two workers on ``smtp_port`` with a SQLite store in ``folder``."""
    config = folder / "c.toml"
    config.write_text(
        f'[smtp]\nlisten = "127.0.0.1:{smtp_port}"\nworkers = 2\n[upstream]\naddress = "127.0.0.1:{sink_port}"\n'
        f'[web]\nlisten = "127.0.0.1:{free_port()}"\n[store]\nurl = "sqlite:///{folder / "s.db"}"\n{extra}'
    )
    return config


async def test_two_workers_share_the_port_and_the_store(tmp_path: Path, sink: Sink) -> None:
    smtp_port = free_port()
    config = two_workers(tmp_path, smtp_port, sink.port)
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


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def owners(port: int, workers: set[int]) -> dict[int, int]:
    """Worker pid -> how many connections to ``port`` it has accepted (/proc/net/tcp, fd links)."""
    accepted = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "01":  # ESTABLISHED
            accepted.add(f"socket:[{fields[9]}]")
    found = {}
    for pid in workers:
        links = {os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()}
        found[pid] = len(links & accepted)
    return found


async def connections_on_both(port: int, workers: set[int], least: int) -> list[Connection]:
    """At least ``least`` open connections, and more until each worker has accepted one."""
    opened: list[Connection] = []
    while len(opened) < least or 0 in owners(port, workers).values():
        assert len(opened) < 200, owners(port, workers)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert (await reader.readline()).startswith(b"220")  # accepted, by one worker or the other
        opened.append((reader, writer))
    return opened


async def transaction_on(connection: Connection, number: int) -> bytes:
    """One transaction on an open connection: its first refusal, or the reply after DATA."""
    reader, writer = connection
    for line in (b"EHLO t\r\n", b"MAIL FROM:<ana@gto.gob.mx>\r\n", b"RCPT TO:<luis@gto.gob.mx>\r\n",
                 b"DATA\r\n", message(subject=f"n{number}") + b".\r\n"):  # fmt: skip
        reply = await command(reader, writer, line)
        if reply[:1] in (b"4", b"5"):
            break
    await command(reader, writer, b"QUIT\r\n")
    writer.close()
    return reply


async def test_the_rate_limit_stays_exact_across_workers(tmp_path: Path, sink: Sink) -> None:
    # Connections held open on both workers, then one message on each at once: 5 a minute in all
    smtp_port = free_port()
    config = two_workers(tmp_path, smtp_port, sink.port, '[profile."rate.messages"]\nmax_per_minute = 5\n')
    process = await start_process("serve", "--config", str(config), cwd=tmp_path)
    workers = await wait_for_workers(process.pid, 2)
    await wait_for_port(smtp_port, process)
    opened = await connections_on_both(smtp_port, workers, 12)
    assert all(count > 0 for count in owners(smtp_port, workers).values())
    replies = await asyncio.gather(*(transaction_on(c, n) for n, c in enumerate(opened)))
    codes = sorted(int(reply[:3]) for reply in replies)
    assert codes == [250] * 5 + [451] * (len(opened) - 5), replies
    assert all(b"rate.messages" in r for r in replies if r.startswith(b"451"))

    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), 30) == 0
    assert len(sink.handler.received) == 5


async def test_workers_stop_when_their_parent_is_killed(tmp_path: Path, sink: Sink) -> None:
    # An orphaned worker would keep serving the port, with what may be an old configuration
    smtp_port = free_port()
    process = await start_process(
        "serve", "--config", str(two_workers(tmp_path, smtp_port, sink.port)), cwd=tmp_path
    )
    workers = await wait_for_workers(process.pid, 2)
    await wait_for_port(smtp_port, process)
    process.kill()  # not waited for: asyncio's wait() also waits for the pipes the workers hold
    try:
        for _ in range(600):
            if not any(alive(pid) for pid in workers):
                break
            await asyncio.sleep(0.05)  # waiting for real processes to stop, not for time to pass
        assert not any(alive(pid) for pid in workers)
    finally:
        for pid in filter(alive, workers):
            os.kill(pid, signal.SIGKILL)


def test_workers_must_be_at_least_one() -> None:
    with pytest.raises(ConfigError) as raised:
        build({"smtp": {"workers": 0}})
    assert raised.value.key == "smtp.workers"
