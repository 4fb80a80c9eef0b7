"""The gateway over real sockets: a real client, the real gateway, an aiosmtpd sink upstream."""

from __future__ import annotations

import asyncio
import base64
import smtplib
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.smtp import SMTP
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.parsing import INLINE_BELOW
from gateway.smtp import GatewaySMTP
from tests.conftest import Gateway, GatewayFactory, Sink, SinkHandler, message, send

EXE = base64.b64encode(b"MZ\x90\x00" + b"\x00" * 60 + b"PE\x00\x00" + b"\x00" * 200).decode()


def with_attachment(name: str, payload_b64: str = EXE) -> bytes:
    return (
        "From: ana@gto.gob.mx\r\nTo: luis@gto.gob.mx\r\nSubject: adjunto\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\n'
        f"Va el archivo.\r\n--b1\r\nContent-Type: application/octet-stream\r\n"
        f'Content-Disposition: attachment; filename="{name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        f"{payload_b64}\r\n--b1--\r\n"
    ).encode()


async def test_clean_mail_arrives_byte_identical(gateway: Gateway, sink: Sink) -> None:
    data = message(body="Línea uno.\r\n.empieza con punto\r\n")
    code, text = await send(gateway.port, "ana@gto.gob.mx", ["luis@gto.gob.mx"], data)
    assert code == 250, text
    assert len(sink.handler.received) == 1
    got = sink.handler.received[0]
    assert got.data == data
    assert got.mail_from == "ana@gto.gob.mx" and got.rcpt_tos == ["luis@gto.gob.mx"]


async def test_exe_refused_with_reason(gateway: Gateway, sink: Sink) -> None:
    code, text = await send(gateway.port, "ana@gto.gob.mx", ["luis@gto.gob.mx"], with_attachment("setup.exe"))
    assert code == 550
    assert text.startswith("5.7.1 Mensaje rechazado por la regla attach.dangerous")
    assert "000 norma 18" in text and "setup.exe" in text
    assert sink.handler.received == []


async def test_pe_named_pdf_refused_by_true_type(gateway: Gateway, sink: Sink) -> None:
    code, text = await send(gateway.port, "ana@gto.gob.mx", ["luis@gto.gob.mx"], with_attachment("acta.pdf"))
    assert code == 550 and "attach.dangerous" in text
    assert sink.handler.received == []


async def test_large_message_parsed_in_the_parser_thread_is_judged_the_same(
    gateway: Gateway, sink: Sink
) -> None:
    # past INLINE_BELOW the parse leaves the event loop: the same checks, the same verdicts
    program = b"MZ\x90\x00" + b"\x00" * 60 + b"PE\x00\x00" + bytes(range(256)) * 1200
    payload = base64.encodebytes(program).decode().replace("\n", "\r\n").rstrip()
    assert len(payload) > INLINE_BELOW
    code, text = await send(
        gateway.port, "ana@gto.gob.mx", ["luis@gto.gob.mx"], with_attachment("acta.pdf", payload)
    )
    assert code == 550 and "attach.dangerous" in text
    clean = (
        base64.encodebytes(b"%PDF-1.5\n" + bytes(range(256)) * 1200).decode().replace("\n", "\r\n").rstrip()
    )
    data = with_attachment("acta.pdf", clean)
    code, text = await send(gateway.port, "ana@gto.gob.mx", ["luis@gto.gob.mx"], data)
    assert code == 250, text
    assert [r.data for r in sink.handler.received] == [data]


async def test_26_mb_refused(gateway: Gateway, sink: Sink) -> None:
    body = ("x" * 998 + "\r\n") * (26 * 1024 + 100)
    code, text = await send(gateway.port, "ana@gto.gob.mx", ["luis@gto.gob.mx"], message(body=body))
    assert code == 552 and "size.max" in text
    assert sink.handler.received == []


