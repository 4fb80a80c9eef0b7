"""The Sendmail milter protocol (version 6, as Postfix speaks it): packet framing and codec.

Pure: no I/O, no policy. Trusts nothing in the bytes it decodes: every length, terminator and
field count is checked and a bad packet raises ProtocolError. Hands decoded commands to
gateway.milter and encodes the responses it chooses. Sources: libmilter's mfdef.h (command,
response and flag values), Postfix's milter8.c and MILTER_README (what Postfix sends and accepts).

Wire format: a 4-byte network-order length, then that many bytes: one command byte and its data.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

VERSION = 6  # SMFI_PROT_VERSION
MIN_VERSION = 2  # the oldest version Postfix can speak (milter_protocol = 2)
CHUNK = 65535  # MILTER_CHUNK_SIZE: the largest body chunk an MTA sends
_LENGTH = struct.Struct("!I")
_OPTNEG = struct.Struct("!III")
LENGTH_BYTES = _LENGTH.size


class ProtocolError(Exception):
    """The peer broke the protocol; the session ends (Postfix applies milter_default_action)."""


class Command(bytes, enum.Enum):
    """SMFIC_*: what the MTA sends."""

    ABORT = b"A"
    BODY = b"B"
    CONNECT = b"C"
    MACRO = b"D"
    BODYEOB = b"E"
    HELO = b"H"
    QUIT_NC = b"K"  # quit, but a new connection follows on this socket (8.14)
    HEADER = b"L"
    MAIL = b"M"
    EOH = b"N"
    OPTNEG = b"O"
    QUIT = b"Q"
    RCPT = b"R"
    DATA = b"T"
    UNKNOWN = b"U"


class Response(bytes, enum.Enum):
    """SMFIR_*: what the filter answers (only those compuerta uses)."""

    ACCEPT = b"a"
    CONTINUE = b"c"
    DISCARD = b"d"
    ADDHEADER = b"h"
    INSHEADER = b"i"
    PROGRESS = b"p"
    REJECT = b"r"
    TEMPFAIL = b"t"
    REPLYCODE = b"y"
    OPTNEG = b"O"


class Act(enum.IntFlag):
    """SMFIF_*: the modifications a filter may ask for."""

    ADDHDRS = 0x01
    CHGBODY = 0x02
    ADDRCPT = 0x04
    DELRCPT = 0x08
    CHGHDRS = 0x10
    QUARANTINE = 0x20
    CHGFROM = 0x40
    ADDRCPT_PAR = 0x80
    SETSYMLIST = 0x100


class Step(enum.IntFlag):
    """SMFIP_*: events the filter does not want, and events it will not answer."""

    NOCONNECT = 0x01
    NOHELO = 0x02
    NOMAIL = 0x04
    NORCPT = 0x08
    NOBODY = 0x10
    NOHDRS = 0x20
    NOEOH = 0x40
    NR_HDR = 0x80
    NOUNKNOWN = 0x100
    NODATA = 0x200
    SKIP = 0x400
    RCPT_REJ = 0x800
    NR_CONN = 0x1000
    NR_HELO = 0x2000
    NR_MAIL = 0x4000
    NR_RCPT = 0x8000
    NR_DATA = 0x10000
    NR_UNKN = 0x20000
    NR_EOH = 0x40000
    NR_BODY = 0x80000
    HDR_LEADSPC = 0x100000  # header values arrive with their leading space, byte for byte


# The events compuerta answers with nothing to say: no reply saves a round trip each (8.14).
_SILENT = {
    Command.CONNECT: Step.NR_CONN,
    Command.HELO: Step.NR_HELO,
    Command.DATA: Step.NR_DATA,
    Command.UNKNOWN: Step.NR_UNKN,
    Command.HEADER: Step.NR_HDR,
    Command.EOH: Step.NR_EOH,
    Command.BODY: Step.NR_BODY,
}
# Events that never get a reply, whatever was negotiated.
_NO_REPLY = {Command.MACRO, Command.ABORT, Command.QUIT, Command.QUIT_NC}


@dataclass(frozen=True)
class Packet:
    command: bytes  # one byte; may be a code this module does not know
    data: bytes


@dataclass(frozen=True)
class Options:
    """SMFIC_OPTNEG from the MTA, or the filter's answer to it."""

    version: int
    actions: Act
    steps: Step


