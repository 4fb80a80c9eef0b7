"""The milter codec on its own: framing, every command Postfix sends, every response we send."""

from __future__ import annotations

import struct

import pytest

from gateway import milter_protocol as mp


def test_frame_length_bounds() -> None:
    assert mp.frame_length(struct.pack("!I", 13), 100) == 13
    for bad in (struct.pack("!I", 0), struct.pack("!I", 101), struct.pack("!I", 0xFFFFFFFF), b"\0\0\0"):
        with pytest.raises(mp.ProtocolError):
            mp.frame_length(bad, 100)


def test_split_and_encode_round_trip() -> None:
    wire = mp.encode_command(mp.Command.HELO, b"pc1\0")
    assert wire == b"\0\0\0\x05Hpc1\0"
    assert mp.split(wire[4:]) == mp.Packet(b"H", b"pc1\0")
    with pytest.raises(mp.ProtocolError):
        mp.split(b"")


def test_negotiation_within_what_the_mta_offers() -> None:
    offered = mp.decode_options(struct.pack("!III", 6, 0x1FF, 0x1FFFFF))
    answer = mp.negotiate(offered, mp.Act.ADDHDRS)
    assert answer.version == 6 and answer.actions == mp.Act.ADDHDRS
    assert answer.steps & mp.Step.NR_BODY and answer.steps & mp.Step.HDR_LEADSPC
    assert not answer.steps & (mp.Step.NR_MAIL | mp.Step.NR_RCPT | mp.Step.NOBODY)
    assert mp.encode_options(answer) == b"\0\0\0\x0dO" + struct.pack("!III", 6, 1, int(answer.steps))
    old = mp.negotiate(mp.decode_options(struct.pack("!III", 2, 0x3F, 0x7F)), mp.Act.ADDHDRS)
    assert (old.version, old.steps) == (2, mp.Step(0))
    with pytest.raises(mp.ProtocolError):
        mp.negotiate(mp.Options(1, mp.Act(0x3F), mp.Step(0)), mp.Act.ADDHDRS)
    with pytest.raises(mp.ProtocolError):
        mp.decode_options(b"\0\0\0\x06")


def test_unknown_flag_bits_are_dropped() -> None:
    offered = mp.decode_options(struct.pack("!III", 6, 0xFFFFFFFF, 0xFFFFFFFF))
    assert offered.actions == mp.Act(0x1FF) and int(offered.steps) == 0x1FFFFF


def test_expects_reply_follows_negotiation() -> None:
    silent = mp.Step.NR_HDR | mp.Step.NR_BODY
    assert not mp.expects_reply(mp.Command.HEADER, silent)
    assert mp.expects_reply(mp.Command.HEADER, mp.Step(0))
    assert mp.expects_reply(mp.Command.MAIL, silent) and mp.expects_reply(mp.Command.BODYEOB, silent)
    for never in (mp.Command.MACRO, mp.Command.ABORT, mp.Command.QUIT, mp.Command.QUIT_NC):
        assert not mp.expects_reply(never, mp.Step(0))


def test_macros() -> None:
    stage, values = mp.decode_macros(b"M{auth_authen}\0ana@gto.gob.mx\0i\x004ABC\0")
    assert (stage, values) == ("M", {"{auth_authen}": "ana@gto.gob.mx", "i": "4ABC"})
    assert mp.decode_macros(b"C") == ("C", {})
    for bad in (b"", b"Mname\0", b"Mname\0value"):
        with pytest.raises(mp.ProtocolError):
            mp.decode_macros(bad)


def test_connect_families() -> None:
    inet = b"pc1.gto.gob.mx\x004" + struct.pack("!H", 40000) + b"10.1.2.3\0"
    assert mp.decode_connect(inet) == mp.Connect("pc1.gto.gob.mx", "4", 40000, "10.1.2.3")
    six = b"[::1]\x006" + struct.pack("!H", 1) + b"::1\0"
    assert mp.decode_connect(six).address == "::1"
    assert mp.decode_connect(b"localhost\0U") == mp.Connect("localhost", "U")
    for bad in (b"pc1", b"pc1\0", b"pc1\x004\0", b"pc1\x00X\0\0a\0", b"pc1\x004\0\x01noterm"):
        with pytest.raises(mp.ProtocolError):
            mp.decode_connect(bad)


def test_mail_and_rcpt_arguments() -> None:
    assert mp.decode_args(b"<ana@gto.gob.mx>\0SIZE=100\0BODY=8BITMIME\0") == (
        "ana@gto.gob.mx", ("SIZE=100", "BODY=8BITMIME"),
    )  # fmt: skip
    assert mp.decode_args(b"<>\0") == ("", ())
    for bad in (b"", b"<a@b>"):
        with pytest.raises(mp.ProtocolError):
            mp.decode_args(bad)


def test_header_and_strings() -> None:
    assert mp.decode_header(b"Subject\0 hola\n\tmundo\0") == mp.Header("Subject", b" hola\n\tmundo")
    assert mp.decode_string(b"pc1\0") == "pc1"
    for bad in (b"Subject\0", b"\0value\0", b"Subject\0a\0b\0"):
        with pytest.raises(mp.ProtocolError):
            mp.decode_header(bad)


def test_reply_code_escapes_percent_and_checks_class() -> None:
    wire = mp.reply_code("550 5.7.1 100% prohibido")
    assert wire[4:] == b"y550 5.7.1 100%% prohibido\0"
    assert struct.unpack("!I", wire[:4])[0] == len(wire) - 4
    for bad in ("250 2.0.0 ok", "55 x", "5x0 y"):
        with pytest.raises(ValueError):
            mp.reply_code(bad)


def test_header_modifications() -> None:
    assert mp.add_header("X-A", "b")[4:] == b"hX-A\0b\0"
    assert mp.insert_header(0, "X-A", " b\0c")[4:] == b"i\0\0\0\0X-A\0 bc\0"


def test_framer_cuts_a_stream_at_any_byte() -> None:
    stream = mp.encode_command(mp.Command.HELO, b"pc1\0") + mp.encode_command(mp.Command.EOH)
    for cut in range(len(stream) + 1):
        framer = mp.Framer(100)
        packets = framer.feed(stream[:cut]) + framer.feed(stream[cut:])
        assert packets == [mp.Packet(b"H", b"pc1\0"), mp.Packet(b"N", b"")]
        assert not framer.pending


def test_framer_refuses_a_huge_length_before_buffering_it() -> None:
    framer = mp.Framer(100)
    prefix = struct.pack("!I", 1 << 31)
    assert framer.feed(prefix[:2]) == [] and framer.pending
    with pytest.raises(mp.ProtocolError, match="exceeds the limit"):
        framer.feed(prefix[2:])
