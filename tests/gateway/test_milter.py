"""The milter over real sockets: a test MTA (tests/milter_mta.py) plays Postfix's side."""

from __future__ import annotations

import asyncio
import base64
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway import milter_protocol as mp
from gateway.config import ConfigError, build
from gateway.model import Account, Action, Directory
from relay import dkim
from relay.transport import MemoryTransport
from tests.conftest import message
from tests.milter_mta import MTA, Running, start_milter

EXE = base64.b64encode(b"MZ\x90\x00" + b"\x00" * 60 + b"PE\x00\x00" + b"\x00" * 200).decode()
ANA = "ana@gto.gob.mx"
LUIS = "luis@gto.gob.mx"


def with_attachment(name: str) -> bytes:
    return (
        "From: ana@gto.gob.mx\r\nTo: luis@gto.gob.mx\r\nSubject: adjunto\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\n'
        f"Va el archivo.\r\n--b1\r\nContent-Type: application/octet-stream\r\n"
        f'Content-Disposition: attachment; filename="{name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        f"{EXE}\r\n--b1--\r\n"
    ).encode()


@pytest.fixture
async def milter(tmp_path: Path) -> AsyncIterator[Running]:
    running = await start_milter(tmp_path)
    yield running
    await running.stop()


async def session(running: Running, **negotiation: int) -> MTA:
    mta = await MTA.open(running.port)
    await mta.negotiate(**negotiation)
    await mta.connect()
    return mta


async def test_negotiates_version_6_and_skips_needless_replies(milter: Running) -> None:
    mta = await MTA.open(milter.port)
    version, actions, steps = await mta.negotiate()
    assert version == 6 and actions == mp.Act.ADDHDRS
    for silent in (mp.Step.NR_CONN, mp.Step.NR_HELO, mp.Step.NR_HDR, mp.Step.NR_EOH, mp.Step.NR_BODY):
        assert steps & silent
    assert not steps & (mp.Step.NR_MAIL | mp.Step.NR_RCPT), "MAIL and RCPT get an answer"
    assert steps & mp.Step.HDR_LEADSPC, "header values byte for byte"
    await mta.close()


async def test_older_mta_gets_a_reply_to_every_event(milter: Running) -> None:
    mta = await MTA.open(milter.port)
    version, _, steps = await mta.negotiate(version=2, actions=0x3F, steps=0x7F)
    assert (version, steps) == (2, 0)
    answer = await mta.connect()
    assert answer is not None and answer.final == b"c"
    final = await mta.message(ANA, [LUIS], message())
    assert final.final == b"a"
    await mta.close()


async def test_clean_mail_accepted_untouched(milter: Running) -> None:
    mta = await session(milter)
    answer = await mta.message(ANA, [LUIS], message())
    assert (answer.final, answer.edits) == (b"a", [])
    records = await milter.services.store.decisions()
    assert [(r.action, r.sender, r.recipients) for r in records] == [(Action.ACCEPT, ANA, 1)]
    await mta.close()


async def test_exe_refused_with_the_reply_table_text(milter: Running) -> None:
    mta = await session(milter)
    answer = await mta.message(ANA, [LUIS], with_attachment("setup.exe"))
    assert answer.final == b"y"
    assert answer.data.endswith(b"\0")
    assert answer.text.startswith("550 5.7.1 Mensaje rechazado por la regla attach.dangerous")
    assert "setup.exe" in answer.text
    await mta.close()


