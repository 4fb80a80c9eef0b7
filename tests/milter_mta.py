"""The MTA side of the milter protocol, for tests: plays Postfix over a real socket.

Sends what Postfix's milter8.c sends (macros before each event, headers split at the colon with
folded lines joined by LF, the body in CRLF chunks of at most 65535 bytes, no blank line between
them) and reads the filter's answers until a final one.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gateway import milter_protocol as mp
from gateway.milter import MilterServer, start
from gateway.model import Directory
from gateway.outcome import Services
from gateway.pipeline import Environment
from gateway.store import open_store
from relay.dkim import Signer
from relay.transport import MemoryTransport
from tests.conftest import FixedClock, make_config

ALL_ACTIONS = 0x1FF
ALL_STEPS_V6 = 0x1FFFFF
_FINAL = {b"a", b"c", b"d", b"r", b"t", b"y", b"f", b"4", b"s"}


@dataclass
class Answer:
    final: bytes  # the command byte of the final response
    data: bytes = b""
    edits: list[tuple[bytes, bytes]] = field(default_factory=list)  # modifications before it

    @property
    def text(self) -> str:
        return self.data.rstrip(b"\0").decode()


class MTA:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.steps = 0

    @classmethod
    async def open(cls, port: int = 0, path: str = "") -> MTA:
        if path:
            reader, writer = await asyncio.open_unix_connection(path)
        else:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()

    async def negotiate(self, version: int = 6, actions: int = ALL_ACTIONS, steps: int = ALL_STEPS_V6) -> tuple[int, int, int]:  # fmt: skip
        self.writer.write(mp.encode_command(mp.Command.OPTNEG, struct.pack("!III", version, actions, steps)))
        command, data = await self.read()
        assert command == b"O", command
        got = struct.unpack("!III", data[:12])
        self.steps = got[2]
        return got

    async def read(self) -> tuple[bytes, bytes]:
        (length,) = struct.unpack("!I", await self.reader.readexactly(4))
        body = await self.reader.readexactly(length)
        return body[:1], body[1:]

    async def event(self, command: mp.Command, data: bytes = b"", macros: Mapping[str, str] | None = None) -> Answer | None:  # fmt: skip
        if macros:
            pairs = b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in macros.items())
            self.writer.write(mp.encode_command(mp.Command.MACRO, command.value + pairs))
        self.writer.write(mp.encode_command(command, data))
        await self.writer.drain()
        if not mp.expects_reply(command, mp.Step(self.steps)):
            return None
        answer = Answer(b"")
        while True:
            code, payload = await self.read()
            if code in _FINAL:
                answer.final, answer.data = code, payload
                return answer
            if code != b"p":
                answer.edits.append((code, payload))

    async def connect(self, hostname: str = "pc1.gto.gob.mx", address: str = "10.1.2.3") -> Answer | None:
        data = hostname.encode() + b"\0" + b"4" + struct.pack("!H", 40000) + address.encode() + b"\0"
        return await self.event(mp.Command.CONNECT, data, {"j": "mx.gto.gob.mx", "{daemon_name}": "mx"})

    async def mail(self, sender: str, login: str | None = None, args: tuple[str, ...] = ()) -> Answer | None:
        macros = {"i": "4ABCDEF", "{mail_addr}": sender, **({"{auth_authen}": login} if login else {})}
        return await self.event(mp.Command.MAIL, _strings(f"<{sender}>", *args), macros)

    async def rcpt(self, rcpt: str) -> Answer | None:
        return await self.event(mp.Command.RCPT, _strings(f"<{rcpt}>"), {"{rcpt_addr}": rcpt})

    async def content(self, raw: bytes) -> Answer | None:
        """DATA, the headers, end of headers, body chunks and end of message."""
        await self.event(mp.Command.DATA)
        head, _, body = raw.partition(b"\r\n\r\n")
        leading = bool(self.steps & mp.Step.HDR_LEADSPC)
        for name, value in split_headers(head, leading):
            await self.event(mp.Command.HEADER, name + b"\0" + value + b"\0")
        await self.event(mp.Command.EOH)
        for offset in range(0, len(body), mp.CHUNK):
            await self.event(mp.Command.BODY, body[offset : offset + mp.CHUNK])
        return await self.event(mp.Command.BODYEOB, b"", {"i": "4ABCDEF"})

    async def message(self, sender: str, rcpts: list[str], raw: bytes, login: str | None = None) -> Answer:
        """One whole transaction; the first refusal ends it (as Postfix would)."""
        answer = await self.mail(sender, login)
        assert answer is not None
        if answer.final != b"c":
            return answer
        for rcpt in rcpts:
            answer = await self.rcpt(rcpt)
            assert answer is not None
            if answer.final != b"c":
                return answer
        final = await self.content(raw)
        assert final is not None
        return final


def split_headers(head: bytes, leading_space: bool) -> list[tuple[bytes, bytes]]:
    """Headers as Postfix hands them to a milter: folded lines joined with LF."""
    headers: list[tuple[bytes, bytes]] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, value + b"\n" + line)
            continue
        name, _, value = line.partition(b":")
        if not leading_space and value.startswith(b" "):
            value = value[1:]
        headers.append((name.rstrip(b" \t"), value))
    return headers


def _strings(*items: str) -> bytes:
    return b"".join(item.encode() + b"\0" for item in items)


@dataclass
class Running:
    """compuerta's milter listener, started by ``start_milter`` in the test's loop."""

    server: MilterServer
    services: Services
    port: int

    async def stop(self) -> None:
        await self.server.stop(0.5)
        await self.services.store.close()


async def start_milter(
    tmp_path: Path,
    overrides: Mapping[str, object] | None = None,
    directory: Directory | None = None,
    listen: str = "inet:127.0.0.1:0",
    signer: Signer | None = None,
) -> Running:
    """The real milter with the real pipeline and store (SQLite in ``tmp_path``)."""
    merged: dict[str, object] = {"milter": {"listen": listen}}
    for key, value in (overrides or {}).items():
        assert isinstance(value, dict)
        section = merged.setdefault(key, {})
        assert isinstance(section, dict)
        section.update(value)
    config = make_config(tmp_path, 9, merged)  # upstream unused: Postfix delivers in milter mode
    store = await open_store(config.store.url)
    environment = Environment(config, FixedClock(), directory or Directory())
    services = Services(environment, store, MemoryTransport(), signer=signer or Signer())
    server = await start(services, config.milter)
    assert server.server is not None
    sockname = server.server.sockets[0].getsockname()
    return Running(server, services, sockname[1] if isinstance(sockname, tuple) else 0)
