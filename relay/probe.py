"""Ask the upstream MTA whether it is there: connect, read the greeting, EHLO, QUIT.

Trusts nothing it hears; used by /readyz (gateway.web), never for mail. A separate short
connection, not a pooled one, so that a probe never disturbs a transaction and a pool full of
healthy idle connections cannot hide an upstream that stopped accepting new ones.
"""

from __future__ import annotations

from relay.client import Connection, ConnectionLost


async def probe(host: str, port: int, timeout: float, helo: str) -> str:
    """The first line of the upstream's EHLO reply; raises OSError, TimeoutError or
    relay.client.ConnectionLost (also when upstream refuses EHLO)."""
    connection = await Connection.open(host, port, timeout, helo)
    try:
        if connection.ehlo.code != 250:
            raise ConnectionLost(f"upstream refused EHLO: {connection.ehlo.code} {connection.ehlo.text}")
        return connection.ehlo.text.split("\n", 1)[0]
    finally:
        await connection.quit()