async def test_hold_commits_exact_bytes_then_discards(tmp_path: Path) -> None:
    running = await start_milter(tmp_path, {"profile": {"attach.dangerous": {"action": "hold"}}})
    mta = await session(running)
    raw = with_attachment("informe.exe").replace(
        b"Subject: adjunto\r\n", b"Subject: adjunto\r\n  muy largo\r\nX-Dots:  two spaces\r\n"
    )
    raw = raw.replace(b"Va el archivo.\r\n", b"Va el archivo.\r\n.linea con punto\r\n")
    answer = await mta.message(ANA, [LUIS, "eva@gto.gob.mx"], raw)
    assert answer.final == b"d", "held in compuerta, discarded from Postfix's queue"
    (record,) = await running.services.store.decisions()
    assert record.action == Action.HOLD and record.ticket.startswith("C-")
    held = await running.services.store.held(record.ticket)
    assert held is not None
    assert held.raw == raw, "the message is rebuilt byte for byte"
    assert held.envelope.rcpt_tos == (LUIS, "eva@gto.gob.mx")
    transport = running.services.transport
    assert isinstance(transport, MemoryTransport)
    notices = [data for _, rcpts, data in transport.sent if rcpts == (ANA,)]
    assert len(notices) == 1 and record.ticket.encode() in notices[0], "the sender is told the ticket"
    await mta.close()
    await running.stop()


async def test_tag_inserts_rules_header_on_top(tmp_path: Path) -> None:
    running = await start_milter(tmp_path, {"profile": {"attach.dangerous": {"action": "tag"}}})
    mta = await session(running)
    answer = await mta.message(ANA, [LUIS], with_attachment("x.exe"))
    assert answer.final == b"a"
    assert answer.edits == [(b"i", struct.pack("!I", 0) + b"X-Compuerta-Rules\0 attach.dangerous\0")]
    await mta.close()
    await running.stop()


async def test_tempfail_action_gives_4xx(tmp_path: Path) -> None:
    running = await start_milter(tmp_path, {"profile": {"attach.dangerous": {"action": "tempfail"}}})
    mta = await session(running)
    answer = await mta.message(ANA, [LUIS], with_attachment("x.exe"))
    assert answer.final == b"y" and answer.text.startswith("450 4.7.1 ")
    await mta.close()
    await running.stop()


async def test_declared_size_refused_at_mail(milter: Running) -> None:
    mta = await session(milter)
    answer = await mta.mail(ANA, args=("SIZE=30000000",))
    assert answer is not None and answer.final == b"y"
    assert answer.text.startswith("552 5.3.4") and "size.max" in answer.text
    await mta.close()


async def test_message_over_the_limit_refused_without_buffering(tmp_path: Path) -> None:
    running = await start_milter(tmp_path, {"profile": {"size.max": {"max_bytes": 100_000}}})
    mta = await session(running)
    answer = await mta.message(ANA, [LUIS], message(body="x" * 70 + "\r\n") * 2000)
    assert answer.final == b"y" and answer.text.startswith("552 5.3.4")
    await mta.close()
    await running.stop()


async def test_501st_recipient_refused_at_rcpt(milter: Running) -> None:
    mta = await session(milter)
    await mta.mail(ANA)
    finals = [await mta.rcpt(f"p{i}@gto.gob.mx") for i in range(501)]
    codes = [a.final if a else b"" for a in finals]
    assert codes[:500] == [b"c"] * 500
    last = finals[500]
    assert last is not None and last.text.startswith("550 5.5.3")
    await mta.close()


async def test_dkim_signature_on_top_verifies_as_postfix_delivers_it(tmp_path: Path) -> None:
    private, record = dkim.keygen(dkim.ED25519)
    signer = dkim.Signer({"gto.gob.mx": dkim.Key("gto.gob.mx", "s2026", private)}, frozenset({"gto.gob.mx"}))
    overrides = {"profile": {"attach.dangerous": {"action": "tag"}}}
    running = await start_milter(tmp_path, overrides, signer=signer)
    mta = await session(running)
    raw = with_attachment("x.exe")
    answer = await mta.message(ANA, [LUIS], raw)
    assert answer.final == b"a"
    assert [code for code, _ in answer.edits] == [b"i", b"i"]
    # What Postfix writes: each inserted header on top, its LF folds as CRLF continuation lines.
    delivered = raw
    for _, data in answer.edits:
        name, value = data[4:].rstrip(b"\0").split(b"\0")
        delivered = name + b":" + value.replace(b"\n", b"\r\n") + b"\r\n" + delivered
    assert delivered.startswith(b"DKIM-Signature: v=1; a=ed25519-sha256;")
    assert b"\r\nX-Compuerta-Rules: attach.dangerous\r\nFrom: ana@gto.gob.mx" in delivered
    assert dkim.verify(
        delivered, lambda name: record.encode() if name == "s2026._domainkey.gto.gob.mx" else None
    )
    await mta.close()
    await running.stop()


