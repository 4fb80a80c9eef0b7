"""Crash safety of a fan-out: SIGKILL `compuerta serve` while it delivers a released masivo.

A masivo to 200 home recipients is held, approved from the shell (`compuerta held approve`),
and the gateway's outbox delivers it in batches of 10 over 2 connections to a slow upstream.
The killer SIGKILLs the process while the upstream holds a batch's DATA (it then accepts it,
so upstream has a copy the outbox never recorded) or just after the upstream accepted a batch,
and starts it again.
Every recipient must get the message, the release must end "delivered", and a batch may go out
twice only if it was in flight at a kill (at most ``connections`` batches per kill).
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import sys
from collections import Counter
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.conftest import send
from tests.gateway.test_crash import SEED, Gateway, Run, config_file
from tests.gateway.test_server import free_port

RECIPIENTS = [f"persona{n:03d}@gto.gob.mx" for n in range(400)]
CONNECTIONS = 2
KILLS = 4


class FanoutSink:
    """The upstream: records each transaction's recipients; can stall a DATA until the kill."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.batches: list[tuple[str, ...]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if any(r in RECIPIENTS for r in envelope.rcpt_tos):
            await self.run.moment("relay")
            await asyncio.sleep(0.05)  # a slow upstream: each batch takes a while
            self.batches.append(tuple(envelope.rcpt_tos))
            await self.run.moment("accepted")
        return "250 2.0.0 Ok: queued"


async def shell(folder: Path, *args: str, stdin: bytes = b"") -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", *args, "--config", str(folder / "compuerta.toml"),
        cwd=folder, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, env={"PYTHONPATH": str(Path.cwd())},
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(stdin), 60)
    assert process.returncode == 0, output.decode()
    return output.decode()


def state_of(database: Path) -> str:
    with sqlite3.connect(database) as connection:
        row = connection.execute("SELECT state FROM held WHERE id = 1").fetchone()
    return str(row[0]) if row else ""


async def test_sigkill_during_fanout_delivers_everyone(tmp_path: Path) -> None:
    run = Run(random.Random(SEED))
    sink_handler = FanoutSink(run)
    loop = asyncio.get_running_loop()
    sink = await loop.create_server(lambda: SMTP(sink_handler, hostname="sink", loop=loop), "127.0.0.1", 0)
    smtp_port = free_port()
    config = config_file(tmp_path, smtp_port, free_port(), sink.sockets[0].getsockname()[1])
    with config.open("a") as handle:
        # the one gmail recipient makes it held (freemail.list); it is never delivered (plan)
        handle.write('[profile."freemail.mass"]\nenabled = false\n')
        handle.write(f'[outbox]\nbatch = 10\nconnections = {CONNECTIONS}\npoll = 0.2\nnode = "crash"\n')
    await shell(tmp_path, "users", "add", "jefe", "--role", "administrator", stdin=b"clave de prueba 123\n")
    gateway = Gateway(config, tmp_path, smtp_port)
    await gateway.start()
    data = b"From: ana@gto.gob.mx\r\nTo: todos@gto.gob.mx\r\nSubject: Circular\r\n\r\nA todo el personal.\r\n"
    code, text = await send(smtp_port, "ana@gto.gob.mx", [*RECIPIENTS, "ciudadano@gmail.com"], data)
    assert code == 250 and "C-000001" in text, text
    approving = loop.create_task(shell(tmp_path, "held", "approve", "C-000001", "--as", "jefe"))
    for _ in range(KILLS):
        # in the middle of a batch's DATA, or right after upstream took one (before it is recorded)
        moment = run.rng.choice(("relay", "accepted"))
        run.reached.clear()
        run.want = moment
        await asyncio.wait_for(run.reached.wait(), 60)
        await asyncio.sleep(run.rng.uniform(0.0, 0.01))
        await gateway.kill()
        run.kills[moment] += 1
        run.killed.set()
        run.killed.clear()
        await gateway.start()
    await approving
    for _ in range(600):
        if state_of(tmp_path / "compuerta.db") == "delivered":
            break
        await asyncio.sleep(0.1)  # waiting for the outbox to finish, not for time to pass
    await gateway.stop()
    sink.close()

    copies = Counter(r for batch in sink_handler.batches for r in batch)
    summary = f"seed={SEED} kills={dict(run.kills)} batches={len(sink_handler.batches)}"
    print(summary)  # RELIABILITY.md quotes this line
    assert set(copies) == set(RECIPIENTS), summary
    assert state_of(tmp_path / "compuerta.db") == "delivered", summary
    twice = Counter(batch for batch in sink_handler.batches)
    assert sum(n - 1 for n in twice.values()) <= KILLS * CONNECTIONS, summary