async def test_declared_size_refused_at_mail(gateway: Gateway) -> None:
    def run() -> tuple[int, bytes]:
        with smtplib.SMTP("127.0.0.1", gateway.port) as client:
            client.ehlo("t")
            return client.mail("ana@gto.gob.mx", ["SIZE=30000000"])

    code, text = await asyncio.to_thread(run)
    assert code == 552
    assert b"5.3.4" in text and b"size.max" in text


async def test_501st_recipient_refused(gateway: Gateway, sink: Sink) -> None:
    def run() -> list[int]:
        with smtplib.SMTP("127.0.0.1", gateway.port) as client:
            client.ehlo("t")
            client.mail("ana@gto.gob.mx")
            return [client.rcpt(f"p{i}@gto.gob.mx")[0] for i in range(501)]

    codes = await asyncio.to_thread(run)
    assert codes[:500] == [250] * 500
    assert codes[500] == 550  # THREATS.md S8: permanent, not a deferral


async def test_upstream_down_tempfails_and_nothing_is_lost(gateway_factory: GatewayFactory) -> None:
    # A port with nothing listening: bind, read the port, close.
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    gateway = await gateway_factory(port)
    code, text = await send(gateway.port, "ana@gto.gob.mx", ["luis@gto.gob.mx"], message())
    assert code == 451 and text.startswith("4.4.1")


async def test_upstream_4xx_passed_back(gateway: Gateway, sink: Sink) -> None:
    sink.handler.data_reply = "452 4.3.1 Insufficient system storage"
    code, text = await send(gateway.port, "ana@gto.gob.mx", ["luis@gto.gob.mx"], message())
    assert (code, text) == (452, "4.3.1 Insufficient system storage")


async def test_upstream_5xx_passed_back(gateway: Gateway, sink: Sink) -> None:
    sink.handler.data_reply = "554 5.7.1 Rejected by upstream policy"
    code, text = await send(gateway.port, "ana@gto.gob.mx", ["luis@gto.gob.mx"], message())
    assert (code, text) == (554, "5.7.1 Rejected by upstream policy")


async def test_partial_5xx_refusal_delivers_rest_and_tells_sender(gateway: Gateway, sink: Sink) -> None:
    sink.handler.rcpt_replies["nadie@gto.gob.mx"] = "550 5.1.1 No such user"
    rcpts = ["luis@gto.gob.mx", "nadie@gto.gob.mx"]
    code, _ = await send(gateway.port, "ana@gto.gob.mx", rcpts, message())
    assert code == 250
    delivered, report = sink.handler.received
    assert delivered.rcpt_tos == ["luis@gto.gob.mx"]
    assert (
        report.mail_from == "<>" and report.rcpt_tos
    )  # aiosmtpd shows the null sender as <> == ["ana@gto.gob.mx"]
    assert b"nadie@gto.gob.mx: 550 5.1.1 No such user" in report.data
    assert b"message/delivery-status" in report.data


async def test_partial_4xx_refusal_defers_whole_message(gateway: Gateway, sink: Sink) -> None:
    sink.handler.rcpt_replies["lleno@gto.gob.mx"] = "452 4.2.2 Mailbox full"
    code, text = await send(
        gateway.port, "ana@gto.gob.mx", ["luis@gto.gob.mx", "lleno@gto.gob.mx"], message()
    )
    assert (code, text) == (452, "4.2.2 Mailbox full")
    assert sink.handler.received == []


async def test_untrusted_client_refused_at_connect(gateway_factory: GatewayFactory, sink: Sink) -> None:
    gateway = await gateway_factory(sink.port, {"smtp": {"trusted_networks": ["10.9.9.0/24"]}})
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    greeting = await reader.readline()
    writer.close()
    assert greeting.startswith(b"554 5.7.1 Acceso denegado")


async def test_decisions_recorded(gateway: Gateway, sink: Sink) -> None:
    await send(gateway.port, "ana@gto.gob.mx", ["luis@gto.gob.mx"], message())
    await send(gateway.port, "ana@gto.gob.mx", ["luis@gto.gob.mx"], with_attachment("x.scr"))
    records = await gateway.store.decisions()
    assert [(r.action.name, r.rules) for r in records] == [
        ("REJECT", ("attach.dangerous",)),
        ("ACCEPT", ()),
    ]
    assert records[1].sender == "ana@gto.gob.mx" and records[1].recipients == 1


