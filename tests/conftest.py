"""Shared test fixtures: a recording upstream sink, the real gateway on port 0, a fixed clock.

Fakes stand only at the seams (style rule 32): the sink plays the upstream MTA over a real
socket; the clock is fixed. The gateway under test is the real one, in the test's event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import os
import signal
import smtplib
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway import delivery, moderation, smtp
from gateway.config import Config, build
from gateway.directory import LiveDirectory
from gateway.model import Directory
from gateway.outcome import Services
from gateway.pipeline import DirectorySource, Environment
from gateway.store import Store, open_store
from gateway.usage import StoreMeter
from relay.transport import SMTPTransport

MESSAGES = Path(__file__).parent / "messages"

# Real-process fixtures (a Postfix instance, compuerta itself): tests/integration/fixtures.py
pytest_plugins = ["tests.integration.fixtures"]


@dataclass
class FixedClock:
    at: datetime = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at


@dataclass
class FixedDirectory:
    """The directory a test gives the gateway; a test may swap ``current`` mid-way."""

    current: Directory


_EXIT_STATUS: list[int] = []
# `compuerta serve` processes a test started (tests.gateway.test_server.start_process)
_STARTED: list[int] = []


def started(pid: int) -> None:
    """Stop the process ``pid`` at the end of the current test if the test did not."""
    _STARTED.append(pid)


@pytest.fixture(autouse=True)
def _stop_started_processes() -> Iterator[None]:
    # A test that fails half-way would leave its gateway (and its workers) serving for ever
    yield
    while _STARTED:
        _stop(_STARTED.pop())


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and has not exited (a zombie has)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def _running_gateway(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return alive(pid) and b"gateway\0serve" in command  # not another process with a reused pid


def _stop(pid: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not _running_gateway(pid):
            return
        os.kill(pid, sig)
        for _ in range(300):  # waiting for a real process to exit, not for time to pass
            if not _running_gateway(pid):
                return
            time.sleep(0.05)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _EXIT_STATUS.append(int(exitstatus))


def pytest_unconfigure(config: pytest.Config) -> None:
    """A failed test can leave a store's aiosqlite thread (not a daemon) running, and Python
    would wait for it forever at exit: a red run must end at once, with its status."""
    leftover = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if leftover and _EXIT_STATUS and _EXIT_STATUS[-1] != 0:
        names = ", ".join(sorted({t.name for t in leftover}))
        print(
            f"\ntests left {len(leftover)} threads running ({names}); exiting without them", file=sys.stderr
        )
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT_STATUS[-1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


@dataclass
class SinkHandler:
    """The upstream MTA: records what it accepts; can be told to refuse."""

    received: list[Received] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)  # address -> reply line
    data_reply: str | None = None
    data_hold: asyncio.Event | None = None  # set: DATA's reply waits for it (a stalled upstream)
    greetings: int = 0  # EHLOs seen: one per connection from a pooled client
    pipelining: bool = True  # offer PIPELINING (RFC 2920) as Postfix does; aiosmtpd does not by itself

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        self.greetings += 1
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]] if self.pipelining else responses

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = self.rcpt_replies.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_hold is not None:
            await self.data_hold.wait()
        if self.data_reply is not None:
            return self.data_reply
        data = envelope.original_content or b""
        self.received.append(Received(envelope.mail_from or "", list(envelope.rcpt_tos), data))
        return "250 2.0.0 Ok: queued as SINK"


@dataclass
class Sink:
    handler: SinkHandler
    server: asyncio.Server
    port: int


async def start_sink() -> Sink:
    handler = SinkHandler()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="sink", enable_SMTPUTF8=True, data_size_limit=None, loop=loop),
        "127.0.0.1",
        0,
    )
    return Sink(handler, server, int(server.sockets[0].getsockname()[1]))


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    started = await start_sink()
    yield started
    started.server.close()


@dataclass
class Gateway:
    port: int
    services: Services
    store: Store
    handler: smtp.Handler


def make_config(tmp_path: Path, upstream_port: int, overrides: Mapping[str, object] | None = None) -> Config:
    data: dict[str, object] = {
        "smtp": {"listen": "127.0.0.1:0"},
        "upstream": {"address": f"127.0.0.1:{upstream_port}", "timeout": 5.0},
        "store": {"url": f"sqlite:///{tmp_path / 'compuerta.db'}"},
        "organization": {"home_domains": ["gto.gob.mx"]},
    }
    for key, value in (overrides or {}).items():
        section = data.setdefault(key, {})
        assert isinstance(section, dict) and isinstance(value, dict)
        section.update(value)
    return build(data)


GatewayFactory = Callable[..., Awaitable["Gateway"]]


@pytest.fixture
async def gateway_factory(tmp_path: Path) -> AsyncIterator[GatewayFactory]:
    started: list[tuple[asyncio.Server, Services]] = []

    async def factory(
        upstream_port: int,
        overrides: Mapping[str, object] | None = None,
        directory: Directory | None = None,
        clock: FixedClock | None = None,
        live: bool = False,
    ) -> Gateway:
        config = make_config(tmp_path, upstream_port, overrides)
        store = await open_store(config.store.url)
        transport = SMTPTransport("127.0.0.1", upstream_port, 4, config.upstream.timeout)
        # live: the directory comes from the store, as in `compuerta serve` (reload() to pick up edits)
        directories: DirectorySource = (
            LiveDirectory(store) if live else FixedDirectory(directory or Directory())
        )
        if isinstance(directories, LiveDirectory):
            await directories.reload()
        meter = StoreMeter(store, transport)
        env = Environment(config, clock or FixedClock(), directory or Directory(), meter, directories)
        # The delivery worker is not started: tests run it with ``worker.drain()`` at their clock.
        worker = delivery.Worker(store, transport, env.clock, config, delivery.signer(config))
        services = Services(env, store, transport, signer=worker.signer, worker=worker)
        worker.on_done = functools.partial(moderation.delivered, services)
        server, handler = await smtp.start(services, "127.0.0.1", 0)
        started.append((server, services))
        return Gateway(int(server.sockets[0].getsockname()[1]), services, store, handler)

    yield factory
    for server, services in started:
        server.close()
        await services.transport.close()
        await services.store.close()


@pytest.fixture
async def gateway(gateway_factory: GatewayFactory, sink: Sink) -> Gateway:
    return await gateway_factory(sink.port)


class SMTPReply(Exception):
    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code} {text}")
        self.code = code
        self.text = text


def _send_sync(port: int, mail_from: str, rcpt_tos: list[str], data: bytes) -> tuple[int, str]:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("client.test")
        code, text = client.mail(mail_from)
        if code != 250:
            return code, text.decode()
        for rcpt in rcpt_tos:
            code, text = client.rcpt(rcpt)
            if code not in (250, 251):
                return code, text.decode()
        code, text = client.data(data)
        return code, text.decode()


async def send(port: int, mail_from: str, rcpt_tos: list[str], data: bytes) -> tuple[int, str]:
    """Send one message with the standard library's client; returns the last reply."""
    return await asyncio.to_thread(_send_sync, port, mail_from, rcpt_tos, data)


