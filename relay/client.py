"""Speak SMTP to the upstream MTA over one connection, pipelining commands (RFC 2920).

Trusts nothing it hears: replies are parsed strictly (three digits, then a space or a hyphen;
lines and replies bounded) and anything else closes the connection. Trusts its caller for what
it sends: relay.transport hands it envelope addresses and message bytes already checked; the
commands it builds still refuse CR, LF and other control characters (THREATS.md S5).

Why not aiosmtplib: its protocol reads exactly one reply per command and drops whatever arrives
without one pending, so MAIL, RCPT and DATA cannot be sent together; a transaction then costs
four round trips and a Python lock, a timer and a reply parse for each (0.5 ms of CPU per 10 KB
message, the largest stage in bench/stages.py). Here a transaction is two writes and two wakeups.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

_MAX_LINE = 2048  # RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets; be lenient
_MAX_REPLY = 64 * 1024  # a multi-line reply larger than this is not an SMTP server talking
_SLICE = 1 << 20  # message bytes handed to the socket at a time (asyncio copies what it cannot send)
_JOIN = 64 * 1024  # a message up to this size goes in one write with its final dot
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Reply:
    code: int
    text: str  # the lines of the reply after their codes, joined with "\n"

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 400


class ConnectionLost(Exception):
    """The connection closed, timed out or spoke something that is not SMTP."""


class _Protocol(asyncio.Protocol):
    """Hands each complete reply to the oldest command waiting for one, in order."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[asyncio.Future[Reply]] = deque()
        self.lost: ConnectionLost | None = None
        self._buffer = bytearray()
        self._lines: list[str] = []
        self._size = 0
        self._writable: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            self._parse()
        except ConnectionLost as error:
            self._fail(error)

    def _parse(self) -> None:
        start = 0
        buffer = self._buffer
        while (end := buffer.find(b"\n", start)) >= 0:
            self._line(bytes(buffer[start : end + 1]))
            start = end + 1
        del buffer[:start]
        if len(buffer) > _MAX_LINE:
            raise ConnectionLost("upstream reply line too long")

    def _line(self, line: bytes) -> None:
        code, separator = line[:3], line[3:4]
        if len(line) > _MAX_LINE or not code.isdigit() or separator not in (b" ", b"-", b"\r", b"\n"):
            raise ConnectionLost(f"not an SMTP reply: {line[:80]!r}")
        self._size += len(line)
        if self._size > _MAX_REPLY:
            raise ConnectionLost("upstream reply too long")
        self._lines.append(line[4:].strip(b" \t\r\n").decode("utf-8", "replace"))
        if separator != b"-":
            self._deliver(Reply(int(code), "\n".join(self._lines)))
            self._lines, self._size = [], 0

    def _deliver(self, reply: Reply) -> None:
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():  # a waiter cancelled by its timeout closed the connection
                waiter.set_result(reply)
                return
        # A reply nobody asked for (a 421 before the server hangs up): out of step from here on.
        raise ConnectionLost(f"unsolicited reply from upstream: {reply.code} {reply.text}")

    def _fail(self, error: ConnectionLost) -> None:
        if self.lost is None:
            self.lost = error
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_exception(error)
                waiter.exception()  # retrieved: a pipelined reply nobody awaits any more is not an error
        self._wake()
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionLost(f"upstream closed the connection ({exc or 'EOF'})"))

    def pause_writing(self) -> None:
        self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        self._wake()

    def _wake(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    async def drained(self) -> None:
        if self._writable is not None:
            await self._writable
        if self.lost is not None:
            raise self.lost


class Connection:
    """One SMTP connection: the greeting and EHLO done, then commands and message bytes."""

    def __init__(self, protocol: _Protocol, timeout: float) -> None:
        self._protocol = protocol
        self.timeout = timeout
        self.extensions: frozenset[str] = frozenset()
        self.ehlo = Reply(0, "")  # upstream's reply to EHLO

    @classmethod
    async def open(cls, host: str, port: int, timeout: float, helo: str) -> Connection:
        """Connect, read the greeting and introduce ourselves (EHLO, HELO if that is refused)."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            _, protocol = await loop.create_connection(_Protocol, host, port)
        connection = cls(protocol, timeout)
        try:
            await connection._greet(helo)
        except BaseException:
            connection.close()
            raise
        return connection

    async def _greet(self, helo: str) -> None:
        greeting = await self._expect()
        if greeting.code != 220:
            raise ConnectionLost(f"upstream greeting: {greeting.code} {greeting.text}")
        self.ehlo = ehlo = await self.command(f"EHLO {helo}")
        if ehlo.code == 250:
            lines = ehlo.text.split("\n")[1:]
            self.extensions = frozenset(line.split(" ", 1)[0].upper() for line in lines if line)
            return
        helo_reply = await self.command(f"HELO {helo}")
        if helo_reply.code != 250:
            raise ConnectionLost(f"upstream refused HELO: {helo_reply.code} {helo_reply.text}")

    @property
    def is_open(self) -> bool:
        transport = self._protocol.transport
        return self._protocol.lost is None and transport is not None and not transport.is_closing()

    def supports(self, extension: str) -> bool:
        return extension.upper() in self.extensions

    async def command(self, line: str) -> Reply:
        """Send one command and wait for its reply."""
        (waiter,) = self.send([line])
        return await self.reply(waiter)

    def send(self, lines: list[str]) -> list[asyncio.Future[Reply]]:
        """Write commands in one segment (a pipelined group); a future per reply, in order."""
        payload = "".join(_command(line) for line in lines).encode("utf-8")
        return self._write(payload, len(lines))

    def _write(self, payload: bytes | memoryview, replies: int) -> list[asyncio.Future[Reply]]:
        protocol = self._protocol
        if protocol.lost is not None or protocol.transport is None:
            raise protocol.lost or ConnectionLost("not connected")
        loop = asyncio.get_running_loop()
        waiters = [loop.create_future() for _ in range(replies)]
        protocol.waiting.extend(waiters)
        protocol.transport.write(payload)
        return waiters

    async def reply(self, waiter: asyncio.Future[Reply]) -> Reply:
        """The reply for ``waiter``; a timeout closes the connection (it is out of step)."""
        with self._in_step("answer"):
            async with asyncio.timeout(self.timeout):
                return await waiter

    @contextmanager
    def _in_step(self, what: str) -> Iterator[None]:
        """A wait that times out or is abandoned leaves the connection out of step with
        upstream (a reply or bytes still owed): it is closed, never reused."""
        try:
            yield
        except TimeoutError:
            self._protocol._fail(ConnectionLost(f"upstream did not {what} in time"))
            raise ConnectionLost(f"upstream did not {what} in time") from None
        except asyncio.CancelledError:
            self._protocol._fail(ConnectionLost("a transaction was abandoned midway"))
            raise

    async def _expect(self) -> Reply:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Reply] = loop.create_future()
        self._protocol.waiting.append(waiter)
        return await self.reply(waiter)

    async def message(self, data: bytes) -> Reply:
        """After 354: the message (dot-stuffed, ending in CRLF), then the final dot.

        Written a slice at a time, waiting while the socket's buffer is full: one write of a
        25 MB message would have asyncio copy what the socket did not take into its own buffer
        (bench/: peak RSS of 25 MB mail).
        """
        if len(data) <= _JOIN:  # one segment; above this, copying costs more than a write
            (waiter,) = self._write(data + b".\r\n", 1)
            return await self.reply(waiter)
        view = memoryview(data)
        with self._in_step("take the message"):
            async with asyncio.timeout(self.timeout):
                for start in range(0, len(data), _SLICE):
                    self._write(view[start : start + _SLICE], 0)
                    await self._protocol.drained()
        (waiter,) = self._write(b".\r\n", 1)
        return await self.reply(waiter)

    async def quit(self) -> None:
        try:
            await self.command("QUIT")
        except ConnectionLost:
            pass
        self.close()

    def close(self) -> None:
        if self._protocol.transport is not None:
            self._protocol.transport.close()
        if self._protocol.lost is None:
            self._protocol.lost = ConnectionLost("closed")


def _command(line: str) -> str:
    if _CONTROL.search(line):
        raise ValueError(f"control character in an SMTP command: {line[:80]!r}")  # THREATS.md S5
    return line + "\r\n"