async def test_no_signature_where_the_domain_did_not_ask(milter: Running) -> None:
    mta = await session(milter)
    assert (await mta.message(ANA, [LUIS], message())).edits == []
    await mta.close()


# -- identity: {auth_authen} -----------------------------------------------------------------


async def test_login_sending_as_someone_else_refused_at_mail(milter: Running) -> None:
    mta = await session(milter)
    answer = await mta.mail("director@gto.gob.mx", login="ana@gto.gob.mx")
    assert answer is not None and answer.final == b"y"
    assert answer.text.startswith("550 5.7.1 Mensaje rechazado por la regla sender.login")
    assert "003 5.6.7" in answer.text
    await mta.close()


async def test_login_own_address_and_bare_login_pass(milter: Running) -> None:
    mta = await session(milter)
    assert (await mta.message(ANA, [LUIS], message(), login="ANA@gto.gob.mx")).final == b"a"
    assert (await mta.message(ANA, [LUIS], message(), login="ana")).final == b"a"
    await mta.close()


async def test_login_may_use_addresses_the_directory_grants(tmp_path: Path) -> None:
    directory = Directory({ANA: Account(ANA, send_as=("difusion@gto.gob.mx",))})
    running = await start_milter(tmp_path, directory=directory)
    mta = await session(running)
    raw = message(sender="difusion@gto.gob.mx")
    assert (await mta.message("difusion@gto.gob.mx", [LUIS], raw, login=ANA)).final == b"a"
    refused = await mta.mail("otro@gto.gob.mx", login=ANA)
    assert refused is not None and refused.final == b"y"
    await mta.close()
    await running.stop()


async def test_from_header_of_someone_else_refused_at_end_of_message(milter: Running) -> None:
    mta = await session(milter)
    answer = await mta.message(ANA, [LUIS], message(sender="director@gto.gob.mx"), login=ANA)
    assert answer.final == b"y" and "sender.login" in answer.text and "director@gto.gob.mx" in answer.text
    await mta.close()


async def test_no_login_no_identity_check(milter: Running) -> None:
    mta = await session(milter)
    assert (await mta.message("director@gto.gob.mx", [LUIS], message())).final == b"a"
    await mta.close()


# -- the session: several messages, abort, connection reuse ----------------------------------


async def test_abort_then_next_message_judged_alone(milter: Running) -> None:
    mta = await session(milter)
    await mta.mail(ANA, login=ANA)
    await mta.rcpt(LUIS)
    await mta.event(mp.Command.ABORT)
    # The login of the aborted transaction must not stick to the next one.
    assert (await mta.message("director@gto.gob.mx", [LUIS], message())).final == b"a"
    assert (await mta.message(ANA, [LUIS], with_attachment("a.exe"))).final == b"y"
    await mta.close()


async def test_quit_nc_starts_a_new_connection_on_the_same_socket(milter: Running) -> None:
    mta = await session(milter)
    assert (await mta.message(ANA, [LUIS], message())).final == b"a"
    await mta.event(mp.Command.QUIT_NC)
    await mta.connect(hostname="pc2.gto.gob.mx", address="10.1.2.4")
    assert (await mta.message(ANA, [LUIS], message())).final == b"a"
    await mta.close()


async def test_unix_socket_listener(tmp_path: Path) -> None:
    path = tmp_path / "milter.sock"
    running = await start_milter(tmp_path, listen=f"unix:{path}")
    mta = await MTA.open(path=str(path))
    await mta.negotiate()
    await mta.connect()
    assert (await mta.message(ANA, [LUIS], message())).final == b"a"
    assert path.stat().st_mode & 0o777 == 0o660
    await mta.close()
    await running.stop()


# -- a hostile or broken peer loses only its own connection ----------------------------------


