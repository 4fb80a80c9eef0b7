"""Raw SMTP for tests where the exact bytes matter: a scripted client and a lenient upstream.

The lenient sink plays the worst internal MTA of THREATS.md S1/S4: it ends a line at CR, LF or
CRLF and drops NUL bytes, so any non-standard end-of-DATA the gateway let through would split
one message into two there. Tests assert that it receives exactly what was meant.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

_EOL = re.compile(rb"\r\n|\n|\r")


@dataclass
class Transaction:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


@dataclass
class LenientSink:
    """An upstream MTA that is lenient about line endings; records every transaction it ends."""

    received: list[Transaction] = field(default_factory=list)
    hang_ups: int = 0  # how many of the next sessions to drop in the middle of DATA
    server: asyncio.Server | None = None
    port: int = 0

    async def start(self) -> LenientSink:
        self.server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self

    def close(self) -> None:
        if self.server is not None:
            self.server.close()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 lenient ESMTP\r\n")
        state = _State()
        try:
            async for line in _lines(reader):
                if state.in_data and self.hang_ups > 0:
                    self.hang_ups -= 1
                    break  # the connection drops with the message half received
                reply = state.feed(line, self.received)
                if reply:
                    writer.write(reply)
                    await writer.drain()
                if reply.startswith(b"221"):
                    break
        except ConnectionError:
            pass
        finally:
            writer.close()


@dataclass
class _State:
    mail_from: str = ""
    rcpt_tos: list[str] = field(default_factory=list)
    in_data: bool = False
    body: list[bytes] = field(default_factory=list)

    def feed(self, line: bytes, received: list[Transaction]) -> bytes:
        if self.in_data:
            return self._data_line(line, received)
        verb = line[:4].upper()
        if verb == b"EHLO":
            return b"250-lenient\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
        if verb == b"MAIL":
            self.mail_from, self.rcpt_tos = _address(line), []
        elif verb == b"RCPT":
            self.rcpt_tos.append(_address(line))
        elif verb == b"DATA":
            self.in_data, self.body = True, []
            return b"354 go ahead\r\n"
        elif verb == b"QUIT":
            return b"221 bye\r\n"
        return b"250 ok\r\n"

    def _data_line(self, line: bytes, received: list[Transaction]) -> bytes:
        if line == b".":
            received.append(Transaction(self.mail_from, self.rcpt_tos, b"\r\n".join(self.body) + b"\r\n"))
            self.in_data = False
            return b"250 queued\r\n"
        self.body.append(line[1:] if line.startswith(b".") else line)
        return b""


async def _lines(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """Lines ended by CR, LF or CRLF, NUL bytes dropped: the lenient MTA's view of the stream."""
    buffer = b""
    while chunk := await reader.read(65536):
        buffer += chunk.replace(b"\0", b"")
        # a CR at the very end may be the first half of a CRLF: keep its line for the next chunk
        cut = len(buffer) - 1 if buffer.endswith(b"\r") else len(buffer)
        lines = _EOL.split(buffer[:cut])
        buffer = lines.pop() + buffer[cut:]
        for line in lines:
            yield line


def _address(line: bytes) -> str:
    match = re.search(rb"<([^>]*)>", line)
    return match.group(1).decode("utf-8", "replace") if match else ""


async def converse(port: int, script: bytes) -> list[str]:
    """Send ``script`` in one write, read to EOF; returns the final line of each reply."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(script)
    await writer.drain()
    text = await asyncio.wait_for(_read_all(reader), 30)
    writer.close()
    lines = text.decode("utf-8", "replace").split("\r\n")
    return [line for line in lines if len(line) >= 4 and line[3] == " "]


async def _read_all(reader: asyncio.StreamReader) -> bytes:
    """Everything up to EOF, or up to a reset (a server that hangs up on unread input)."""
    got = b""
    try:
        while chunk := await reader.read(65536):
            got += chunk
    except ConnectionError:
        pass
    return got