@dataclass(frozen=True)
class Connect:
    hostname: str
    family: str  # "4", "6", "L" (UNIX socket) or "U" (unknown)
    port: int = 0
    address: str = ""


@dataclass(frozen=True)
class Header:
    name: str
    value: bytes  # raw: folded lines joined by LF, as Postfix sends them


def frame_length(prefix: bytes, limit: int) -> int:
    """The length announced by a packet's 4-byte prefix, checked against ``limit``."""
    if len(prefix) != LENGTH_BYTES:
        raise ProtocolError("truncated length prefix")
    (length,) = _LENGTH.unpack(prefix)
    if length < 1:
        raise ProtocolError("empty packet")  # milter8.c: "bad packet length"
    if length > limit:
        raise ProtocolError(f"packet of {length} bytes exceeds the limit of {limit}")
    return int(length)


def split(body: bytes) -> Packet:
    """A packet's command byte and data (``body`` is what followed the length prefix)."""
    if not body:
        raise ProtocolError("empty packet")
    return Packet(body[:1], body[1:])


class Framer:
    """Cuts a byte stream into packets; a length over ``limit`` is refused as soon as its
    4-byte prefix arrives, before any of the packet is buffered."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._buffer = bytearray()

    @property
    def pending(self) -> bool:
        """Whether part of a packet is waiting for the rest."""
        return bool(self._buffer)

    def feed(self, data: bytes) -> list[Packet]:
        """Every packet completed by ``data``, in order."""
        self._buffer += data
        packets: list[Packet] = []
        while len(self._buffer) >= LENGTH_BYTES:
            length = frame_length(bytes(self._buffer[:LENGTH_BYTES]), self.limit)
            end = LENGTH_BYTES + length
            if len(self._buffer) < end:
                break
            packets.append(split(bytes(self._buffer[LENGTH_BYTES:end])))
            del self._buffer[:end]
        return packets


def encode(response: Response, data: bytes = b"") -> bytes:
    return _LENGTH.pack(1 + len(data)) + response.value + data


def encode_command(command: Command, data: bytes = b"") -> bytes:
    """The MTA's side of framing; used by test clients and the benchmark."""
    return _LENGTH.pack(1 + len(data)) + command.value + data


def expects_reply(command: Command, steps: Step) -> bool:
    """Whether the MTA waits for an answer to ``command`` under the negotiated ``steps``."""
    if command in _NO_REPLY:
        return False
    flag = _SILENT.get(command)
    return flag is None or not steps & flag


# -- decoding what the MTA sends ---------------------------------------------------------------


def decode_options(data: bytes) -> Options:
    if len(data) < _OPTNEG.size:
        raise ProtocolError("SMFIC_OPTNEG shorter than 12 bytes")
    version, actions, steps = _OPTNEG.unpack_from(data)
    return Options(version, Act(actions & _all(Act)), Step(steps & _all(Step)))


def strings(data: bytes, count: int | None = None) -> list[bytes]:
    """NUL-terminated strings filling ``data`` exactly (``count`` of them when given)."""
    if data and not data.endswith(b"\0"):
        raise ProtocolError("string not NUL-terminated")
    items = data[:-1].split(b"\0") if data else []
    if count is not None and len(items) != count:
        raise ProtocolError(f"expected {count} strings, got {len(items)}")
    return items


def decode_macros(data: bytes) -> tuple[str, dict[str, str]]:
    """SMFIC_MACRO: the command the macros belong to, and name -> value."""
    if not data:
        raise ProtocolError("SMFIC_MACRO without a command code")
    items = strings(data[1:])
    if len(items) % 2:
        raise ProtocolError("SMFIC_MACRO with a name and no value")
    pairs = zip(items[::2], items[1::2], strict=True)
    return data[:1].decode("latin-1"), {_text(k): _text(v) for k, v in pairs}