async def _closed_by_server(mta: MTA) -> bool:
    async with asyncio.timeout(5):
        rest = await mta.reader.read()
    await mta.close()
    return rest == b""


@pytest.mark.parametrize(
    "garbage",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # not the protocol at all
        struct.pack("!I", 0xFFFFFFFF) + b"O",  # a 4 GB packet announced
        struct.pack("!I", 0),  # an empty packet
        struct.pack("!I", 13) + b"O\0\0\0\x06",  # truncated, then EOF
        struct.pack("!I", 5) + b"O\0\0\0\x06",  # OPTNEG too short
        mp.encode_command(mp.Command.MAIL, b"<a@b>\0"),  # MAIL before negotiation
        struct.pack("!I", 1) + b"Z",  # unknown command
        b"\x00\x00",  # half a length prefix, then EOF
    ],
)
async def test_garbage_closes_only_that_connection(milter: Running, garbage: bytes) -> None:
    bad = await MTA.open(milter.port)
    bad.writer.write(garbage)
    bad.writer.write_eof()
    assert await _closed_by_server(bad)
    good = await session(milter)
    assert (await good.message(ANA, [LUIS], message())).final == b"a"
    await good.close()


@pytest.mark.parametrize(
    "command, data",
    [
        (mp.Command.RCPT, b"<luis@gto.gob.mx>\0"),  # RCPT before MAIL
        (mp.Command.HEADER, b"Subject\0x\0"),  # a header outside a transaction
        (mp.Command.BODYEOB, b""),  # end of message with no message
        (mp.Command.OPTNEG, struct.pack("!III", 6, 0x1FF, 0x1FFFFF)),  # negotiating twice
        (mp.Command.MAIL, b"no terminator"),
        (mp.Command.CONNECT, b"host\0X"),  # bad address family
        (mp.Command.MACRO, b"Mname-without-value\0"),
    ],
)
async def test_wrong_order_or_malformed_event_closes(
    milter: Running, command: mp.Command, data: bytes
) -> None:
    mta = await session(milter)
    mta.writer.write(mp.encode_command(command, data))
    assert await _closed_by_server(mta)


async def test_header_after_body_closes(milter: Running) -> None:
    mta = await session(milter)
    await mta.mail(ANA)
    await mta.event(mp.Command.BODY, b"hola\r\n")
    mta.writer.write(mp.encode_command(mp.Command.HEADER, b"Subject\0x\0"))
    assert await _closed_by_server(mta)


async def test_oversized_packet_refused_before_reading_it(milter: Running) -> None:
    mta = await session(milter)
    limit = milter.services.env.config.milter.max_packet
    mta.writer.write(struct.pack("!I", limit + 1) + b"B")  # the rest never comes
    assert await _closed_by_server(mta)


async def test_silent_peer_times_out(tmp_path: Path) -> None:
    running = await start_milter(tmp_path, {"milter": {"idle_timeout": 0.05, "packet_timeout": 0.05}})
    mta = await MTA.open(running.port)
    mta.writer.write(struct.pack("!I", 13) + b"O")  # half a packet, then silence
    assert await _closed_by_server(mta)
    await running.stop()


@pytest.mark.parametrize("listen", ["127.0.0.1:10026", "tcp:127.0.0.1:1", "unix:relative.sock", "inet:host"])
def test_bad_listen_address_named_at_load(listen: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build({"milter": {"listen": listen}})
    assert caught.value.key == "milter.listen"


async def test_stop_closes_idle_sessions_and_lets_a_message_in_flight_finish(tmp_path: Path) -> None:
    running = await start_milter(tmp_path)
    idle = await session(running)
    busy = await session(running)
    await busy.mail(ANA)
    await busy.rcpt(LUIS)
    stopping = asyncio.create_task(running.server.stop(grace=10))
    assert await _closed_by_server(idle), "nothing in flight: closed at once"
    final = await busy.content(message())
    assert final is not None and final.final == b"a", "the transaction in flight is answered"
    await busy.close()
    await stopping
    await running.services.store.close()