async def test_pipelined_transactions_judged_separately(gateway: Gateway, sink: Sink) -> None:
    clean = message().replace(b"\r\n.", b"\r\n..")
    bad = with_attachment("virus.exe")
    script = (
        b"EHLO t\r\nMAIL FROM:<ana@gto.gob.mx>\r\nRCPT TO:<luis@gto.gob.mx>\r\nDATA\r\n"
        + bad + b".\r\nMAIL FROM:<ana@gto.gob.mx>\r\nRCPT TO:<luis@gto.gob.mx>\r\nDATA\r\n"
        + clean + b".\r\nQUIT\r\n"
    )  # fmt: skip
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(script)
    await writer.drain()
    replies = (await reader.read()).decode().split("\r\n")
    writer.close()
    finals = [line[:3] for line in replies if line[:3] in ("250", "550") and " " == line[3:4]]
    assert "550" in finals
    assert len(sink.handler.received) == 1
    assert sink.handler.received[0].data == message()


async def test_xforward_accepted(gateway: Gateway, sink: Sink) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(b"EHLO postfix\r\nXFORWARD NAME=pc1.gto.gob.mx ADDR=10.1.2.3\r\nQUIT\r\n")
    await writer.drain()
    text = (await reader.read()).decode()
    writer.close()
    assert "250-XFORWARD" in text and "250 2.0.0 Ok" in text


async def test_null_sender_relayed_as_null(gateway: Gateway, sink: Sink) -> None:
    code, _ = await send(gateway.port, "<>", ["luis@gto.gob.mx"], message(sender="MAILER-DAEMON@gto.gob.mx"))
    assert code == 250
    assert sink.handler.received[0].mail_from == "<>"


async def test_upstream_connections_are_pooled(gateway: Gateway, sink: Sink) -> None:
    for n in range(5):
        code, _ = await send(gateway.port, "ana@gto.gob.mx", ["luis@gto.gob.mx"], message(subject=f"n{n}"))
        assert code == 250
    assert len(sink.handler.received) == 5
    assert sink.handler.greetings == 1


@pytest.mark.parametrize("limit", [0, 64])
def test_address_parse_is_aiosmtpd_s(limit: int) -> None:
    # GatewaySMTP._getaddr is aiosmtpd's without its per-call class definition: same answers
    cases = [
        "", "<>", "<ana@gto.gob.mx>", "<ana@gto.gob.mx> SIZE=100 BODY=8BITMIME", "ana@gto.gob.mx",
        "<@relay.mx:ana@gto.gob.mx>", '<"ana perez"@gto.gob.mx>', "<ana@[10.0.0.1]>", "<ana@>",
        "<ana", "ana@gto.gob.mx SMTPUTF8", "<ñandú@gto.gob.mx>", "<" + "x" * 65 + "@gto.gob.mx>",
        "<ana@gto.gob.mx>>", "  <ana@gto.gob.mx>", "<ana..perez@gto.gob.mx>", "<(comment)ana@gto.gob.mx>",
        "<ana@gto.gob.mx> (c) SIZE=1", "<ana@gto.gob.mx>  SIZE=1", "<ana@gto.gob.mx> ", "<.ana@gto.gob.mx>",
        "<ana.@gto.gob.mx>", "<ana@gto..gob.mx>", "<ana@gto.gob.mx.>", "<a+b=c/d{e}~f'g`h@x-y.mx> BODY=8BITMIME",
        "<ana@gto.gob.mx>\u3000SIZE=1", "<ana@gto.gob.mx> \u3000SIZE=1", "<ana@gto.gob.mx>)", "<ana@gto.gob.mx> )",
        "<ana@gto.gob.mx>SIZE=1", "<ana@b@gto.gob.mx>", "<" + "x" * 64 + "@gto.gob.mx>",
    ]  # fmt: skip
    server = SimpleNamespace(local_part_limit=limit)
    for case in cases:
        assert GatewaySMTP._getaddr(server, case) == SMTP._getaddr(server, case), case  # type: ignore[arg-type]


