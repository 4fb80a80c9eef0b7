"""A gateway process killed (SIGKILL) in the middle of a fan-out resumes it after a restart:
no recipient skipped, none receiving the message twice."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway.config import load
from gateway.delivery import release
from gateway.model import Action, Directory, HeldMessage, Release, Verdict
from gateway.model import Envelope as MailEnvelope
from gateway.pipeline import Environment
from gateway.store import open_store
from tests.conftest import FixedClock, Sink, SinkHandler, message
from tests.gateway.test_server import free_port, start_process

RECIPIENTS = [f"persona{n:02d}@gto.gob.mx" for n in range(50)]


class KillingSink(SinkHandler):
    """The upstream: on the third transaction it kills the gateway before accepting anything."""

    def __init__(self) -> None:
        super().__init__()
        self.pid = 0
        self.transactions = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.transactions += 1
        if self.transactions == 3 and self.pid:
            os.kill(self.pid, signal.SIGKILL)  # the gateway dies with this job claimed, unconfirmed
            return "451 4.3.0 not accepted"
        return await super().handle_DATA(server, session, envelope)


def write_config(folder: Path, sink_port: int) -> Path:
    path = folder / "compuerta.toml"
    path.write_text(
        f'[smtp]\nlisten = "127.0.0.1:{free_port()}"\n[web]\nlisten = "127.0.0.1:{free_port()}"\n'
        f'[upstream]\naddress = "127.0.0.1:{sink_port}"\n[store]\nurl = "sqlite:///{folder / "c.db"}"\n'
        '[organization]\nhome_domains = ["gto.gob.mx"]\n'
        '[outbox]\nbatch = 10\nconnections = 1\nnode = "nodo1"\npoll = 0.05\n'
    )
    return path


async def released_masivo(config_path: Path) -> str:
    """Hold and release a masivo to RECIPIENTS in the store the gateway will use (5 jobs)."""
    config = load(config_path)
    store = await open_store(config.store.url)
    clock = FixedClock(datetime.now(UTC))
    reasons = (Verdict(Action.HOLD, "masivo", "all staff"),)
    held = await store.hold(HeldMessage("K1", MailEnvelope("ana@gto.gob.mx", tuple(RECIPIENTS)),
                                        message("Aviso"), reasons, clock.now(), "Aviso"))  # fmt: skip
    env = Environment(config, clock, Directory())
    assert await release(store, env, held, Release(held.ticket, ("dgtit",), clock.now()))
    await store.close()
    return held.ticket


async def until_delivered(config_path: Path, ticket: str, process: asyncio.subprocess.Process) -> None:
    store = await open_store(load(config_path).store.url)
    try:
        for _ in range(600):  # waiting for a real process to deliver, not for time to pass
            progress = await store.progress(ticket)
            if progress is not None and progress.done:
                return
            assert process.returncode is None, "the restarted gateway died"
            await asyncio.sleep(0.05)
        raise AssertionError(f"not delivered: {progress}")
    finally:
        await store.close()


async def test_a_killed_gateway_resumes_the_fanout_without_gaps_or_doubles(tmp_path: Path) -> None:
    handler = KillingSink()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler, hostname="sink", loop=loop), "127.0.0.1", 0)
    sink = Sink(handler, server, int(server.sockets[0].getsockname()[1]))
    config_path = write_config(tmp_path, sink.port)
    ticket = await released_masivo(config_path)
    first = await start_process("serve", "--config", str(config_path), cwd=tmp_path)
    handler.pid = first.pid
    await asyncio.wait_for(first.wait(), 60)
    assert first.returncode == -signal.SIGKILL
    before = Counter(r for received in handler.received for r in received.rcpt_tos)
    assert sum(before.values()) == 20, "two batches were accepted before the crash"
    second = await start_process("serve", "--config", str(config_path), cwd=tmp_path)
    try:
        await until_delivered(config_path, ticket, second)
    finally:
        second.send_signal(signal.SIGTERM)
        _, errors = await asyncio.wait_for(second.communicate(), 30)
        server.close()
    assert b"resumed 1 job(s)" in errors, errors.decode()[-2000:]
    delivered = Counter(r for received in handler.received for r in received.rcpt_tos)
    assert delivered == Counter(dict.fromkeys(RECIPIENTS, 1))