def decode_connect(data: bytes) -> Connect:
    """SMFIC_CONNECT: host name, family, then port and address unless the family is unknown."""
    name, sep, rest = data.partition(b"\0")
    if not sep or not rest:
        raise ProtocolError("SMFIC_CONNECT truncated")
    family = rest[:1].decode("latin-1")
    if family == "U":
        return Connect(_text(name), family)
    if family not in ("4", "6", "L") or len(rest) < 3:
        raise ProtocolError(f"SMFIC_CONNECT with bad family {family!r}")
    (port,) = struct.unpack("!H", rest[1:3])
    (address,) = strings(rest[3:], 1)
    return Connect(_text(name), family, port, _text(address))


def decode_args(data: bytes) -> tuple[str, tuple[str, ...]]:
    """SMFIC_MAIL / SMFIC_RCPT: the address without <>, then the ESMTP parameters."""
    items = strings(data)
    if not items:
        raise ProtocolError("MAIL/RCPT without an address")
    address = _text(items[0]).strip()
    if address.startswith("<") and address.endswith(">"):
        address = address[1:-1]
    return address, tuple(_text(item) for item in items[1:])


def decode_header(data: bytes) -> Header:
    name, value = strings(data, 2)
    if not name:
        raise ProtocolError("header without a name")
    return Header(_text(name), value)


def decode_string(data: bytes) -> str:
    """SMFIC_HELO / SMFIC_UNKNOWN: one string."""
    (value,) = strings(data, 1)
    return _text(value)


# -- encoding what the filter answers ----------------------------------------------------------


def negotiate(offered: Options, wanted_actions: Act, silent: bool = True) -> Options:
    """The filter's SMFIC_OPTNEG: a version both speak, the actions it needs, and the events
    it skips or will not answer, limited to what the MTA offered (milter8.c rejects more)."""
    if offered.version < MIN_VERSION:
        raise ProtocolError(f"milter protocol version {offered.version} is too old")
    steps = Step(0)
    if silent:
        for flag in _SILENT.values():
            steps |= flag & offered.steps
    steps |= Step.HDR_LEADSPC & offered.steps
    return Options(min(offered.version, VERSION), wanted_actions & offered.actions, steps)


def encode_options(options: Options) -> bytes:
    return encode(Response.OPTNEG, _OPTNEG.pack(options.version, options.actions, options.steps))


def reply_code(line: str) -> bytes:
    """SMFIR_REPLYCODE for one SMTP reply line "4xx/5xx x.y.z text"."""
    if line[:1] not in ("4", "5") or not line[:3].isdigit() or line[3:4] != " ":
        raise ValueError(f"not a 4xx/5xx reply: {line[:40]!r}")
    # milter8.c: Sendmail uses the text as a format string, so '%' travels doubled.
    text = line.replace("%", "%%").encode("utf-8", "replace").replace(b"\0", b"?")
    return encode(Response.REPLYCODE, text + b"\0")


def add_header(name: str, value: str) -> bytes:
    return encode(Response.ADDHEADER, _cstring(name) + _cstring(value))


def insert_header(index: int, name: str, value: str) -> bytes:
    """SMFIR_INSHEADER: index 0 is the top-most header (Postfix keeps its own Received above)."""
    return encode(Response.INSHEADER, _LENGTH.pack(index) + _cstring(name) + _cstring(value))


def _cstring(value: str) -> bytes:
    return value.encode("utf-8", "replace").replace(b"\0", b"") + b"\0"


def _text(raw: bytes) -> str:
    # Addresses and macros are ASCII or UTF-8 (SMTPUTF8); never fail on a stray byte.
    return raw.decode("utf-8", "surrogateescape")


def _all(flags: type[enum.IntFlag]) -> int:
    total = 0
    for member in flags:
        total |= int(member)
    return total
