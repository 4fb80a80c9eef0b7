"""SMTPTransport over a real socket: what upstream receives is exactly what was handed over."""

from __future__ import annotations

from relay.transport import SMTPTransport
from tests.conftest import Sink


async def test_dotted_lines_arrive_byte_identical(sink: Sink) -> None:
    # RFC 5321 §4.5.2: the transport dot-stuffs, the receiver removes the dots again
    data = b".Subject: punto\r\n\r\n.\r\n..dos\r\nfin.\r\n.\r\n"
    transport = SMTPTransport("127.0.0.1", sink.port)
    try:
        result = await transport.send("ana@gto.gob.mx", ("luis@gto.gob.mx",), data)
    finally:
        await transport.close()
    assert result.code == 250
    assert [r.data for r in sink.handler.received] == [data]


async def test_unterminated_last_line_gets_its_crlf(sink: Sink) -> None:
    transport = SMTPTransport("127.0.0.1", sink.port)
    try:
        await transport.send("ana@gto.gob.mx", ("luis@gto.gob.mx",), b"Subject: x\r\n\r\nsin fin")
        await transport.send("ana@gto.gob.mx", ("luis@gto.gob.mx",), b"Subject: y\n\nLF\n.punto\n")
    finally:
        await transport.close()
    assert [r.data for r in sink.handler.received] == [
        b"Subject: x\r\n\r\nsin fin\r\n",
        b"Subject: y\r\n\r\nLF\r\n.punto\r\n",  # not CRLF-clean: aiosmtplib normalises it
    ]


async def test_message_larger_than_a_write_slice_arrives_whole(sink: Sink) -> None:
    lines = [f"linea {n:07d} ".encode() + b"x" * 60 for n in range(50_000)]  # ~3.6 MB: several slices
    data = b"Subject: grande\r\n\r\n" + b"\r\n".join(lines) + b"\r\n"
    transport = SMTPTransport("127.0.0.1", sink.port)
    try:
        await transport.send("ana@gto.gob.mx", ("luis@gto.gob.mx",), data)
    finally:
        await transport.close()
    assert [r.data for r in sink.handler.received] == [data]


async def test_bytes_the_caller_proved_clean_are_still_dot_stuffed(sink: Sink) -> None:
    data = b"Subject: punto\r\n\r\n.\r\n..dos\r\n.tres\r\n"
    transport = SMTPTransport("127.0.0.1", sink.port)
    try:
        await transport.send("ana@gto.gob.mx", ("luis@gto.gob.mx",), data, crlf_clean=True)
    finally:
        await transport.close()
    assert [r.data for r in sink.handler.received] == [data]


async def test_bytes_proven_dot_free_arrive_byte_identical(sink: Sink) -> None:
    data = b"Subject: sin puntos\r\n\r\nuno. dos.\r\n"
    transport = SMTPTransport("127.0.0.1", sink.port)
    try:
        await transport.send("ana@gto.gob.mx", ("luis@gto.gob.mx",), data, crlf_clean=True, dot_free=True)
    finally:
        await transport.close()
    assert [r.data for r in sink.handler.received] == [data]
