"""A minimal discarding SMTP sink, used only when Postfix's smtp-sink is not installed.

Trusts its clients (loopback, benchmark only). Speaks just enough ESMTP with PIPELINING for
the gateway's relay and the load generators, reads DATA in blocks and throws it away.
Usage: python -m bench.sink PORT
"""

from __future__ import annotations

import asyncio
import sys


class SinkProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = b""
        self.in_data = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        replies: list[bytes] = []
        while self.transport is not None:
            if self.in_data:
                end = self.buffer.find(b"\r\n.\r\n")
                if end < 0:
                    self.buffer = self.buffer[-4:] if len(self.buffer) > 4 else self.buffer
                    break
                self.buffer, self.in_data = self.buffer[end + 5 :], False
                replies.append(b"250 2.0.0 Ok: queued\r\n")
                continue
            line, found, rest = self.buffer.partition(b"\r\n")
            if not found:
                break
            self.buffer = rest
            replies.append(self._command(line[:4].upper()))
        if replies and self.transport is not None:
            self.transport.write(b"".join(replies))

    def _command(self, verb: bytes) -> bytes:
        if verb == b"EHLO":
            return b"250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
        if verb == b"DATA":
            self.in_data = True
            self.buffer = b"\r\n" + self.buffer  # so that an empty body still finds <CRLF>.<CRLF>
            return b"354 go ahead\r\n"
        if verb == b"QUIT":
            assert self.transport is not None
            self.transport.write(b"221 bye\r\n")
            self.transport.close()
            self.transport = None
            return b""
        return b"250 2.0.0 Ok\r\n"


async def main(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(SinkProtocol, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
