"""The baseline proxy: stock aiosmtpd in, pooled aiosmtplib out, no policy at all.

Trusts everything it is sent; it exists only to be measured beside the gateway (issue 8's
"bare aiosmtpd -> aiosmtplib proxy, pooled connections"). Stock aiosmtpd reads DATA line by
line and stock aiosmtplib runs its two regular expressions over each message: that is the
point of the baseline. Usage: python -m bench.bare_proxy LISTEN_PORT UPSTREAM_PORT
"""

from __future__ import annotations

import asyncio
import sys

import aiosmtplib
from aiosmtpd.smtp import SMTP, Envelope, Session


class Relay:
    """aiosmtpd handler that passes every message upstream over a pool of connections."""

    def __init__(self, upstream_port: int) -> None:
        self.port = upstream_port
        self.idle: list[aiosmtplib.SMTP] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        client = self.idle.pop() if self.idle else await self._connect()
        try:
            response = await client.sendmail(
                envelope.mail_from or "", envelope.rcpt_tos, envelope.original_content or b""
            )
        except aiosmtplib.SMTPException as error:
            client.close()
            return f"451 4.4.2 upstream: {error}"
        self.idle.append(client)
        return f"250 2.0.0 Ok ({response[1]})"

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=self.port, start_tls=False)
        await client.connect()
        return client


async def main(listen: int, upstream: int) -> None:
    relay = Relay(upstream)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(relay, data_size_limit=64 << 20, decode_data=False), "127.0.0.1", listen
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
