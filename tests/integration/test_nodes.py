"""Several nodes on one PostgreSQL: two real `compuerta serve` processes sharing one database.

Each node is a separate OS process with its own SMTP and web listeners; the only thing they
share is the store. The upstream is an aiosmtpd sink recording every delivery.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway.model import Action, HeldMessage, Verdict
from gateway.model import Envelope as MailEnvelope
from gateway.store import open_store
from tests.conftest import PG_ADMIN_DEFAULT, Sink, SinkHandler, _postgres_database, send
from tests.gateway.test_server import free_port, start_process, wait_for_port

FREEMAIL = [f"persona{n}@gmail.com" for n in range(12)]  # freemail.list holds at 10 by default


@dataclass
class Node:
    smtp: int
    web: int
    config: Path
    process: asyncio.subprocess.Process


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    url, drop = await _postgres_database()
    yield url
    await drop()


def write_config(path: Path, url: str, upstream: int, smtp: int, web: int, extra: str = "") -> None:
    path.write_text(
        f'[smtp]\nlisten = "127.0.0.1:{smtp}"\n[upstream]\naddress = "127.0.0.1:{upstream}"\n'
        f'[web]\nlisten = "127.0.0.1:{web}"\n[store]\nurl = "{url}"\n'
        '[organization]\nhome_domains = ["gto.gob.mx"]\n' + extra
    )


async def start_node(tmp_path: Path, name: str, url: str, upstream: int, extra: str = "") -> Node:
    smtp, web = free_port(), free_port()
    folder = tmp_path / name
    folder.mkdir()
    config = folder / "compuerta.toml"
    write_config(config, url, upstream, smtp, web, extra)
    process = await start_process("serve", "--config", str(config), cwd=folder)
    await wait_for_port(smtp, process)
    await wait_for_port(web, process)
    return Node(smtp, web, config, process)


async def stop(node: Node) -> None:
    if node.process.returncode is None:
        node.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(node.process.communicate(), 30)


def cli(config: Path, *args: str, stdin: str = "") -> str:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", *args, "--config", str(config)],
        input=stdin, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


async def test_two_nodes_release_a_held_message_once(tmp_path: Path, sink: Sink, pg_url: str) -> None:
    first = await start_node(tmp_path, "a", pg_url, sink.port)
    second = await start_node(tmp_path, "b", pg_url, sink.port)
    try:
        code, text = await send(
            first.smtp, "ana@gto.gob.mx", FREEMAIL, b"From: ana@gto.gob.mx\r\nSubject: aviso\r\n\r\nHola.\r\n"
        )
        assert code == 250 and "C-" in text, text
        ticket = "C-" + text.split("C-")[1][:6]
        # The user is created through one node's CLI and is known to both (the store is shared).
        await asyncio.to_thread(cli, first.config, "users", "add", "dgtit1", "--role", "administrator",
                                stdin="contraseña-larga-1\ncontraseña-larga-1\n")  # fmt: skip
        token = await asyncio.to_thread(cli, second.config, "users", "token", "dgtit1")
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(timeout=30) as client:
            posts = [
                client.post(
                    f"http://127.0.0.1:{node.web}/api/v1/held/{ticket}/approve",
                    headers=headers,
                    content=json.dumps({"reason": "ok"}),
                )
                for _ in range(5)
                for node in (first, second)
            ]
            answers = await asyncio.gather(*posts)
        assert sorted(r.status_code for r in answers).count(200) == 1, [r.text for r in answers]
        for _ in range(200):  # the release is delivered by whichever node approved
            if any(sorted(r.rcpt_tos) == sorted(FREEMAIL) for r in sink.handler.received):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # a second, wrong delivery would arrive within this window
        releases = [r for r in sink.handler.received if sorted(r.rcpt_tos) == sorted(FREEMAIL)]
        assert len(releases) == 1 and b"Subject: aviso" in releases[0].data
    finally:
        await stop(first)
        await stop(second)


async def test_a_node_tempfails_when_postgresql_goes_away(tmp_path: Path, sink: Sink, pg_url: str) -> None:
    node = await start_node(tmp_path, "a", pg_url, sink.port)
    try:
        import asyncpg

        admin = await asyncpg.connect(os.environ.get("COMPUERTA_TEST_PG", PG_ADMIN_DEFAULT))
        name = pg_url.split("?")[0].rsplit("/", 1)[1]
        # No new connections, and every connection of the node's pool cut, as in a failover.
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
        code, text = await send(
            node.smtp, "ana@gto.gob.mx", FREEMAIL, b"From: ana@gto.gob.mx\r\nSubject: aviso\r\n\r\nHola.\r\n"
        )
        assert code == 451, text  # the hold cannot be committed: the MTA keeps it and retries
        async with httpx.AsyncClient(timeout=30) as client:
            ready = await client.get(f"http://127.0.0.1:{node.web}/readyz")
        assert ready.status_code == 503
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()
        code, text = await send(
            node.smtp, "ana@gto.gob.mx", FREEMAIL, b"From: ana@gto.gob.mx\r\nSubject: aviso\r\n\r\nHola.\r\n"
        )
        assert code == 250 and "C-" in text, text  # recovered by itself
    finally:
        await stop(node)


@dataclass
class SlowSinkHandler(SinkHandler):
    """An upstream that takes a while per transaction, so a node can be killed mid fan-out.

    The delay comes before the message is kept: a node killed while waiting never got a 250,
    and the sink (like a real MTA whose client vanished before the reply) keeps nothing.
    """

    delay: float = 0.5
    started: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.started.set()
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


async def test_a_node_killed_mid_fanout_is_taken_over(tmp_path: Path, pg_url: str) -> None:
    handler = SlowSinkHandler()
    loop = asyncio.get_running_loop()
    upstream = await loop.create_server(
        lambda: SMTP(handler, hostname="sink", data_size_limit=None, loop=loop), "127.0.0.1", 0
    )
    port = int(upstream.sockets[0].getsockname()[1])
    recipients = tuple(f"servidor{n:04d}@gto.gob.mx" for n in range(5000))
    outbox = "[outbox]\nbatch = 250\nconnections = 2\nlease = 10.0\npoll = 0.2\n"
    first = await start_node(tmp_path, "a", pg_url, port, outbox)
    second = await start_node(tmp_path, "b", pg_url, port, outbox)
    try:
        store = await open_store(pg_url)
        held = await store.hold(HeldMessage(
            "FANOUT1", MailEnvelope("comunicacion@gto.gob.mx", recipients), b"Subject: Aviso general\r\n\r\nHola.\r\n",
            (Verdict(Action.HOLD, "masivo", "5000"),), datetime.now(UTC), subject="Aviso general", required_roles=("dgtit",),
        ))  # fmt: skip
        await store.close()
        await asyncio.to_thread(cli, first.config, "users", "add", "dgtit1", "--role", "administrator",
                                stdin="contraseña-larga-1\ncontraseña-larga-1\n")  # fmt: skip
        token = await asyncio.to_thread(cli, first.config, "users", "token", "dgtit1")
        async with httpx.AsyncClient(timeout=30) as client:
            answer = await client.post(f"http://127.0.0.1:{first.web}/api/v1/held/{held.ticket}/approve",
                                       headers={"Authorization": f"Bearer {token}"}, content="{}")  # fmt: skip
        assert answer.status_code == 200, answer.text
        # SIGKILL while the first transactions wait for their 250: the killed node's leased jobs
        # must be taken over. (A kill between upstream's 250 and the node's commit would send
        # that batch twice: SMTP offers no way to ask upstream what it kept.)
        await handler.started.wait()
        first.process.kill()
        await first.process.wait()
        delivered: Counter[str] = Counter()
        for _ in range(1200):
            delivered = Counter(r for m in handler.received for r in m.rcpt_tos if r in recipients)
            if len(delivered) == len(recipients):
                break
            await asyncio.sleep(0.05)
        assert set(delivered) == set(recipients), f"{len(recipients) - len(delivered)} never delivered"
        assert max(delivered.values()) == 1, "a recipient received the masivo twice"
    finally:
        await stop(first)
        await stop(second)
        upstream.close()


async def test_rate_limit_holds_across_nodes(tmp_path: Path, sink: Sink, pg_url: str) -> None:
    first = await start_node(tmp_path, "a", pg_url, sink.port)
    second = await start_node(tmp_path, "b", pg_url, sink.port)
    try:
        mail = b"From: ana@gto.gob.mx\r\nTo: luis@gto.gob.mx\r\nSubject: avance\r\n\r\nHola.\r\n"
        # 40 messages in the same minute, 20 through each node, all at once: 001 VI allows 30.
        sends = [
            send(node.smtp, "ana@gto.gob.mx", ["luis@gto.gob.mx"], mail) for node in (first, second) * 20
        ]
        replies = await asyncio.gather(*sends)
        codes = Counter(code for code, _ in replies)
        assert codes == Counter({250: 30, 451: 10}), replies
        assert all("4.7.1" in text and "rate.messages" in text for code, text in replies if code == 451)
        assert len(sink.handler.received) == 30
        usage = await asyncio.to_thread(cli, second.config, "usage", "ana@gto.gob.mx")
        assert "usó 30 de 10,000 destinatarios" in usage and "30 de 30 mensajes" in usage, usage
    finally:
        await stop(first)
        await stop(second)
