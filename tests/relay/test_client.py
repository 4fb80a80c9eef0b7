"""relay.client and the transactions SMTPTransport runs with it, against real sockets.

Most tests use the aiosmtpd sink (which offers PIPELINING here, as Postfix does); the scripted
upstream below answers only what a test tells it to, so that the order of commands and replies
on the wire is what is asserted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from relay.client import Connection, ConnectionLost
from relay.transport import SMTPTransport, UpstreamError
from tests.conftest import Sink

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
EHLO = b"250-scripted\r\n250-8BITMIME\r\n250 PIPELINING\r\n"


@asynccontextmanager
async def _serve(script: Script) -> AsyncIterator[int]:
    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await script(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(session, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


async def _greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ehlo: bytes = EHLO) -> None:
    writer.write(b"220 scripted ESMTP\r\n")
    assert (await reader.readline()).startswith(b"EHLO ")
    writer.write(ehlo)


async def _lines(reader: asyncio.StreamReader, count: int) -> list[bytes]:
    return [await reader.readline() for _ in range(count)]


def _transport(port: int) -> SMTPTransport:
    return SMTPTransport("127.0.0.1", port, timeout=5)


async def test_mail_rcpt_and_data_go_as_one_group_when_upstream_pipelines() -> None:
    seen: list[bytes] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _greet(reader, writer)
        # no reply before all four commands arrived: a client that waits for MAIL's reply hangs
        seen.extend(await _lines(reader, 4))
        writer.write(b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 End data\r\n")
        seen.append(await reader.readuntil(b"\r\n.\r\n"))
        writer.write(b"250 2.0.0 Ok: queued as P1\r\n")
        await reader.readline()

    async with _serve(script) as port:
        transport = _transport(port)
        result = await transport.send(
            "ana@gto.gob.mx", ("a@gto.gob.mx", "b@gto.gob.mx"), b"Subject: x\r\n\r\nhola\r\n"
        )
        await transport.close()
    assert (result.code, result.text, result.refused) == (250, "2.0.0 Ok: queued as P1", ())
    assert seen == [
        b"MAIL FROM:<ana@gto.gob.mx>\r\n",
        b"RCPT TO:<a@gto.gob.mx>\r\n",
        b"RCPT TO:<b@gto.gob.mx>\r\n",
        b"DATA\r\n",
        b"Subject: x\r\n\r\nhola\r\n.\r\n",
    ]


async def test_without_pipelining_each_command_waits_for_its_reply() -> None:
    early: list[bytes] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _greet(reader, writer, b"250-scripted\r\n250 8BITMIME\r\n")  # RFC 2920: no PIPELINING
        for reply in (b"250 2.1.0 Ok\r\n", b"250 2.1.5 Ok\r\n", b"354 End data\r\n"):
            await reader.readline()
            await asyncio.sleep(0.05)  # a pipelining client would have written the next command
            early.append(bytes(reader._buffer))  # type: ignore[attr-defined]  # what arrived unasked
            writer.write(reply)
        await reader.readuntil(b"\r\n.\r\n")
        writer.write(b"250 2.0.0 Ok\r\n")
        await reader.readline()

    async with _serve(script) as port:
        transport = _transport(port)
        result = await transport.send("ana@gto.gob.mx", ("a@gto.gob.mx",), b"Subject: x\r\n\r\nhola\r\n")
        await transport.close()
    assert result.code == 250
    assert early == [b"", b"", b""]


async def test_a_deferred_recipient_after_a_granted_data_drops_the_connection_unsent(sink: Sink) -> None:
    # RFC 2920 §3.1: DATA was already granted (354); only closing the connection abandons it
    # without delivering an empty message to the accepted recipient.
    sink.handler.rcpt_replies["lleno@gto.gob.mx"] = "452 4.2.2 Mailbox full"
    transport = _transport(sink.port)
    with pytest.raises(UpstreamError) as deferred:
        await transport.send(
            "ana@gto.gob.mx", ("luis@gto.gob.mx", "lleno@gto.gob.mx"), b"Subject: x\r\n\r\ny\r\n"
        )
    assert (deferred.value.code, deferred.value.text) == (452, "4.2.2 Mailbox full")
    assert transport._idle == []  # not reused: it is in the middle of a DATA
    del sink.handler.rcpt_replies["lleno@gto.gob.mx"]
    result = await transport.send("ana@gto.gob.mx", ("luis@gto.gob.mx",), b"Subject: x\r\n\r\nz\r\n")
    await transport.close()
    assert result.code == 250
    assert [r.data for r in sink.handler.received] == [b"Subject: x\r\n\r\nz\r\n"]


async def test_recipients_refused_for_good_are_reported_and_the_rest_delivered(sink: Sink) -> None:
    sink.handler.rcpt_replies["nadie@gto.gob.mx"] = "550 5.1.1 No such user"
    transport = _transport(sink.port)
    result = await transport.send(
        "ana@gto.gob.mx", ("nadie@gto.gob.mx", "luis@gto.gob.mx"), b"S: x\r\n\r\ny\r\n"
    )
    with pytest.raises(UpstreamError) as refused:
        await transport.send("ana@gto.gob.mx", ("nadie@gto.gob.mx",), b"S: x\r\n\r\ny\r\n")
    again = await transport.send("ana@gto.gob.mx", ("luis@gto.gob.mx",), b"S: x\r\n\r\nz\r\n")
    await transport.close()
    assert result.refused == (("nadie@gto.gob.mx", 550, "5.1.1 No such user"),)
    assert (refused.value.code, refused.value.text) == (550, "5.1.1 No such user")
    assert again.code == 250
    assert [(r.rcpt_tos, r.data) for r in sink.handler.received] == [
        (["luis@gto.gob.mx"], b"S: x\r\n\r\ny\r\n"),
        (["luis@gto.gob.mx"], b"S: x\r\n\r\nz\r\n"),
    ]
    assert sink.handler.greetings == 1  # the refusals left the pooled connection usable


async def test_control_characters_never_reach_the_wire(sink: Sink) -> None:
    transport = _transport(sink.port)
    with pytest.raises(UpstreamError) as refused:
        await transport.send(
            "ana@gto.gob.mx", ("luis@gto.gob.mx>\r\nRCPT TO:<x@evil.example",), b"S: x\r\n\r\n"
        )
    await transport.close()
    assert refused.value.code == 553  # THREATS.md S5
    assert sink.handler.received == []


async def test_a_pooled_connection_upstream_closed_is_replaced_once(sink: Sink) -> None:
    transport = _transport(sink.port)
    await transport.send("ana@gto.gob.mx", ("luis@gto.gob.mx",), b"S: 1\r\n\r\n1\r\n")
    for connection in transport._idle:
        connection._protocol.transport.close()  # type: ignore[union-attr]  # as an idle timeout would
    await asyncio.sleep(0)
    result = await transport.send("ana@gto.gob.mx", ("luis@gto.gob.mx",), b"S: 2\r\n\r\n2\r\n")
    await transport.close()
    assert result.code == 250
    assert [r.data for r in sink.handler.received] == [b"S: 1\r\n\r\n1\r\n", b"S: 2\r\n\r\n2\r\n"]


async def test_an_upstream_that_dies_before_the_final_reply_defers(sink: Sink) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _greet(reader, writer)
        await _lines(reader, 3)
        writer.write(b"250 Ok\r\n250 Ok\r\n354 go\r\n")
        await reader.readuntil(b"\r\n.\r\n")
        writer.close()  # gone without a word: nobody knows whether it kept the message

    async with _serve(script) as port:
        transport = _transport(port)
        with pytest.raises(UpstreamError) as lost:
            await transport.send("ana@gto.gob.mx", ("a@gto.gob.mx",), b"S: x\r\n\r\ny\r\n")
        await transport.close()
    assert (lost.value.code, lost.value.text) == (451, "4.4.2 upstream connection lost")


@pytest.mark.parametrize(
    "reply",
    [
        b"hola\r\n",
        b"25O Ok\r\n",
        b"250" + b"x" * 5000 + b"\r\n",
        b"".join(b"250-x" * 100 + b"\r\n" for _ in range(200)),
    ],
)
async def test_what_is_not_an_smtp_reply_closes_the_connection(reply: bytes) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(reply)
        await reader.read()

    async with _serve(script) as port:
        with pytest.raises(ConnectionLost):
            await Connection.open("127.0.0.1", port, 5, "compuerta.test")


async def test_a_silent_upstream_times_out() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accepts the connection, never greets

    async with _serve(script) as port:
        with pytest.raises(UpstreamError) as unreachable:
            await SMTPTransport("127.0.0.1", port, timeout=0.2).send("a@b.mx", ("c@d.mx",), b"S: x\r\n\r\n")
    assert unreachable.value.code == 451


async def test_helo_when_ehlo_is_refused() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 old SMTP\r\n")
        await reader.readline()
        writer.write(b"502 5.5.1 EHLO not implemented\r\n")
        assert (await reader.readline()) == b"HELO compuerta.test\r\n"
        writer.write(b"250 old\r\n")
        await reader.readline()
        writer.write(b"221 bye\r\n")

    async with _serve(script) as port:
        connection = await Connection.open("127.0.0.1", port, 5, "compuerta.test")
        assert connection.extensions == frozenset()
        await connection.quit()