def message(subject: str = "Prueba", body: str = "Hola.\r\n", sender: str = "ana@gto.gob.mx",
            to: str = "luis@gto.gob.mx") -> bytes:  # fmt: skip
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <t@gto.gob.mx>\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    ).encode()


def load(rule: str, case: str) -> bytes:
    """A test message from tests/messages/<rule>/<case>.eml, with CRLF line endings."""
    raw = (MESSAGES / rule / f"{case}.eml").read_bytes()
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def replace_config(config: Config, **changes: object) -> Config:
    return dataclasses.replace(config, **changes)  # type: ignore[arg-type]


def require(component: str, reason: str) -> NoReturn:
    """A test that needs a missing component fails in CI and is skipped on a developer's machine."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{component} is required in CI: {reason}")
    pytest.skip(f"{component} not available: {reason}")


PG_ADMIN_DEFAULT = "postgresql:///postgres?host=/var/run/postgresql"


async def _postgres_database() -> tuple[str, Callable[[], Awaitable[None]]]:
    """A fresh database on the test PostgreSQL server; returns its URL and a dropper."""
    import asyncpg

    admin_url = os.environ.get("COMPUERTA_TEST_PG", PG_ADMIN_DEFAULT)
    try:
        admin = await asyncpg.connect(admin_url, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        require("PostgreSQL", f"{admin_url}: {error} (scripts/test starts it)")
    name = f"compuerta_test_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    base, _, query = admin_url.partition("?")
    url = base.rsplit("/", 1)[0] + "/" + name + (f"?{query}" if query else "")

    async def drop() -> None:
        connection = await asyncpg.connect(admin_url, timeout=5)
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.close()

    return url, drop


@pytest.fixture(params=["sqlite", "postgres"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty store, once for each backend (the store suite runs on both)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    url, drop = await _postgres_database()
    yield url
    await drop()