# Addresses built from the characters where email's parser and a plain "<local@domain>" part ways
_ADDRESS_PIECES = st.sampled_from(["a", "Z", "0", ".", "@", "<", ">", " ", "(", ")", '"', "+", "=", "-",
                                   "[", "]", ":", ",", ";", "\\", "ñ", "\t", "\u3000", "SIZE=1", "x" * 30])  # fmt: skip


_WORD = st.text("aZ0!#$%&'*+/=?^_`{|}~-", min_size=1, max_size=4)
_DOTTED = st.lists(_WORD, min_size=1, max_size=3).map(".".join)
_SHAPED = st.tuples(_DOTTED, _ADDRESS_PIECES, _DOTTED, st.lists(_ADDRESS_PIECES, max_size=3)).map(
    lambda t: (
        f"{t[0]}@{t[2]}>" + "".join(t[3]) if t[1] == "x" * 30 else f"{t[0]}{t[1]}@{t[2]}>" + "".join(t[3])
    )
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.lists(_ADDRESS_PIECES, max_size=14).map("".join), _SHAPED), st.sampled_from([0, 3, 64]))
def test_plain_address_shortcut_answers_as_the_parser(arg: str, limit: int) -> None:
    # GatewaySMTP._getaddr reads "<local@domain> params" without email's parser: same answers
    server = SimpleNamespace(local_part_limit=limit)
    for case in (arg, "<" + arg):
        assert _answer(GatewaySMTP._getaddr, server, case) == _answer(SMTP._getaddr, server, case), case


def _answer(getaddr: Callable[[Any, str], object], server: object, arg: str) -> object:
    try:
        return getaddr(server, arg)
    except IndexError as error:  # both raise it on "<" alone, as aiosmtpd does
        return type(error)
    except AttributeError as error:  # email's parser itself fails so on "a@[" (both paths reach it)
        return type(error)


async def test_internationalised_addresses_relayed_with_smtputf8(gateway: Gateway, sink: Sink) -> None:
    # RFC 6531: the gateway offers SMTPUTF8, so it relays it: MAIL FROM carries SMTPUTF8 and the
    # addresses go upstream in UTF-8
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=gateway.port)
    await client.connect()
    await client.mail("ñandú@gto.gob.mx", options=["SMTPUTF8"], encoding="utf-8")
    await client.rcpt("josé@gto.gob.mx", encoding="utf-8")
    reply = await client.data(message(sender="ñandú@gto.gob.mx"))
    await client.quit()
    assert reply.code == 250
    (received,) = sink.handler.received
    assert (received.mail_from, received.rcpt_tos) == ("ñandú@gto.gob.mx", ["josé@gto.gob.mx"])


async def test_internationalised_address_refused_when_upstream_lacks_smtputf8(
    gateway_factory: GatewayFactory,
) -> None:
    handler, loop = SinkHandler(), asyncio.get_running_loop()
    upstream = await loop.create_server(  # an upstream that offers no SMTPUTF8
        lambda: SMTP(handler, hostname="old", enable_SMTPUTF8=False, loop=loop), "127.0.0.1", 0
    )
    gateway = await gateway_factory(upstream.sockets[0].getsockname()[1])
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=gateway.port)
    await client.connect()
    await client.mail("ñandú@gto.gob.mx", options=["SMTPUTF8"], encoding="utf-8")
    await client.rcpt("luis@gto.gob.mx")
    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await client.data(message(sender="ñandú@gto.gob.mx"))
    await client.quit()
    upstream.close()
    await upstream.wait_closed()
    # Permanent and explained: the MTA bounces it with the reason instead of retrying for days
    assert (refused.value.code, refused.value.message) == (
        553,
        "5.6.7 upstream does not accept UTF-8 addresses (SMTPUTF8)",
    )
    assert handler.received == []
