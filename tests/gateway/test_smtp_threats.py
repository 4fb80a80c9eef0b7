"""THREATS.md section 1 (S1-S9) over real sockets, with raw bytes where the exact bytes matter.

Upstream is the lenient sink of tests/rawsmtp.py: it ends lines at CR, LF or CRLF and drops NULs,
so a smuggled second message that got past the gateway would show up there as a transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gateway import data as smtp_data
from tests.conftest import GatewayFactory
from tests.rawsmtp import LenientSink, converse

# THREATS.md S1: the non-standard ends of DATA listed by SEC Consult and hannob/smtpsmug
VARIANTS = {
    "lf-dot-crlf": b"\n.\r\n",
    "lf-dot-lf": b"\n.\n",
    "cr-dot-cr": b"\r.\r",
    "cr-dot-crlf": b"\r.\r\n",
    "crlf-dot-cr": b"\r\n.\r",
    "crlf-dot-lf": b"\r\n.\n",
    "crlf-nul-dot-crlf": b"\r\n\x00.\r\n",
}
HELLO = b"EHLO client.test\r\n"
ENVELOPE = b"MAIL FROM:<ana@gto.gob.mx>\r\nRCPT TO:<luis@gto.gob.mx>\r\nDATA\r\n"
FIRST = b"From: ana@gto.gob.mx\r\nTo: luis@gto.gob.mx\r\nSubject: uno\r\n\r\nprimero"
SMUGGLED = (
    b"MAIL FROM:<mallory@evil.example>\r\nRCPT TO:<victima@gto.gob.mx>\r\nDATA\r\n"
    b"From: director@gto.gob.mx\r\nSubject: urgente\r\n\r\nabra setup.exe\r\n"
)


@pytest.fixture
async def lenient() -> AsyncIterator[LenientSink]:
    sink = await LenientSink().start()
    yield sink
    sink.close()


def smuggling(variant: bytes) -> bytes:
    return FIRST + variant + SMUGGLED + b".\r\n"


@pytest.mark.parametrize("name", VARIANTS)
async def test_lenient_sink_would_be_fooled(lenient: LenientSink, name: str) -> None:
    # The control: sent straight to the lenient sink, each variant does split the message.
    await converse(lenient.port, HELLO + ENVELOPE + smuggling(VARIANTS[name]) + b"QUIT\r\n")
    assert [t.mail_from for t in lenient.received] == ["ana@gto.gob.mx", "mallory@evil.example"]


@pytest.mark.parametrize("name", VARIANTS)
async def test_smuggling_variant_refused_with_one_reply(
    gateway_factory: GatewayFactory, lenient: LenientSink, name: str
) -> None:
    gateway = await gateway_factory(lenient.port)
    finals = await converse(gateway.port, HELLO + ENVELOPE + smuggling(VARIANTS[name]) + b"QUIT\r\n")
    # 220, EHLO, MAIL, RCPT, 354, exactly one reply for the one DATA, 221
    assert [f[:3] for f in finals] == ["220", "250", "250", "250", "354", "550", "221"], finals
    assert lenient.received == []


@pytest.mark.parametrize("name", VARIANTS)
def test_reader_judges_variant(name: str) -> None:
    problem = smtp_data.judge(smuggling(VARIANTS[name])[:-3]).problem
    expected = smtp_data.Problem.NUL if b"\0" in VARIANTS[name] else smtp_data.Problem.BARE_EOL
    assert problem == expected


async def test_dot_lines_relayed_as_one_message(
    gateway_factory: GatewayFactory, lenient: LenientSink
) -> None:
    # S4: what the gateway relays is CRLF-clean and dot-stuffed, so even this sink sees one message.
    body = FIRST + b"\r\n.\r\n..\r\n.MAIL FROM:<mallory@evil.example>\r\nfin\r\n"
    stuffed = body.replace(b"\r\n.", b"\r\n..")
    gateway = await gateway_factory(lenient.port)
    finals = await converse(gateway.port, HELLO + ENVELOPE + stuffed + b".\r\nQUIT\r\n")
    assert finals[5].startswith("250 2.0.0"), finals
    assert len(lenient.received) == 1
    got = lenient.received[0]
    assert (got.mail_from, got.rcpt_tos) == ("ana@gto.gob.mx", ["luis@gto.gob.mx"])
    assert got.data.endswith(body)


# A bare LF is not here: aiosmtpd ends a command line at LF, so what follows is a command of its
# own from the same client, judged as such (no injection: upstream gets commands from aiosmtplib).
CONTROL = {"cr": "\r", "nul": "\0", "soh": "\x01", "tab": "\t", "esc": "\x1b", "del": "\x7f"}


@pytest.mark.parametrize("name", CONTROL)
async def test_control_characters_in_mail_from_refused(
    gateway_factory: GatewayFactory, lenient: LenientSink, name: str
) -> None:
    # S5: "MAIL FROM:<a@b\rRCPT TO:<x@evil>>" must not become two commands upstream
    sender = f"ana@gto.gob.mx{CONTROL[name]}RCPT TO:<x@evil.example>".encode()
    gateway = await gateway_factory(lenient.port)
    script = HELLO + b"MAIL FROM:<" + sender + b">\r\nRCPT TO:<luis@gto.gob.mx>\r\nDATA\r\n"
    finals = await converse(gateway.port, script + FIRST + b"\r\n.\r\nQUIT\r\n")
    assert finals[2][0] == "5", finals  # the MAIL command itself
    assert lenient.received == []


@pytest.mark.parametrize("name", CONTROL)
async def test_control_characters_in_rcpt_refused(
    gateway_factory: GatewayFactory, lenient: LenientSink, name: str
) -> None:
    rcpt = f"x@evil.example{CONTROL[name]}DATA".encode()
    gateway = await gateway_factory(lenient.port)
    script = HELLO + b"MAIL FROM:<ana@gto.gob.mx>\r\nRCPT TO:<" + rcpt + b">\r\n"
    script += b"RCPT TO:<luis@gto.gob.mx>\r\nDATA\r\n" + FIRST + b"\r\n.\r\nQUIT\r\n"
    finals = await converse(gateway.port, script)
    assert finals[3][0] == "5", finals
    assert [t.rcpt_tos for t in lenient.received] == [["luis@gto.gob.mx"]]


async def test_starttls_not_offered_and_no_injection(
    gateway_factory: GatewayFactory, lenient: LenientSink
) -> None:
    # S3: without STARTTLS there is no plaintext-to-TLS switch to inject commands across.
    gateway = await gateway_factory(lenient.port)
    reader_script = HELLO + b"STARTTLS\r\nNOOP\r\nQUIT\r\n"
    finals = await converse(gateway.port, reader_script)
    assert all("STARTTLS" not in f for f in finals)
    assert [f[:3] for f in finals] == ["220", "250", "454", "250", "221"], finals


async def test_size_advertised_and_enforced_on_bytes_received(
    gateway_factory: GatewayFactory, lenient: LenientSink
) -> None:
    # S6: SIZE=100 is a lie; what counts is what arrives.
    gateway = await gateway_factory(lenient.port, {"profile": {"size.max": {"max_bytes": 20000}}})
    body = FIRST + b"\r\n" + (b"x" * 900 + b"\r\n") * 30
    script = HELLO + b"MAIL FROM:<ana@gto.gob.mx> SIZE=100\r\nRCPT TO:<luis@gto.gob.mx>\r\nDATA\r\n"
    reader_replies = await converse(gateway.port, script + body + b".\r\nQUIT\r\n")
    assert reader_replies[5].startswith("552 5.3.4"), reader_replies
    assert lenient.received == []
    hello = await converse(gateway.port, b"EHLO t\r\nQUIT\r\n")
    assert hello[1].startswith("250")


async def test_size_extension_names_the_limit(gateway_factory: GatewayFactory, lenient: LenientSink) -> None:
    gateway = await gateway_factory(lenient.port)
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(b"EHLO t\r\nQUIT\r\n")
    text = (await reader.read()).decode()
    writer.close()
    assert f"250-SIZE {25 * 1024 * 1024}\r\n" in text


@pytest.mark.parametrize(("length", "code"), [(998, "250"), (1001, "500"), (5000, "500")])
async def test_line_length_limit(
    gateway_factory: GatewayFactory, lenient: LenientSink, length: int, code: str
) -> None:
    # S7: RFC 5321 §4.5.3.1.6, 998 octets plus CRLF
    gateway = await gateway_factory(lenient.port)
    body = FIRST + b"\r\n" + b"y" * length + b"\r\n"
    finals = await converse(gateway.port, HELLO + ENVELOPE + body + b".\r\nQUIT\r\n")
    assert finals[5][:3] == code, finals
    assert len(lenient.received) == (1 if code == "250" else 0)


async def test_recipient_501_refused_permanently(
    gateway_factory: GatewayFactory, lenient: LenientSink
) -> None:
    # S8: a 452 would only defer recipient 501; the answer is 550 5.5.3
    gateway = await gateway_factory(lenient.port)
    rcpts = b"".join(b"RCPT TO:<p%d@gto.gob.mx>\r\n" % i for i in range(501))
    finals = await converse(gateway.port, HELLO + b"MAIL FROM:<ana@gto.gob.mx>\r\n" + rcpts + b"QUIT\r\n")
    assert [f[:3] for f in finals[3:503]] == ["250"] * 500
    assert finals[503].startswith("550 5.5.3") and "rcpt.max" in finals[503]


async def test_pipelined_transactions_each_get_their_own_verdict(
    gateway_factory: GatewayFactory, lenient: LenientSink
) -> None:
    # S9: clean, dangerous, clean in one packet: three replies, only the clean two relayed
    gateway = await gateway_factory(lenient.port)
    bad = (
        b"From: ana@gto.gob.mx\r\nSubject: dos\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n'
        b'--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="a.exe"'
        b"\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAA==\r\n--b--\r\n"
    )
    script = HELLO + ENVELOPE + FIRST + b"\r\n.\r\n" + ENVELOPE + bad + b".\r\n"
    script += ENVELOPE + FIRST.replace(b"uno", b"tres") + b"\r\n.\r\nQUIT\r\n"
    finals = await converse(gateway.port, script)
    ends = [f[:3] for f in finals if not f.startswith(("220", "354"))][1:-1]
    assert ends == ["250", "250", "250", "250", "250", "550", "250", "250", "250"], finals
    assert [b"Subject: uno" in t.data or b"Subject: tres" in t.data for t in lenient.received] == [True, True]


async def test_session_limit_answers_421(gateway_factory: GatewayFactory, lenient: LenientSink) -> None:
    gateway = await gateway_factory(lenient.port, {"smtp": {"max_sessions": 2}})
    held = [await asyncio.open_connection("127.0.0.1", gateway.port) for _ in range(2)]
    for reader, _ in held:
        assert (await reader.readline()).startswith(b"220")
    refused = await converse(gateway.port, b"")
    assert len(refused) == 1 and refused[0].startswith("421 4.3.2"), refused
    reader, writer = held.pop()
    writer.write(b"QUIT\r\n")
    await reader.read()
    writer.close()
    while len(gateway.handler.active) >= 2:
        await asyncio.sleep(0.01)  # waits for the server to see the close, not for time
    again = await converse(gateway.port, b"QUIT\r\n")
    assert [f[:3] for f in again] == ["220", "221"]
    for _, writer in held:
        writer.close()
