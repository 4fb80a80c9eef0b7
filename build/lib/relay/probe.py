"""Ask the upstream MTA whether it is there: connect, read the greeting, EHLO, QUIT.

Trusts nothing it hears; used by /readyz (gateway.web), never for mail. A separate short
connection, not a pooled one, so that a probe never disturbs a transaction and a pool full of
healthy idle connections cannot hide an upstream that stopped accepting new ones.
"""

from __future__ import annotations

import aiosmtplib


async def probe(host: str, port: int, timeout: float, helo: str) -> str:
    """The upstream's EHLO reply (first line); raises OSError or aiosmtplib.SMTPException."""
    client = aiosmtplib.SMTP(hostname=host, port=port, timeout=timeout, local_hostname=helo,
                             start_tls=False, use_tls=False)  # fmt: skip
    await client.connect()
    try:
        response = await client.ehlo()
        if response.code != 250:
            raise aiosmtplib.SMTPResponseException(response.code, response.message)
        return response.message.splitlines()[0] if response.message else ""
    finally:
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            client.close()
