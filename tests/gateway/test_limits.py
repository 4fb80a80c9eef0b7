"""Connection and idle limits hold against slow clients (slowloris), and others are still served.

aiosmtpd's ``timeout`` (``[smtp] timeout``) counts from the last valid command, not from the last
byte, so a client trickling bytes cannot keep a session open; ``[smtp] max_sessions`` answers
421 past the limit. The timeouts here are short so that the tests wait on the server's close.
"""

from __future__ import annotations

import asyncio

from tests.conftest import GatewayFactory, Sink, message, send
from tests.rawsmtp import converse

LIMITS = {"smtp": {"timeout": 1.0, "max_sessions": 3}}


async def trickle(port: int, opening: bytes, drip: bytes) -> bytes:
    """Send ``opening``, then ``drip`` one byte at a time until the server hangs up; returns replies."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(opening)
    got = b""
    for index in range(10_000):
        try:
            chunk = await asyncio.wait_for(reader.read(4096), 0.1)
        except TimeoutError:
            chunk = None
        except ConnectionError:
            break
        if chunk == b"":
            break
        got += chunk or b""
        try:
            writer.write(drip[index % len(drip) : index % len(drip) + 1])
            await writer.drain()
        except ConnectionError:
            break
    writer.close()
    return got


async def test_idle_session_closed(gateway_factory: GatewayFactory, sink: Sink) -> None:
    gateway = await gateway_factory(sink.port, LIMITS)
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    greeting = await reader.readline()
    rest = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    assert greeting.startswith(b"220") and rest == b""


async def test_slow_clients_cut_off_and_others_served(gateway_factory: GatewayFactory, sink: Sink) -> None:
    gateway = await gateway_factory(sink.port, LIMITS)
    in_data = b"EHLO slow\r\nMAIL FROM:<ana@gto.gob.mx>\r\nRCPT TO:<luis@gto.gob.mx>\r\nDATA\r\n"
    slow = [
        asyncio.create_task(trickle(gateway.port, in_data, message(subject="lento"))),
        asyncio.create_task(trickle(gateway.port, b"EHLO slow\r\n", b"NOOP NOOP NOOP NOOP")),
    ]
    while len(gateway.handler.active) < 2:
        await asyncio.sleep(0.01)  # both slow clients connected
    # a third client is served while both slow ones hold their sessions
    code, text = await send(gateway.port, "ana@gto.gob.mx", ["luis@gto.gob.mx"], message())
    assert code == 250, text
    # fill the last slot; the next connection is refused with 421
    third = asyncio.create_task(trickle(gateway.port, b"EHLO slow\r\n", b"x"))
    while len(gateway.handler.active) < 3:
        await asyncio.sleep(0.01)
    refused = await converse(gateway.port, b"QUIT\r\n")
    assert len(refused) == 1 and refused[0].startswith("421"), refused
    # the idle limit holds however fast the slow clients drip
    outputs = await asyncio.wait_for(asyncio.gather(*slow, third), 30)
    assert all(out.startswith(b"220") for out in outputs)
    assert b"250 2.0.0" not in outputs[0]
    assert [r.data for r in sink.handler.received] == [message()]
    while gateway.handler.active:
        await asyncio.sleep(0.01)
    assert (await send(gateway.port, "ana@gto.gob.mx", ["luis@gto.gob.mx"], message()))[0] == 250
