"""Failures around the gateway: each gives a tempfail and a log line, never a 250 for a message
that is not safe, and the gateway recovers by itself once the fault is gone.

Faults are injected at the seams only: the upstream MTA (down, slow, hanging up mid-DATA, a name
that does not resolve), the store's database (full, read-only) and the clock (jumps).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from filters import content_chain
from gateway import smtp
from gateway.outcome import Services
from gateway.pipeline import Environment
from gateway.store import open_store
from relay.transport import SMTPTransport
from tests.conftest import FixedClock, GatewayFactory, Sink, SinkHandler, make_config, message, send
from tests.rawsmtp import LenientSink

ANA, LUIS = "ana@gto.gob.mx", "luis@gto.gob.mx"
HOLD = {"profile": {"freemail.list": {"threshold": 1}}}  # one gmail recipient: held


@dataclass
class StallingHandler(SinkHandler):
    """An upstream that takes the message but answers only when ``answer`` is set."""

    answer: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await self.answer.wait()
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
async def stalling() -> AsyncIterator[tuple[StallingHandler, int]]:
    handler = StallingHandler()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler, hostname="slow", loop=loop), "127.0.0.1", 0)
    yield handler, int(server.sockets[0].getsockname()[1])
    handler.answer.set()
    server.close()


async def unused_port() -> int:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = int(probe.sockets[0].getsockname()[1])
    probe.close()
    await probe.wait_closed()
    return port


async def test_upstream_down_then_back(
    gateway_factory: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    port = await unused_port()
    gateway = await gateway_factory(port)
    code, text = await send(gateway.port, ANA, [LUIS], message())
    assert (code, text[:5]) == (451, "4.4.1")
    assert "unreachable" in caplog.text
    handler = SinkHandler()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler, hostname="back", loop=loop), "127.0.0.1", port)
    try:
        assert (await send(gateway.port, ANA, [LUIS], message()))[0] == 250
    finally:
        server.close()
    assert len(handler.received) == 1


async def test_slow_upstream_times_out_then_recovers(
    gateway_factory: GatewayFactory,
    stalling: tuple[StallingHandler, int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler, port = stalling
    gateway = await gateway_factory(port, {"upstream": {"timeout": 0.5}})
    code, text = await send(gateway.port, ANA, [LUIS], message())
    assert code == 451 and text.startswith("4.4."), text
    assert "upstream" in caplog.text
    handler.answer.set()
    assert (await send(gateway.port, ANA, [LUIS], message()))[0] == 250


async def test_upstream_hangs_up_mid_data_then_recovers(
    gateway_factory: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    upstream = await LenientSink(hang_ups=1).start()
    try:
        gateway = await gateway_factory(upstream.port)
        code, text = await send(gateway.port, ANA, [LUIS], message())
        assert code == 451 and "4.4.2 upstream connection lost" in text, text
        assert "connection lost" in caplog.text
        assert upstream.received == []
        assert (await send(gateway.port, ANA, [LUIS], message()))[0] == 250
        assert len(upstream.received) == 1
    finally:
        upstream.close()


async def test_upstream_name_does_not_resolve(
    tmp_path: Path, sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    # The one DNS lookup the gateway makes is the upstream's name ([upstream] address).
    config = make_config(tmp_path, sink.port)
    store = await open_store(config.store.url)
    transport = SMTPTransport("upstream.invalid", sink.port, 2, 2.0)
    server, _ = await smtp.start(
        Services(Environment(config, FixedClock()), store, transport), "127.0.0.1", 0
    )
    try:
        code, text = await send(server.sockets[0].getsockname()[1], ANA, [LUIS], message())
        assert code == 451 and text.startswith("4.4.1"), text
        assert "upstream.invalid" in caplog.text and "unreachable" in caplog.text
        transport.host = "127.0.0.1"  # the resolver answers again
        assert (await send(server.sockets[0].getsockname()[1], ANA, [LUIS], message()))[0] == 250
    finally:
        server.close()
        await transport.close()
        await store.close()


def big(subject: str) -> bytes:
    return message(subject=subject, to="x@gmail.com", body="Datos del padrón, renglón de relleno.\r\n" * 6000)


@pytest.mark.parametrize("fault", ["PRAGMA max_page_count = 1", "PRAGMA query_only = 1"])
async def test_store_full_or_read_only_tempfails_holds(
    gateway_factory: GatewayFactory, sink: Sink, caplog: pytest.LogCaptureFixture, fault: str
) -> None:
    gateway = await gateway_factory(sink.port, HOLD)
    # max_page_count cannot go below the pages in use: the file stays as it is, like a full disk
    await gateway.store.db.execute(fault)
    caplog.set_level(logging.ERROR)
    code, text = await send(gateway.port, ANA, ["x@gmail.com"], big("retenido"))
    assert code == 451 and "C-" not in text, text
    assert "hold failed" in caplog.text
    # a message that is safe without the store is still relayed (its log row is what waits)
    assert (await send(gateway.port, ANA, [LUIS], message()))[0] == 250
    await gateway.store.db.execute("PRAGMA max_page_count = 1073741823")
    await gateway.store.db.execute("PRAGMA query_only = 0")
    code, text = await send(gateway.port, ANA, ["x@gmail.com"], big("retenido"))
    assert code == 250 and "C-" in text, text


async def test_clock_jumps(gateway_factory: GatewayFactory, sink: Sink) -> None:
    # Timeouts use the loop's monotonic clock; the wall clock only stamps records and deadlines.
    clock = FixedClock()
    gateway = await gateway_factory(sink.port, HOLD, clock=clock)
    start = clock.at
    tickets = []
    for jump in (timedelta(0), timedelta(days=-2), timedelta(days=400), timedelta(hours=-1), timedelta(0)):
        clock.at = start + jump
        code, text = await send(gateway.port, ANA, ["x@gmail.com"], message(to="x@gmail.com"))
        assert code == 250 and "C-" in text, text
        tickets.append(text.split("folio ")[1].split(";")[0])
        assert (await send(gateway.port, ANA, [LUIS], message()))[0] == 250
    assert len(set(tickets)) == 5
    for ticket in tickets:
        held = await gateway.store.held(ticket)
        assert held is not None and held.deadline is not None and held.deadline > held.created_at
    assert len([r for r in sink.handler.received if r.rcpt_tos == [LUIS]]) == 5


async def test_a_check_that_hangs_tempfails(
    gateway_factory: GatewayFactory,
    sink: Sink,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A bug injected into one check (it waits forever): the stage's time limit names it, the
    # client gets 451 and retries later, nothing reaches upstream; the gateway keeps serving
    async def hangs(msg: object, ctx: object) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(content_chain, "check", hangs)
    gateway = await gateway_factory(sink.port, {"profile": {"check_timeout": 0.2}})
    code, text = await send(gateway.port, ANA, [LUIS], message())
    assert code == 451 and text.startswith("4.3.0") and "(internal.error)" in text
    assert "check content.chain timed out" in caplog.text
    assert sink.handler.received == []
    monkeypatch.undo()
    assert (await send(gateway.port, ANA, [LUIS], message()))[0] == 250
